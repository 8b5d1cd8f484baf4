"""Terms of the Usadel equation inside a wire, evaluated point by point.

The retarded Usadel equation in the Riccati parametrization (a = gamma, b = gamma~,
s = 1 - a b), divided by the diffusion constant D, reads::

    nabla(nabla a) + 2 b (nabla a)^2 / s + sum_terms source_a = 0
    nabla(nabla b) + 2 a (nabla b)^2 / s + sum_terms source_b = 0

with gauge-covariant derivatives ``nabla a = a' - i q a`` and ``nabla b = b' + i q b`` (a
carries the charge 2e of a Cooper pair: under a gauge change a -> a e^{i chi}, the phase
gradient q -> q + chi'). q is the vector potential in phase units, q = 2 e A / hbar (1/xi0).

The source terms (:data:`SOURCE_TERMS`) are small functions of the local amplitudes:

* :func:`energy_source`: ``2 i (E + i eta) a / D`` -- the energy with the wire's Dynes rate;
* :func:`pair_potential_source`: ``-i Delta (e^{i phi} + e^{-i phi} a^2) / D`` (and the
  conjugate structure for b), phi(x) the pair potential's phase.

The pair potential also converts charge imbalance into supercurrent in the kinetic equations
(:func:`pair_potential_conversion`). A new bulk term (e.g. spin-flip scattering) is one more
source function in :data:`SOURCE_TERMS` (and, if it acts on the distributions, one more
conversion term); the solvers need no change.

Weak form used by :mod:`femprox.spectral.solver` (test function v, conductance per length g)::

    sum_w g_w int [ (2 b (nabla a)^2 / s - i q nabla a + source_a) v - (nabla a) v' ] dx = 0

and likewise for b with +i q. The boundary term ``g nabla a . n_out`` cancels at clean nodes
(Kirchhoff) and vanishes at free ends; contacts supply it (:mod:`femprox.physics.contacts`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from femprox.geometry.network import Geometry
from femprox.physics.flux import effective_fluxes


@dataclass(frozen=True)
class PointParameters:
    """Wire parameters at a set of points, arrays of shape (n_points, 1) (energies last).

    diffusion: D (Delta0 xi0^2); gap: |Delta| (Delta0); phase_factor: e^{i phi(x)} of the
    pair potential; dynes: the wire's Dynes rate (Delta0); vector_potential: q = 2eA/hbar
    (1/xi0), constant along each wire.
    """

    diffusion: np.ndarray
    gap: np.ndarray
    phase_factor: np.ndarray
    dynes: np.ndarray
    vector_potential: np.ndarray

    @classmethod
    def at_points(cls, geometry: Geometry, wire_index: np.ndarray, position: np.ndarray) -> "PointParameters":
        """Parameters at points ``position`` (arc length, xi0) of wires ``wire_index``."""
        wires = geometry.wires

        def per_wire(values) -> np.ndarray:
            return np.asarray(values, dtype=float)[wire_index][:, None]

        length = per_wire([w.length for w in wires])
        phase_start = per_wire([w.phase for w in wires])
        phase_end = per_wire([w.end_phase for w in wires])
        phase = phase_start + (phase_end - phase_start) * np.asarray(position)[:, None] / length
        winding = per_wire(2 * np.pi * effective_fluxes(geometry))
        return cls(diffusion=per_wire([w.diffusion for w in wires]), gap=per_wire([w.gap for w in wires]),
                   phase_factor=np.exp(1j * phase), dynes=per_wire([w.dynes for w in wires]),
                   vector_potential=winding / length)

    # asked in every residual and Jacobian; the arrays are not changed in place (a new pair
    # potential makes new parameters), so the answers are kept
    @cached_property
    def has_vector_potential(self) -> bool:
        return bool(np.any(self.vector_potential != 0))

    @cached_property
    def has_pair_potential(self) -> bool:
        return bool(np.any(self.gap != 0))


@dataclass(frozen=True)
class Source:
    """A source term and its local derivatives, arrays broadcastable to (n_points, n_energies)."""

    a: np.ndarray
    b: np.ndarray
    da_da: np.ndarray
    da_db: np.ndarray
    db_da: np.ndarray
    db_db: np.ndarray


def energy_source(a, b, energy, p: PointParameters) -> Source:
    """2 i E a / D with E -> E + i eta (``energy`` already complex, per point and energy)."""
    factor = 2j * energy / p.diffusion
    return Source(a=factor * a, b=factor * b, da_da=factor, da_db=0.0, db_da=0.0, db_db=factor)


def pair_potential_source(a, b, energy, p: PointParameters) -> Source:
    """-i Delta (e^{i phi} + e^{-i phi} a^2) / D and -i Delta (e^{-i phi} + e^{i phi} b^2) / D."""
    if not p.has_pair_potential:
        # networks of normal wires (S only in reservoirs): no full-size arrays of zeros to
        # add in every residual and Jacobian
        return Source(a=0.0, b=0.0, da_da=0.0, da_db=0.0, db_da=0.0, db_db=0.0)
    # the per-point factors first (n_points x 1), so that each term costs only two or three
    # operations on the (n_points x n_energies) arrays: this runs in every Newton residual
    ph, scale = p.phase_factor, -1j * p.gap / p.diffusion
    for_a, for_b = scale / ph, scale * ph
    return Source(a=for_a * (a * a) + for_b, b=for_b * (b * b) + for_a,
                  da_da=(2 * for_a) * a, da_db=0.0, db_da=0.0, db_db=(2 * for_b) * b)


SOURCE_TERMS = (energy_source, pair_potential_source)
"""The bulk source terms of the Riccati equations, summed by the solvers."""


def total_source(a, b, energy, p: PointParameters, derivatives: bool = True) -> Source:
    """Sum of :data:`SOURCE_TERMS`; without ``derivatives`` (a residual only) the derivative
    fields are left at 0.0 instead of summed."""
    terms = [term(a, b, energy, p) for term in SOURCE_TERMS]
    names = ("a", "b", "da_da", "da_db", "db_da", "db_db") if derivatives else ("a", "b")
    sums = {name: _sum_terms([getattr(t, name) for t in terms]) for name in names}
    return Source(**{**dict.fromkeys(("da_da", "da_db", "db_da", "db_db"), 0.0), **sums})


def _sum_terms(values: list):
    """Sum of arrays and scalars, skipping exact scalar zeros (a term that does not depend on
    an unknown) instead of adding them to full arrays."""
    nonzero = [v for v in values if not (np.isscalar(v) and v == 0)]
    if not nonzero:
        return 0.0
    total = nonzero[0]
    for v in nonzero[1:]:
        total = total + v
    return total


def covariant_derivatives(a, b, da, db, p: PointParameters):
    """(nabla a, nabla b) = (a' - i q a, b' + i q b)."""
    if not p.has_vector_potential:
        return da, db
    q = p.vector_potential
    return da - 1j * q * a, db + 1j * q * b


@dataclass(frozen=True)
class WeakDensities:
    """Integrands of the weak Riccati residuals: ``value`` multiplies v, ``flux`` multiplies
    -v' (flux = nabla a or nabla b). Each (2 fields, n_points, n_energies)."""

    value: np.ndarray
    flux: np.ndarray


def riccati_densities(a, b, da, db, energy, p: PointParameters) -> WeakDensities:
    """Weak-form integrands at points (see the module docstring)."""
    A, B = covariant_derivatives(a, b, da, db, p)
    two_over_s = 2 / (1 - a * b)
    src = total_source(a, b, energy, p, derivatives=False)
    value = np.empty((2,) + np.broadcast_shapes(np.shape(a), np.shape(A), np.shape(src.a)), dtype=complex)
    np.add((A * A) * (b * two_over_s), src.a, out=value[0])
    np.add((B * B) * (a * two_over_s), src.b, out=value[1])
    if p.has_vector_potential:
        q = p.vector_potential
        value[0] -= 1j * q * A
        value[1] += 1j * q * B
    return WeakDensities(value=value, flux=np.stack([A, B]))


@dataclass(frozen=True)
class JacobianDensities:
    """Pointwise coefficients of the Jacobian of the weak residuals.

    value_value[e, u]: multiplies (test value) x (trial value) for equation e, unknown u,
    shape (2, 2, n_points, n_energies); value_derivative[e]: (test value) x (trial
    derivative) for u = e, shape (2, n_points, n_energies). The state-independent parts
    (-(test') x (trial') and the vector potential's +-i q (test') x (trial)) are constant
    and assembled once by the solver (:func:`constant_derivative_terms`).
    """

    value_value: np.ndarray
    value_derivative: np.ndarray


def riccati_jacobian_densities(a, b, da, db, energy, p: PointParameters) -> JacobianDensities:
    """Derivatives of :func:`riccati_densities` with respect to the nodal unknowns."""
    A, B = covariant_derivatives(a, b, da, db, p)
    inverse_s = 1 / (1 - a * b)
    src = total_source(a, b, energy, p)
    # 2 A^2 / s^2 and 2 B^2 / s^2, each used twice (fewer full-size array operations)
    square_a, square_b = 2 * (A * inverse_s) ** 2, 2 * (B * inverse_s) ** 2
    aa = _sum_terms([(b * b) * square_a, src.da_da])
    ab = _sum_terms([square_a, src.da_db])
    ba = _sum_terms([square_b, src.db_da])
    bb = _sum_terms([(a * a) * square_b, src.db_db])
    slope_a, slope_b = (4 * b) * (A * inverse_s), (4 * a) * (B * inverse_s)
    if p.has_vector_potential:
        # nabla a depends on a through -i q a, and the value density has the extra -i q nabla a
        q = p.vector_potential
        aa = aa - 1j * q * slope_a - q**2
        bb = bb + 1j * q * slope_b - q**2
        slope_a = slope_a - 1j * q
        slope_b = slope_b + 1j * q
    shape = np.broadcast_shapes(np.shape(aa), np.shape(ab), np.shape(ba), np.shape(bb))
    value_value = np.empty((2, 2) + shape, dtype=complex)
    value_value[0, 0], value_value[0, 1], value_value[1, 0], value_value[1, 1] = aa, ab, ba, bb
    return JacobianDensities(value_value=value_value, value_derivative=np.stack(np.broadcast_arrays(slope_a, slope_b)))


def constant_derivative_terms(p: PointParameters) -> tuple[np.ndarray, np.ndarray]:
    """Per-point coefficients of (test') x (trial) for the a and b equations: +i q and -i q
    (from -(nabla a) v' with nabla a = a' - i q a); the (test') x (trial') coefficient is -1."""
    q = p.vector_potential[:, 0]
    return 1j * q, -1j * q


def pair_potential_conversion(a, b, p_gap, p_phase_factor):
    """Charge-imbalance conversion (c_TL, c_TT) of a pair potential Delta e^{i phi}.

    With den = |1 - a b|^2::

        c_TT = 2 Re{ i Delta [ e^{-i phi} a b b* + e^{i phi} a a* b + e^{i phi} b + e^{-i phi} a ] / den }
        c_TL = 2 Re{ i Delta [ e^{-i phi} a b b* - e^{i phi} a a* b + e^{i phi} b - e^{-i phi} a ] / den }

    (units of Delta0; they enter j_T' = (c_TL f_L + c_TT f_T) / D).
    """
    den = np.abs(1 - a * b) ** 2
    ep, delta = p_phase_factor, p_gap
    c_tt = 2 * np.real(1j * delta * (a * b * np.conj(b) / ep + ep * a * np.conj(a) * b + ep * b + a / ep) / den)
    c_tl = 2 * np.real(1j * delta * (a * b * np.conj(b) / ep - ep * a * np.conj(a) * b + ep * b - a / ep) / den)
    return c_tl, c_tt
