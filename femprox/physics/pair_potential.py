"""A pair potential that varies along the wires: Delta(x) e^{i chi(x)} as a field.

Without self-consistency every S wire carries a rigid pair potential (its ``gap``, with a
phase running linearly from ``phase`` to ``phase_end``; :class:`~femprox.physics.bulk.PointParameters`).
:class:`PairPotentialField` replaces that by complex values at the quadrature points of a
graph mesh, which is where the solvers evaluate the pair potential anyway:

* ``solve_spectral(mesh, energies, pair_potential=field)`` assembles the Usadel equation with
  it (and keeps it in ``SpectralSolution.pair_potential``);
* the kinetic stage (:func:`femprox.kinetic.solver.coefficients_at_quadrature`) takes c_TL and c_TT
  from it through the solution.

Units: Delta0 (the zero-temperature gap of the reference superconductor); positions are arc
lengths along each wire (xi0), 0 at the wire's start. In normal wires the field is zero.

Between quadrature points the field is the polynomial through the Gauss points of the
element (degree n_points_per_element - 1, one degree above the element order): this is what
:meth:`PairPotentialField.at` returns, e.g. for profiles, and what moves a field to another
mesh of the same network (:meth:`PairPotentialField.on_mesh`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from femprox.physics.bulk import PointParameters


@dataclass(frozen=True)
class PairPotentialField:
    """Delta e^{i chi} (Delta0) at the quadrature points of a graph mesh.

    Attributes
    ----------
    values: (n_points,) complex pair potential at the points, in the order of
        ``mesh.quadrature`` (element by element, ``points_per_element`` each).
    wire_index, position: (n_points,) the wire and arc length (xi0) of every point; a field
        applies to any mesh whose quadrature has exactly these points.
    element_edges: per wire, the arc lengths (xi0) of its element boundaries, to interpolate
        between points.
    """

    values: np.ndarray
    wire_index: np.ndarray
    position: np.ndarray
    element_edges: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=complex)
        if values.ndim != 1 or values.shape != np.shape(self.position) or values.shape != np.shape(self.wire_index):
            raise ValueError(f"pair potential: values {values.shape}, positions {np.shape(self.position)} and "
                             f"wire indices {np.shape(self.wire_index)} must be equal 1D shapes")
        if not np.all(np.isfinite(values)):
            raise ValueError("pair potential: values must be finite")
        object.__setattr__(self, "values", values)

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_values(cls, mesh, values) -> "PairPotentialField":
        """A field with ``values`` (n_points,) at the quadrature points of ``mesh``
        (a :class:`~femprox.mesh.GraphMesh`). Values in normal wires must be zero."""
        q = mesh.quadrature
        values = np.asarray(values, dtype=complex)
        if values.shape != q.position.shape:
            raise ValueError(f"pair potential: expected {q.position.size} values (the quadrature points of the "
                             f"mesh), got shape {values.shape}")
        normal = ~np.array([w.is_superconducting for w in mesh.geometry.wires])[q.wire_index]
        if np.any(values[normal] != 0):
            raise ValueError("pair potential: normal wires have no pair potential (values there must be 0)")
        edges = tuple(mesh.wire_vertices(k) for k in range(len(mesh.geometry.wires)))
        return cls(values, q.wire_index.copy(), q.position.copy(), edges)

    @classmethod
    def rigid(cls, mesh) -> "PairPotentialField":
        """The geometry's own rigid pair potential (wire gaps and phases) as a field."""
        q = mesh.quadrature
        p = PointParameters.at_points(mesh.geometry, q.wire_index, q.position)
        return cls.from_values(mesh, (p.gap * p.phase_factor)[:, 0])

    @classmethod
    def from_function(cls, mesh, function) -> "PairPotentialField":
        """Values ``function(wire_index, x)`` (complex or real arrays) at the mesh's points,
        set to zero in normal wires."""
        q = mesh.quadrature
        values = np.asarray(function(q.wire_index, q.position), dtype=complex) * np.ones(q.position.size)
        normal = ~np.array([w.is_superconducting for w in mesh.geometry.wires])[q.wire_index]
        values[normal] = 0.0
        return cls.from_values(mesh, values)

    # -- use by the solvers -------------------------------------------------------------
    def matches(self, mesh) -> bool:
        """True if ``mesh`` has exactly this field's quadrature points."""
        q = mesh.quadrature
        return (q.position.shape == self.position.shape and np.array_equal(q.wire_index, self.wire_index)
                and np.allclose(q.position, self.position, rtol=0, atol=1e-12 * (1 + np.abs(self.position))))

    def check_mesh(self, mesh) -> None:
        """Raise ValueError if the field does not belong to ``mesh``'s quadrature points."""
        if not self.matches(mesh):
            raise ValueError("pair potential field was made on another mesh (its quadrature points differ); "
                             "move it with field.on_mesh(mesh)")

    def applied_to(self, parameters: PointParameters) -> PointParameters:
        """``parameters`` (at this field's points) with gap and phase factor from the field.

        Where the field vanishes the phase factor is 1 (it multiplies a zero gap)."""
        magnitude = np.abs(self.values)
        phase_factor = np.where(magnitude > 0, self.values / np.where(magnitude > 0, magnitude, 1.0), 1.0)
        return replace(parameters, gap=magnitude[:, None], phase_factor=phase_factor[:, None])

    # -- evaluation -----------------------------------------------------------------------
    @property
    def points_per_element(self) -> int:
        n_elements = sum(e.size - 1 for e in self.element_edges)
        return self.values.size // n_elements

    def at(self, wire: int, x) -> np.ndarray:
        """Field (complex, Delta0) at arc lengths ``x`` (xi0) of wire number ``wire``, by the
        polynomial through the Gauss points of the element containing each x."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        edges = self.element_edges[wire]
        if np.any((x < edges[0] - 1e-12 * edges[-1]) | (x > edges[-1] * (1 + 1e-12))):
            raise ValueError(f"positions must lie in [0, {edges[-1]}] on wire {wire}")
        mine = np.flatnonzero(self.wire_index == wire)
        n = self.points_per_element
        nodes = self.position[mine].reshape(-1, n)
        values = self.values[mine].reshape(-1, n)
        element = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
        result = np.zeros(x.size, dtype=complex)
        for j in range(n):
            basis = np.ones(x.size)
            for m in range(n):
                if m != j:
                    basis *= (x - nodes[element, m]) / (nodes[element, j] - nodes[element, m])
            result += basis * values[element, j]
        return result

    def on_mesh(self, mesh) -> "PairPotentialField":
        """This field interpolated to the quadrature points of another mesh of the same network."""
        if self.matches(mesh):
            return self
        q = mesh.quadrature
        values = np.zeros(q.position.size, dtype=complex)
        for k in np.unique(q.wire_index):
            mine = q.wire_index == k
            values[mine] = self.at(int(k), q.position[mine])
        return PairPotentialField.from_function(mesh, lambda wire_index, x: values)

    def magnitude(self, wire: int) -> tuple[np.ndarray, np.ndarray]:
        """(x, |Delta|) at the quadrature points of wire number ``wire``."""
        mine = self.wire_index == wire
        return self.position[mine].copy(), np.abs(self.values[mine])


# ---------------------------------------------------------------------------------------
# Material of a superconducting wire and the terms of its gap equation
# ---------------------------------------------------------------------------------------

CRITICAL_TEMPERATURE_RATIO = float(np.exp(np.euler_gamma) / np.pi)
"""Weak-coupling T_c / Delta(0) = e^gamma / pi = 0.566933 (exact in the cutoff-free limit)."""


@dataclass(frozen=True)
class Superconductor:
    """Pairing of a superconducting material, for the gap equation (docs/self_consistency.md).

    critical_temperature: bulk T_c of the material (Delta0).
    debye_frequency: omega_D (Delta0) of a smooth Lorentzian cutoff, or None for the
        cutoff-free weak-coupling limit (omega_D -> infinity at fixed T_c, the default).

    The gap equation at a point x of a wire of this material, with Matsubara frequencies
    omega_n = pi T (2n + 1), reads::

        Delta(x) L(T) = 2 pi T sum_{n >= 0} w(omega_n) [F_n(x) - Delta(x) / omega_n]

    where F_n is the anomalous Matsubara function (sin theta_n without phase gradients) and

    * cutoff-free: w = 1, L(T) = ln(T / T_c);
    * smooth cutoff: w(omega) = omega_D^2 / (omega_D^2 + omega^2) (a Lorentzian, as from a
      retarded Einstein-phonon coupling), the BCS coupling lambda set by T_c through
      1/lambda = Re psi(1/2 + i omega_D / 2 pi T_c) - psi(1/2), and
      L(T) = 1/lambda - 2 pi T sum_n w(omega_n)/omega_n = Re psi(1/2 + i omega_D/2 pi T_c)
      - Re psi(1/2 + i omega_D / 2 pi T) (digamma sums, exact).

    A hard cutoff (sum over omega_n < omega_D) is not offered: with omega_D of a few Delta0
    it makes Delta(T) a sawtooth and moves T_c to where a Matsubara frequency crosses
    omega_D. For omega_D -> infinity the smooth form tends to the cutoff-free one.
    """

    critical_temperature: float
    debye_frequency: float | None = None

    def __post_init__(self) -> None:
        tc = self.critical_temperature
        if isinstance(tc, bool) or not isinstance(tc, (int, float, np.floating)) or not np.isfinite(tc) or tc <= 0:
            raise ValueError(f"superconductor: critical_temperature must be a positive number (Delta0), got {tc!r}")
        wd = self.debye_frequency
        if wd is not None and (isinstance(wd, bool) or not isinstance(wd, (int, float, np.floating))
                               or not np.isfinite(wd) or wd <= 2 * np.pi * tc):
            raise ValueError(f"superconductor: debye_frequency must be None (no cutoff) or a number above "
                             f"2 pi T_c = {2 * np.pi * tc:.4g} (Delta0; weak coupling needs omega_D >> T_c), "
                             f"got {wd!r}")

    @classmethod
    def from_gap(cls, zero_temperature_gap: float, debye_frequency: float | None = None) -> "Superconductor":
        """The material whose weak-coupling zero-temperature gap is ``zero_temperature_gap``
        (Delta0): T_c = 0.566933 Delta(0) (exact without cutoff; with a cutoff Delta(0) then
        deviates from this by O((T_c/omega_D)^2))."""
        return cls(CRITICAL_TEMPERATURE_RATIO * float(zero_temperature_gap), debye_frequency)

    def cutoff(self, frequencies: np.ndarray) -> np.ndarray:
        """w(omega) (dimensionless) at Matsubara frequencies (Delta0)."""
        frequencies = np.asarray(frequencies, dtype=float)
        if self.debye_frequency is None:
            return np.ones_like(frequencies)
        return self.debye_frequency**2 / (self.debye_frequency**2 + frequencies**2)

    def log_ratio(self, temperature: float) -> float:
        """L(T) of the gap equation (see the class docstring); ln(T/T_c) without cutoff."""
        if self.debye_frequency is None:
            return float(np.log(temperature / self.critical_temperature))
        return float(_digamma_sum(self.debye_frequency / (2 * np.pi * self.critical_temperature))
                     - _digamma_sum(self.debye_frequency / (2 * np.pi * temperature)))

    def inverse_coupling(self) -> float:
        """1/lambda for a finite cutoff (None without one)."""
        if self.debye_frequency is None:
            return None
        return float(_digamma_sum(self.debye_frequency / (2 * np.pi * self.critical_temperature)))


def _digamma_sum(b: float) -> float:
    """sum_{n >= 0} [1/(n + 1/2) - (n + 1/2)/((n + 1/2)^2 + b^2)] = Re psi(1/2 + i b) - psi(1/2)."""
    from scipy.special import psi

    return float(np.real(psi(0.5 + 1j * b)) - psi(0.5))


def lorentzian_critical_temperature(inverse_coupling: float, debye_frequency: float) -> float:
    """Bulk T_c (Delta0) of coupling 1/lambda with the Lorentzian cutoff omega_D: the root of
    Re psi(1/2 + i omega_D / 2 pi T) - psi(1/2) = 1/lambda (used for the Cooper limit)."""
    from scipy.optimize import brentq

    def mismatch(log_t: float) -> float:
        return _digamma_sum(debye_frequency / (2 * np.pi * np.exp(log_t))) - inverse_coupling

    return float(np.exp(brentq(mismatch, np.log(debye_frequency) - 60, np.log(debye_frequency), xtol=1e-14)))
