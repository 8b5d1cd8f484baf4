"""Contacts: conditions between the end of a wire and the node (or reservoir) it meets.

A transparent contact needs no code: the wire's end value is glued to the node's degree of
freedom (:mod:`femprox.mesh`), so the Green's function is continuous and Kirchhoff's rule
for the spectral and kinetic currents comes out of the weak form. Any other contact leaves
the wire's end with a degree of freedom of its own (the *near* side) and couples it to the
node's (the *far* side: the value shared by the node's transparent wires, or a reservoir's
bulk value) through point terms that the contact class supplies:

* ``riccati_fluxes(near, far)``: the boundary flux ``g nabla gamma . n_out`` (and the same
  for gamma~) that the contact imposes on each side, with its derivatives for Newton;
* ``kinetic_currents(near, far)``: the spectral energy- and charge-mode currents
  ``g j_L . n_out`` and ``g j_T . n_out`` at the near side (n_out pointing into the contact;
  j_L = D_L f_L' - ..., the currents of the kinetic equations, so that across a normal barrier
  g j . n_out = (f_far - f_near) / R_B), as a linear map of the distribution functions on
  both sides. The far side sees the opposite (the currents are conserved through a contact).

Both use only the Riccati amplitudes at the two sides. The solvers loop over the mesh's
contacts and add these terms; they never look inside a contact, so a new contact type is one
class here (``docs/adding_physics.md``).

Conventions: a = gamma, b = gamma~; arrays of shape (..., n_energies) or any common shape.
Resistances are in the units of wire resistances length / conductance (xi0 per unit of
conductance per length), so ``R_B / (L / g)`` is the barrier resistance in units of the
wire's normal resistance.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_BARRIER_RATIO = 1e-8
"""Smallest barrier resistance accepted, relative to the resistance of its wire."""

NEAR, FAR = 0, 1
"""Side indices of a contact: the wire's end (near) and the node or reservoir (far)."""

_TAU3 = np.array([1.0, -1.0])


class Contact:
    """Base class of non-transparent contacts (see the module docstring)."""

    def riccati_fluxes(self, a_near: np.ndarray, b_near: np.ndarray, a_far: np.ndarray,
                       b_far: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boundary fluxes on both sides and their derivatives.

        Returns ``(flux, jacobian)``: ``flux[side, field]`` is ``g nabla(a or b) . n_out`` at
        that side (``n_out`` pointing from the side into the contact), shape (2, 2, ...);
        ``jacobian[side, field, other_side, other_field]`` its derivative with respect to
        a or b on ``other_side``, shape (2, 2, 2, 2, ...).
        """
        raise NotImplementedError

    @classmethod
    def riccati_fluxes_of(cls, contacts: Sequence["Contact"], a_near: np.ndarray, b_near: np.ndarray,
                          a_far: np.ndarray, b_far: np.ndarray,
                          derivatives: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`riccati_fluxes` of several contacts of this class at once (the solvers call
        this in every Newton step, for all contacts of a class together).

        Inputs have shape (n_contacts, ...), row k for ``contacts[k]``; returns ``flux``
        (n_contacts, 2, 2, ...) and ``jacobian`` (n_contacts, 2, 2, 2, 2, ...), or None
        without ``derivatives``. This default calls :meth:`riccati_fluxes` contact by
        contact; a class overrides it when it can evaluate all of them in one go.
        """
        pairs = [c.riccati_fluxes(a_near[k], b_near[k], a_far[k], b_far[k]) for k, c in enumerate(contacts)]
        flux = np.stack([pair[0] for pair in pairs])
        return flux, (np.stack([pair[1] for pair in pairs]) if derivatives else None)

    def kinetic_currents(self, a_near: np.ndarray, b_near: np.ndarray, a_far: np.ndarray,
                         b_far: np.ndarray) -> np.ndarray:
        """(..., 2, 2, 2): ``C[..., m, side, n]``; at the near side, ``g j_m . n_out`` of mode
        m (0 = L, 1 = T) is ``sum C[m, side, n] f_n(side)`` (module docstring)."""
        raise NotImplementedError

    def describe(self) -> str:
        """A few words for drawings and reports."""
        return type(self).__name__

    def check(self, wire_resistance: float) -> None:
        """Raise ValueError if the contact cannot be used on a wire of this normal
        resistance (length / conductance); the geometry names the wire."""


@dataclass(frozen=True)
class TunnelBarrier(Contact):
    """Kupriyanov-Lukichev tunnel barrier of normal-state resistance ``resistance``.

    Matrix-current condition (Keldysh x Nambu, Ǧ = [[R, K], [0, A]]) on either side:
    ``g Ǧ nabla Ǧ . n_out = [Ǧ_near, Ǧ_far] / (2 R_B)``, normalized so that between normal
    metals the barrier is a series resistor R_B.

    * Retarded part in Riccati form (solving R nabla R = [R_1, R_2]/(2 g R_B) for the
      derivatives of a, b, with R = [[1 + a b, 2 a], [-2 b, -1 - a b]] / (1 - a b))::

          g nabla a . n_out = (a_2 - a_1)(1 - a_1 b_2) / (1 - a_2 b_2) / R_B
          g nabla b . n_out = (b_2 - b_1)(1 - a_2 b_1) / (1 - a_2 b_2) / R_B

      (side 1 the one the flux is for). Without phases, a = b = tanh(theta/2) and this is
      ``g theta' = sinh(theta_2 - theta_1) / R_B``.
    * Kinetic part: with K = R h - h A, h = f_L + f_T tau3 and A = -tau3 R^dagger tau3, the
      currents leaving side 1 are ``g j_L = Tr X / (8 R_B)`` and ``g j_T = Tr(tau3 X) /
      (8 R_B)`` with X the Keldysh block of [Ǧ_1, Ǧ_2]. The same projections of
      ``Ǧ nabla Ǧ`` give the wire currents j_L = D_L f_L' - Tcal f_T' + j_S f_T and j_T =
      D_T f_T' + Tcal f_L' + j_S f_L (:mod:`femprox.kinetic.coefficients`), so the two match. All
      couplings (L-T cross terms from phases, Andreev terms from the proximity effect on
      either side) are kept; between a normal metal and a BCS reservoir the charge
      coefficient is the BCS density of states.
    """

    resistance: float

    def __post_init__(self) -> None:
        value = self.resistance
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
            raise ValueError(f"a tunnel barrier needs a positive, finite resistance, got {value!r}")

    def describe(self) -> str:
        return f"tunnel barrier R_B = {self.resistance:g}"

    def check(self, wire_resistance: float) -> None:
        # the point coupling 1/R_B must not swamp the wire's own conductance by more than
        # ~1e8: beyond that Newton loses the retarded branch (seen at 1e-11) while the
        # barrier changes results by less than 1e-8 (differences scale like R_B / R_wire)
        if self.resistance < MIN_BARRIER_RATIO * wire_resistance:
            raise ValueError(f"tunnel barrier resistance {self.resistance:g} is below {MIN_BARRIER_RATIO:g} of the "
                             f"wire's resistance {wire_resistance:g}: too small to resolve; leave the contact "
                             "transparent instead")

    def riccati_fluxes(self, a_near, b_near, a_far, b_far):
        return _kl_riccati_fluxes(a_near, b_near, a_far, b_far, self.resistance)

    @classmethod
    def riccati_fluxes_of(cls, contacts, a_near, b_near, a_far, b_far, derivatives=True):
        # all barriers at once: the resistance is the only parameter, broadcast per contact
        resistance = np.array([c.resistance for c in contacts], dtype=float).reshape((-1,) + (1,) * (a_near.ndim - 1))
        flux, jacobian = _kl_riccati_fluxes(np.moveaxis(a_near, 0, -1), np.moveaxis(b_near, 0, -1),
                                            np.moveaxis(a_far, 0, -1), np.moveaxis(b_far, 0, -1),
                                            np.moveaxis(resistance, 0, -1), derivatives)
        return np.moveaxis(flux, -1, 0), (None if jacobian is None else np.moveaxis(jacobian, -1, 0))

    def kinetic_currents(self, a_near, b_near, a_far, b_far):
        return _kl_kinetic_currents(a_near, b_near, a_far, b_far) / self.resistance


def _kl_riccati_fluxes(a_near, b_near, a_far, b_far, resistance, derivatives: bool = True):
    """Both sides' KL fluxes (2 sides, 2 fields, ...) and, with ``derivatives``, their
    Jacobian (side, field, other side, other field, ...), else None; see TunnelBarrier."""
    flux_near, jac_near = _kl_riccati_flux(a_near, b_near, a_far, b_far, derivatives)
    flux_far, jac_far = _kl_riccati_flux(a_far, b_far, a_near, b_near, derivatives)
    flux = np.stack([flux_near, flux_far]) / resistance
    if not derivatives:
        return flux, None
    # jac_far's own/other sides are far/near: swap them into near/far order
    return flux, np.stack([jac_near, jac_far[:, ::-1]]) / resistance


def _kl_riccati_flux(a1, b1, a2, b2, derivatives: bool = True):
    """KL flux for unit barrier resistance at side 1: (2 fields, ...) and its derivatives
    (field, side (1, 2), field, ...), or None."""
    d = 1 - a2 * b2
    flux = np.stack([(a2 - a1) * (1 - a1 * b2) / d, (b2 - b1) * (1 - a2 * b1) / d])
    if not derivatives:
        return flux, None
    zero = np.zeros_like(flux[0])
    da = [[(-1 + 2 * a1 * b2 - a2 * b2) / d, zero], [(1 - a1 * b2) ** 2 / d**2, (a2 - a1) ** 2 / d**2]]
    db = [[zero, (-1 + 2 * a2 * b1 - a2 * b2) / d], [(b2 - b1) ** 2 / d**2, (1 - a2 * b1) ** 2 / d**2]]
    return flux, np.array([da, db])


def retarded_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Retarded Nambu matrix R = [[1 + a b, 2 a], [-2 b, -1 - a b]] / (1 - a b), shape (..., 2, 2)."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=complex), np.asarray(b, dtype=complex))
    ab = a * b
    R = np.stack([np.stack([1 + ab, 2 * a], -1), np.stack([-2 * b, -1 - ab], -1)], -2)
    return R / (1 - ab)[..., None, None]


def advanced_matrix(R: np.ndarray) -> np.ndarray:
    """A = -tau3 R^dagger tau3."""
    return -_TAU3[:, None] * np.conj(np.swapaxes(R, -1, -2)) * _TAU3[None, :]


def _kl_kinetic_currents(a1, b1, a2, b2):
    """(..., mode m, side, mode n) for unit barrier resistance; see TunnelBarrier."""
    R1, R2 = retarded_matrix(a1, b1), retarded_matrix(a2, b2)
    A1, A2 = advanced_matrix(R1), advanced_matrix(R2)
    basis = (np.eye(2), np.diag(_TAU3))  # h for a unit f_L, a unit f_T

    def keldysh(R, A, h):
        return R @ h - h @ A

    out = np.empty(R1.shape[:-2] + (2, 2, 2))
    for n, h in enumerate(basis):
        K1, K2 = keldysh(R1, A1, h), keldysh(R2, A2, h)
        from_near = K1 @ A2 - R2 @ K1          # Keldysh block of [Ǧ1, Ǧ2], terms in h1
        from_far = R1 @ K2 - K2 @ A1           # ... terms in h2
        for side, X in ((NEAR, from_near), (FAR, from_far)):
            out[..., 0, side, n] = np.real(np.trace(X, axis1=-2, axis2=-1)) / 8
            out[..., 1, side, n] = np.real(X[..., 0, 0] - X[..., 1, 1]) / 8
    return out
