"""Self-consistent pair potential: Delta(x) from the gap equation, and T_c of a structure.

Pipeline position: Geometry -> GraphMesh -> **self-consistent pair potential** ->
SpectralSolution (real energies, ``pair_potential=``) -> kinetic stage.

Physics (docs/self_consistency.md). In every S wire of material
:class:`~femprox.physics.pair_potential.Superconductor` (T_c, optional Debye frequency)::

    Delta(x) L(T) = 2 pi T sum_{n >= 0} w(omega_n) [F_n(x) - Delta(x) / omega_n]

with F_n the anomalous Matsubara function, from the Riccati amplitudes at E = i omega_n:
F_n e^{i chi} = i f = 2 i gamma / (1 - gamma gamma~). N wires have no coupling (Delta = 0);
S reservoirs keep their bulk BCS Delta(T) (T_c = 0.567 of their zero-temperature gap).

Phase: by default (``phase="rigid"``) the pair potential's phase chi(x) is held at the
geometry's rigid profile (``phase`` to ``phase_end``); only the magnitude is
self-consistent, projected as Delta = Re[e^{-i chi} (...)]. Without phase gradients (no
current) this is the full self-consistency. ``phase="self-consistent"`` solves for the
complex Delta e^{i chi} (:func:`_complex_newton`): the imaginary part of the gap equation is
local charge conservation, so the supercurrent is conserved along S wires; S reservoirs
hold their phases, and one phase is held in each part of the network without S reservoir
(:func:`_gauge_anchors`). Units: Delta0, xi0, T in Delta0 (T_c0 = 0.566933).

Matsubara sum (:class:`MatsubaraRule`): the frequencies up to ``tail_start`` (4 Delta0) one
by one; the rest as the midpoint-rule integral int_{omega_N - pi T}^inf d omega on Gauss
panels graded geometrically (ratio 1.5 up to ``explicit_cutoff`` = 20 Delta0, 3 beyond), plus
a last panel in t = omega_top/omega, with the Euler-Maclaurin
corrections of the midpoint rule (h' and h''' at the lower limit, from the first panel's
polynomial): the rule's error falls from ~1/(12 N^2) to ~N^-6 of the tail. All frequencies
are solved in one ``solve_spectral`` call per iteration.

Iteration (:func:`solve_gap`): Newton's method on the residual of the gap equation,

    r(Delta) = sum_k c_k w_k (F_k - Delta/omega_k) - L Delta,

with the Jacobian from the Matsubara Usadel equation linearized about the current state
(a dense matrix over the quadrature points of S wires; one sparse factorization per
frequency). The plain fixed-point map Delta <- [sum c w F + ...]/(L + sum c w/omega) has a
slope close to 1 for *every* mode (its denominator grows like the log of the frequency
cutoff) and Anderson mixing on it needed 40-60 iterations for the T-junction; Newton needs
4-6 and is unaffected by T_c (the critical mode is part of the Jacobian). It starts from
above (bulk Delta(T)), where the largest solution is the one reached; steps that raise the
residual are halved. Converged when the largest step is below ``tol`` (Delta0).

T_c (:func:`critical_temperature`): the linearized gap equation Delta = K(T) Delta, with
K assembled from the linearized Matsubara Usadel equation (no Newton needed), as a dense
matrix over the quadrature points of S wires; T_c is where its largest eigenvalue crosses 1
(Brent's method on lambda_max(T) - 1), not where nonzero solutions stop existing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from femprox.physics import bcs
from femprox.observables.energy_grid import gauss_rule
from femprox.geometry.network import Geometry, NodeKind, connected_parts
from femprox.mesh import GraphMesh, build_mesh
from femprox.physics.bulk import PointParameters, riccati_jacobian_densities
from femprox.physics.contacts import FAR, NEAR
from femprox.physics.pair_potential import PairPotentialField, Superconductor
from femprox.spectral.solver import SpectralSolution, solve_spectral
from femprox.geometry.temperature import at_temperature

log = logging.getLogger(__name__)

__all__ = ["PHASE_MODES", "MatsubaraRule", "SelfConsistencyError", "IterationRecord", "SelfConsistentSolution",
           "CriticalTemperature", "materials_of", "solve_gap", "gap_curve", "critical_temperature",
           "linearized_eigenvalue"]


PHASE_MODES = ("rigid", "self-consistent")
"""Treatments of the pair potential's phase by :func:`solve_gap`."""


class SelfConsistencyError(RuntimeError):
    """The gap-equation iteration did not converge; ``history`` has the iteration report."""

    def __init__(self, message: str, history: list):
        super().__init__(message)
        self.history = history


# ---------------------------------------------------------------------------------------
# Matsubara sum
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MatsubaraRule:
    """Frequencies omega_k > 0 (Delta0) and weights c_k with sum_k c_k h(omega_k) ~=
    2 pi T sum_{n >= 0} h(omega_n) for smooth h decaying at least like omega^-2.

    The first ``explicit`` entries are the Matsubara frequencies pi T (2n + 1), weight 2 pi T;
    the others are nodes of the midpoint-rule integral of the rest (see the module docstring).
    """

    temperature: float
    frequencies: np.ndarray
    weights: np.ndarray
    explicit: int

    @classmethod
    def build(cls, temperature: float, *, explicit_cutoff: float = 20.0, tail_start: float = 4.0,
              minimum: int = 20, tail_order: int = 8, tail_panels: int = 6, panel_ratio: float = 3.0,
              graded_ratio: float = 1.5) -> "MatsubaraRule":
        """Rule at ``temperature`` (Delta0): explicit frequencies up to ``tail_start`` (Delta0;
        at least ``minimum`` of them), Gauss panels of order ``tail_order`` graded (ratio at
        most ``graded_ratio``) from there to the *reference start*, the first Matsubara boundary
        above ``explicit_cutoff`` (Delta0; at least ``minimum`` steps), then ``tail_panels``
        panels each ``panel_ratio`` times longer, and a last panel to infinity.

        Why two starts: the summands are smooth in omega on the scale omega itself above a few
        Delta0 (gap and Thouless-energy structure lives at low omega), so the explicit sum can
        stop at ``tail_start`` with the Euler-Maclaurin-corrected integral taking over (exact
        to ~(2 pi T / tail_start)^6 relative): at low T far fewer frequencies (T = 0.005: 216
        instead of 693). The graded panels are shorter than the far ones (ratio 1.5, not 3):
        with ratio 3 the bulk gap at T = 0.05 T_c0 was off by 2.7e-8, with 1.5 by 2e-10. Far
        out, near NS contacts, the summands decay slowly and the panels' own error is larger
        (~1e-4 in Delta 1 xi0 from a contact, docs/self_consistency.md); keeping those panels
        where they were (from the reference start) keeps results as they were (T-junction:
        Delta to 5e-10, kappa/kappa_N to 1e-10). ``tail_start >= explicit_cutoff``: every
        frequency up to the reference start explicit. Where the graded panels would have as
        many nodes as the frequencies they replace, those frequencies stay explicit.
        Defaults (76-216 frequencies): sum_n omega_n^-3 exact to 3e-9
        (relative) for any T, so the bulk gap comes out to ~1e-9.
        """
        if not (np.isfinite(temperature) and temperature > 0):
            raise ValueError(f"temperature must be positive and finite (Delta0), got {temperature!r}")
        if not (explicit_cutoff > 0 and tail_start > 0 and minimum >= 1 and tail_order >= 1 and tail_panels >= 1
                and panel_ratio > 1 and graded_ratio > 1):
            raise ValueError("Matsubara rule: explicit_cutoff > 0, tail_start > 0, minimum >= 1, tail_order >= 1, "
                             "tail_panels >= 1, panel_ratio > 1 and graded_ratio > 1 are required")
        step = 2 * np.pi * temperature
        reference = max(minimum, int(np.ceil(explicit_cutoff / step)))
        count = min(reference, max(minimum, int(np.ceil(tail_start / step))))
        explicit = np.pi * temperature * (2 * np.arange(count) + 1)
        start = step * count  # omega_N - pi T: the midpoint rule's lower limit
        far_edges = step * reference * panel_ratio ** np.arange(tail_panels + 1)
        graded = _graded_edges(start, far_edges[0], graded_ratio)
        if (graded.size - 1) * tail_order >= reference - count:  # no cheaper than the frequencies themselves
            count, start, graded = reference, far_edges[0], far_edges[:1]
            explicit = np.pi * temperature * (2 * np.arange(count) + 1)
        edges = np.concatenate([graded, far_edges[1:]])
        x, w = gauss_rule(tail_order)
        nodes, weights = [], []
        for low, high in zip(edges[:-1], edges[1:]):
            nodes.append(low + 0.5 * (x + 1) * (high - low))
            weights.append(0.5 * w * (high - low))
        # Euler-Maclaurin for the midpoint rule: step sum_{n >= N} h(omega_n) = int_a^inf h
        # + (step^2/24) h'(a) - (7 step^4/5760) h'''(a) + O(step^6 h^(5)); the derivatives at
        # a = start come from the polynomial through the first panel's nodes (a change of
        # their weights). This takes the rule's error from ~1/(12 N^2) of the tail to ~1/N^6.
        width = edges[1] - edges[0]
        lagrange = np.linalg.inv(np.vander(0.5 * (x + 1), increasing=True))  # l_j(u) = sum_m C[m, j] u^m
        weights[0] = weights[0] + (step**2 / 24) * lagrange[1] / width
        if tail_order > 3:
            weights[0] = weights[0] - (7 * step**4 / 5760) * 6 * lagrange[3] / width**3
        top = edges[-1]
        t = 0.5 * (x + 1)  # omega = top / t, d omega = top dt / t^2
        nodes.append(top / t)
        weights.append(0.5 * w * top / t**2)
        return cls(float(temperature), np.concatenate([explicit] + nodes),
                   np.concatenate([np.full(count, step)] + weights), count)

    @property
    def tail(self) -> slice:
        return slice(self.explicit, None)


def _graded_edges(low: float, high: float, ratio: float) -> np.ndarray:
    """Panel edges from ``low`` to ``high`` growing by a constant factor at most ``ratio``
    (just [low] when they coincide)."""
    if high <= low * (1 + 1e-12):
        return np.array([low])
    panels = int(np.ceil(np.log(high / low) / np.log(ratio)))
    return low * (high / low) ** (np.arange(panels + 1) / panels)


# ---------------------------------------------------------------------------------------
# Materials and the network at temperature T
# ---------------------------------------------------------------------------------------

def materials_of(geometry: Geometry, materials: Mapping[str, Superconductor] | None = None,
                 debye_frequency: float | None = None) -> dict[str, Superconductor]:
    """Material of every S wire: ``materials[name]`` if given, else the wire's own
    ``critical_temperature`` and ``debye_frequency`` (geometry-file keys), where these are
    None the weak-coupling material of its zero-temperature ``gap`` (T_c = 0.567 gap) and the
    argument ``debye_frequency``.

    Wires with gap 0 are normal (no coupling) and must not be given a material.
    """
    materials = dict(materials or {})
    names = {w.name for w in geometry.wires}
    for name, material in materials.items():
        if name not in names:
            raise ValueError(f"materials: no wire named '{name}'")
        if not isinstance(material, Superconductor):
            raise ValueError(f"materials['{name}'] must be a Superconductor, got {material!r}")
        if not geometry.wire(name).is_superconducting:
            raise ValueError(f"materials: wire '{name}' is normal (gap 0); give it its zero-temperature "
                             "gap to make it a superconductor")
    result = {}
    for wire in geometry.wires:
        if wire.is_superconducting:
            own = Superconductor(
                wire.critical_temperature if wire.critical_temperature is not None
                else Superconductor.from_gap(wire.gap).critical_temperature,
                wire.debye_frequency if wire.debye_frequency is not None else debye_frequency)
            result[wire.name] = materials.get(wire.name, own)
    if not result:
        raise ValueError(f"'{geometry.name}' has no superconducting wire: nothing to make self-consistent")
    return result


def _reservoirs_at(geometry: Geometry, temperature: float) -> Geometry:
    """``geometry`` with reservoirs at ``temperature`` and S reservoirs at their bulk BCS gap
    (own T_c = 0.567 of their zero-temperature gap); wires unchanged (their gaps stay the
    zero-temperature values that mark them as superconducting)."""
    return replace(at_temperature(geometry, temperature, scaling="own"), wires=geometry.wires)


def _bulk_gap(material: Superconductor, temperature: float) -> float:
    """Weak-coupling bulk Delta(T) of a material (cutoff-free BCS, Delta0), a starting value."""
    zero = material.critical_temperature / bcs.critical_temperature()
    return zero * float(bcs.gap(temperature / zero))


# ---------------------------------------------------------------------------------------
# The gap equation on a mesh
# ---------------------------------------------------------------------------------------

class _GapEquation:
    """Per-point terms of the gap equation on one mesh and Matsubara rule."""

    def __init__(self, mesh: GraphMesh, materials: dict[str, Superconductor], rule: MatsubaraRule):
        self.mesh, self.rule = mesh, rule
        geometry = mesh.geometry
        q = mesh.quadrature
        wire_material = [materials.get(w.name) for w in geometry.wires]
        self.points = np.flatnonzero([wire_material[k] is not None for k in q.wire_index])
        per_wire_log = np.array([m.log_ratio(rule.temperature) if m else 0.0 for m in wire_material])
        self.log_ratio = per_wire_log[q.wire_index[self.points]]
        cutoffs = np.array([m.cutoff(rule.frequencies) if m else np.zeros(rule.frequencies.size)
                            for m in wire_material])
        # c_k w_k(x) at every S point and frequency: (n_S, n_frequencies)
        self.weights = cutoffs[q.wire_index[self.points]] * rule.weights[None, :]
        explicit = slice(0, rule.explicit)
        self.denominator = self.log_ratio + self.weights[:, explicit] @ (1 / rule.frequencies[explicit])
        self.tail_inverse = self.weights[:, rule.tail] @ (1 / rule.frequencies[rule.tail])
        if np.any(self.denominator <= 0):
            raise ValueError("gap equation: too few explicit Matsubara frequencies for this temperature "
                             "(raise explicit_cutoff)")
        rigid = PointParameters.at_points(geometry, q.wire_index, q.position).phase_factor[:, 0]
        self.phase_factor = rigid[self.points]
        self.n_points = q.position.size

    def field(self, magnitude: np.ndarray) -> PairPotentialField:
        values = np.zeros(self.n_points, dtype=complex)
        values[self.points] = magnitude * self.phase_factor
        return PairPotentialField.from_values(self.mesh, values)

    def complex_field(self, rotated: np.ndarray) -> PairPotentialField:
        """The field Delta e^{i chi} = y e^{i alpha} for rotated values y at the S points."""
        values = np.zeros(self.n_points, dtype=complex)
        values[self.points] = rotated * self.phase_factor
        return PairPotentialField.from_values(self.mesh, values)

    def complex_residual(self, delta: np.ndarray, solution: SpectralSolution) -> np.ndarray:
        """r = sum_k c w (i f_k - Delta e^{i chi}/omega_k) - L Delta e^{i chi} (complex, Delta0) at
        the S points, for the complex pair potential ``delta`` there."""
        f = 1j * solution.fields_at_quadrature().anomalous[:, self.points]
        inverse = 1 / self.rule.frequencies
        return (np.einsum("pk,kp->p", self.weights, f) - (self.weights @ inverse) * delta
                - self.log_ratio * delta)

    def update(self, magnitude: np.ndarray, anomalous: np.ndarray) -> np.ndarray:
        """Plain fixed-point map from F_k at the S points (n_frequencies, n_S)::

            Delta_new = [sum_explicit c w F + sum_tail c w (F - Delta/omega)] / (L + sum_explicit c w/omega)

        Its slope is close to 1 for every mode (the denominator grows like the log of the
        cutoff): slow. Used for the linearized equation; :meth:`newton_update` iterates."""
        explicit = slice(0, self.rule.explicit)
        sums = (np.einsum("pk,kp->p", self.weights[:, explicit], anomalous[explicit])
                + np.einsum("pk,kp->p", self.weights[:, self.rule.tail], anomalous[self.rule.tail])
                - self.tail_inverse * magnitude)
        return sums / self.denominator

    def residual(self, magnitude: np.ndarray, anomalous: np.ndarray) -> np.ndarray:
        """r = sum_k c w (F_k - Delta/omega_k) - L Delta at the S points (Delta0): zero at a
        solution of the gap equation."""
        inverse = 1 / self.rule.frequencies
        return (np.einsum("pk,kp->p", self.weights, anomalous) - (self.weights @ inverse) * magnitude
                - self.log_ratio * magnitude)

    def jacobian(self, magnitude: np.ndarray, solution: SpectralSolution,
                 linear: "_LinearizedMatsubara", dense: bool = True):
        """dr/dDelta from the Matsubara equation linearized about the current state: a dense
        (n_S, n_S) matrix, or (``dense=False``) a scipy LinearOperator applying it (one
        triangular solve per frequency and product, for networks with many S points).

        F_k = sin theta_k responds to dDelta by dF = cos theta dtheta with
        (D/2) dtheta'' - ((omega + eta) cos theta + Delta sin theta) dtheta + cos theta dDelta = 0
        (exact without phase gradients and tunnel contacts; contacts are linearized at zero
        amplitude, phases enter only through the projection: then it is an approximation that
        slows Newton down but does not change the solution)."""
        fields = solution.fields_at_quadrature()
        projection = np.ones(self.n_points, dtype=complex)
        projection[self.points] = self.phase_factor
        sine = np.real(1j * fields.anomalous / projection[None, :])
        cosine = np.real(fields.green)
        delta = np.zeros(self.n_points)
        delta[self.points] = magnitude
        n = self.points.size
        diagonal = -(self.log_ratio + self.weights @ (1 / self.rule.frequencies))
        factors = [linear.factor((frequency + linear.dynes) * cosine[k] + delta * sine[k])
                   for k, frequency in enumerate(self.rule.frequencies)]
        sources = cosine[:, self.points]
        if not dense:
            def apply(v: np.ndarray) -> np.ndarray:
                v = np.ravel(v)
                result = diagonal * v
                for k, lu in enumerate(factors):
                    result += self.weights[:, k] * sources[k] * linear.apply(lu, sources[k] * v)
                return result

            return spla.LinearOperator((n, n), matvec=apply, dtype=float)
        J = np.diag(diagonal)
        for k, lu in enumerate(factors):
            J += self.weights[:, k, None] * (sources[k][:, None] * linear.response(lu, sources[k]))
        return J

    def anomalous(self, solution: SpectralSolution) -> np.ndarray:
        """F_k = Re[e^{-i chi} i f] (n_frequencies, n_S) at the S points."""
        f = solution.fields_at_quadrature().anomalous[:, self.points]
        return np.real(1j * f / self.phase_factor[None, :])


@dataclass(frozen=True)
class IterationRecord:
    """One Newton step of the gap equation.

    change: largest change of |Delta| (Delta0); residual: largest residual of the gap
    equation after the step, divided by the plain map's denominator (Delta0); max_gap:
    largest |Delta|; spectral_iterations: Newton iterations of the Matsubara solve (largest
    over frequencies); step_scale: backtracking factor (1 = full step); seconds: wall time so far.
    """

    iteration: int
    change: float
    residual: float
    max_gap: float
    spectral_iterations: int
    step_scale: float
    seconds: float


@dataclass
class SelfConsistentSolution:
    """Self-consistent pair potential of a network at one temperature.

    Attributes
    ----------
    temperature: T (Delta0).
    mesh: the graph mesh (its geometry has the reservoirs at T, S reservoirs at their bulk
        BCS gap; wire gaps are the zero-temperature values and are not used by the solvers
        when ``pair_potential`` is passed).
    pair_potential: the self-consistent :class:`PairPotentialField`.
    materials: the material of every S wire.
    rule: the Matsubara rule used.
    iterations: Newton iterations; residual: the gap equation's last residual, divided by the
    plain map's denominator (Delta0).
    history: one :class:`IterationRecord` per iteration; seconds: wall time.
    """

    temperature: float
    mesh: GraphMesh
    pair_potential: PairPotentialField
    materials: dict[str, Superconductor]
    rule: MatsubaraRule
    iterations: int
    residual: float
    history: list[IterationRecord] = field(default_factory=list)
    seconds: float = 0.0
    phase: str = "rigid"
    """How the phase was treated: "rigid" (the geometry's profile) or "self-consistent"."""

    @property
    def geometry(self) -> Geometry:
        return self.mesh.geometry

    @property
    def is_superconducting(self) -> bool:
        return bool(np.max(np.abs(self.pair_potential.values), initial=0.0) > 0)

    def profile(self, wire: str, x=None) -> tuple[np.ndarray, np.ndarray]:
        """(x, |Delta(x)|) along ``wire``: at its quadrature points, or interpolated at ``x`` (xi0)."""
        k = self.mesh.wire_index(wire)
        if x is None:
            return self.pair_potential.magnitude(k)
        x = np.atleast_1d(np.asarray(x, dtype=float))
        return x, np.abs(self.pair_potential.at(k, x))

    def phase_profile(self, wire: str, x=None) -> tuple[np.ndarray, np.ndarray]:
        """(x, chi(x)) the phase of Delta along ``wire`` (radians, unwrapped along the wire)."""
        k = self.mesh.wire_index(wire)
        if x is None:
            x, values = self.pair_potential.position[self.pair_potential.wire_index == k], \
                self.pair_potential.values[self.pair_potential.wire_index == k]
        else:
            x = np.atleast_1d(np.asarray(x, dtype=float))
            values = self.pair_potential.at(k, x)
        return x, np.unwrap(np.angle(values))

    def supercurrent(self, wire: str, **options):
        """Equilibrium supercurrent through ``wire`` (start -> end) with this pair potential
        (:func:`femprox.spectral.supercurrent.matsubara_supercurrent`; g Delta0)."""
        from femprox.spectral.supercurrent import matsubara_supercurrent

        return matsubara_supercurrent(self.mesh, wire, self.temperature, pair_potential=self.pair_potential,
                                      **options)

    def solve_spectral(self, energies, **options) -> SpectralSolution:
        """Retarded solution at real ``energies`` with this pair potential (kinetic stage ready)."""
        return solve_spectral(self.mesh, energies, pair_potential=self.pair_potential, **options)


def solve_gap(geometry: Geometry, temperature: float, *,
              materials: Mapping[str, Superconductor] | None = None, debye_frequency: float | None = None,
              tol: float = 1e-8, max_iterations: int = 30,
              explicit_cutoff: float = 20.0, initial: PairPotentialField | None = None,
              refine: float = 1.0, dense_limit: int = 400, phase: str = "rigid") -> SelfConsistentSolution:
    """Self-consistent |Delta(x)| in every S wire at ``temperature`` (Delta0).

    ``phase="rigid"`` (default): the phase chi(x) stays the geometry's rigid profile and only
    |Delta| is solved for (the complete self-consistency where no supercurrent flows).
    ``phase="self-consistent"``: the complex Delta e^{i chi} is solved for, so that the
    supercurrent is conserved along S wires (docs/self_consistency.md, "Self-consistent
    phase"). The phases of S reservoirs are held; in a part of the network without S
    reservoir one phase is held (the rigid phase at one point deep inside an S wire) and
    the rest follows; ``phase``/``phase_end`` of S wires are then only the starting
    profile. Vector potentials (wire ``flux``) enter through the covariant derivatives.

    ``geometry`` has zero-temperature gaps, as everywhere in femprox (not one returned by
    :func:`femprox.geometry.temperature.at_temperature`): its reservoirs are moved to T and it is
    meshed with its own mesh options times ``refine``. ``materials`` per S wire name
    override the default material (the
    wire's own gap, ``debye_frequency``). ``initial``: a starting field (e.g. the solution
    at a nearby lower temperature; it should lie above the solution), default the bulk
    Delta(T) of each wire's material. ``tol``: converged when the largest Newton step is below tol
    (Delta0). Raises :class:`SelfConsistencyError` with the iteration report if not
    converged in ``max_iterations`` Newton iterations. The Newton step is solved with a dense
    Jacobian up to ``dense_limit`` S quadrature points, by GMRES on the Jacobian's action
    above (memory and time of the dense one grow like their square).
    """
    started = time.perf_counter()
    if not isinstance(geometry, Geometry):
        raise TypeError(f"solve_gap needs a Geometry (zero-temperature gaps), got {type(geometry).__name__}")
    if not (np.isfinite(temperature) and temperature > 0):
        raise ValueError(f"temperature must be positive and finite (Delta0), got {temperature!r}")
    if not (tol > 0 and max_iterations >= 1):
        raise ValueError("solve_gap: tol > 0 and max_iterations >= 1 are required")
    if phase not in PHASE_MODES:
        raise ValueError(f"solve_gap: phase must be one of {', '.join(map(repr, PHASE_MODES))}, got {phase!r}")
    materials = materials_of(geometry, materials, debye_frequency)
    at_t = _reservoirs_at(geometry, temperature)
    mesh = build_mesh(at_t, refine=refine)
    rule = MatsubaraRule.build(temperature, explicit_cutoff=explicit_cutoff)
    equation = _GapEquation(mesh, materials, rule)
    rotated_start = None
    if initial is not None:
        values = initial.on_mesh(mesh).values[equation.points]
        rotated_start = values / equation.phase_factor
        start = np.real(rotated_start)
    else:
        # bulk Delta(T), or that at 0.95 T_c above the material's T_c: a start above the solution
        per_wire = {name: _bulk_gap(m, min(temperature, 0.95 * m.critical_temperature))
                    for name, m in materials.items()}
        names = [w.name for w in geometry.wires]
        start = np.array([per_wire[names[k]] for k in mesh.quadrature.wire_index[equation.points]])
    energies = 1j * rule.frequencies
    history: list[IterationRecord] = []

    if phase == "self-consistent":
        y = rotated_start if rotated_start is not None else start.astype(complex)
        y, iterations, change = _complex_newton(mesh, equation, energies, y, tol, max_iterations, history, started)
        field_solved = equation.complex_field(y)
    else:
        linear = _linearized(mesh, equation)
        magnitude, iterations, change = _newton(mesh, equation, linear, energies, np.maximum(start, 0.0), tol,
                                                max_iterations, history, started, dense_limit)
        field_solved = equation.field(magnitude)
    if change >= tol:
        shown = "; ".join(f"{r.iteration}: step {r.change:.2e}, residual {r.residual:.2e}, max Delta {r.max_gap:.6f}"
                          for r in history[-6:])
        raise SelfConsistencyError(
            f"gap equation of '{geometry.name}' at T = {temperature:g} did not converge in {max_iterations} "
            f"Newton iterations (last step {change:.2e} > tol {tol:.1e}); last steps: {shown}. Try a starting "
            "field closer to the solution (initial=...), more iterations or a looser tol.", history)
    return SelfConsistentSolution(temperature=float(temperature), mesh=mesh, pair_potential=field_solved,
                                  materials=materials, rule=rule, iterations=iterations, residual=history[-1].residual,
                                  history=history, seconds=time.perf_counter() - started, phase=phase)


def _newton_step(J, residual: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Solve J step = -residual: dense LU, or GMRES (restarted every 50) for a LinearOperator,
    to a relative 1e-10 (an inexact step would cost Newton its quadratic rate). GMRES is
    preconditioned by the plain map's denominator (the magnitude of J's diagonal)."""
    if isinstance(J, np.ndarray):
        try:
            return np.linalg.solve(J, -residual)
        except np.linalg.LinAlgError:  # exactly singular (at T_c): a plain-map step
            return -residual / denominator
    preconditioner = spla.LinearOperator(J.shape, matvec=lambda v: -np.ravel(v) / denominator, dtype=float)
    step, info = spla.gmres(J, -residual, rtol=1e-10, atol=0.0, restart=50, maxiter=20, M=preconditioner)
    if info != 0:
        log.warning("GMRES for the gap-equation Newton step stopped early (info %d)", info)
    return step


def _newton(mesh, equation: _GapEquation, linear: "_LinearizedMatsubara", energies: np.ndarray, x: np.ndarray,
            tol: float, max_iterations: int, history: list, started: float,
            dense_limit: int = 400) -> tuple[np.ndarray, int, float]:
    """Newton's method on r(Delta) = 0 with backtracking; Delta >= 0 (magnitudes).

    Each iteration: one batched Matsubara solve at Delta, the residual, the Jacobian from the
    linearized equation (:meth:`_GapEquation.jacobian`), the step. A step whose residual
    (scaled by the plain map's denominator, i.e. in Delta0) is larger than the last is halved
    (up to 6 times). Stops when the largest Newton step is below ``tol`` (Delta0); Newton
    converges quadratically, so the error is then far below ``tol``. Returns (Delta after the
    last step, iterations, last step size).
    """
    def evaluate(magnitude):
        solution = solve_spectral(mesh, energies, pair_potential=equation.field(magnitude))
        residual = equation.residual(magnitude, equation.anomalous(solution))
        return solution, residual, float(np.max(np.abs(residual / equation.denominator), initial=0.0))

    solution, residual, merit = evaluate(x)
    change = np.inf
    for iteration in range(1, max_iterations + 1):
        step = _newton_step(equation.jacobian(x, solution, linear, dense=x.size <= dense_limit), residual,
                            equation.denominator)
        scale = 1.0
        for _ in range(7):
            trial = np.maximum(x + scale * step, 0.0)
            trial_solution, trial_residual, trial_merit = evaluate(trial)
            if trial_merit <= merit or scale < 0.02:
                break
            scale *= 0.5
        change = float(np.max(np.abs(trial - x), initial=0.0))
        x, solution, residual, merit = trial, trial_solution, trial_residual, trial_merit
        history.append(IterationRecord(iteration, change, merit, float(np.max(x, initial=0.0)),
                                       int(solution.iterations.max()), scale, time.perf_counter() - started))
        log.info("gap Newton %d: step %.3e (x%.3g), residual %.3e, max Delta %.6f", iteration, change, scale,
                 merit, history[-1].max_gap)
        # quadratic convergence: after steps e_{k-1}, e_k about e_k^3 / e_{k-1}^2 remains;
        # stopping on that estimate saves the step that would only confirm it
        previous = history[-2].change if len(history) >= 2 else np.inf
        if change < tol or (scale == 1.0 and change < 1e-3 and change**3 < 0.1 * tol * previous**2):
            return x, iteration, change if change < tol else change**3 / previous**2
    return x, max_iterations, change


# ---------------------------------------------------------------------------------------
# Self-consistent phase: Newton on the complex pair potential
# ---------------------------------------------------------------------------------------
#
# Unknowns: y(x) = e^{-i alpha(x)} Delta(x) e^{i chi(x)} at the S points, alpha the
# geometry's rigid phase profile: y real is the rigid-phase state, Im y the
# phase's departure from it. The complex residual of the gap equation
#     r = sum_k c_k w_k (i f_k - Delta e^{i chi} / omega_k) - L Delta e^{i chi}
# is rotated the same way (rho = e^{-i alpha} r); its real part is the magnitude equation
# of the rigid mode, its imaginary part is local charge conservation (Im(Delta* F) is the
# charge converted into supercurrent, zero at a self-consistent solution).


class _RiccatiLinearization:
    """The weak Riccati equations at E = i omega linearized about a state, per frequency.

    Same weak form as :mod:`femprox.spectral.solver` (residual = V^T g w (value density) -
    Dx^T g w (flux density) + contact fluxes, reservoir DOFs fixed), assembled here from the
    public point densities of :mod:`femprox.physics.bulk` so that this module does not
    depend on the spectral solver's internals. ``response`` gives d(i f) at the S points
    per unit change of Re y and Im y there.
    """

    def __init__(self, mesh: GraphMesh, points: np.ndarray, phase_factor: np.ndarray):
        geometry = mesh.geometry
        q = mesh.quadrature
        self.mesh, self.points = mesh, points
        self.rigid = PointParameters.at_points(geometry, q.wire_index, q.position)
        weights = q.wire_parameter(geometry, "conductance") * q.weights
        self.inverse_diffusion = 1 / q.wire_parameter(geometry, "diffusion")
        self.dynes = q.wire_parameter(geometry, "dynes")
        free = mesh.free_dofs
        V, Dx = q.values.tocsc()[:, free].tocsr(), q.derivatives.tocsc()[:, free].tocsr()
        self.V, self.Dx = V, Dx
        self.test_values = (V.T @ sp.diags(weights)).tocsr()
        self.test_derivatives = (Dx.T @ sp.diags(weights)).tocsr()
        vector_potential = self.rigid.vector_potential[:, 0]
        stiffness = -(self.test_derivatives @ Dx)
        # -(test') (nabla a) with nabla a = a' - i q a, nabla b = b' + i q b
        self.constant_a = (stiffness + self.test_derivatives @ sp.diags(1j * vector_potential) @ V).tocsr()
        self.constant_b = (stiffness + self.test_derivatives @ sp.diags(-1j * vector_potential) @ V).tocsr()
        self.load_transposed = self.test_values[:, points].T.tocsr()  # (n_S, n_free)
        self.read = V[points].tocsr()
        self.phase_factor = phase_factor
        position = np.full(mesh.n_dofs, -1)
        position[free] = np.arange(free.size)
        self.position = position
        self.n_free = free.size
        # the Jacobian's entries as (row, column, point, value) quadruples, assembled once:
        # per frequency only the point densities change (one COO -> CSC conversion, no
        # sparse products)
        self.mass = _point_triples(V, V, weights)
        self.slope = _point_triples(V, Dx, weights)
        self.constants = [sp.coo_matrix(self.constant_a), sp.coo_matrix(self.constant_b)]

    def factor(self, solution: SpectralSolution, k: int, parameters: PointParameters):
        """Sparse LU of the Riccati Jacobian (2 n_free, complex) at frequency number ``k`` of
        ``solution``, and a, b at the S points."""
        return self.factor_state(solution.gamma[k], solution.gamma_tilde[k], solution.energies[k], parameters)

    def factor_state(self, gamma: np.ndarray, gamma_tilde: np.ndarray, energy: complex, parameters: PointParameters):
        """The same about the state with DOF values ``gamma``, ``gamma_tilde`` (n_dofs,) at the
        complex ``energy`` (Delta0): zeros for the linearized equation at T_c."""
        q = self.mesh.quadrature
        a, b = q.values @ gamma, q.values @ gamma_tilde
        da, db = q.derivatives @ gamma, q.derivatives @ gamma_tilde
        energy = (energy + 1j * self.dynes)[:, None]
        d = riccati_jacobian_densities(a[:, None], b[:, None], da[:, None], db[:, None], energy, parameters)
        n = self.n_free
        rows, columns, values = [], [], []

        def add(row_offset: int, column_offset: int, r, c, v) -> None:
            rows.append(r + row_offset)
            columns.append(c + column_offset)
            values.append(v)

        mass_rows, mass_columns, mass_points, mass_values = self.mass
        for e in range(2):
            for u in range(2):  # block (e, u): V^T diag(w g d_eu) V
                add(e * n, u * n, mass_rows, mass_columns, mass_values * d.value_value[e, u][mass_points, 0])
            slope_rows, slope_columns, slope_points, slope_values = self.slope
            add(e * n, e * n, slope_rows, slope_columns, slope_values * d.value_derivative[e][slope_points, 0])
            constant = self.constants[e]
            add(e * n, e * n, constant.row, constant.col, constant.data.astype(complex))
        for c in self.mesh.contacts:
            dofs = (c.near_dof, c.far_dof)
            _, jac = c.contact.riccati_fluxes(gamma[[c.near_dof]], gamma_tilde[[c.near_dof]],
                                              gamma[[c.far_dof]], gamma_tilde[[c.far_dof]])
            for side in (NEAR, FAR):
                for other in (NEAR, FAR):
                    row, col = self.position[dofs[side]], self.position[dofs[other]]
                    if row >= 0 and col >= 0:
                        for e in range(2):
                            for u in range(2):
                                add(e * n, u * n, np.array([row]), np.array([col]),
                                    np.array([jac[side, e, other, u][0]], dtype=complex))
        J = sp.csc_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))),
                          shape=(2 * n, 2 * n))  # duplicates are summed
        return spla.splu(J), a[self.points], b[self.points]

    def response(self, lu, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """d(i f)/d(Re y, Im y) at the S points: complex (n_S, 2 n_S).

        The pair-potential source -i (Delta e^{i chi} + Delta e^{-i chi} a^2)/D (and its b
        counterpart) changes by -i (e^{i alpha} + e^{-i alpha} a^2)/D per unit Re y and by
        (e^{i alpha} - e^{-i alpha} a^2)/D per unit Im y; f = 2a/(1 - ab) changes by
        2 (da + a^2 db)/(1 - ab)^2.
        """
        p = self.phase_factor
        inverse_d = self.inverse_diffusion[self.points]
        a2, b2 = a**2, b**2
        source = np.concatenate([
            np.stack([-1j * (p + a2 / p), -1j * (p * b2 + 1 / p)]),
            np.stack([p - a2 / p, p * b2 - 1 / p])], axis=1) * np.tile(inverse_d, 2)  # (2 fields, 2 n_S)
        # d(i f) = R J^{-1} (-B dy): R reads 2i (da + a^2 db)/(1-ab)^2 at the S points, B is the
        # source load. Solved as (J^{-T} R^T)^T B: n_S right-hand sides instead of 2 n_S.
        scale = 2j / (1 - a * b) ** 2
        read = self.read.T.toarray()  # (n_free, n_S)
        reader = np.vstack([read * scale[None, :], read * (scale * a2)[None, :]])
        adjoint = lu.solve(reader, trans="T")  # (2 n_free, n_S)
        n = self.n_free
        # the load of field e (columns Re y, Im y of every S point) is L diag(source[e]) with
        # L = [test_values at the S points] twice: (load^T adjoint)^T without forming the load
        loaded = [self.load_transposed @ adjoint[e * n:(e + 1) * n] for e in range(2)]  # (n_S, n_S) each
        tiled = [np.vstack([part, part]) for part in loaded]  # rows: Re y, then Im y columns
        return -(source[0][:, None] * tiled[0] + source[1][:, None] * tiled[1]).T


def _point_triples(left: sp.csr_matrix, right: sp.csr_matrix, weights: np.ndarray):
    """(rows, columns, points, values) with left^T diag(weights x) right = sum over the
    quadruples of values * x[points] at (rows, columns), for any per-point x: the entries of a
    weak-form matrix whose density changes, listed once (rows of ``left``/``right`` padded to
    their longest; padding has value 0)."""
    def padded(matrix: sp.csr_matrix):
        matrix = matrix.tocsr()
        counts = np.diff(matrix.indptr)
        width = max(int(counts.max(initial=0)), 1)
        index = np.zeros((matrix.shape[0], width), dtype=int)
        value = np.zeros((matrix.shape[0], width), dtype=matrix.dtype)
        mask = np.arange(width)[None, :] < counts[:, None]
        index[mask], value[mask] = matrix.indices, matrix.data
        return index, value

    left_index, left_value = padded(left)
    right_index, right_value = padded(right)
    n_points = left.shape[0]
    shape = (n_points, left_index.shape[1], right_index.shape[1])
    rows = np.broadcast_to(left_index[:, :, None], shape).ravel()
    columns = np.broadcast_to(right_index[:, None, :], shape).ravel()
    points = np.broadcast_to(np.arange(n_points)[:, None, None], shape).ravel()
    values = (weights[:, None, None] * left_value[:, :, None] * right_value[:, None, :]).ravel()
    keep = values != 0
    return rows[keep], columns[keep], points[keep], values[keep]


def _gauge_anchors(mesh: GraphMesh, points: np.ndarray) -> np.ndarray:
    """S points whose phase is held (Im y kept at its start): one per connected part of the network that
    has S wires and no S reservoir (there the gap equation is invariant under a global
    phase rotation, a zero mode of the Jacobian). The anchor is the S point farthest from
    its wire's ends, in the longest S stretch: a point where |Delta| stays finite."""
    geometry = mesh.geometry
    part = connected_parts(geometry)
    anchored = {part[n.name] for n in geometry.nodes if n.kind is NodeKind.SUPERCONDUCTING_RESERVOIR}
    q = mesh.quadrature
    wire_of = q.wire_index[points]
    lengths = np.array([w.length for w in geometry.wires])[wire_of]
    depth = np.minimum(q.position[points], lengths - q.position[points])
    components = np.array([part[geometry.wires[k].start] for k in wire_of])
    anchors = []
    for component in sorted(set(components.tolist()) - anchored):
        mine = np.flatnonzero(components == component)
        anchors.append(int(mine[np.argmax(depth[mine])]))
    return np.array(anchors, dtype=int)


def _complex_newton(mesh: GraphMesh, equation: _GapEquation, energies: np.ndarray, y: np.ndarray, tol: float,
                    max_iterations: int, history: list, started: float) -> tuple[np.ndarray, int, float]:
    """Newton's method on the complex gap equation in the rotated unknowns y (module note).

    The real 2 n_S x 2 n_S Jacobian comes from the Riccati equations at E = i omega
    linearized about the current state (exact, phases, vector potentials and contacts
    included). Held phases (:func:`_gauge_anchors`) drop their Im y column; the step is then
    the least-squares solution (the dropped direction is the zero mode). Backtracking and
    stopping as in :func:`_newton`. Returns (y, iterations, last step size (Delta0)).
    """
    phase_factor = equation.phase_factor
    linear = _RiccatiLinearization(mesh, equation.points, phase_factor)
    n = equation.points.size
    anchors = _gauge_anchors(mesh, equation.points)
    columns = np.setdiff1d(np.arange(2 * n), n + anchors)
    total_inverse = equation.weights @ (1 / equation.rule.frequencies)

    def evaluate(values):
        field = equation.complex_field(values)
        solution = solve_spectral(mesh, energies, pair_potential=field)
        residual = equation.complex_residual(values * phase_factor, solution) / phase_factor
        return solution, field, residual, float(np.max(np.abs(residual / equation.denominator), initial=0.0))

    solution, field, residual, merit = evaluate(y)
    change = np.inf
    for iteration in range(1, max_iterations + 1):
        parameters = field.applied_to(linear.rigid)
        derivative = np.zeros((n, 2 * n), dtype=complex)
        for k in range(equation.rule.frequencies.size):
            lu, a, b = linear.factor(solution, k, parameters)
            derivative += equation.weights[:, k, None] * linear.response(lu, a, b)
        derivative /= phase_factor[:, None]
        derivative[:, :n] -= np.diag(total_inverse + equation.log_ratio)
        derivative[:, n:] -= 1j * np.diag(total_inverse + equation.log_ratio)
        J = np.vstack([derivative.real, derivative.imag])[:, columns]
        rhs = -np.concatenate([residual.real, residual.imag])
        solved = np.linalg.lstsq(J, rhs, rcond=None)[0] if anchors.size else np.linalg.solve(J, rhs)
        step_real = np.zeros(2 * n)
        step_real[columns] = solved
        step = step_real[:n] + 1j * step_real[n:]
        scale = 1.0
        for _ in range(7):
            trial = y + scale * step
            trial_solution, trial_field, trial_residual, trial_merit = evaluate(trial)
            if trial_merit <= merit or scale < 0.02:
                break
            scale *= 0.5
        change = float(np.max(np.abs(trial - y), initial=0.0))
        y, solution, field, residual, merit = trial, trial_solution, trial_field, trial_residual, trial_merit
        history.append(IterationRecord(iteration, change, merit, float(np.max(np.abs(y), initial=0.0)),
                                       int(solution.iterations.max()), scale, time.perf_counter() - started))
        log.info("complex gap Newton %d: step %.3e (x%.3g), residual %.3e, max |Delta| %.6f", iteration, change,
                 scale, merit, history[-1].max_gap)
        previous = history[-2].change if len(history) >= 2 else np.inf
        if change < tol or (scale == 1.0 and change < 1e-3 and change**3 < 0.1 * tol * previous**2):
            return y, iteration, change if change < tol else change**3 / previous**2
    return y, max_iterations, change


def gap_curve(geometry: Geometry, temperatures: Iterable[float], **options) -> list[SelfConsistentSolution]:
    """Self-consistent solutions at ascending ``temperatures``, each started from the last
    (a field above the next solution, since Delta falls with T). Options as :func:`solve_gap`."""
    values = sorted(float(t) for t in temperatures)
    if not values:
        raise ValueError("no temperatures given")
    results: list[SelfConsistentSolution] = []
    for t in values:
        initial = results[-1].pair_potential if results and results[-1].is_superconducting else None
        results.append(solve_gap(geometry, t, initial=initial, **options))
    return results


# ---------------------------------------------------------------------------------------
# Linearized gap equation and T_c
# ---------------------------------------------------------------------------------------

class _LinearizedMatsubara:
    """The Matsubara Usadel equation linearized about a state theta(x), on one mesh::

        (D/2) dtheta'' - m(x) dtheta + s(x) dDelta = 0,    m = (omega + eta) cos theta + Delta sin theta

    (from (D/2) theta'' - (omega + eta) sin theta + Delta cos theta = 0; s = cos theta). About
    theta = 0 (T_c) m = omega + eta, s = 1. Weak form (times 2g/D, integrated by parts):
    (S + M[m] - C) dtheta = B[s] dDelta, with S the g-weighted stiffness, M[m] the mass
    matrix of 2 g m / D, C the contacts' fluxes linearized at zero amplitude, and reservoirs
    fixed (dtheta = 0). dtheta at the S points is then a dense linear map of dDelta there.
    """

    def __init__(self, mesh: GraphMesh, points: np.ndarray):
        geometry = mesh.geometry
        q = mesh.quadrature
        parameters = PointParameters.at_points(geometry, q.wire_index, q.position)
        self.has_vector_potential = parameters.has_vector_potential
        g = q.wire_parameter(geometry, "conductance")
        diffusion = q.wire_parameter(geometry, "diffusion")
        self.dynes = q.wire_parameter(geometry, "dynes")
        free = mesh.free_dofs
        V, Dx = q.values.tocsc()[:, free], q.derivatives.tocsc()[:, free]
        self.stiffness = (Dx.T @ sp.diags(g * q.weights) @ Dx).tocsc()
        self.mass_weights = 2 * g * q.weights / diffusion
        self.V, self.VT = V.tocsr(), V.T.tocsr()
        self.contacts = self._contact_matrix(mesh)
        self.points = points
        # sparse on purpose: dense BLAS products of these small matrices were 30x slower on
        # a loaded 2-core machine (thread contention) than scipy's single-threaded sparse ones
        self.load = (self.VT @ sp.diags(self.mass_weights)).tocsc()[:, points].tocsr()
        self.read = V[points].tocsr()

    @staticmethod
    def _contact_matrix(mesh: GraphMesh) -> sp.csc_matrix:
        """Linearized contact fluxes: C[row(side), col(other)] = d(g nabla a . n_out)/d a at a = b = 0."""
        free = mesh.free_dofs
        position = np.full(mesh.n_dofs, -1)
        position[free] = np.arange(free.size)
        rows, cols, values = [], [], []
        zero = np.zeros(1, dtype=complex)
        for c in mesh.contacts:
            _, jac = c.contact.riccati_fluxes(zero, zero, zero, zero)
            dofs = (c.near_dof, c.far_dof)
            for side in (NEAR, FAR):
                for other in (NEAR, FAR):
                    r, col = position[dofs[side]], position[dofs[other]]
                    if r >= 0 and col >= 0:
                        rows.append(r)
                        cols.append(col)
                        values.append(np.real(jac[side, 0, other, 0][0]))
        return sp.csc_matrix((values, (rows, cols)), shape=(free.size, free.size))

    def factor(self, mass_density: np.ndarray):
        """Sparse LU of S + M[m] - C for the mass density m at every quadrature point."""
        matrix = self.stiffness + self.VT @ sp.diags(self.mass_weights * mass_density) @ self.V - self.contacts
        return spla.splu(matrix.tocsc())

    def apply(self, lu, source: np.ndarray) -> np.ndarray:
        """dtheta at the S points for dDelta = ``source`` there, one solve (two if complex)."""
        rhs = self.load @ source
        if np.iscomplexobj(rhs):
            real, imaginary = (lu.solve(np.ascontiguousarray(part)) for part in (rhs.real, rhs.imag))
            return self.read @ (real + 1j * imaginary)
        return self.read @ lu.solve(rhs)

    def response(self, lu, source: np.ndarray) -> np.ndarray:
        """dtheta at the S points per unit dDelta at each S point, (n_S, n_S): ``lu`` from
        :meth:`factor`, ``source`` s (complex allowed) at the S points."""
        rhs = (self.load @ sp.diags(source)).toarray()
        if np.iscomplexobj(rhs):  # phases: the matrix is real, solve both parts
            if not np.any(rhs.imag):
                rhs = rhs.real
            else:
                real, imaginary = (lu.solve(np.ascontiguousarray(part)) for part in (rhs.real, rhs.imag))
                return self.read @ (real + 1j * imaginary)
        return self.read @ lu.solve(rhs)


def linearized_eigenvalue(system: Geometry | GraphMesh, temperature: float, *,
                          materials: Mapping[str, Superconductor] | None = None,
                          debye_frequency: float | None = None, explicit_cutoff: float = 20.0,
                          return_mode: bool = False, dense_limit: int = 400):
    """Largest eigenvalue of the linearized gap equation Delta = K(T) Delta at ``temperature``.

    K is the fixed-point map of :func:`solve_gap` linearized at Delta = 0 (same Matsubara rule,
    same discretization). The structure is superconducting where the eigenvalue exceeds 1.
    With ``return_mode`` also returns the eigenvector as a :class:`PairPotentialField`
    (normalized to max |Delta| = 1): the shape of Delta(x) just below T_c. Up to
    ``dense_limit`` S quadrature points K is a dense matrix (all eigenvalues); above, ARPACK
    finds the one of largest real part from K's action (one solve per frequency). With a
    vector potential, or rigid phase gradients in S wires (which the real kernel would
    impose), the complex linearized equation with covariant derivatives is used
    (:func:`_covariant_eigenvalue`; always dense, the mode complex, the phase free).
    """
    geometry = system.geometry if isinstance(system, GraphMesh) else system
    mesh = system if isinstance(system, GraphMesh) else build_mesh(geometry)
    materials = materials_of(geometry, materials, debye_frequency)
    rule = MatsubaraRule.build(temperature, explicit_cutoff=explicit_cutoff)
    equation = _GapEquation(mesh, materials, rule)
    linear = _linearized(mesh, equation)
    for node in geometry.terminals:
        if node.kind is NodeKind.SUPERCONDUCTING_RESERVOIR:
            raise ValueError(f"'{geometry.name}': S reservoir '{node.name}' induces a pair potential at "
                             "every temperature below its own T_c; T_c of the structure from the "
                             "linearized gap equation needs a network without S reservoirs")
    phase_gradient = any(w.is_superconducting and w.end_phase != w.phase for w in geometry.wires)
    if linear.has_vector_potential or phase_gradient:
        # the real kernel would impose the rigid phase profile; at T_c the phase is free
        return _covariant_eigenvalue(mesh, equation, return_mode)
    n = equation.points.size
    if n > dense_limit:
        factors = [linear.factor(frequency + linear.dynes) for frequency in rule.frequencies]

        def apply(v: np.ndarray) -> np.ndarray:
            v = np.ravel(v)
            result = -equation.tail_inverse * v
            for k, lu in enumerate(factors):
                theta = linear.apply(lu, equation.phase_factor * v)
                result += equation.weights[:, k] * np.real(theta / equation.phase_factor)
            return result / equation.denominator

        operator = spla.LinearOperator((n, n), matvec=apply, dtype=float)
        eigenvalues, vectors = spla.eigs(operator, k=1, which="LR", tol=1e-12, v0=np.ones(n))
        value = float(eigenvalues[0].real)
        if not return_mode:
            return value
        mode = np.real(vectors[:, 0])
        return value, equation.field(mode / mode[np.argmax(np.abs(mode))])
    kernel = np.zeros((n, n))
    for k, frequency in enumerate(rule.frequencies):
        theta = linear.response(linear.factor(frequency + linear.dynes), equation.phase_factor)
        # Delta at the S points is real (magnitudes); the rigid phase is in the load, and the
        # update projects back onto it: Re[e^{-i chi} theta]
        kernel += equation.weights[:, k, None] * np.real(theta / equation.phase_factor[:, None])
    kernel -= np.diag(equation.tail_inverse)
    kernel /= equation.denominator[:, None]
    eigenvalues, vectors = np.linalg.eig(kernel)
    top = int(np.argmax(eigenvalues.real))
    value = float(eigenvalues[top].real)
    if not return_mode:
        return value
    mode = np.real(vectors[:, top])
    mode = mode / mode[np.argmax(np.abs(mode))]
    return value, equation.field(mode)


def _covariant_eigenvalue(mesh: GraphMesh, equation: _GapEquation, return_mode: bool):
    """Largest eigenvalue of the linearized gap equation with a vector potential.

    About a = b = 0 the Riccati equations at E = i omega decouple and become linear with
    covariant derivatives, (a' - i q a)' ... - 2 (omega + eta) a / D = i Delta e^{i chi} / D;
    Delta -> i f = 2 i a is then complex-linear. The kernel acts on the rotated real unknowns
    (Re y, Im y) (see :func:`_complex_newton`), a dense 2n x 2n matrix whose eigenvalues come in
    pairs (a complex-linear map written in real form). The mode is the complex eigenvector.
    """
    linear = _RiccatiLinearization(mesh, equation.points, equation.phase_factor)
    zero = np.zeros(mesh.n_dofs, dtype=complex)
    parameters = replace(linear.rigid, gap=np.zeros_like(linear.rigid.gap))
    n = equation.points.size
    response = np.zeros((n, 2 * n), dtype=complex)
    a = np.zeros(n, dtype=complex)
    for k, frequency in enumerate(equation.rule.frequencies):
        lu, _, _ = linear.factor_state(zero, zero, 1j * frequency, parameters)
        response += equation.weights[:, k, None] * linear.response(lu, a, a)
    response /= equation.phase_factor[:, None]
    kernel = np.vstack([response.real, response.imag])
    kernel -= np.diag(np.tile(equation.tail_inverse, 2))
    kernel /= np.tile(equation.denominator, 2)[:, None]
    eigenvalues, vectors = np.linalg.eig(kernel)
    top = int(np.argmax(eigenvalues.real))
    value = float(eigenvalues[top].real)
    if not return_mode:
        return value
    mode = vectors[:n, top] + 1j * vectors[n:, top]
    mode = mode / mode[np.argmax(np.abs(mode))]
    return value, equation.complex_field(mode)


def _linearized(mesh: GraphMesh, equation: _GapEquation) -> _LinearizedMatsubara:
    """The mesh's linearized Matsubara problem, kept in ``mesh.stage_cache``."""
    cache = mesh.stage_cache.setdefault("linearized_matsubara", {})
    key = equation.points.tobytes()
    if key not in cache:
        cache.clear()
        cache[key] = _LinearizedMatsubara(mesh, equation.points)
    return cache[key]


@dataclass(frozen=True)
class CriticalTemperature:
    """T_c of a structure from the linearized gap equation.

    temperature: T_c (Delta0); evaluations: (T, largest eigenvalue) pairs tried, in order;
    mode: Delta(x) just below T_c (eigenvector, max |Delta| = 1); seconds: wall time.
    """

    temperature: float
    evaluations: tuple[tuple[float, float], ...]
    mode: PairPotentialField
    seconds: float


def critical_temperature(geometry: Geometry, *, materials: Mapping[str, Superconductor] | None = None,
                         debye_frequency: float | None = None, explicit_cutoff: float = 20.0,
                         refine: float = 1.0, rtol: float = 1e-8, lowest: float | None = None,
                         dense_limit: int = 400) -> CriticalTemperature:
    """T_c (Delta0) where the largest eigenvalue of the linearized gap equation crosses 1.

    The search starts at the highest material T_c (no structure exceeds it), halves T until
    the eigenvalue exceeds 1 (down to ``lowest``, default 1/64 of that T_c), then Brent's
    method to relative tolerance ``rtol``. Raises ValueError if the structure is normal down
    to ``lowest``. Networks with S reservoirs are refused (they induce a pair potential at
    every T below their own T_c); with a vector potential (flux) the linearized equation
    has covariant derivatives (:func:`_covariant_eigenvalue`, dense).
    """
    started = time.perf_counter()
    mats = materials_of(geometry, materials, debye_frequency)
    mesh = build_mesh(geometry, refine=refine)
    evaluations: list[tuple[float, float]] = []

    def excess(temperature: float) -> float:
        for known, value in evaluations:  # Brent's method asks for the bracket's ends again
            if known == temperature:
                return value - 1.0
        value = linearized_eigenvalue(mesh, temperature, materials=mats, explicit_cutoff=explicit_cutoff,
                                      dense_limit=dense_limit)
        evaluations.append((temperature, value))
        return value - 1.0

    high = max(m.critical_temperature for m in mats.values()) * (1 + 1e-9)
    floor = high / 64 if lowest is None else lowest
    if excess(high) >= 0:  # an isolated bulk wire: T_c is the material's (to the rule's accuracy)
        low = high
    else:
        low = high
        while True:
            low = max(low / 2, floor)
            if excess(low) > 0:
                break
            if low <= floor:
                raise ValueError(f"'{geometry.name}' stays normal down to T = {floor:.4g} (largest eigenvalue "
                                 f"{evaluations[-1][1]:.6f} < 1)")
    from scipy.optimize import brentq  # here, not at import: scipy.optimize costs 0.1 s at every start

    tc = high if low == high else brentq(excess, low, high if low < high else high, rtol=rtol,
                                        xtol=rtol * high)
    _, mode = linearized_eigenvalue(mesh, tc, materials=mats, explicit_cutoff=explicit_cutoff, return_mode=True,
                                    dense_limit=dense_limit)
    return CriticalTemperature(float(tc), tuple(evaluations), mode, time.perf_counter() - started)
