"""Transport sweeps and the paper's figures as plain numbers (no drawing, no files).

Pipeline position: the last stage. Geometry -> (BCS gaps at T, :mod:`femprox.temperature`)
-> energy grid -> spectral solve -> spectral conductance -> linear response at each T ->
two-terminal ratios G/G_N and kappa/kappa_N and the multi-terminal matrices.

This module is the only one that talks to :mod:`femprox.observables` and
:mod:`femprox.energy_grid` (and through them to
:mod:`femprox.kinetic`): the private functions under "Adapter" are the whole contact
surface. Drawing is in :mod:`femprox.plotting`, files in :mod:`femprox.api`.

Units: hbar = k_B = e = 1; energies and temperatures in Delta0; lengths in xi0 (D_N = 2);
phases in radians; conductance ratios are dimensionless.

Parallelism: every sweep is cut into tasks, one per (geometry, group of temperatures that
share a spectral solve). Tasks are picklable module-level calls, so any
``concurrent.futures.Executor`` can run them (serial when none is given). ``progress`` is
called as ``progress(done, total)`` after each task; the library never draws progress bars.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from femprox import analytic, bcs
from femprox import energy_grid as _energy_grid
from femprox import observables as _observables
from femprox.geometry import Geometry, MeshOptions, Node, NodeKind, Wire
from femprox.geometry_file import load_geometry, shipped_geometry_path
from femprox.mesh import build_mesh
from femprox.spectral import SpectralConvergenceError, solve_spectral
from femprox.temperature import DEFAULT_GAP_TOLERANCE, at_temperature, gap_groups

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""progress(done, total): called after each finished task."""

GEOMETRY_DIRECTORY = shipped_geometry_path("t_junction").parent
"""The geometry files shipped with the source tree (t_junction.toml, ...)."""

T_JUNCTION_FILE = GEOMETRY_DIRECTORY / "t_junction.toml"
HOUSE_FILE = GEOMETRY_DIRECTORY / "house_interferometer.toml"

# Mesh override of Fig. 3 and the long-wire study. At low T, D_L of the N wire dips to ~E/Delta
# within ~sqrt(r) xi0 of the contact (paper Eq. 11), and the heat resistance comes from that
# dip; the T-junction file's grading (4) resolves it for L_N = 10 but not for a long wire with
# small r (L_N = 100, r = 0.01, T = 0.001, P2: kappa/kappa_N 0.0158 instead of 0.0150).
# Grading the N arms 30 times toward the contact fixes it at no cost. (The house file grades
# its N wire toward the contact itself.)
T_JUNCTION_MESH = {"wires.left_arm.mesh.grading": 30, "wires.right_arm.mesh.grading": 30}
LONG_WIRE_ELEMENTS = 40
"""Elements per N arm of the long-wire slope study (L_N = 100 xi0): with the grading of
T_JUNCTION_MESH, local slopes within 1e-3 of a 2.5 times finer mesh, kappa within 1e-3."""


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EnergyGridOptions:
    """Keyword options of the energy grid (see ``femprox.energy_grid.energy_grid``).

    order: Gauss nodes per panel; ratio: panel growth away from E = 0; edge_ratio,
    edge_distance: grading on both sides of every gap edge (first panel edge_distance *
    Delta); low_fraction: first panel [0, low_fraction * min(T, E_Th)].
    adaptive_tolerance: if set, this grid is only the start, refined by
    :func:`femprox.energy_grid.adaptive_transport` with this tolerance (the estimated share
    of each panel in the error, relative).
    """

    order: int = 8
    ratio: float = 2.0
    edge_ratio: float = 3.0
    edge_distance: float = 1e-6
    low_fraction: float = 0.02
    adaptive_tolerance: float | None = None

    def as_kwargs(self) -> dict[str, float]:
        """Keyword arguments of :func:`femprox.energy_grid.energy_grid` (the starting grid)."""
        return {"order": self.order, "ratio": self.ratio, "edge_ratio": self.edge_ratio,
                "edge_distance": self.edge_distance, "low_fraction": self.low_fraction}


# Accuracy of the grids: largest absolute error of kappa/kappa_N and G/G_N against a grid of
# 12-point panels with growth ratio 1.3 (house interferometer, phi = 0, 1, 2, 2.3, 2.6, 2.83,
# 3.0, 3.1, T = 0.05, 0.1, 0.2, 0.3 with BCS gaps, where fixed grids do worst). Between phi ~ 0.6 pi and
# pi the spectral functions have a sharp cusp at the local minigap edge of the centre node; it
# moves with phi, so it is no panel boundary, and the half-grid error estimates of the fixed
# grids report as little as 0.1 of the error there. Adaptive refinement finds the cusp.
FINE_GRID = EnergyGridOptions()
"""Fixed grid, order 8: errors <= 1.3e-3 (kappa/kappa_N) and 4.3e-3 (G/G_N)."""
PAPER_GRID = EnergyGridOptions(order=6, ratio=2.0, edge_ratio=4.0, edge_distance=1e-4)
"""Fixed grid, 0.6 of FINE_GRID's energies: errors <= 2.1e-3 and 6.3e-3."""
QUICK_GRID = EnergyGridOptions(order=4, ratio=3.0, edge_ratio=4.0, edge_distance=1e-4)
"""Coarse grid for tests and --quick, a third of FINE_GRID: errors <= 2.6e-2 and 4.9e-2."""
ADAPTIVE_GRID = replace(QUICK_GRID, adaptive_tolerance=1e-2)
"""QUICK_GRID refined adaptively: errors <= 1e-5 and 3.5e-4 (the latter at phi = 0.99 pi,
T = 0.2; <= 1e-4 at phi <= 0.95 pi) with 100-200 energies, on the default and on the Fig. 4
mesh; its estimates are conservative wherever the error exceeds 4e-5. Each refinement round
is a separate, small spectral solve."""
FIGURE3_GRID = EnergyGridOptions(order=5, ratio=2.5, edge_ratio=4.0, edge_distance=1e-4)
"""Grid of Fig. 3 in ``femprox paper``: the T-junction has no minigap edge inside the thermal
window, and this grid is within 1e-6 of FINE_GRID there (r = 0.1, 1, 10; T = 0.005..0.5)."""


@dataclass(frozen=True)
class MeshSettings:
    """Mesh refinement applied to every geometry: element counts times ``refine``, and the
    element order (None: the geometry's own)."""

    refine: float = 1.0
    order: int | None = None


# Meshes of ``femprox paper``. The geometry files' meshes are chosen for ~1e-5 accuracy; a
# figure needs less. Measured against meshes refined 2x (kappa/kappa_N and G/G_N, paper grid):
# the T-junction at half the elements is within 9e-6 (r = 0.1, 1, 10; T = 0.005, 0.02, 0.1),
# the house at 0.75 within 2.2e-4 (phi = 0, 2, 2.8, 3; T = 0.05, 0.1); at 0.5 the house
# would be 3e-3 off.
FIGURE3_MESH = MeshSettings(refine=0.5)
FIGURE4_MESH = MeshSettings(refine=0.75)


# ---------------------------------------------------------------------------------------
# Geometry families: a geometry as a function of a phase
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GeometryFile:
    """A geometry file with overrides, optionally swept in one key (picklable).

    ``overrides`` are dotted keys as in :func:`femprox.geometry_file.load_geometry`;
    ``phase_key`` is the dotted key that :meth:`geometry` sets to the phase (e.g.
    ``"parameters.phi"`` or ``"nodes.S1.phase"``).
    """

    path: str
    overrides: tuple[tuple[str, object], ...] = ()
    phase_key: str | None = None

    @classmethod
    def from_path(cls, path: str | Path, overrides: Mapping[str, object] | None = None,
                  phase_key: str | None = None) -> "GeometryFile":
        return cls(str(path), tuple((overrides or {}).items()), phase_key)

    def geometry(self, phase: float | None = None) -> Geometry:
        """The geometry, with ``phase_key`` set to ``phase`` (radians) when given."""
        overrides = dict(self.overrides)
        if phase is not None:
            if self.phase_key is None:
                raise ValueError(f"{self.path}: no phase key to set the phase with")
            overrides[self.phase_key] = float(phase)
        return load_geometry(self.path, overrides)

    __call__ = geometry

    @property
    def text(self) -> str:
        return Path(self.path).read_text(encoding="utf-8-sig")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(Path(self.path).read_bytes()).hexdigest()


GeometrySource = Geometry | Callable[[float], Geometry]
"""A fixed geometry, or a picklable function phase (radians) -> geometry."""


# ---------------------------------------------------------------------------------------
# Adapter to femprox.observables (the only calls into the kinetic stage)
# ---------------------------------------------------------------------------------------

def _grid(geometry: Geometry, temperatures: Sequence[float], options: EnergyGridOptions,
          breakpoints: Iterable[float] = ()):
    return _energy_grid.energy_grid(geometry, temperatures, breakpoints=tuple(breakpoints),
                                    **options.as_kwargs())


def _mesh(geometry: Geometry, settings: MeshSettings):
    return build_mesh(geometry, refine=settings.refine, order=settings.order)


RETRY_REFINE = 1.25
"""Mesh refinement factor of the one retry after a SpectralConvergenceError."""


class SolveFailedError(SpectralConvergenceError):
    """A spectral solve failed, also on the refined retry mesh."""


def _solve_retrying(solve: Callable, geometry: Geometry, settings: MeshSettings, retry: bool = True):
    """``solve(mesh)``, retried once on a mesh refined by RETRY_REFINE if Newton fails.

    The spectral solver occasionally lands on a spurious root at isolated energies above a
    gap (seen: T-junction, r = 10, Delta = 0.99991 Delta0, E = 1.26108, P3 elements); the
    same energies converge on a slightly different mesh. The retry is logged and noted.
    Returns (result, note or None); raises :class:`SolveFailedError` if the retry fails too
    (at once with ``retry=False``, used where the mesh must stay as given).
    """
    try:
        return solve(_mesh(geometry, settings)), None
    except SpectralConvergenceError as error:
        if not retry:
            raise SolveFailedError(str(error), error.energies) from None
        finer = replace(settings, refine=settings.refine * RETRY_REFINE)
        note = (f"{geometry.name}: spectral solve failed ({error}); retried with the mesh refined "
                f"by {RETRY_REFINE}")
        log.warning(note)
    try:
        return solve(_mesh(geometry, finer)), note
    except SpectralConvergenceError as error:
        raise SolveFailedError(f"{error} (also after refining the mesh by {RETRY_REFINE})",
                               error.energies) from None


def _spectral_conductance(geometry: Geometry, temperatures: Sequence[float],
                          grid_options: EnergyGridOptions, mesh_settings: MeshSettings, retry: bool = True):
    """Energy grid, spectral solution, spectral conductance serving ``temperatures``, notes."""
    if grid_options.adaptive_tolerance is None:
        grid = _grid(geometry, temperatures, grid_options)

        def solve(mesh):
            return (grid,) + _energy_grid.solve_on_grid(mesh, grid, keep_distributions=False)
    else:
        def solve(mesh):
            return _energy_grid.adaptive_transport(mesh, temperatures, tol=grid_options.adaptive_tolerance,
                                                   **grid_options.as_kwargs())
    (grid, solution, conductance), retry_note = _solve_retrying(solve, geometry, mesh_settings, retry)
    notes = list(solution.notes) + ([retry_note] if retry_note else [])
    for note in solution.notes:
        log.debug("%s: %s", geometry.name, note)
    return grid, solution, conductance, notes


def _linear_response(conductance, grid, temperature: float):
    return _observables.linear_response(conductance, grid, temperature)


def _two_terminal(response, a: str, b: str, others: str):
    return response.two_terminal(a, b, others=others)


def _path_ratios(solution, grid, wires: Sequence[str], temperatures: Sequence[float],
                 blocked_below: float = 0.0) -> list[tuple[float, float]]:
    """Paper Eqs. 4 and 6 along ``wires``: (kappa/kappa_N, G/G_N) per temperature.

    ``blocked_below``: energies below it carry no heat at all (1/R_Q = 0), the paper's
    impenetrable Andreev barrier; charge is not blocked (Andreev reflection carries it).
    """
    path = _observables.path_resistances(solution, list(wires))
    if blocked_below > 0:
        path = replace(path, r_q=np.where(path.energies < blocked_below, np.inf, path.r_q))
    ratios = [_observables.paper_ratios(path, grid, t) for t in temperatures]
    return [(r.heat_conductance_ratio, r.conductance_ratio) for r in ratios]


def _semi_infinite_ratios(grid, temperatures: Sequence[float], length_n: float, r: float,
                          gap: float) -> list[tuple[float, float]]:
    """The paper's semi-infinite-lead model (Eqs. 8-10) through Eqs. 4 and 6 on ``grid``."""
    energies = grid.nodes
    if gap > 0:
        r_q = analytic.thermal_resistance_average(energies, length_n, r, gap)
        r_i = analytic.electric_resistance_average(energies, length_n, r, gap)
    else:
        r_q = r_i = np.ones_like(energies)
    path = _observables.PathResistances(energies=energies, r_q=np.asarray(r_q), r_i=np.asarray(r_i),
                                        wires=("semi-infinite model",))
    ratios = [_observables.paper_ratios(path, grid, t) for t in temperatures]
    return [(q.heat_conductance_ratio, q.conductance_ratio) for q in ratios]


# ---------------------------------------------------------------------------------------
# Tasks and plans
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    """A computation cut into tasks: (function, task) pairs, each one spectral solve, and
    ``assemble`` turning their outputs (in task order) into the result."""

    tasks: tuple[tuple[Callable, object], ...]
    assemble: Callable[[list], object]

    def run(self, executor: Executor | None = None, progress: Progress | None = None):
        return run_plans([self], executor, progress)[0]


def _call(pair: tuple[Callable, object]):
    """Run one (function, task) pair; module level so that process pools can pickle it."""
    function, task = pair
    return function(task)


def run_tasks(function: Callable, tasks: Sequence, executor: Executor | None = None,
              progress: Progress | None = None) -> list:
    """``[function(t) for t in tasks]``, on ``executor`` if given, reporting progress."""
    total = len(tasks)
    if progress is not None:
        progress(0, total)
    if executor is None:
        results = []
        for k, task in enumerate(tasks, 1):
            results.append(function(task))
            if progress is not None:
                progress(k, total)
        return results
    futures = [executor.submit(function, task) for task in tasks]
    try:
        for k, future in enumerate(as_completed(futures), 1):
            future.result()  # raise the first failure right away
            if progress is not None:
                progress(k, total)
    except BaseException:
        for future in futures:
            future.cancel()
        raise
    return [future.result() for future in futures]


def run_plans(plans: Sequence[Plan], executor: Executor | None = None,
              progress: Progress | None = None) -> list:
    """Run the tasks of several plans as one queue (keeps a pool busy); their results."""
    pairs = [pair for plan in plans for pair in plan.tasks]
    outputs = run_tasks(_call, pairs, executor, progress)
    results, start = [], 0
    for plan in plans:
        results.append(plan.assemble(outputs[start:start + len(plan.tasks)]))
        start += len(plan.tasks)
    return results


# ---------------------------------------------------------------------------------------
# Sweeps
# ---------------------------------------------------------------------------------------

MATRIX_NAMES = ("charge", "thermoelectric", "peltier", "heat")
"""Multi-terminal linear-response matrices (see femprox.observables.LinearResponse)."""


@dataclass(frozen=True)
class TransportPoint:
    """Linear response of a network at one temperature (and phase).

    a, b: the terminals of the two-terminal quantities (the others floating or grounded).
    conductance_ratio G/G_N and heat_conductance_ratio kappa/kappa_N (at zero charge
    current), with error estimates of the energy integration (same units). seebeck:
    open-circuit thermovoltage V_a - V_b = -seebeck (T_a - T_b), in k_B/e. matrices: the
    multi-terminal matrices ``charge`` and ``thermoelectric`` (conductance units G, G/Delta0
    per unit temperature), ``peltier`` and ``heat`` (G Delta0, G) and ``normal`` (G_N),
    rows and columns in ``terminals`` order; matrix_errors: their absolute error estimates.
    gap_factor: Delta/Delta0 used by the spectral solve.
    """

    temperature: float
    phase: float | None
    a: str
    b: str
    conductance_ratio: float
    heat_conductance_ratio: float
    conductance_ratio_error: float
    heat_conductance_ratio_error: float
    seebeck: float
    terminals: tuple[str, ...]
    matrices: dict[str, np.ndarray]
    matrix_errors: dict[str, np.ndarray]
    gap_factor: float


@dataclass(frozen=True)
class _SweepTask:
    geometry: Geometry          # at the group's representative temperature
    temperatures: tuple[float, ...]
    phase: float | None
    between: tuple[str, str]
    others: str
    grid: EnergyGridOptions
    mesh: MeshSettings
    gap_factor: float


def _run_sweep_task(task: _SweepTask) -> tuple[list[TransportPoint], int, list[str]]:
    """One spectral solve and the linear response at each of its temperatures."""
    grid, _, conductance, notes = _spectral_conductance(task.geometry, task.temperatures, task.grid, task.mesh)
    points = []
    for t in task.temperatures:
        response = _linear_response(conductance, grid, t)
        pair = _two_terminal(response, *task.between, task.others)
        points.append(_transport_point(response, pair, task.phase, task.gap_factor))
    return points, int(grid.nodes.size), notes


def _transport_point(response, pair, phase: float | None, gap_factor: float) -> TransportPoint:
    errors = response.errors
    matrices = {name: np.array(getattr(response, name)) for name in MATRIX_NAMES}
    matrices["normal"] = np.array(response.normal)
    return TransportPoint(
        temperature=float(response.temperature), phase=phase, a=pair.a, b=pair.b,
        conductance_ratio=pair.conductance_ratio, heat_conductance_ratio=pair.heat_conductance_ratio,
        conductance_ratio_error=pair.conductance_error / abs(pair.normal_conductance),
        heat_conductance_ratio_error=pair.heat_conductance_error / abs(pair.normal_heat_conductance),
        seebeck=pair.seebeck, terminals=tuple(response.terminals), matrices=matrices,
        matrix_errors={name: np.array(errors[name]) for name in MATRIX_NAMES}, gap_factor=gap_factor)


def default_terminals(geometry: Geometry) -> tuple[str, str]:
    """The first two normal reservoirs, else the first two reservoirs of any kind."""
    normal = [n.name for n in geometry.terminals if n.kind is NodeKind.NORMAL_RESERVOIR]
    names = normal if len(normal) >= 2 else [n.name for n in geometry.terminals]
    if len(names) < 2:
        raise ValueError(f"'{geometry.name}' has fewer than two reservoirs: no two-terminal quantity")
    return names[0], names[1]


@dataclass(frozen=True)
class SweepResult:
    """Points of a sweep, ordered by phase then temperature, and how they were computed.

    spectral_solves: number of spectral solves; energies_per_solve: their energy-grid
    sizes; notes: solver notes (retries, energies kept with a tiny Dynes rate, ...).
    """

    points: tuple[TransportPoint, ...]
    grid: EnergyGridOptions
    mesh: MeshSettings
    others: str
    bcs_gaps: bool
    gap_tolerance: float
    spectral_solves: int
    energies_per_solve: tuple[int, ...]
    notes: tuple[str, ...] = ()

    def column(self, name: str) -> np.ndarray:
        """An attribute of every point as a float array, e.g. ``column("heat_conductance_ratio")``
        (None, for points without a phase, becomes NaN)."""
        return np.array([math.nan if getattr(p, name) is None else getattr(p, name) for p in self.points],
                        dtype=float)


def _check_others(others: str) -> None:
    if others not in ("floating", "grounded"):
        raise ValueError(f"others must be 'floating' or 'grounded', got {others!r}")


def _source_at(source: GeometrySource, phase: float | None) -> Geometry:
    if isinstance(source, Geometry):
        if phase is not None:
            raise ValueError("phases need a geometry family (a function phase -> Geometry, "
                             "e.g. GeometryFile with a phase_key), not a fixed Geometry")
        return source
    return source(phase) if phase is not None else source()


def _check_temperatures(temperatures: Iterable[float]) -> tuple[float, ...]:
    values = tuple(float(t) for t in np.atleast_1d(np.asarray(list(temperatures), dtype=float)))
    if not values:
        raise ValueError("no temperatures given")
    bad = [t for t in values if not (math.isfinite(t) and t > 0)]
    if bad:
        raise ValueError(f"temperatures must be positive and finite (Delta0), got {bad[0]!r}")
    return values


def _check_between(geometry: Geometry, between: tuple[str, str] | None) -> tuple[str, str]:
    if between is None:
        return default_terminals(geometry)
    names = [n.name for n in geometry.terminals]
    if len(between) != 2 or between[0] == between[1]:
        raise ValueError(f"between must name two different reservoirs, got {between!r}")
    for name in between:
        if name not in names:
            raise ValueError(f"'{name}' is not a reservoir of '{geometry.name}' (reservoirs: {', '.join(names)})")
    return between[0], between[1]


def sweep_tasks(source: GeometrySource, temperatures: Iterable[float],
                phases: Iterable[float] | None = None, *, between: tuple[str, str] | None = None,
                others: str = "floating", bcs_gaps: bool = True,
                gap_tolerance: float = DEFAULT_GAP_TOLERANCE, scaling: str = "common",
                grid: EnergyGridOptions = FINE_GRID, mesh: MeshSettings = MeshSettings()) -> list[_SweepTask]:
    """The tasks of :func:`sweep`, one per (phase, group of temperatures sharing a gap)."""
    _check_others(others)
    temps = _check_temperatures(temperatures)
    phase_list: list[float | None] = [None] if phases is None else [float(p) for p in phases]
    tasks = []
    for phase in phase_list:
        geometry = _source_at(source, phase)
        pair = _check_between(geometry, between)
        for group in gap_groups(geometry, temps, tolerance=gap_tolerance, scaling=scaling, bcs_gaps=bcs_gaps):
            at_t = at_temperature(geometry, group.representative, scaling=scaling) if bcs_gaps else geometry
            factor = float(bcs.gap(group.representative)) if bcs_gaps else 1.0
            tasks.append(_SweepTask(at_t, group.temperatures, phase, pair, others, grid, mesh, factor))
    return tasks


def sweep_plan(source: GeometrySource, temperatures: Iterable[float], phases: Iterable[float] | None = None, *,
               between: tuple[str, str] | None = None, others: str = "floating", bcs_gaps: bool = True,
               gap_tolerance: float = DEFAULT_GAP_TOLERANCE, scaling: str = "common",
               grid: EnergyGridOptions = FINE_GRID, mesh: MeshSettings = MeshSettings()) -> Plan:
    """:func:`sweep` as a :class:`Plan` (to share an executor queue with other plans)."""
    tasks = sweep_tasks(source, temperatures, phases, between=between, others=others, bcs_gaps=bcs_gaps,
                        gap_tolerance=gap_tolerance, scaling=scaling, grid=grid, mesh=mesh)

    def assemble(outputs: list) -> SweepResult:
        points = sorted((p for pts, _, _ in outputs for p in pts),
                        key=lambda p: (0.0 if p.phase is None else p.phase, p.temperature))
        notes = tuple(dict.fromkeys(n for _, _, ns in outputs for n in ns))
        return SweepResult(points=tuple(points), grid=grid, mesh=mesh, others=others, bcs_gaps=bcs_gaps,
                           gap_tolerance=gap_tolerance, spectral_solves=len(tasks),
                           energies_per_solve=tuple(n for _, n, _ in outputs), notes=notes)

    return Plan(tuple((_run_sweep_task, t) for t in tasks), assemble)


def sweep(source: GeometrySource, temperatures: Iterable[float], phases: Iterable[float] | None = None, *,
          between: tuple[str, str] | None = None, others: str = "floating", bcs_gaps: bool = True,
          gap_tolerance: float = DEFAULT_GAP_TOLERANCE, scaling: str = "common",
          grid: EnergyGridOptions = FINE_GRID, mesh: MeshSettings = MeshSettings(),
          executor: Executor | None = None, progress: Progress | None = None) -> SweepResult:
    """Linear response of a network over temperatures (Delta0) and phases (radians).

    ``source``: a Geometry, or a function phase -> Geometry (needed when ``phases`` are
    given; :class:`GeometryFile` is one). ``between``: the two terminals of G/G_N and
    kappa/kappa_N (default :func:`default_terminals`); ``others``: "floating" (zero charge
    and heat current) or "grounded" (held at b's potential and temperature).
    ``bcs_gaps``: gaps follow BCS Delta(T) (:func:`femprox.temperature.at_temperature`;
    temperatures whose gaps differ by < ``gap_tolerance`` share a solve), else they keep
    their values in the geometry. Raises SpectralConvergenceError if a solve fails twice.
    """
    return sweep_plan(source, temperatures, phases, between=between, others=others, bcs_gaps=bcs_gaps,
                      gap_tolerance=gap_tolerance, scaling=scaling, grid=grid,
                      mesh=mesh).run(executor, progress)


# ---------------------------------------------------------------------------------------
# Figure 3: T-junction, kappa and G against temperature
# ---------------------------------------------------------------------------------------

def figure3_temperatures(quick: bool = False) -> np.ndarray:
    """Default temperatures of Fig. 3 (Delta0): dense and logarithmic up to 0.11 where the
    gap is flat (one spectral solve), sparser up to 0.53 (one solve each), one above T_c."""
    low, high = (8, 3) if quick else (30, 7)
    return np.concatenate([np.geomspace(0.005, 0.11, low), np.linspace(0.16, 0.53, high), [0.6]])


@dataclass(frozen=True)
class Figure3Data:
    """Curves of the paper's Fig. 3 (T-junction, N wire of length_n, S wire of length_s, xi0).

    temperatures: (n_T,) in Delta0; gap: (n_T,) Delta(T)/Delta0; r_values: (n_r,).
    kappa, conductance: (n_r, n_T) kappa/kappa_N and G/G_N of the full network solution
    between the N reservoirs (S condensate floating), with *_error the energy-integration
    error estimates. andreev_kappa: (n_T,) the Andreev model (no transport below Delta(T)).
    semi_infinite_kappa, semi_infinite_conductance: (n_r, n_T) the paper's analytic
    semi-infinite-lead model (Eqs. 8-10 in Eqs. 4 and 6), or None. thouless_energy
    D_N/L_N^2 and t0 (n_r,) = Delta0 xi0/(L_N sqrt r), in Delta0.
    """

    temperatures: np.ndarray
    gap: np.ndarray
    r_values: np.ndarray
    length_n: float
    length_s: float
    kappa: np.ndarray
    conductance: np.ndarray
    kappa_error: np.ndarray
    conductance_error: np.ndarray
    andreev_kappa: np.ndarray
    semi_infinite_kappa: np.ndarray | None
    semi_infinite_conductance: np.ndarray | None
    thouless_energy: float
    t0: np.ndarray
    spectral_solves: int


@dataclass(frozen=True)
class _Figure3Task:
    sweep: _SweepTask
    r: float
    semi_infinite: bool
    length_n: float


def _run_figure3_task(task: _Figure3Task):
    """Network ratios (kappa, G, errors) and the semi-infinite model on the same grid."""
    points, _, _ = _run_sweep_task(task.sweep)
    rows = [(p.heat_conductance_ratio, p.conductance_ratio, p.heat_conductance_ratio_error,
             p.conductance_ratio_error) for p in points]
    model = None
    if task.semi_infinite:
        # the task's geometry carries the S wire's gap at the group's temperature
        geometry = task.sweep.geometry
        grid = _grid(geometry, task.sweep.temperatures, task.sweep.grid)
        model = _semi_infinite_ratios(grid, task.sweep.temperatures, task.length_n, task.r,
                                      geometry.wire("s_arm").gap)
    return task.r, task.sweep.temperatures, rows, model


def figure3_plan(*, path: str | Path = T_JUNCTION_FILE, r_values: Sequence[float] = (0.1, 1.0, 10.0),
                 length_n: float = 10.0, temperatures: Iterable[float] | None = None,
                 semi_infinite: bool = True, grid: EnergyGridOptions = PAPER_GRID,
                 mesh: MeshSettings = MeshSettings(), arm_elements: int | None = None) -> Plan:
    """:func:`figure3` as a :class:`Plan`; ``arm_elements`` fixes the element count of each
    N arm (default: the file's rule, two per xi0)."""
    temps = np.array(sorted(set(_check_temperatures(
        figure3_temperatures() if temperatures is None else temperatures))))
    r_list = [float(r) for r in r_values]
    tasks = []
    for r in r_list:
        overrides = {"parameters.r": r, "parameters.length_n": float(length_n), **T_JUNCTION_MESH}
        if arm_elements is not None:
            overrides.update({f"wires.{arm}.mesh.elements": int(arm_elements) for arm in ("left_arm", "right_arm")})
        source = GeometryFile.from_path(path, overrides)
        for sweep_task in sweep_tasks(source.geometry(), temps, between=("left", "right"), grid=grid, mesh=mesh):
            tasks.append(_Figure3Task(sweep_task, r, semi_infinite, float(length_n)))
    length_s = load_geometry(path, {"parameters.length_n": float(length_n)}).wire("s_arm").length

    def assemble(outputs: list) -> Figure3Data:
        values = np.full((4, len(r_list), temps.size), np.nan)
        model = np.full((2, len(r_list), temps.size), np.nan)
        for r, group_temps, rows, model_rows in outputs:
            columns = np.searchsorted(temps, group_temps)
            values[:, r_list.index(r), columns] = np.array(rows).T
            if model_rows is not None:
                model[:, r_list.index(r), columns] = np.array(model_rows).T
        gap = np.asarray(bcs.gap(temps))
        return Figure3Data(
            temperatures=temps, gap=gap, r_values=np.array(r_list), length_n=float(length_n),
            length_s=float(length_s), kappa=values[0], conductance=values[1], kappa_error=values[2],
            conductance_error=values[3],
            andreev_kappa=np.array([analytic.andreev_kappa_ratio(t, gap=g) for t, g in zip(temps, gap)]),
            semi_infinite_kappa=model[0] if semi_infinite else None,
            semi_infinite_conductance=model[1] if semi_infinite else None,
            thouless_energy=analytic.thouless_energy(length_n),
            t0=np.array([analytic.crossover_temperature_t0(length_n, r) for r in r_list]),
            spectral_solves=len(tasks))

    return Plan(tuple((_run_figure3_task, t) for t in tasks), assemble)


def figure3(*, path: str | Path = T_JUNCTION_FILE, r_values: Sequence[float] = (0.1, 1.0, 10.0),
            length_n: float = 10.0, temperatures: Iterable[float] | None = None,
            semi_infinite: bool = True, grid: EnergyGridOptions = PAPER_GRID,
            mesh: MeshSettings = MeshSettings(), executor: Executor | None = None,
            progress: Progress | None = None) -> Figure3Data:
    """kappa/kappa_N and G/G_N of the T-junction file against T, for each r (paper Fig. 3).

    ``path``: a T-junction geometry file with parameters ``r`` and ``length_n`` and wires
    left_arm, right_arm, s_arm. Gaps follow BCS Delta(T); the N wires are meshed with
    :data:`T_JUNCTION_MESH`. The Andreev model and (``semi_infinite``) the analytic model
    use the same Delta(T). ``temperatures`` default to :func:`figure3_temperatures`.
    """
    return figure3_plan(path=path, r_values=r_values, length_n=length_n, temperatures=temperatures,
                        semi_infinite=semi_infinite, grid=grid, mesh=mesh).run(executor, progress)


def slope_study_temperatures(length_n: float = 100.0, count: int = 25) -> np.ndarray:
    """From E_Th/4 to 0.11 Delta0, where the gap is flat (so one spectral solve)."""
    return np.geomspace(analytic.thouless_energy(length_n) / 4, 0.11, count)


def slope_study_plan(*, length_n: float = 100.0, r: float = 0.01, temperatures: Iterable[float] | None = None,
                     grid: EnergyGridOptions = PAPER_GRID, mesh: MeshSettings = MeshSettings()) -> Plan:
    """:func:`figure3` for one long N wire, where E_Th << T << T0 is a wide window.

    Defaults: L_N = 100 xi0, r = 0.01: E_Th = 2e-4 and T0 = 0.1 Delta0 (a factor 500 apart).
    """
    temps = slope_study_temperatures(length_n) if temperatures is None else temperatures
    return figure3_plan(r_values=(r,), length_n=length_n, temperatures=temps, grid=grid, mesh=mesh,
                        arm_elements=LONG_WIRE_ELEMENTS)


# ---------------------------------------------------------------------------------------
# Figure 4: house interferometer, kappa and G against the phase difference
# ---------------------------------------------------------------------------------------

FIGURE4_TEMPERATURES = (0.05, 0.1, 0.2, 0.3)
"""Temperatures of Fig. 4 (Delta0)."""


def figure4_phases(quick: bool = False) -> np.ndarray:
    """Phases on [0, pi] (radians), denser toward pi where kappa peaks sharply:
    phi_k = pi (1 - (1 - k/n)^2), spacing ~2 pi/n at 0 and pi/n^2 next to pi."""
    n = 4 if quick else 12
    u = np.linspace(0.0, 1.0, n + 1)
    return np.pi * (1.0 - (1.0 - u) ** 2)


def barrier_geometry(gap: float, length_n: float = 10.0, half: bool = False) -> Geometry:
    """The paper's shortcut model of the interferometer's contact (PHYSICS.md section 7).

    The N wire (D_N = 2, g_N = 1) of length ``length_n`` (xi0) runs from normal reservoir
    "left" through the contact node "contact" to normal reservoir "right". The contact is a
    bulk superconducting reservoir of gap ``gap`` (Delta0): a rigid BCS-like spectrum with
    E_g = Delta |cos(phi/2)| that the N wire does not perturb (the paper's limit of short,
    highly conducting arms; the r -> 0 limit of a T-junction). With ``gap`` = 0 the contact
    is a clean node of a plain normal wire. ``half``: only "left" and "left_arm" (with a gap,
    the reservoir decouples the two mirror-image halves, which have equal averages).
    """
    if not (math.isfinite(gap) and gap >= 0):
        raise ValueError(f"gap must be finite and >= 0 (Delta0), got {gap!r}")
    contact = (Node("contact", NodeKind.SUPERCONDUCTING_RESERVOIR, gap=gap, position=(0.0, 0.0)) if gap > 0
               else Node("contact", NodeKind.CLEAN, position=(0.0, 0.0)))
    nodes = (Node("left", NodeKind.NORMAL_RESERVOIR, position=(-length_n / 2, 0.0)), contact,
             Node("right", NodeKind.NORMAL_RESERVOIR, position=(length_n / 2, 0.0)))
    wires = (Wire("left_arm", "left", "contact", length_n / 2), Wire("right_arm", "contact", "right", length_n / 2))
    if half:
        if gap == 0:
            raise ValueError("half=True needs a gap: without it the halves are one normal wire")
        nodes, wires = nodes[:2], wires[:1]
    # graded toward the contact like the figures' other meshes (see T_JUNCTION_MESH)
    return Geometry(nodes=nodes, wires=wires, name="barrier_model", mesh=MeshOptions(elements=16, grading=30))


_CLOSED_GAP = 1e-9  # E_g below this (Delta0) counts as closed: the N wire is plainly normal


@dataclass(frozen=True)
class _ShortcutTask:
    gap: float
    temperatures: tuple[float, ...]
    phase: float
    length_n: float
    grid: EnergyGridOptions
    mesh: MeshSettings


def _run_shortcut_task(task: _ShortcutTask):
    """Shortcut model: Eq. 4 above E_g only (impenetrable barrier below), Eq. 6 at all E."""
    if task.gap < _CLOSED_GAP:
        return task.phase, task.temperatures, [(1.0, 1.0)] * len(task.temperatures)
    geometry = barrier_geometry(task.gap, task.length_n, half=True)
    grid = _grid(geometry, task.temperatures, task.grid)
    solution, _ = _solve_retrying(lambda mesh: solve_spectral(mesh, grid.nodes), geometry, task.mesh)
    rows = _path_ratios(solution, grid, ("left_arm",), task.temperatures, blocked_below=task.gap)
    return task.phase, task.temperatures, rows


@dataclass(frozen=True)
class Figure4Data:
    """Curves of the paper's Fig. 4 (house interferometer, N wire of length_n xi0).

    phases: (n_phi,) radians on [0, 2 pi]; temperatures: (n_T,) Delta0; gap: (n_T,)
    Delta(T)/Delta0. kappa, conductance: (n_T, n_phi) kappa/kappa_N and G/G_N between the
    N reservoirs (S reservoirs floating) of the full network, *_error their estimates.
    shortcut_kappa, shortcut_conductance: (n_T, n_phi) the paper's shortcut model (a
    BCS-like barrier of gap Delta(T)|cos(phi/2)| at the contact, :func:`barrier_geometry`;
    heat blocked below the barrier's gap). mirrored: values on (pi, 2 pi] were taken from
    2 pi - phi (exact: exchanging S1 and S2 maps phi to -phi, and all is 2 pi periodic).
    """

    phases: np.ndarray
    temperatures: np.ndarray
    gap: np.ndarray
    kappa: np.ndarray
    conductance: np.ndarray
    kappa_error: np.ndarray
    conductance_error: np.ndarray
    shortcut_kappa: np.ndarray
    shortcut_conductance: np.ndarray
    length_n: float
    arm_length: float
    arm_conductance: float
    mirrored: bool
    spectral_solves: int


def _mirror(phases: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Extend data on [0, pi] (pi included) to [0, 2 pi] by f(2 pi - phi) = f(phi)."""
    back = slice(-2, None, -1)  # reversed, without the point at pi
    return (np.concatenate([phases, 2 * np.pi - phases[back]]),
            np.concatenate([values, values[..., back]], axis=-1))


def figure4_plan(*, path: str | Path = HOUSE_FILE, temperatures: Sequence[float] = FIGURE4_TEMPERATURES,
                 phases: Iterable[float] | None = None, length_n: float = 10.0, mirror: bool = True,
                 grid: EnergyGridOptions = ADAPTIVE_GRID, mesh: MeshSettings = MeshSettings(),
                 shortcut_grid: EnergyGridOptions = PAPER_GRID) -> Plan:
    """:func:`figure4` as a :class:`Plan`. ``shortcut_grid``: the shortcut model's grid (its
    only edge, the barrier's gap, is a panel boundary, so a fixed grid suffices)."""
    phase_list = np.array(sorted(figure4_phases() if phases is None else [float(p) for p in phases]))
    if mirror and (phase_list[0] < 0 or not np.isclose(phase_list[-1], np.pi, rtol=0, atol=1e-12)):
        raise ValueError("with mirror=True the phases must lie in [0, pi] and end at pi")
    temps = np.array(sorted(set(_check_temperatures(temperatures))))
    source = GeometryFile.from_path(path, {"parameters.length_n": float(length_n)}, "parameters.phi")
    network = sweep_tasks(source, temps, phase_list, between=("left", "right"), grid=grid, mesh=mesh)
    shortcut = [_ShortcutTask(task.gap_factor * abs(math.cos(task.phase / 2)), task.temperatures, task.phase,
                              float(length_n), shortcut_grid, mesh) for task in network]
    house = source.geometry(0.0)

    def assemble(outputs: list) -> Figure4Data:
        keys = ("kappa", "conductance", "kappa_error", "conductance_error", "shortcut_kappa", "shortcut_conductance")
        values = {k: np.full((temps.size, phase_list.size), np.nan) for k in keys}
        column = {float(p): k for k, p in enumerate(phase_list)}
        for points, _, _ in outputs[:len(network)]:
            for p in points:
                k, j = int(np.searchsorted(temps, p.temperature)), column[p.phase]
                values["kappa"][k, j], values["conductance"][k, j] = p.heat_conductance_ratio, p.conductance_ratio
                values["kappa_error"][k, j] = p.heat_conductance_ratio_error
                values["conductance_error"][k, j] = p.conductance_ratio_error
        for phase, group_temps, rows in outputs[len(network):]:
            k = np.searchsorted(temps, group_temps)
            values["shortcut_kappa"][k, column[phase]] = [row[0] for row in rows]
            values["shortcut_conductance"][k, column[phase]] = [row[1] for row in rows]
        all_phases = phase_list
        if mirror:
            for key in keys:
                all_phases, values[key] = _mirror(phase_list, values[key])
        return Figure4Data(phases=all_phases, temperatures=temps, gap=np.asarray(bcs.gap(temps)),
                           length_n=float(length_n), arm_length=float(house.wire("s1_arm").length),
                           arm_conductance=float(house.wire("s1_arm").conductance), mirrored=mirror,
                           spectral_solves=len(network) + sum(t.gap >= _CLOSED_GAP for t in shortcut), **values)

    tasks = [(_run_sweep_task, t) for t in network] + [(_run_shortcut_task, t) for t in shortcut]
    return Plan(tuple(tasks), assemble)


def figure4(*, path: str | Path = HOUSE_FILE, temperatures: Sequence[float] = FIGURE4_TEMPERATURES,
            phases: Iterable[float] | None = None, length_n: float = 10.0, mirror: bool = True,
            grid: EnergyGridOptions = ADAPTIVE_GRID, mesh: MeshSettings = MeshSettings(),
            executor: Executor | None = None, progress: Progress | None = None) -> Figure4Data:
    """kappa/kappa_N and G/G_N of the house-interferometer file against phi (paper Fig. 4).

    ``path``: a house geometry file with parameters ``phi`` (swept) and ``length_n`` and wires
    left_arm, right_arm, s1_arm. ``phases`` (radians) default to :func:`figure4_phases`;
    with ``mirror`` they must lie in [0, pi] and end at pi, and the curves are completed on
    (pi, 2 pi] by symmetry. Gaps follow BCS Delta(T); the mesh is the file's.
    """
    return figure4_plan(path=path, temperatures=temperatures, phases=phases, length_n=length_n, mirror=mirror,
                        grid=grid, mesh=mesh).run(executor, progress)


# ---------------------------------------------------------------------------------------
# Mesh convergence
# ---------------------------------------------------------------------------------------

OBSERVABLES = ("kappa", "G", "dos")


@dataclass(frozen=True)
class ConvergenceData:
    """h- and p-refinement of one observable.

    observable: "kappa" (kappa/kappa_N), "G" (G/G_N) between ``between`` at ``temperature``,
    or "dos" (N(E)/N_0 at ``energy`` and the point ``position`` xi0 along ``wire``).
    refinements, h_dofs, h_values: h-study (element counts times refinement, the geometry's
    element order ``h_order``); orders, p_dofs, p_values: p-study (refine = 1).
    reference: value on the reference mesh (refine = 2 x the largest refinement, order = the
    largest of the p-study's and the geometry's), reference_dofs its size.
    *_errors: |value - reference|. h_rate: fitted p in error ~ h^p over the h-study (NaN if
    fewer than two positive errors).
    """

    observable: str
    temperature: float | None
    energy: float | None
    wire: str | None
    position: float | None
    between: tuple[str, str] | None
    refinements: np.ndarray
    h_order: int
    h_dofs: np.ndarray
    h_values: np.ndarray
    orders: np.ndarray
    p_dofs: np.ndarray
    p_values: np.ndarray
    reference: float
    reference_dofs: int
    h_errors: np.ndarray
    p_errors: np.ndarray
    h_rate: float


@dataclass(frozen=True)
class _ConvergenceTask:
    geometry: Geometry
    observable: str
    mesh: MeshSettings
    temperature: float | None
    energy: float | None
    wire: str | None
    position: float | None
    between: tuple[str, str] | None
    grid: EnergyGridOptions


def _run_convergence_task(task: _ConvergenceTask) -> tuple[float, int]:
    """(observable value, DOFs per field) on one mesh."""
    mesh = _mesh(task.geometry, task.mesh)
    if task.observable == "dos":
        # no retry on another mesh: the study is about this very mesh
        solution, _ = _solve_retrying(lambda m: solve_spectral(m, [task.energy]), task.geometry, task.mesh, False)
        return float(solution.dos(task.wire, [task.position])[0, 0]), int(mesh.n_dofs)
    grid, _, conductance, _ = _spectral_conductance(task.geometry, [task.temperature], task.grid, task.mesh,
                                                    retry=False)
    pair = _two_terminal(_linear_response(conductance, grid, task.temperature), *task.between, "floating")
    value = pair.heat_conductance_ratio if task.observable == "kappa" else pair.conductance_ratio
    return float(value), int(mesh.n_dofs)


def fitted_rate(refinements: np.ndarray, errors: np.ndarray) -> float:
    """p of error ~ h^p (h ~ 1/refinement) by least squares on the positive errors."""
    keep = errors > 0
    if keep.sum() < 2:
        return math.nan
    slope = np.polyfit(np.log(refinements[keep]), np.log(errors[keep]), 1)[0]
    return float(-slope)


def convergence_plan(geometry: Geometry, observable: str = "kappa", *, temperature: float = 0.05,
                     energy: float = 0.3, wire: str | None = None, position: float | None = None,
                     between: tuple[str, str] | None = None, refinements: Sequence[float] = (1, 2, 4, 8),
                     orders: Sequence[int] = (1, 2, 3, 4), grid: EnergyGridOptions = PAPER_GRID) -> Plan:
    """:func:`convergence_study` as a :class:`Plan`."""
    if observable not in OBSERVABLES:
        raise ValueError(f"observable must be one of {', '.join(OBSERVABLES)}, got {observable!r}")
    is_dos = observable == "dos"
    at_t = at_temperature(geometry, temperature)
    wire_name = (wire or geometry.wires[0].name) if is_dos else None
    if wire_name is not None:
        length = geometry.wire(wire_name).length
        position = 0.5 * length if position is None else float(position)
        if not 0 <= position <= length:
            raise ValueError(f"position must lie in [0, {length}] (xi0) on wire '{wire_name}', got {position!r}")
    pair = None if is_dos else _check_between(geometry, between)
    h_order = build_mesh(geometry).order
    settings = ([MeshSettings(refine=float(r)) for r in refinements] + [MeshSettings(order=int(p)) for p in orders]
                + [MeshSettings(refine=2.0 * max(refinements), order=max(max(orders), h_order))])

    def task(mesh: MeshSettings) -> _ConvergenceTask:
        return _ConvergenceTask(at_t, observable, mesh, None if is_dos else temperature,
                                energy if is_dos else None, wire_name, position if is_dos else None, pair, grid)

    def assemble(outputs: list) -> ConvergenceData:
        values = np.array([v for v, _ in outputs])
        dofs = np.array([n for _, n in outputs])
        nh = len(refinements)
        reference = values[-1]
        h_errors = np.abs(values[:nh] - reference)
        return ConvergenceData(
            observable=observable, temperature=None if is_dos else temperature, energy=energy if is_dos else None,
            wire=wire_name, position=position if is_dos else None, between=pair,
            refinements=np.array(refinements, dtype=float), h_order=h_order, h_dofs=dofs[:nh], h_values=values[:nh],
            orders=np.array(orders), p_dofs=dofs[nh:-1], p_values=values[nh:-1], reference=float(reference),
            reference_dofs=int(dofs[-1]), h_errors=h_errors, p_errors=np.abs(values[nh:-1] - reference),
            h_rate=fitted_rate(np.array(refinements, dtype=float), h_errors))

    return Plan(tuple((_run_convergence_task, task(s)) for s in settings), assemble)


def convergence_study(geometry: Geometry, observable: str = "kappa", *, temperature: float = 0.05,
                      energy: float = 0.3, wire: str | None = None, position: float | None = None,
                      between: tuple[str, str] | None = None, refinements: Sequence[float] = (1, 2, 4, 8),
                      orders: Sequence[int] = (1, 2, 3, 4), grid: EnergyGridOptions = PAPER_GRID,
                      executor: Executor | None = None, progress: Progress | None = None) -> ConvergenceData:
    """Mesh convergence of an observable (see :class:`ConvergenceData`).

    ``temperature`` (Delta0) sets the BCS gaps and, for kappa and G, the temperature; the
    energy grid is the same on every mesh so that only the spatial error changes. For
    "dos": ``energy`` (Delta0), ``wire`` (default the first) and ``position`` (xi0 from
    the wire's start, default its middle).
    """
    return convergence_plan(geometry, observable, temperature=temperature, energy=energy, wire=wire,
                            position=position, between=between, refinements=refinements, orders=orders,
                            grid=grid).run(executor, progress)
