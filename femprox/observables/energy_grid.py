"""Energy grids and integration: thermal kernels, Gauss panels, adaptive refinement.

Pipeline position: SpectralConductance (:mod:`femprox.kinetic.solver`) -> **energy integrals** ->
observables (:mod:`femprox.observables.conductance`).

Units: energies and temperatures in Delta0.

Energy integrals
----------------
Every integrand is even in E (f_L and Gamma_LT, Gamma_TL are odd; f_T, Gamma_LL, Gamma_TT
even; proof in :mod:`femprox.kinetic.solver`), so ``int_{-inf}^{inf} = 2 int_0^inf`` and only E > 0
is ever solved. The half line is split into panels (:class:`EnergyGrid`) graded
geometrically toward E = 0 (down to a fraction of min(T, E_Th)) and toward both sides of
every gap edge (where the spectral functions have square-root branch points), with
``order`` Gauss-Legendre nodes per panel. The spectral data are interpolated by the degree
order-1 polynomial on each panel and integrated against the thermal weights exactly (on a
sub-grid fine on the scale T), so one spectral solve serves any temperature whose thermal
window (~40 T) the grid covers, and panels need to follow the spectral data only.
:meth:`EnergyGrid.thermal_weights` gives the weights of many temperatures in one vectorized
pass (what :func:`femprox.observables.conductance.linear_responses` uses).

Error estimate: the same integral is evaluated on the grid with every other panel edge
removed (half the nodes; the data on it come from interpolating the full grid), and the
difference is reported. It is the error of the coarser rule, so it bounds the error of the
reported value from above in practice (on smooth integrands by orders of magnitude; the
tests check it against refined grids).

Minigap edges (square-root singularities at energies not known in advance) are what a fixed
grid resolves worst. Either pass a good guess as a breakpoint, or let
:func:`adaptive_transport` split the panels whose Legendre coefficients have not decayed
(weighted by their share of the thermal window) until a tolerance is met; only the new
energies are solved, warm-started from their solved neighbours (:class:`SpectralStore`).

Equilibrium supercurrents use Matsubara sums instead (:mod:`femprox.spectral.supercurrent`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property, lru_cache

import numpy as np
import scipy.sparse as sp

from femprox.geometry.network import Geometry, gaps_of
from femprox.kinetic.solver import L, T, SpectralConductance, spectral_conductance
from femprox.mesh import GraphMesh, build_mesh
from femprox.spectral.solver import SpectralConvergenceError, SpectralSolution, solve_spectral

log = logging.getLogger(__name__)

THERMAL_CUTOFF = 40.0
"""Thermal windows end at E = 40 T: sech^2(20) ~ 1.7e-17 times E^2 keeps the tail < 1e-13."""


# ---------------------------------------------------------------------------------------
# Reservoir distributions and thermal kernels
# ---------------------------------------------------------------------------------------

def tanh_half(x: np.ndarray, temperature: float) -> np.ndarray:
    """tanh(x / 2T), the T -> 0 limit being sign(x)."""
    if temperature == 0.0:
        return np.sign(x)
    return np.tanh(x / (2.0 * temperature))


def reservoir_distributions(energy, temperature: float, potential: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(f_L, f_T) of a reservoir at ``temperature`` and ``potential`` (docs/physics.md section 4)."""
    energy = np.asarray(energy, dtype=float)
    plus = tanh_half(energy + potential, temperature)
    minus = tanh_half(energy - potential, temperature)
    return 0.5 * (plus + minus), 0.5 * (plus - minus)


def thermal_weight(energy, temperature) -> np.ndarray:
    """h(E) = (1/2T) sech^2(E/2T) = d f_T / dV at V = 0 (1/Delta0); -(E/T) h = d f_L / dT.

    ``temperature`` (Delta0) may be an array broadcasting against ``energy``."""
    x = np.abs(np.asarray(energy, dtype=float)) / temperature
    e = np.exp(-x)  # sech^2(x/2) = 4 e^-x / (1 + e^-x)^2, stable for large x
    return 2.0 * e / (1.0 + e) ** 2 / temperature


def linear_response_weights(energy: np.ndarray, temperature) -> np.ndarray:
    """Columns h, E h, E^2 h of the thermal weight h (the kernels of linear response);
    ``temperature`` may be an array broadcasting against ``energy``."""
    h = thermal_weight(energy, temperature)
    return np.stack([h, energy * h, energy**2 * h], axis=-1)


# ---------------------------------------------------------------------------------------
# Energy grid
# ---------------------------------------------------------------------------------------

@lru_cache(maxsize=64)
def gauss_rule(order: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(order)


@lru_cache(maxsize=256)
def _subpanel_interpolation(order: int, n_sub: int, fine: int):
    """Reference points, weights and Lagrange matrix (n_sub*fine, order) on [-1, 1]."""
    x, _ = gauss_rule(order)
    z, w = gauss_rule(fine)
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
        x, _ = gauss_rule(self.order)
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
        values = _lagrange(gauss_rule(self.order)[0], reference)
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

    def thermal_weights(self, temperatures) -> np.ndarray:
        """Weights (n_T, n_nodes, 3) of the kernels h, E h, E^2 h (:func:`linear_response_weights`)
        at every temperature (Delta0) at once: the rule of :meth:`weights` (sub-panels no wider
        than T), vectorized over temperatures. Panels starting above THERMAL_CUTOFF * T get
        zero weight at that T (the kernels are < 1e-14 of their integral there)."""
        temperatures = np.atleast_1d(np.asarray(temperatures, dtype=float))
        widths = np.diff(self.edges)
        # (panel, temperature) pairs inside the thermal window, one sub-panel count each
        panel, which = np.nonzero(self.edges[:-1, None] <= THERMAL_CUTOFF * temperatures[None, :])
        ratio = widths[panel] / temperatures[which]
        n_sub = 2 ** np.clip(np.ceil(np.log2(np.maximum(ratio, 1.0))), 0, 8).astype(int)
        result = np.zeros((temperatures.size, self.n_panels, self.order, 3))
        for count in np.unique(n_sub):  # few distinct counts: one vectorized pass each
            chosen = np.flatnonzero(n_sub == count)
            p, k = panel[chosen], which[chosen]
            ref, ref_weights, lagrange = _subpanel_interpolation(self.order, int(count), self.order + 4)
            energies = self.edges[p][:, None] + 0.5 * (ref[None, :] + 1.0) * widths[p][:, None]
            w = linear_response_weights(energies, temperatures[k][:, None])
            scaled = w * (0.5 * widths[p][:, None, None] * ref_weights[None, :, None])
            result[k, p] = np.einsum("qfc,fn->qnc", scaled, lagrange)
        return result.reshape(temperatures.size, self.nodes.size, 3)

    def thermal_weights_and_difference(self, temperatures) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`thermal_weights` W (n_T, n_nodes, 3) and W - W_half (see
        :meth:`weights_and_difference`), for all temperatures at once."""
        W = self.thermal_weights(temperatures)
        coarse, to_coarse = self._half_grid
        coarse_weights = coarse.thermal_weights(temperatures)  # (n_T, n_coarse, 3)
        n_t, n_coarse, _ = coarse_weights.shape
        stacked = coarse_weights.transpose(1, 0, 2).reshape(n_coarse, -1)
        W_half = (to_coarse @ stacked).reshape(self.nodes.size, n_t, 3).transpose(1, 0, 2)
        return W, W - W_half

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
    x, _ = gauss_rule(grid.order)
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
    return _even_per_segment(edges, segments, grid.order)


def _even_per_segment(edges: np.ndarray, segments: np.ndarray, order: int) -> EnergyGrid:
    """A grid from unsorted interior edges (after a leading 0) and their panels' segments,
    with the widest panel of each segment with an odd panel count split (for coarsening)."""
    by_energy = np.argsort(edges[1:], kind="stable")
    edges = np.concatenate([[0.0], edges[1:][by_energy]])
    segments = segments[by_energy]
    for s in np.unique(segments):
        members = np.flatnonzero(segments == s)
        if members.size % 2:
            widest = members[np.argmax(edges[members + 1] - edges[members])]
            edges = np.insert(edges, widest + 1, 0.5 * (edges[widest] + edges[widest + 1]))
            segments = np.insert(segments, widest, s)
    return EnergyGrid(edges, segments, order)


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


def energy_grid(geometry: Geometry, temperatures: Iterable[float] = (), *, e_max: float | None = None,
                breakpoints: Iterable[float] = (), order: int = 8, ratio: float = 2.0,
                edge_ratio: float = 3.0, edge_distance: float = 1e-6,
                low_fraction: float = 0.02, gaps: Iterable[float] | None = None) -> EnergyGrid:
    """An energy grid adapted to a network and a temperature range.

    Parameters
    ----------
    geometry: gives the gap edges (breakpoints, graded on both sides down to
        ``edge_distance * Delta`` with panel ratio ``edge_ratio``) and the smallest Thouless
        energy E_Th = min D/L^2.
    temperatures: the temperatures the grid must serve. ``e_max`` defaults to 40 T_max; without
        temperatures (supercurrents at T -> 0) to 4 times the largest gap.
    breakpoints: further non-smooth points (e.g. a known minigap edge), treated like gaps.
    gaps: the gap edges (Delta0) to use instead of the geometry's wire and reservoir gaps
        (e.g. those of a self-consistent pair potential, :mod:`femprox.selfconsistency.transport`).
    order: Gauss nodes per panel.
    ratio: panel growth ratio away from E = 0, whose first panel is [0, low_fraction *
        min(T_min, E_Th)] (the spectral data vary on the scale E_Th, the weights on T).
    """
    temperatures = np.atleast_1d(np.asarray(list(temperatures), dtype=float))
    gaps = gaps_of(geometry) if gaps is None else sorted({float(g) for g in gaps if g > 0})
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


def solve_on_grid(system: Geometry | GraphMesh, grid: EnergyGrid, guess=None,
                  **options) -> tuple[SpectralSolution, SpectralConductance]:
    """Spectral solution and spectral conductance at the nodes of ``grid`` (keyword options go
    to :func:`femprox.kinetic.solver.spectral_conductance`). ``guess``: (energies, gamma,
    gamma~) on the same mesh that warm-start the solve (``neighbours`` of :func:`solve_spectral`)."""
    solution = solve_spectral(system, grid.nodes, neighbours=guess)
    return solution, spectral_conductance(solution, **options)


class SpectralStore:
    """Spectral solutions of one mesh, accumulated over energies (for adaptive grids).

    :meth:`solution` returns a :class:`SpectralSolution` at any requested energies, solving
    only those not yet known (exact float match: refined grids keep the nodes of untouched
    panels bit for bit). ``guess``: (energies, gamma, gamma~) of a similar problem on the same
    mesh, the ``neighbours`` of the first solve (later ones use the store's own energies).
    """

    def __init__(self, system: Geometry | GraphMesh, pair_potential=None, guess=None):
        self.mesh = system if isinstance(system, GraphMesh) else build_mesh(system)
        self.pair_potential = pair_potential  # a PairPotentialField, or None: the wires' rigid gaps
        self.guess = guess  # (energies, gamma, gamma~) that warm-start the first solve, or None
        n = self.mesh.n_dofs
        self.energies = np.empty(0)
        self.gamma = np.empty((0, n), dtype=complex)
        self.gamma_tilde = np.empty((0, n), dtype=complex)
        self.iterations = np.empty(0, dtype=int)
        self.residual = np.empty(0)
        self.notes: list[str] = []  # the solver's notes of every solve, each once

    def solution(self, energies: np.ndarray) -> SpectralSolution:
        missing = np.setdiff1d(energies, self.energies)
        if missing.size:
            # a refinement round: its energies lie between solved ones, which warm-start them
            known = (self.energies, self.gamma, self.gamma_tilde) if self.energies.size else self.guess
            new = solve_spectral(self.mesh, missing, pair_potential=self.pair_potential, neighbours=known)
            self.energies = np.concatenate([self.energies, new.energies])
            self.gamma = np.concatenate([self.gamma, new.gamma])
            self.gamma_tilde = np.concatenate([self.gamma_tilde, new.gamma_tilde])
            self.iterations = np.concatenate([self.iterations, new.iterations])
            self.residual = np.concatenate([self.residual, new.residual])
            self.notes += [note for note in new.notes if note not in self.notes]
        lookup = {e: k for k, e in enumerate(self.energies)}
        index = np.array([lookup[e] for e in energies])
        return SpectralSolution(mesh=self.mesh, energies=np.array(energies, dtype=float),
                                gamma=self.gamma[index], gamma_tilde=self.gamma_tilde[index],
                                iterations=self.iterations[index], residual=self.residual[index],
                                notes=list(self.notes), pair_potential=self.pair_potential)


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


def _thermal_panel_integrals(grid: EnergyGrid, temperatures: np.ndarray, panels: np.ndarray) -> np.ndarray:
    """int over each of ``panels`` of the kernels h, E h, E^2 h at every temperature, shape
    (n_T, n_panels, 3), by the sub-panel Gauss rule of :meth:`EnergyGrid.thermal_weights` (no
    interpolation needed here; zero for panels beyond the thermal window)."""
    widths = np.diff(grid.edges)[panels]
    starts = grid.edges[panels]
    result = np.zeros((temperatures.size, panels.size, 3))
    column, which = np.nonzero(starts[:, None] <= THERMAL_CUTOFF * temperatures[None, :])
    n_sub = 2 ** np.clip(np.ceil(np.log2(np.maximum(widths[column] / temperatures[which], 1.0))), 0, 8).astype(int)
    for count in np.unique(n_sub):
        chosen = np.flatnonzero(n_sub == count)
        c, k = column[chosen], which[chosen]
        ref, ref_weights, _ = _subpanel_interpolation(grid.order, int(count), grid.order + 4)
        energies = starts[c][:, None] + 0.5 * (ref[None, :] + 1.0) * widths[c][:, None]
        w = linear_response_weights(energies, temperatures[k][:, None])
        result[k, c] = np.einsum("qfc,f->qc", w, ref_weights) * (0.5 * widths[c][:, None])
    return result


class _PanelShares:
    """Per temperature: each panel's integral of the linear-response kernels, kept between
    refinement rounds (a round splits a few panels; the others keep their edges exactly)."""

    def __init__(self, temperatures: np.ndarray):
        self.temperatures = np.asarray(temperatures, dtype=float)
        self.known: dict[tuple[float, float], np.ndarray] = {}  # panel -> (n_T, 3)

    def shares(self, grid: EnergyGrid) -> np.ndarray:
        """(n_T, n_panels, 3) shares of the thermal weight h, E h, E^2 h per panel."""
        keys = list(zip(grid.edges[:-1].tolist(), grid.edges[1:].tolist()))
        new = np.array([k for k, key in enumerate(keys) if key not in self.known], dtype=int)
        if new.size:
            values = _thermal_panel_integrals(grid, self.temperatures, new)
            self.known.update(zip((keys[k] for k in new), values.transpose(1, 0, 2)))
        share = np.stack([self.known[key] for key in keys], axis=1)
        total = share.sum(axis=1, keepdims=True)
        return share / np.where(total > 0, total, 1.0)


class _ConductanceCache:
    """Spectral conductance matrices per energy, computed once (kinetic solves of new nodes only)."""

    def __init__(self):
        self.matrices: dict[float, np.ndarray] = {}
        self.template: SpectralConductance | None = None  # the first result, for its other fields

    def matrix(self, solution: SpectralSolution) -> np.ndarray:
        new = np.array([k for k, e in enumerate(solution.energies) if e not in self.matrices], dtype=int)
        if new.size:
            subset = SpectralSolution(mesh=solution.mesh, energies=solution.energies[new],
                                      gamma=solution.gamma[new], gamma_tilde=solution.gamma_tilde[new],
                                      iterations=solution.iterations[new], residual=solution.residual[new])
            conductance = spectral_conductance(subset, keep_distributions=False, check=False)
            self.template = self.template or conductance
            self.matrices.update(zip(subset.energies, conductance.matrix))
        return np.array([self.matrices[e] for e in solution.energies])


_NOISE_FLOOR = 1e-9
"""Blocks of the spectral conductance smaller than this times its largest entry count as zero
(rounding noise) in the refinement indicator."""


def _transport_indicator(temperatures: np.ndarray, cache: _ConductanceCache):
    """Indicator for :func:`adaptive_transport`: per block of Gamma (LL, LT, TL, TT), the
    Legendre tail relative to the block's largest entry, times the share of the thermal
    weight of that block inside the panel, maximized over blocks and temperatures."""
    blocks = [(L, L, 2), (L, T, 1), (T, L, 1), (T, T, 0)]  # weight column: E^2 h, E h, h
    panel_shares = _PanelShares(temperatures)

    def indicator(grid: EnergyGrid, solution: SpectralSolution) -> np.ndarray:
        gamma = cache.matrix(solution)
        shares = panel_shares.shares(grid)
        worst = np.zeros(grid.n_panels)
        overall = np.abs(gamma).max()
        for m, n, column in blocks:
            block = gamma[:, :, m, :, n].reshape(gamma.shape[0], -1)
            # a block that vanishes by symmetry (LT and TL without a phase) holds rounding
            # noise only: relative to its own tiny maximum the noise would look unresolved
            scale = max(np.abs(block).max(), _NOISE_FLOOR * overall)
            if scale == 0:
                continue
            tails = panel_tails(grid, block / scale).max(axis=1)
            worst = np.maximum(worst, (tails[None, :] * shares[:, :, column]).max(axis=0))
        return worst

    return indicator


def adaptive_transport(system: Geometry | GraphMesh, temperatures: Iterable[float], *, tol: float = 1e-5,
                       max_rounds: int = 12, keep_distributions: bool = False, pair_potential=None,
                       guess=None, **grid_options) -> tuple[EnergyGrid, SpectralSolution, SpectralConductance]:
    """Energy grid refined until every panel's estimated relative contribution to the
    linear-response integrals at ``temperatures`` is below ``tol``; returns the grid, the
    spectral solution and the spectral conductance on it. ``grid_options`` go to
    :func:`energy_grid` (the starting grid). With ``keep_distributions`` the kinetic problem is
    solved once more on the final grid to keep the unit-data solutions. ``pair_potential``: a
    :class:`~femprox.physics.pair_potential.PairPotentialField` on ``system``'s mesh to solve
    with (pass ``gaps=`` its gap edges for the starting grid). ``guess``: (energies, gamma,
    gamma~) on the same mesh that warm-start the first solve (``neighbours`` of
    :func:`~femprox.spectral.solver.solve_spectral`, e.g. from
    :func:`~femprox.spectral.solver.gap_scaled_neighbours`); the refinement rounds start from
    the grid's own solved energies."""
    temperatures = np.atleast_1d(np.asarray(list(temperatures), dtype=float))
    store = SpectralStore(system, pair_potential, guess)
    geometry = store.mesh.geometry
    grid = energy_grid(geometry, temperatures, **grid_options)
    cache = _ConductanceCache()
    grid, solution = adapt_grid(store, grid, _transport_indicator(temperatures, cache), tol=tol,
                                max_rounds=max_rounds)
    if keep_distributions:
        return grid, solution, spectral_conductance(solution)
    matrix = cache.matrix(solution)
    return grid, solution, replace(cache.template, energies=solution.energies.copy(), matrix=matrix,
                                   solve_residual=None)


def check_on_grid(energies: np.ndarray, grid: EnergyGrid) -> None:
    if energies.shape != grid.nodes.shape or not np.allclose(energies, grid.nodes, rtol=1e-13, atol=0):
        raise ValueError("the spectral data were not computed at the nodes of this energy grid "
                         "(use solve_on_grid or solve_spectral(system, grid.nodes))")


def check_temperature(grid: EnergyGrid, temperature: float) -> None:
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be positive and finite, got {temperature!r}")
    if THERMAL_CUTOFF * temperature > grid.e_max * (1 + 1e-9):
        raise ValueError(f"T = {temperature} needs energies up to {THERMAL_CUTOFF * temperature:.3g} "
                         f"but the grid stops at {grid.e_max:.3g}; build it with this temperature")
