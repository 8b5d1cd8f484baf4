"""Observables: currents and conductances from spectral conductances, integrated over energy.

Pipeline position: SpectralConductance (:mod:`femprox.kinetic`) -> **observables**.

Units: hbar = k_B = e = 1; energies, temperatures and potentials in Delta0; conductances in
the units of the wires' ``conductance`` (per unit length) times 1/xi0, so a normal wire has
G_N = g/L. Heat conductances are in G_N * Delta0 (kappa_N = pi^2 T G_N / 3).

Sign conventions (see :mod:`femprox.kinetic`): every current flows *from terminal i into the
network*; electric current ``I_i = (1/2) int sum Gamma_T f dE``, energy current
``J_E,i = -(1/2) int E sum Gamma_L f dE``, heat current ``Q_i = J_E,i - V_i I_i`` (electrons sit
at chemical potential -V_i). Potentials are measured from the superconducting condensate
(all S reservoirs are at V = 0).

Energy integrals
----------------
Every integrand is even in E (f_L and Gamma_LT, Gamma_TL are odd; f_T, Gamma_LL, Gamma_TT
even; proof in :mod:`femprox.kinetic`), so ``int_{-inf}^{inf} = 2 int_0^inf`` and only E > 0
is ever solved. The half line is split into panels (:class:`EnergyGrid`) graded
geometrically toward E = 0 (down to a fraction of min(T, E_Th)) and toward both sides of
every gap edge (where the spectral functions have square-root branch points), with
``order`` Gauss-Legendre nodes per panel. The spectral data are interpolated by the degree
order-1 polynomial on each panel and integrated against the thermal weights exactly (on a
sub-grid fine on the scale T), so one spectral solve serves any temperature whose thermal
window (~40 T) the grid covers.

Error estimate: the same integral is evaluated on the grid with every other panel edge
removed (half the nodes; the data on it come from interpolating the full grid), and the
difference is reported. It is the error of the coarser rule, so it bounds the error of the
reported value from above in practice (on smooth integrands by orders of magnitude; the
tests check it against refined grids).

Minigap edges (square-root singularities at energies not known in advance) are what a fixed
grid resolves worst. Either pass a good guess as a breakpoint, or let
:func:`adaptive_transport` split the panels whose Legendre coefficients have not decayed
(weighted by their share of the thermal window) until a tolerance is met; only the new
energies are solved.

Equilibrium supercurrents use Matsubara sums (:func:`matsubara_supercurrent`): on the
imaginary axis there are no edges, and the sum converges exponentially in the number of
frequencies. :func:`supercurrent` integrates on the real axis instead (a cross-check).

Linear response and floating terminals
--------------------------------------
At temperature T (all V = 0, all T_i = T) the forces are the potentials of the normal
terminals and the temperatures of all terminals; the fluxes are the charge and heat currents
into the network. Charge that is converted inside S wires (non-self-consistent pair
potential) and the currents of S reservoirs flow into one node, the *condensate*, whose
potential is the reference. Two-terminal quantities between terminals a and b hold a and b,
and either hold every other terminal and the condensate at b's potential and temperature
("grounded") or let them float: zero charge and heat current, by eliminating them from the
linear equations. The two-terminal heat conductance is the standard one, at zero charge
current: ``kappa = K - M L / G`` where the 2x2 response of terminal a is
[[G, L], [M, K]] (I = G dV + L dT, Q = M dV + K dT). The normal state (every gap zero, every
reservoir a normal one) normalizes G/G_N, and kappa_N = pi^2 T G_N / 3 exactly.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

import numpy as np
import scipy.sparse as sp

from femprox import bcs
from femprox.coefficients import kinetic_coefficients
from femprox.geometry import Geometry, Node, NodeKind
from femprox.kinetic import L, T, SpectralConductance, spectral_conductance
from femprox.mesh import GraphMesh, build_mesh
from femprox.spectral import SpectralConvergenceError, SpectralFields, SpectralSolution, solve_spectral

log = logging.getLogger(__name__)

THERMAL_CUTOFF = 40.0
"""Thermal windows end at E = 40 T: sech^2(20) ~ 1.7e-17 times E^2 keeps the tail < 1e-13."""


# ---------------------------------------------------------------------------------------
# Reservoir distributions and thermal kernels
# ---------------------------------------------------------------------------------------

def _tanh_half(x: np.ndarray, temperature: float) -> np.ndarray:
    """tanh(x / 2T), the T -> 0 limit being sign(x)."""
    if temperature == 0.0:
        return np.sign(x)
    return np.tanh(x / (2.0 * temperature))


def reservoir_distributions(energy, temperature: float, potential: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(f_L, f_T) of a reservoir at ``temperature`` and ``potential`` (PHYSICS.md section 4)."""
    energy = np.asarray(energy, dtype=float)
    plus = _tanh_half(energy + potential, temperature)
    minus = _tanh_half(energy - potential, temperature)
    return 0.5 * (plus + minus), 0.5 * (plus - minus)


def thermal_weight(energy, temperature: float) -> np.ndarray:
    """h(E) = (1/2T) sech^2(E/2T) = d f_T / dV at V = 0 (1/Delta0); -(E/T) h = d f_L / dT."""
    x = np.abs(np.asarray(energy, dtype=float)) / temperature
    e = np.exp(-x)  # sech^2(x/2) = 4 e^-x / (1 + e^-x)^2, stable for large x
    return 2.0 * e / (1.0 + e) ** 2 / temperature


# ---------------------------------------------------------------------------------------
# Energy grid
# ---------------------------------------------------------------------------------------

@lru_cache(maxsize=64)
def _gauss(order: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(order)


@lru_cache(maxsize=256)
def _subpanel_interpolation(order: int, n_sub: int, fine: int):
    """Reference points, weights and Lagrange matrix (n_sub*fine, order) on [-1, 1]."""
    x, _ = _gauss(order)
    z, w = _gauss(fine)
    left = -1.0 + 2.0 * np.arange(n_sub) / n_sub
    points = (left[:, None] + (z[None, :] + 1.0) / n_sub).ravel()
    weights = np.tile(w / n_sub, n_sub)
    return points, weights, _lagrange(x, points)


def _lagrange(nodes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Values (len(points), len(nodes)) of the Lagrange basis of ``nodes`` (Legendre-stable)."""
    degree = nodes.size - 1
    return np.polynomial.legendre.legvander(points, degree) @ np.linalg.inv(
        np.polynomial.legendre.legvander(nodes, degree))


@dataclass(frozen=True)
class EnergyGrid:
    """Composite Gauss-Legendre rule on [0, E_max] for integrals over E > 0.

    Attributes
    ----------
    edges: (n_panels + 1,) panel boundaries in Delta0, ``edges[0] = 0``.
    segments: (n_panels,) index of the segment (stretch between mandatory breakpoints: 0,
        gap edges, user breakpoints) each panel belongs to; coarsening never merges across.
    order: Gauss-Legendre nodes per panel.
    nodes: (n_panels * order,) the energies at which spectral data are needed.
    """

    edges: np.ndarray
    segments: np.ndarray
    order: int = 8
    nodes: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        edges = np.asarray(self.edges, dtype=float)
        if edges[0] != 0.0 or np.any(np.diff(edges) <= 0):
            raise ValueError("energy grid edges must start at 0 and increase strictly")
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "segments", np.asarray(self.segments, dtype=int))
        x, _ = _gauss(self.order)
        mid, half = 0.5 * (edges[1:] + edges[:-1]), 0.5 * np.diff(edges)
        object.__setattr__(self, "nodes", (mid[:, None] + half[:, None] * x[None, :]).ravel())

    @property
    def n_panels(self) -> int:
        return self.edges.size - 1

    @property
    def e_max(self) -> float:
        return float(self.edges[-1])

    def interpolation_matrix(self, points) -> sp.csr_matrix:
        """Sparse (len(points), n_nodes): the panelwise interpolant at ``points``.

        Points outside [0, E_max] give zero rows (the integrand is neglected there).
        """
        points = np.atleast_1d(np.asarray(points, dtype=float))
        inside = np.flatnonzero((points >= 0) & (points <= self.edges[-1]))
        panel = np.clip(np.searchsorted(self.edges, points[inside], side="right") - 1, 0, self.n_panels - 1)
        a, b = self.edges[panel], self.edges[panel + 1]
        reference = 2.0 * (points[inside] - a) / (b - a) - 1.0
        values = _lagrange(_gauss(self.order)[0], reference)
        cols = panel[:, None] * self.order + np.arange(self.order)[None, :]
        rows = np.repeat(inside, self.order)
        return sp.csr_matrix((values.ravel(), (rows, cols.ravel())), shape=(points.size, self.nodes.size))

    @cached_property
    def _half_grid(self) -> tuple["EnergyGrid", sp.csr_matrix]:
        coarse = self.coarsened()
        return coarse, self.interpolation_matrix(coarse.nodes).T.tocsr()

    def weights(self, weight: Callable[[np.ndarray], np.ndarray], scale: float) -> np.ndarray:
        """Quadrature weights W (n_nodes, k) with int_0^E_max K(E) w_c(E) dE ~= sum_n K(E_n) W[n, c].

        ``weight`` maps energies (any shape s) to an array (s + (k,)); ``scale`` is the
        smallest energy scale on which it varies (T for thermal weights). Each panel is cut
        into 2^k sub-panels no wider than ``scale`` (k <= 8) with order + 4 Gauss points each.
        """
        widths = np.diff(self.edges)
        # powers of two: few distinct sub-panel counts, each handled in one vectorized pass
        n_sub = 2 ** np.clip(np.ceil(np.log2(np.maximum(widths / scale, 1.0))), 0, 8).astype(int)
        result = None
        for count in np.unique(n_sub):
            panels = np.flatnonzero(n_sub == count)
            ref, ref_weights, lagrange = _subpanel_interpolation(self.order, int(count), self.order + 4)
            a, h = self.edges[panels], widths[panels]
            energies = a[:, None] + 0.5 * (ref[None, :] + 1.0) * h[:, None]
            w = np.asarray(weight(energies))
            if result is None:
                result = np.zeros((self.n_panels, self.order, w.shape[-1]))
            scaled = w * (0.5 * h[:, None, None] * ref_weights[None, :, None])
            result[panels] = np.einsum("pfc,fn->pnc", scaled, lagrange)
        return result.reshape(self.nodes.size, -1)

    def coarsened(self) -> "EnergyGrid":
        """The grid with every other interior edge of each segment removed (half the nodes)."""
        keep = [0]
        for s in np.unique(self.segments):
            ends = np.flatnonzero(self.segments == s) + 1
            keep.extend(ends[1::2].tolist() + [int(ends[-1])])
        keep = np.unique(keep)
        return EnergyGrid(self.edges[keep], self.segments[keep[1:] - 1], self.order)

    def weights_and_difference(self, weight, scale: float) -> tuple[np.ndarray, np.ndarray]:
        """Weights W of this grid and W - W_half, W_half being the half grid's rule on these nodes."""
        W = self.weights(weight, scale)
        coarse, to_coarse = self._half_grid
        W_half = to_coarse @ coarse.weights(weight, scale)
        return W, W - W_half


def panel_tails(grid: EnergyGrid, values: np.ndarray) -> np.ndarray:
    """Interpolation-error indicator per panel: |c_(p-1)| + |c_(p-2)| of the Legendre series.

    ``values`` (n_nodes, k) at the grid nodes; returns (n_panels, k). For data resolved by the
    panel's polynomial the last coefficients fall geometrically, so their size estimates the
    interpolation error; an edge or kink inside the panel keeps them large.
    """
    x, _ = _gauss(grid.order)
    to_legendre = np.linalg.inv(np.polynomial.legendre.legvander(x, grid.order - 1))
    per_panel = values.reshape(grid.n_panels, grid.order, -1)
    coefficients = np.einsum("cn,pnk->pck", to_legendre, per_panel)
    return np.abs(coefficients[:, -1]) + np.abs(coefficients[:, -2])


def split_panels(grid: EnergyGrid, panels: np.ndarray, pieces: int = 2,
                 shifts: np.ndarray | None = None) -> EnergyGrid:
    """The grid with each given panel cut into ``pieces`` equal parts (then kept even per segment).

    ``shifts`` (one per panel, default 0) moves all cuts of a panel by that fraction of a piece,
    which moves every new node (used when the spectral solver fails at one of them).
    """
    panels = np.asarray(panels, dtype=int)
    shifts = np.zeros(panels.size) if shifts is None else np.asarray(shifts, dtype=float)
    fractions = (np.arange(1, pieces)[None, :] + shifts[:, None]) / pieces
    a, b = grid.edges[panels], grid.edges[panels + 1]
    cuts = (a[:, None] + fractions * (b - a)[:, None]).ravel()
    edges = np.concatenate([grid.edges, cuts])
    segments = np.concatenate([grid.segments, np.repeat(grid.segments[panels], pieces - 1)])
    order = np.argsort(edges[1:], kind="stable")
    edges = np.concatenate([[0.0], edges[1:][order]])
    segments = segments[order]
    for s in np.unique(segments):  # even panel counts per segment, for coarsening
        members = np.flatnonzero(segments == s)
        if members.size % 2:
            widest = members[np.argmax(edges[members + 1] - edges[members])]
            edges = np.insert(edges, widest + 1, 0.5 * (edges[widest] + edges[widest + 1]))
            segments = np.insert(segments, widest, s)
    return EnergyGrid(edges, segments, grid.order)


def _graded(start: float, stop: float, first: float, ratio: float) -> list[float]:
    """Points start + first * ratio^k (k >= 0) strictly between start and stop, either direction."""
    direction = 1.0 if stop > start else -1.0
    points, step = [], first
    while step < abs(stop - start):
        points.append(start + direction * step)
        step *= ratio
    return points


def _segment_edges(a: float, b: float, first_a: float, ratio_a: float,
                   first_b: float | None, ratio_b: float) -> np.ndarray:
    """Interior edges of [a, b], graded toward a (and toward b unless ``first_b`` is None)."""
    if first_b is None:
        inner = _graded(a, b, first_a, ratio_a)
        if inner and (b - inner[-1]) < 0.5 * (inner[-1] - (inner[-2] if len(inner) > 1 else a)):
            inner.pop()  # avoid a sliver panel at the end
        return np.array(inner)
    middle = 0.5 * (a + b)
    left = _graded(a, middle, first_a, ratio_a)
    right = _graded(b, middle, first_b, ratio_b)
    for side in (left, right):  # avoid sliver panels next to the middle
        if len(side) > 1 and abs(middle - side[-1]) < 0.5 * abs(side[-1] - side[-2]):
            side.pop()
    return np.array(sorted(left + [middle] + right))


def _even_panels(edges: np.ndarray) -> np.ndarray:
    """Split the widest panel if needed so that the count is even (for coarsening)."""
    if (edges.size - 1) % 2 == 0:
        return edges
    k = int(np.argmax(np.diff(edges)))
    return np.insert(edges, k + 1, 0.5 * (edges[k] + edges[k + 1]))


def gaps_of(geometry: Geometry) -> list[float]:
    """Distinct gaps of S wires and S reservoirs, ascending (Delta0)."""
    gaps = {w.gap for w in geometry.wires if w.gap > 0}
    gaps |= {n.gap for n in geometry.nodes if n.kind is NodeKind.SUPERCONDUCTING_RESERVOIR}
    return sorted(gaps)


def energy_grid(geometry: Geometry, temperatures: Iterable[float] = (), *, e_max: float | None = None,
                breakpoints: Iterable[float] = (), order: int = 8, ratio: float = 2.0,
                edge_ratio: float = 3.0, edge_distance: float = 1e-6,
                low_fraction: float = 0.02) -> EnergyGrid:
    """An energy grid adapted to a network and a temperature range.

    Parameters
    ----------
    geometry: gives the gap edges (breakpoints, graded on both sides down to
        ``edge_distance * Delta`` with panel ratio ``edge_ratio``) and the smallest Thouless
        energy E_Th = min D/L^2.
    temperatures: the temperatures the grid must serve. ``e_max`` defaults to 40 T_max; without
        temperatures (supercurrents at T -> 0) to 4 times the largest gap.
    breakpoints: further non-smooth points (e.g. a known minigap edge), treated like gaps.
    order: Gauss nodes per panel.
    ratio: panel growth ratio away from E = 0, whose first panel is [0, low_fraction *
        min(T_min, E_Th)] (the spectral data vary on the scale E_Th, the weights on T).
    """
    temperatures = np.atleast_1d(np.asarray(list(temperatures), dtype=float))
    gaps = gaps_of(geometry)
    e_th = min(w.thouless_energy for w in geometry.wires)
    if e_max is None:
        e_max = THERMAL_CUTOFF * temperatures.max() if temperatures.size else 4.0 * max(gaps, default=1.0)
    low = low_fraction * min(e_th, temperatures.min() if temperatures.size else e_th)
    singular = [(0.0, min(low, 0.25 * e_max), ratio)]
    for point in sorted(set(gaps) | {float(b) for b in breakpoints}):
        if 0 < point < e_max * (1 - 1e-9):
            singular.append((point, edge_distance * point, edge_ratio))
    edges, segments = [0.0], []
    for k, (a, first_a, ratio_a) in enumerate(singular):
        if k + 1 < len(singular):
            b, first_b, ratio_b = singular[k + 1]
        else:
            b, first_b, ratio_b = e_max, None, ratio_a
        inner = _even_panels(np.concatenate([[a], _segment_edges(a, b, first_a, ratio_a, first_b, ratio_b), [b]]))
        edges.extend(inner[1:])
        segments.extend([k] * (inner.size - 1))
    return EnergyGrid(np.array(edges), np.array(segments), order)


def solve_on_grid(system: Geometry | GraphMesh, grid: EnergyGrid,
                  **options) -> tuple[SpectralSolution, SpectralConductance]:
    """Spectral solution and spectral conductance at the nodes of ``grid`` (keyword options go
    to :func:`femprox.kinetic.spectral_conductance`)."""
    solution = solve_spectral(system, grid.nodes)
    return solution, spectral_conductance(solution, **options)


class SpectralStore:
    """Spectral solutions of one mesh, accumulated over energies (for adaptive grids).

    :meth:`solution` returns a :class:`SpectralSolution` at any requested energies, solving
    only those not yet known (exact float match: refined grids keep the nodes of untouched
    panels bit for bit).
    """

    def __init__(self, system: Geometry | GraphMesh):
        self.mesh = system if isinstance(system, GraphMesh) else build_mesh(system)
        n = self.mesh.n_dofs
        self.energies = np.empty(0)
        self.gamma = np.empty((0, n), dtype=complex)
        self.gamma_tilde = np.empty((0, n), dtype=complex)
        self.iterations = np.empty(0, dtype=int)
        self.residual = np.empty(0)

    def solution(self, energies: np.ndarray) -> SpectralSolution:
        missing = np.setdiff1d(energies, self.energies)
        if missing.size:
            new = solve_spectral(self.mesh, missing)
            self.energies = np.concatenate([self.energies, new.energies])
            self.gamma = np.concatenate([self.gamma, new.gamma])
            self.gamma_tilde = np.concatenate([self.gamma_tilde, new.gamma_tilde])
            self.iterations = np.concatenate([self.iterations, new.iterations])
            self.residual = np.concatenate([self.residual, new.residual])
        lookup = {e: k for k, e in enumerate(self.energies)}
        index = np.array([lookup[e] for e in energies])
        return SpectralSolution(mesh=self.mesh, energies=np.array(energies, dtype=float),
                                gamma=self.gamma[index], gamma_tilde=self.gamma_tilde[index],
                                iterations=self.iterations[index], residual=self.residual[index])


_CUT_SHIFTS = (0.0, -0.2, 0.23, -0.37, 0.41)
"""Shifts (fractions of a piece) of the cuts of a panel: none first; if Newton fails at a new
node (right at a minigap edge the spectral problem is singular), these, which move every new
node."""

_PIECES = 4
"""A flagged panel is cut into 4: an edge inside it is closed in on twice as fast per round
as by bisection, and rounds (each a separate batched Newton solve) are what costs."""


def adapt_grid(store: SpectralStore, grid: EnergyGrid,
               indicator: Callable[[EnergyGrid, SpectralSolution], np.ndarray], *, tol: float,
               max_rounds: int = 24, max_nodes: int = 6000) -> tuple[EnergyGrid, SpectralSolution]:
    """Split panels whose ``indicator`` exceeds ``tol`` until none does.

    ``indicator(grid, solution)`` returns (n_panels,) estimated contributions of each panel to
    the relative error of the quantity of interest. Stops after ``max_rounds`` or when the
    grid would exceed ``max_nodes``. A panel whose new nodes the spectral solver cannot
    solve for any of ``_CUT_SHIFTS`` is left as it is (logged); the reported error estimates
    then show what remains unresolved.
    """
    solution = store.solution(grid.nodes)
    stuck: set[tuple[float, float]] = set()
    for _ in range(max_rounds):
        # panels narrower than 1e-9 E_max are not cut: their nodes would come within rounding
        # distance of a gap edge, where the spectral solver refuses to go
        wide = np.diff(grid.edges) > 1e-9 * grid.e_max
        flagged = np.flatnonzero((indicator(grid, solution) > tol) & wide)
        flagged = np.array([p for p in flagged if (grid.edges[p], grid.edges[p + 1]) not in stuck], dtype=int)
        if flagged.size == 0 or grid.nodes.size + _PIECES * flagged.size * grid.order > max_nodes:
            break
        grid, solution = _refine_once(store, grid, flagged, stuck)
    return grid, solution


def _refine_once(store: SpectralStore, grid: EnergyGrid, flagged: np.ndarray,
                 stuck: set[tuple[float, float]]) -> tuple[EnergyGrid, SpectralSolution]:
    """Split the flagged panels, moving the cuts of panels whose new nodes fail to solve."""
    attempt = np.zeros(flagged.size, dtype=int)
    while flagged.size:
        refined = split_panels(grid, flagged, _PIECES, np.array(_CUT_SHIFTS)[attempt])
        try:
            return refined, store.solution(refined.nodes)
        except SpectralConvergenceError as error:
            bad = np.unique(np.searchsorted(grid.edges, np.real(error.energies), side="right") - 1)
            hit = np.isin(flagged, bad)
            attempt[hit] += 1
            exhausted = attempt >= len(_CUT_SHIFTS)
            for p in flagged[exhausted]:
                stuck.add((grid.edges[p], grid.edges[p + 1]))
                log.warning("energy panel [%.9g, %.9g] left unrefined: %s", grid.edges[p], grid.edges[p + 1], error)
            flagged, attempt = flagged[~exhausted], attempt[~exhausted]
    return grid, store.solution(grid.nodes)


def _panel_integrals(grid: EnergyGrid, weight, scale: float) -> np.ndarray:
    """int over each panel of |w_c| (n_panels, k): the weights of the constant 1, summed."""
    W = grid.weights(lambda e: np.abs(weight(e)), scale)
    return W.reshape(grid.n_panels, grid.order, -1).sum(axis=1)


class _ConductanceCache:
    """Spectral conductance matrices per energy, computed once (kinetic solves of new nodes only)."""

    def __init__(self):
        self.matrices: dict[float, np.ndarray] = {}

    def matrix(self, solution: SpectralSolution) -> np.ndarray:
        new = np.array([k for k, e in enumerate(solution.energies) if e not in self.matrices], dtype=int)
        if new.size:
            subset = SpectralSolution(mesh=solution.mesh, energies=solution.energies[new],
                                      gamma=solution.gamma[new], gamma_tilde=solution.gamma_tilde[new],
                                      iterations=solution.iterations[new], residual=solution.residual[new])
            gamma = spectral_conductance(subset, keep_distributions=False, check=False).matrix
            self.matrices.update(zip(subset.energies, gamma))
        return np.array([self.matrices[e] for e in solution.energies])


def _transport_indicator(temperatures: np.ndarray, cache: _ConductanceCache):
    """Indicator for :func:`adaptive_transport`: per block of Gamma (LL, LT, TL, TT), the
    Legendre tail relative to the block's largest entry, times the share of the thermal
    weight of that block inside the panel, maximized over blocks and temperatures."""
    blocks = [(L, L, 2), (L, T, 1), (T, L, 1), (T, T, 0)]  # weight column: E^2 h, E h, h

    def indicator(grid: EnergyGrid, solution: SpectralSolution) -> np.ndarray:
        gamma = cache.matrix(solution)
        shares = []
        for t in temperatures:
            share = _panel_integrals(grid, lambda e: _linear_weights(e, t), t)
            shares.append(share / share.sum(axis=0))
        worst = np.zeros(grid.n_panels)
        for m, n, column in blocks:
            block = gamma[:, :, m, :, n].reshape(gamma.shape[0], -1)
            scale = np.abs(block).max()
            if scale == 0:
                continue
            tails = panel_tails(grid, block / scale).max(axis=1)
            for share in shares:
                worst = np.maximum(worst, tails * share[:, column])
        return worst

    return indicator


def adaptive_transport(system: Geometry | GraphMesh, temperatures: Iterable[float], *, tol: float = 1e-5,
                       max_rounds: int = 12, keep_distributions: bool = False,
                       **grid_options) -> tuple[EnergyGrid, SpectralSolution, SpectralConductance]:
    """Energy grid refined until every panel's estimated relative contribution to the
    linear-response integrals at ``temperatures`` is below ``tol``; returns the grid, the
    spectral solution and the spectral conductance on it. ``grid_options`` go to
    :func:`energy_grid` (the starting grid). With ``keep_distributions`` the kinetic problem is
    solved once more on the final grid to keep the unit-data solutions."""
    temperatures = np.atleast_1d(np.asarray(list(temperatures), dtype=float))
    store = SpectralStore(system)
    geometry = store.mesh.geometry
    grid = energy_grid(geometry, temperatures, **grid_options)
    cache = _ConductanceCache()
    grid, solution = adapt_grid(store, grid, _transport_indicator(temperatures, cache), tol=tol,
                                max_rounds=max_rounds)
    if keep_distributions:
        return grid, solution, spectral_conductance(solution)
    conductance = spectral_conductance(_first(solution), keep_distributions=False)
    return grid, solution, replace(conductance, energies=solution.energies.copy(),
                                   matrix=cache.matrix(solution), solve_residual=None)


def _first(solution: SpectralSolution) -> SpectralSolution:
    """The solution at its first energy only (to build a result object cheaply)."""
    return SpectralSolution(mesh=solution.mesh, energies=solution.energies[:1], gamma=solution.gamma[:1],
                            gamma_tilde=solution.gamma_tilde[:1], iterations=solution.iterations[:1],
                            residual=solution.residual[:1])


def _check_on_grid(energies: np.ndarray, grid: EnergyGrid) -> None:
    if energies.shape != grid.nodes.shape or not np.allclose(energies, grid.nodes, rtol=1e-13, atol=0):
        raise ValueError("the spectral data were not computed at the nodes of this energy grid "
                         "(use solve_on_grid or solve_spectral(system, grid.nodes))")


def _check_temperature(grid: EnergyGrid, temperature: float) -> None:
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be positive and finite, got {temperature!r}")
    if THERMAL_CUTOFF * temperature > grid.e_max * (1 + 1e-9):
        raise ValueError(f"T = {temperature} needs energies up to {THERMAL_CUTOFF * temperature:.3g} "
                         f"but the grid stops at {grid.e_max:.3g}; build it with this temperature")


# ---------------------------------------------------------------------------------------
# Linear response
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TwoTerminal:
    """Two-terminal response between terminals ``a`` and ``b`` at temperature T.

    conductance: G = dI_a/d(V_a - V_b) at equal temperatures; normal_conductance: G_N.
    heat_conductance: kappa = dQ_a/d(T_a - T_b) at zero charge current through a;
    normal_heat_conductance: kappa_N = pi^2 T G_N / 3.
    seebeck: open-circuit thermovoltage V_a - V_b = -seebeck (T_a - T_b) (NaN if G = 0).
    *_error: estimates (difference from the half energy grid, see module docstring).
    others: "floating" or "grounded". G is NaN when a and b are both superconducting (both
    sit at the condensate potential).
    """

    a: str
    b: str
    temperature: float
    others: str
    conductance: float
    heat_conductance: float
    seebeck: float
    normal_conductance: float
    normal_heat_conductance: float
    conductance_error: float
    heat_conductance_error: float

    @property
    def conductance_ratio(self) -> float:
        """G/G_N."""
        return self.conductance / self.normal_conductance

    @property
    def heat_conductance_ratio(self) -> float:
        """kappa/kappa_N."""
        return self.heat_conductance / self.normal_heat_conductance


@dataclass(frozen=True)
class LinearResponse:
    """Multi-terminal linear response at temperature T around equilibrium (V = 0, T_i = T).

    Matrices are (n_terminals, n_terminals), rows: currents from terminal i into the
    network; columns: forces at terminal j.

    charge[i, j] = dI_i/dV_j; thermoelectric[i, j] = dI_i/dT_j; peltier[i, j] = dQ_i/dV_j;
    heat[i, j] = dQ_i/dT_j. Columns dV_j of superconducting terminals are zero (their
    potential is the reference). Onsager: peltier(phi) = T thermoelectric(-phi)^T.
    errors: same keys, estimated absolute errors (half-grid difference, signed as fine - coarse).
    normal: normal-state conductance matrix G_N (kappa_N = pi^2 T G_N / 3).
    """

    temperature: float
    terminals: tuple[str, ...]
    superconducting: np.ndarray
    charge: np.ndarray
    thermoelectric: np.ndarray
    peltier: np.ndarray
    heat: np.ndarray
    normal: np.ndarray
    differences: dict[str, np.ndarray]
    has_condensate: bool

    @property
    def errors(self) -> dict[str, np.ndarray]:
        """Absolute error estimates of each matrix."""
        return {k: np.abs(v) for k, v in self.differences.items()}

    @property
    def normal_heat(self) -> np.ndarray:
        """kappa_N matrix = pi^2 T G_N / 3 (Wiedemann-Franz, exact in the normal state)."""
        return math.pi**2 * self.temperature / 3.0 * self.normal

    def index(self, name: str) -> int:
        try:
            return self.terminals.index(name)
        except ValueError:
            raise KeyError(f"no terminal named '{name}' (terminals: {', '.join(self.terminals)})") from None

    def coarse(self) -> "LinearResponse":
        """The same response evaluated on the half grid."""
        d = self.differences
        return replace(self, charge=self.charge - d["charge"], thermoelectric=self.thermoelectric - d["thermoelectric"],
                       peltier=self.peltier - d["peltier"], heat=self.heat - d["heat"],
                       differences={k: np.zeros_like(v) for k, v in d.items()})

    def two_terminal(self, a: str, b: str, *, others: str = "floating") -> TwoTerminal:
        """G, kappa (at zero current) and thermopower between terminals ``a`` and ``b``.

        ``others="floating"``: all other terminals and the condensate carry no charge and no
        heat current; ``"grounded"``: they are held at the potential and temperature of b.
        """
        if others not in ("floating", "grounded"):
            raise ValueError(f"others must be 'floating' or 'grounded', got {others!r}")
        if a == b:
            raise ValueError("a two-terminal response needs two different terminals")
        G, kappa, seebeck = _two_terminal(self, self.index(a), self.index(b), others)
        Gc, kappac, _ = _two_terminal(self.coarse(), self.index(a), self.index(b), others)
        G_N = _two_terminal_normal(self.normal, self.index(a), self.index(b), others)
        return TwoTerminal(a=a, b=b, temperature=self.temperature, others=others, conductance=G,
                           heat_conductance=kappa, seebeck=seebeck, normal_conductance=G_N,
                           normal_heat_conductance=math.pi**2 * self.temperature / 3.0 * G_N,
                           conductance_error=abs(G - Gc), heat_conductance_error=abs(kappa - kappac))


def _onsager_matrix(r: LinearResponse) -> tuple[np.ndarray, list[int], list[int]]:
    """Full matrix (fluxes x forces) over charge nodes (normal terminals [+ condensate]) and
    heat nodes (all terminals). Returns the matrix and, per terminal, its charge-node and
    heat-node index (charge node -1 = condensate for S terminals)."""
    n = len(r.terminals)
    normal = np.flatnonzero(~r.superconducting)
    n_charge = normal.size + (1 if r.has_condensate else 0)
    size = n_charge + n
    M = np.zeros((size, size))
    c = slice(0, normal.size)
    h = slice(n_charge, size)
    M[c, c] = r.charge[np.ix_(normal, normal)]
    M[c, h] = r.thermoelectric[normal]
    M[h, c] = r.peltier[:, normal]
    M[h, h] = r.heat
    if r.has_condensate:
        g = normal.size
        # gauge invariance: shifting every potential (condensate included) changes nothing
        M[:, g] = -M[:, c].sum(axis=1)
        # charge conservation: the condensate receives what no terminal does
        M[g, :] = -M[c, :].sum(axis=0)
    charge_node = np.full(n, n_charge - 1 if r.has_condensate else -1)
    charge_node[normal] = np.arange(normal.size)
    heat_node = n_charge + np.arange(n)
    return M, list(charge_node), list(heat_node)


def _eliminate(M: np.ndarray, active: list[int], floating: list[int]) -> np.ndarray:
    """Response among ``active`` forces/fluxes when the ``floating`` fluxes vanish."""
    A = M[np.ix_(active, active)]
    if not floating:
        return A
    F = M[np.ix_(floating, floating)]
    # pinv: a floating node that couples to nothing (e.g. a condensate that never receives
    # charge) has a zero row and must simply drop out
    return A - M[np.ix_(active, floating)] @ np.linalg.pinv(F, rcond=1e-12) @ M[np.ix_(floating, active)]


def _two_terminal(r: LinearResponse, a: int, b: int, others: str) -> tuple[float, float, float]:
    M, charge_node, heat_node = _onsager_matrix(r)
    va, vb = charge_node[a], charge_node[b]
    has_voltage = va >= 0 and va != vb
    active = ([va] if has_voltage else []) + [heat_node[a]]
    reference = {heat_node[b]} | ({vb} if vb >= 0 else set())
    rest = [k for k in range(M.shape[0]) if k not in active and k not in reference]
    floating = rest if others == "floating" else []
    R = _eliminate(M, active, floating)
    if not has_voltage:
        return math.nan, float(R[0, 0]), math.nan
    G, Lc, Mc, K = R[0, 0], R[0, 1], R[1, 0], R[1, 1]
    kappa = K - Mc * Lc / G if G != 0 else K
    seebeck = Lc / G if G != 0 else math.nan
    return float(G), float(kappa), float(seebeck)


def _two_terminal_normal(normal: np.ndarray, a: int, b: int, others: str) -> float:
    rest = [k for k in range(normal.shape[0]) if k not in (a, b)]
    R = _eliminate(normal, [a], rest if others == "floating" else [])
    return float(R[0, 0])


def _linear_weights(energy: np.ndarray, temperature: float) -> np.ndarray:
    """Columns h, E h, E^2 h of the thermal weight (see :func:`linear_response`)."""
    h = thermal_weight(energy, temperature)
    return np.stack([h, energy * h, energy**2 * h], axis=-1)


def linear_response(conductance: SpectralConductance, grid: EnergyGrid, temperature: float) -> LinearResponse:
    """Linear-response matrices at ``temperature`` from spectral conductances on ``grid``.

    With Gamma the spectral conductance and h = (1/2T) sech^2(E/2T) (E > 0 after symmetry)::

        charge         =  int Gamma_TT h dE           thermoelectric = -int Gamma_TL (E/T) h dE
        peltier        = -int Gamma_LT E h dE         heat           =  int Gamma_LL (E^2/T) h dE
    """
    _check_on_grid(conductance.energies, grid)
    _check_temperature(grid, temperature)
    W, dW = grid.weights_and_difference(lambda e: _linear_weights(e, temperature), temperature)
    G = conductance.matrix

    def integrate(weights: np.ndarray) -> dict[str, np.ndarray]:
        return {"charge": np.einsum("e,eij->ij", weights[:, 0], G[:, :, T, :, T]),
                "thermoelectric": -np.einsum("e,eij->ij", weights[:, 1], G[:, :, T, :, L]) / temperature,
                "peltier": -np.einsum("e,eij->ij", weights[:, 1], G[:, :, L, :, T]),
                "heat": np.einsum("e,eij->ij", weights[:, 2], G[:, :, L, :, L]) / temperature}

    values, differences = integrate(W), integrate(dW)
    superconducting = conductance.superconducting
    for key in ("charge", "peltier"):  # V of an S terminal is the reference, never a force
        values[key][:, superconducting] = 0.0
        differences[key][:, superconducting] = 0.0
    geometry = conductance.mesh.geometry
    has_condensate = bool(superconducting.any() or any(w.is_superconducting for w in geometry.wires))
    return LinearResponse(temperature=float(temperature), terminals=conductance.terminals,
                          superconducting=superconducting, normal=conductance.normal,
                          differences=differences, has_condensate=has_condensate, **values)


# ---------------------------------------------------------------------------------------
# The paper's Eqs. 4 and 6
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PathResistances:
    """Energy-resolved resistances of a path of wires, normalized by its normal resistance.

    r_q = <1/D_L>, r_i = <1/D_T> (paper's R_Q, R_I): sum_w int dx / (g_w D) / sum_w L_w/g_w.
    Arrays (n_energies,); ``wires`` the path.
    """

    energies: np.ndarray
    r_q: np.ndarray
    r_i: np.ndarray
    wires: tuple[str, ...]


def path_resistances(solution: SpectralSolution, wires: Sequence[str]) -> PathResistances:
    """R_Q(E) and R_I(E) along ``wires`` from the spectral solution (cheap: no kinetic solve)."""
    mesh = solution.mesh
    q = mesh.quadrature
    geometry = mesh.geometry
    indices = [mesh.wire_index(name) for name in wires]
    points = np.flatnonzero(np.isin(q.wire_index, indices))
    fields = solution.fields_at_quadrature()
    c = kinetic_coefficients(SpectralFields(gamma=fields.gamma[:, points], gamma_tilde=fields.gamma_tilde[:, points],
                                            dgamma=fields.dgamma[:, points], dgamma_tilde=fields.dgamma_tilde[:, points]))
    weight = q.weights[points] / q.wire_parameter(geometry, "conductance")[points]
    resistance = sum(geometry.wires[k].resistance for k in indices)
    return PathResistances(energies=solution.energies.copy(), r_q=(weight / c.d_l).sum(axis=1) / resistance,
                           r_i=(weight / c.d_t).sum(axis=1) / resistance, wires=tuple(wires))


@dataclass(frozen=True)
class PaperRatios:
    """kappa/kappa_N (Eq. 4) and G/G_N (Eq. 6) at one temperature, with error estimates."""

    temperature: float
    heat_conductance_ratio: float
    conductance_ratio: float
    heat_conductance_error: float
    conductance_error: float


def paper_ratios(path: PathResistances, grid: EnergyGrid, temperature: float) -> PaperRatios:
    """Eq. 4: kappa/kappa_N = 3/(2 pi^2 T^3) int_0^inf E^2/(R_Q cosh^2(E/2T)) dE;
    Eq. 6: G/G_N = 1/(2T) int_0^inf 1/(R_I cosh^2(E/2T)) dE."""
    _check_on_grid(path.energies, grid)
    _check_temperature(grid, temperature)
    W, dW = grid.weights_and_difference(lambda e: _linear_weights(e, temperature), temperature)
    kappa_factor = 3.0 / (math.pi**2 * temperature**2)  # 3/(2 pi^2 T^3) * 2T (sech^2 = 2T h)
    heat = kappa_factor * (W[:, 2] @ (1 / path.r_q)), kappa_factor * (dW[:, 2] @ (1 / path.r_q))
    charge = W[:, 0] @ (1 / path.r_i), dW[:, 0] @ (1 / path.r_i)
    return PaperRatios(temperature=float(temperature), heat_conductance_ratio=float(heat[0]),
                       conductance_ratio=float(charge[0]), heat_conductance_error=float(abs(heat[1])),
                       conductance_error=float(abs(charge[1])))


# ---------------------------------------------------------------------------------------
# Equilibrium supercurrent
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Supercurrent:
    """Equilibrium supercurrent through a wire, flowing from its start node to its end node.

    current: I_S (conductance units times Delta0: ``current * R_N`` is e I R_N in Delta0),
        the mean of the values at the two ends of the wire (equal in a normal wire; in an S
        wire they differ by the charge converted inside it).
    current_at_start, current_at_end: the same evaluated at each end.
    error: half-grid error estimate of ``current``.
    spectral: (n_energies,) j_S (1/xi0) at the two ends averaged, on the grid nodes.
    """

    wire: str
    temperature: float
    current: float
    current_at_start: float
    current_at_end: float
    error: float
    spectral: np.ndarray


def _end_spectral_currents(mesh: GraphMesh, wire: str | int, gamma: np.ndarray, gamma_tilde: np.ndarray,
                           energy: np.ndarray) -> np.ndarray:
    """Complex spectral current 2 (a b' - b a') / (1 - a b)^2 at both ends of a wire.

    ``energy`` (n,) complex (E + i0 on the real axis, i omega on the imaginary one); returns
    (n, 2): start, end. The end derivatives are the variationally consistent fluxes of the
    Riccati weak form restricted to the wire: with a'' + F_a = 0 (the equation divided by D),
    r_a = int_wire [F_a phi - a' phi'] dx gives a'(start) = +r_a, a'(end) = -r_a for the
    basis function phi of that end node. They converge much faster than pointwise FE
    derivatives (which next to a reservoir at a minigap edge were seen off by a factor 10)
    and the current they give is exactly conserved in a normal wire.
    """
    k = mesh.wire_index(wire)
    w = mesh.geometry.wires[k]
    q = mesh.quadrature
    points = np.flatnonzero(q.wire_index == k)
    start, end = mesh.node_dof[w.start], mesh.node_dof[w.end]
    V = q.values[points][:, [start, end]].toarray()
    Dv = q.derivatives[points][:, [start, end]].toarray()
    a, b = (q.values[points] @ gamma.T).T, (q.values[points] @ gamma_tilde.T).T
    da, db = (q.derivatives[points] @ gamma.T).T, (q.derivatives[points] @ gamma_tilde.T).T
    z = energy[:, None] + 1j * w.dynes
    ph = np.exp(1j * w.phase)
    s = 1 - a * b
    f_a = 2 * b * da**2 / s + (2j * z * a - 1j * w.gap * (ph + a**2 / ph)) / w.diffusion
    f_b = 2 * a * db**2 / s + (2j * z * b - 1j * w.gap * (1 / ph + ph * b**2)) / w.diffusion
    weights = q.weights[points]
    orientation = np.array([1.0, -1.0])
    da_end = orientation * ((f_a * weights) @ V - (da * weights) @ Dv)
    db_end = orientation * ((f_b * weights) @ V - (db * weights) @ Dv)
    node_a, node_b = gamma[:, [start, end]], gamma_tilde[:, [start, end]]
    return 2 * (node_a * db_end - node_b * da_end) / (1 - node_a * node_b) ** 2


def wire_end_supercurrent_densities(solution: SpectralSolution, wire: str | int) -> tuple[np.ndarray, np.ndarray]:
    """Spectral supercurrent j_S = -Re[2 (a b' - b a')/(1 - a b)^2] (1/xi0) at the start and
    the end of a wire, (n_energies,) each, from end fluxes (see :func:`_end_spectral_currents`)."""
    j = -np.real(_end_spectral_currents(solution.mesh, wire, solution.gamma, solution.gamma_tilde,
                                        solution.energies.astype(complex)))
    return j[:, 0], j[:, 1]


def supercurrent(solution: SpectralSolution, grid: EnergyGrid, wire: str, temperature: float) -> Supercurrent:
    """I_S = -(g/2) int j_S tanh(E/2T) dE = -g int_0^inf j_S tanh(E/2T) dE through ``wire``.

    The minus sign makes I_S the electric current along the wire (start -> end), the same
    convention as the transport currents (module docstring); PHYSICS.md section 5 writes the
    formula without it. j_S comes from :func:`wire_end_supercurrent_densities`.
    ``temperature`` may be 0. The grid must reach energies where j_S has decayed: above the
    gap it falls slowly in short junctions (in an SNS junction of L = 3 xi0, stopping at 6
    Delta loses 0.4% of I_S; 20 Delta is enough). Minigap edges are inverse-square-root
    singularities of j_S at positions not known in advance, so this real-axis integral
    converges slowly unless they are given as breakpoints: prefer
    :func:`matsubara_supercurrent`, which has neither problem (the two agree to 1e-5).
    """
    _check_on_grid(solution.energies, grid)
    j_start, j_end = wire_end_supercurrent_densities(solution, wire)
    scale = temperature if temperature > 0 else grid.e_max
    W, dW = grid.weights_and_difference(lambda e: _tanh_half(e, temperature)[..., None], scale)
    g = solution.mesh.geometry.wire(wire).conductance
    at_start, at_end = -g * (W[:, 0] @ j_start), -g * (W[:, 0] @ j_end)
    spectral = 0.5 * (j_start + j_end)
    return Supercurrent(wire=wire, temperature=float(temperature), current=float(0.5 * (at_start + at_end)),
                        current_at_start=float(at_start), current_at_end=float(at_end),
                        error=float(abs(g * (dW[:, 0] @ spectral))), spectral=spectral)


# ---------------------------------------------------------------------------------------
# Equilibrium supercurrent from Matsubara frequencies
# ---------------------------------------------------------------------------------------
#
# On the real axis j_S has inverse-square-root edges at every minigap, and the spectral
# Newton solver fails right next to them on fine meshes. The retarded functions are analytic
# in the upper half plane and tanh(E/2T) has poles at E = i omega_n = i pi T (2n + 1) with
# residue 2T, so closing the contour there (X ~ 1/E^2 at large |E|) gives, with
# X = (a b' - b a')/(1 - a b)^2 and j_S = -Re 2X,
#
#     I_S = -(g/2) int j_S tanh(E/2T) dE = -2 g (2 pi T) sum_{n >= 0} Im X(i omega_n),
#
# and for T -> 0 the sum becomes -2 g int_0^inf Im X(i omega) d omega. On the imaginary axis
# the Riccati amplitudes are smooth and bounded away from the unit circle: no edges, Newton
# converges from the bulk/normal guess. femprox.spectral solves real energies only, so the
# imaginary-axis problem is the same weak form, solved by femprox.spectral at E = i omega.

@dataclass(frozen=True)
class MatsubaraSum:
    """Frequencies omega_k > 0 and weights c_k with sum_k c_k F(omega_k) ~= 2 pi T sum_n F(omega_n)
    (for T > 0) or int_0^inf F d omega (for T = 0), plus the same rule with half the tail nodes
    for an error estimate."""

    temperature: float
    frequencies: np.ndarray
    weights: np.ndarray
    weights_difference: np.ndarray


def matsubara_sum(temperature: float, scale: float, *, explicit: int = 256, order: int = 8) -> MatsubaraSum:
    """Rule for 2 pi T sum_{n >= 0} F(omega_n) (F smooth, decaying at least like omega^-2).

    The first ``explicit`` frequencies omega_n = pi T (2n + 1) are summed term by term; the
    rest is the midpoint-rule integral from omega_N - pi T (error (2 pi T)^2 F'/24, below 1e-6
    relative once 2 pi T N exceeds the scale of F). Integrals (and T = 0) use Gauss panels
    graded geometrically from ``scale`` * 1e-3 to 1e3 * ``scale`` (``scale`` ~ the smallest
    of gap and Thouless energy) plus a tail in t = omega_c / omega.
    """
    if temperature > 0:
        count = explicit
        n = np.arange(count)
        omega = np.pi * temperature * (2 * n + 1)
        start = 2 * np.pi * temperature * count
        explicit_weights = np.full(count, 2 * np.pi * temperature)
    else:
        omega, explicit_weights, start = np.empty(0), np.empty(0), 0.0
    tail_nodes, tail_weights, tail_difference = _tail_rule(start, scale, order)
    weights = np.concatenate([explicit_weights, tail_weights])
    difference = np.concatenate([np.zeros(omega.size), tail_difference])
    return MatsubaraSum(float(temperature), np.concatenate([omega, tail_nodes]), weights, difference)


def _tail_rule(start: float, scale: float, order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int_start^inf F d omega by Gauss panels: geometric (ratio 2) up to 1e3 scale, then t = w_c/w."""
    low = max(start, 1e-3 * scale)
    top = max(1e3 * scale, 4 * low)
    edges = np.unique(np.concatenate([[start], low * 2.0 ** np.arange(0, np.log2(top / low) + 1)]))
    edges = edges[edges <= top]
    grid = EnergyGrid(edges - start, np.zeros(edges.size - 1, dtype=int), order)
    W, dW = grid.weights_and_difference(lambda e: np.ones(e.shape + (1,)), np.inf)
    nodes = grid.nodes + start
    # tail beyond top: omega = top / t, d omega = top dt / t^2, t in (0, 1]; F ~ C/omega^2 makes
    # the integrand smooth at t -> 0
    x, w = _gauss(order)
    t = 0.5 * (x + 1)
    tail_nodes = top / t
    tail_weights = 0.5 * w * top / t**2
    return (np.concatenate([nodes, tail_nodes]), np.concatenate([W[:, 0], tail_weights]),
            np.concatenate([dW[:, 0], np.zeros(order)]))


def matsubara_supercurrent(system: Geometry | GraphMesh, wire: str, temperature: float, *,
                           explicit: int = 256) -> Supercurrent:
    """Equilibrium supercurrent through ``wire`` (start -> end) from a Matsubara sum.

    I_S = -2 g sum_k c_k Im X(i omega_k), with X the complex spectral current at the wire's
    ends (end fluxes, see :func:`_end_spectral_currents`); exponentially convergent in the
    energy resolution and free of minigap edges. ``temperature`` may be 0 (then an integral
    over omega). ``spectral`` in the result holds -Im 2X at the frequencies.
    """
    mesh = system if isinstance(system, GraphMesh) else build_mesh(system)
    geometry = mesh.geometry
    scale = min(min(gaps_of(geometry), default=1.0), min(w.thouless_energy for w in geometry.wires))
    rule = matsubara_sum(temperature, scale, explicit=explicit)
    solution = solve_spectral(mesh, 1j * rule.frequencies)
    x = _end_spectral_currents(mesh, wire, solution.gamma, solution.gamma_tilde,
                               1j * rule.frequencies)  # 2X at (start, end)
    g = geometry.wire(wire).conductance
    per_end = -g * (rule.weights @ np.imag(x))  # -2 g sum c Im X = -g sum c Im 2X
    spectral = -np.imag(x).mean(axis=1)
    error = abs(g * (rule.weights_difference @ np.imag(x).mean(axis=1)))
    return Supercurrent(wire=wire, temperature=float(temperature), current=float(per_end.mean()),
                        current_at_start=float(per_end[0]), current_at_end=float(per_end[1]),
                        error=float(error), spectral=spectral)


# ---------------------------------------------------------------------------------------
# Nonlinear bias
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NonlinearCurrents:
    """Currents from every terminal into the network at finite bias.

    charge: I_i; energy: J_E,i; heat: Q_i = J_E,i - V_i I_i (arrays over ``terminals``);
    *_error: half-grid error estimates. temperatures/potentials: the reservoirs' state.
    """

    terminals: tuple[str, ...]
    temperatures: np.ndarray
    potentials: np.ndarray
    charge: np.ndarray
    energy: np.ndarray
    heat: np.ndarray
    charge_error: np.ndarray
    energy_error: np.ndarray


def nonlinear_currents(conductance: SpectralConductance, grid: EnergyGrid,
                       reservoirs: Mapping[str, tuple[float, float]]) -> NonlinearCurrents:
    """Currents for reservoirs at arbitrary (temperature, potential), integrating the
    kinetic solution against the full reservoir distributions.

    ``reservoirs`` maps every terminal name to (T_i, V_i) in Delta0; S reservoirs must have
    V = 0. The spectral functions do not depend on the bias (non-self-consistent model), so
    one ``conductance`` serves every bias. The grid must reach 40 max(T_i) + max|V_i| and,
    when supercurrents flow, the energies where j_S has decayed (that can be > 20 Delta in
    short junctions, see :func:`supercurrent`). The steps of the distributions at +-V_i need
    no breakpoints: the weights are integrated on sub-panels no wider than min(T_i).
    """
    _check_on_grid(conductance.energies, grid)
    temps, volts = _bias_state(conductance, reservoirs)
    reach = THERMAL_CUTOFF * temps.max() + np.abs(volts).max()
    if reach > grid.e_max * (1 + 1e-9):
        raise ValueError(f"the bias needs energies up to {reach:.3g}; the grid stops at {grid.e_max:.3g}")

    def weight(e: np.ndarray) -> np.ndarray:  # columns (terminal, plain/E-weighted, mode)
        columns = []
        for t, v in zip(temps, volts):
            f_l, f_t = reservoir_distributions(e, t, v)
            columns += [f_l, f_t, e * f_l, e * f_t]
        return np.stack(columns, axis=-1)

    positive = temps[temps > 0]
    W, dW = grid.weights_and_difference(weight, positive.min() if positive.size else grid.e_max / 256)
    charge, energy = _bias_currents(conductance, W)
    d_charge, d_energy = _bias_currents(conductance, dW)
    return NonlinearCurrents(terminals=conductance.terminals, temperatures=temps, potentials=volts,
                             charge=charge, energy=energy, heat=energy - volts * charge,
                             charge_error=np.abs(d_charge), energy_error=np.abs(d_energy))


def terminal_values(conductance: SpectralConductance,
                    reservoirs: Mapping[str, tuple[float, float]]) -> np.ndarray:
    """Terminal data (n_energies, n_terminals, 2) = (f_L, f_T) of reservoirs at (T_i, V_i),
    at the energies of ``conductance``; feed it to
    :meth:`~femprox.kinetic.SpectralConductance.distribution` for f_L, f_T along wires."""
    temps, volts = _bias_state(conductance, reservoirs)
    values = np.empty((conductance.energies.size, temps.size, 2))
    for k, (t, v) in enumerate(zip(temps, volts)):
        values[:, k, L], values[:, k, T] = reservoir_distributions(conductance.energies, t, v)
    return values


def _bias_state(conductance: SpectralConductance,
                reservoirs: Mapping[str, tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    names = conductance.terminals
    missing = set(names) - set(reservoirs)
    if missing:
        raise KeyError(f"no (temperature, potential) given for terminals {sorted(missing)}")
    temps = np.array([float(reservoirs[n][0]) for n in names])
    volts = np.array([float(reservoirs[n][1]) for n in names])
    if np.any(temps < 0):
        raise ValueError("reservoir temperatures must not be negative")
    if np.any(volts[conductance.superconducting] != 0):
        raise ValueError("superconducting reservoirs are the potential reference: their V must be 0")
    return temps, volts


def _bias_currents(conductance: SpectralConductance, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """I_i and J_E,i from weights W (n_nodes, 4 n_terminals) of (f_L, f_T, E f_L, E f_T):
    (1/2) int_{-inf}^{inf} = int_0^inf by parity."""
    w = W.reshape(-1, len(conductance.terminals), 2, 2)  # (energy, terminal j, plain/E, mode n)
    charge = np.einsum("ejn,eijn->i", w[:, :, 0, :], conductance.matrix[:, :, T])
    energy = -np.einsum("ejn,eijn->i", w[:, :, 1, :], conductance.matrix[:, :, L])
    return charge, energy
