"""Transport sweeps and mesh convergence studies as plain numbers (no drawing, no files).

Pipeline position: the last stage. Geometry -> (BCS gaps at T, :mod:`femprox.geometry.temperature`)
-> energy grid -> spectral solve -> spectral conductance -> linear response at each T ->
two-terminal ratios G/G_N and kappa/kappa_N and the multi-terminal matrices. The paper's
figures (:mod:`femprox.paper.figures`) are built from these pieces.

This module and :mod:`femprox.paper.figures` are the only ones that talk to
:mod:`femprox.observables.conductance` and :mod:`femprox.observables.energy_grid` (and through them to
:mod:`femprox.kinetic.solver`): the private functions under "Adapter" are the contact surface.
Drawing is in :mod:`femprox.output.plotting`, files in :mod:`femprox.api`.

Units: hbar = k_B = e = 1; energies and temperatures in Delta0; lengths in xi0 (D_N = 2);
phases in radians; conductance ratios are dimensionless.

Parallelism: every sweep is cut into tasks, one per (geometry, group of temperatures that
share a spectral solve); :func:`sweep` and the paper's figures run the groups of one
geometry in short chains (one task each), each solve warm-started from the previous one
(:func:`run_sweep_chain`). Tasks are picklable module-level calls, so any
``concurrent.futures.Executor`` can run them (serial when none is given). ``progress`` is
called as ``progress(done, total)`` after each task; the library never draws progress bars.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from femprox.physics import bcs
from femprox.observables import energy_grid as _energy_grid
from femprox.observables import conductance as _observables
from femprox.geometry.network import Geometry, NodeKind
from femprox.geometry.files import load_geometry
from femprox.mesh import build_mesh
from femprox.spectral.solver import SpectralConvergenceError, gap_scaled_neighbours, solve_spectral
from femprox.geometry.temperature import DEFAULT_GAP_TOLERANCE, at_temperature, gap_groups

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""progress(done, total): called after each finished task."""


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EnergyGridOptions:
    """Keyword options of the energy grid (see ``femprox.observables.energy_grid.energy_grid``).

    order: Gauss nodes per panel; ratio: panel growth away from E = 0; edge_ratio,
    edge_distance: grading on both sides of every gap edge (first panel edge_distance *
    Delta); low_fraction: first panel [0, low_fraction * min(T, E_Th)].
    adaptive_tolerance: if set, this grid is only the start, refined by
    :func:`femprox.observables.energy_grid.adaptive_transport` with this tolerance (the estimated share
    of each panel in the error, relative).
    """

    order: int = 8
    ratio: float = 2.0
    edge_ratio: float = 3.0
    edge_distance: float = 1e-6
    low_fraction: float = 0.02
    adaptive_tolerance: float | None = None

    def as_kwargs(self) -> dict[str, float]:
        """Keyword arguments of :func:`femprox.observables.energy_grid.energy_grid` (the starting grid)."""
        return {"order": self.order, "ratio": self.ratio, "edge_ratio": self.edge_ratio,
                "edge_distance": self.edge_distance, "low_fraction": self.low_fraction}


# Accuracy of the grids: largest absolute error of kappa/kappa_N and G/G_N. Fixed grids:
# against a grid of 12-point panels with growth ratio 1.3 (house interferometer, phi = 0, 1, 2,
# 2.3, 2.6, 2.83, 3.0, 3.1, T = 0.05, 0.1, 0.2, 0.3 with BCS gaps, where fixed grids do worst).
# Between phi ~ 0.3 pi and pi the spectral functions have a sharp cusp at the local minigap
# edge of the centre node; it moves with phi, so it is no panel boundary, and the half-grid
# error estimates of the fixed grids report as little as 0.1 of the error there. Adaptive
# refinement finds the cusp. On the other shipped geometries (no moving cusp; T = 0.02, 0.1,
# 0.3) the fixed FINE_GRID is within 1e-9. Adaptive grids: against FINE_GRID refined to
# tolerance 2e-5 (house on the Fig. 4 mesh at 25 phases 0..pi, and at Fig. 4's 13 phases with
# 18 more between 2.4 and pi, x the 4 temperatures above; every shipped geometry on its own
# mesh at T = 0.02, 0.1, 0.3, the house at phi = 0, 2, 2.8, 3.05).
FINE_GRID = EnergyGridOptions()
"""Fixed grid, order 8: errors <= 1.3e-3 (kappa/kappa_N) and 4.3e-3 (G/G_N)."""
PAPER_GRID = EnergyGridOptions(order=6, ratio=2.0, edge_ratio=4.0, edge_distance=1e-4)
"""Fixed grid, 0.6 of FINE_GRID's energies: errors <= 2.1e-3 and 6.3e-3."""
QUICK_GRID = EnergyGridOptions(order=4, ratio=3.0, edge_ratio=4.0, edge_distance=1e-4)
"""Coarse grid for tests and --quick, a third of FINE_GRID: errors <= 2.6e-2 and 4.9e-2."""
FAST_GRID = EnergyGridOptions(order=6, ratio=8.0, edge_ratio=10.0, edge_distance=1e-3, low_fraction=0.5,
                              adaptive_tolerance=1e-2)
"""Few, high-order panels, refined adaptively where the estimated share of a panel in the
error exceeds 1e-2: T-junction errors <= 3e-6 with 84 energies (T <= 0.5); house kappa/kappa_N
within 6.8e-5 (phi = pi/3, T = 0.1), G/G_N within 6.9e-4 (phi = 0.96 pi, next to the cusp).
Order-6 panels spanning a factor 8 in energy resolve the spectral data, which are smooth in
ln E away from 0 and the gap edges and smooth in E below the Thouless energy (where the first
panel ends: low_fraction 0.5); the thermal kernels need no panels of their own (they are
integrated exactly against the interpolant)."""
ADAPTIVE_GRID = replace(FAST_GRID, adaptive_tolerance=5e-4)
"""The default of sweeps: FAST_GRID's panels refined to a twentieth of its tolerance. House
(Fig. 4 mesh, 31 phases with 18 of them between 2.4 and pi, x 4 temperatures): kappa/kappa_N
within 5.7e-6, G/G_N within 1.2e-5, 13836 energies in all (about 150 per solve); the other
shipped geometries within 3e-6 and 2.1e-5 (84-168 energies). Each refinement round is a
separate, small spectral solve. With tolerance 1e-3 (the default of 2026-11-30) the house's
G/G_N was 1.4e-4 and 1.7e-4 off at phi = 3.054 and 3.120, T = 0.3, next to pi where the
minigap closes (a scan at 25 evenly spaced phases had missed them; the error estimates,
1.6e-4 to 2.9e-4, had shown them), for 6% fewer energies. Until 2026-11-30 the default was
QUICK_GRID refined to 1e-2, 5.6e-5 and 6.5e-4 off on the house."""


@dataclass(frozen=True)
class MeshSettings:
    """Mesh refinement applied to every geometry: element counts times ``refine``, and the
    element order (None: the geometry's own)."""

    refine: float = 1.0
    order: int | None = None


@dataclass(frozen=True)
class Accuracy:
    """A named accuracy level of :func:`sweep`: its energy grid and mesh settings.

    The errors quoted in :data:`ACCURACY_LEVELS` are measured largest absolute errors of
    kappa/kappa_N and G/G_N against a reference (finer energy grid and mesh) on the shipped
    geometries; they hold for networks like those, not for any network.
    """

    grid: EnergyGridOptions
    mesh: MeshSettings


FAST_MESH = MeshSettings(refine=0.3, order=5)
"""The mesh of accuracy level "fast": P5 elements, 0.3 of the geometry's element counts."""

ACCURACY_LEVELS = {
    "standard": Accuracy(ADAPTIVE_GRID, MeshSettings()),
    "fast": Accuracy(FAST_GRID, FAST_MESH),
}
"""Accuracy levels of :func:`sweep` (``accuracy=``).

standard: the defaults (ADAPTIVE_GRID on the geometry's own mesh): energy-grid errors <= 3e-6
(kappa/kappa_N) and 2.1e-5 (G/G_N) on the shipped geometries, house interferometer included.
fast: FAST_GRID on FAST_MESH. The grid has 0.78 of the standard energies on the T-junction
(errors <= 3e-6 there) and 0.80 on the house (T = 0.02, 0.1, 0.3), where it is 6.8e-5
(kappa) and 6.9e-4 (G, phi next to pi) off. The geometry files' P3 meshes are chosen for
~1e-5 with P3; the solutions are smooth along the wires, so higher-order elements on fewer
of them do as well at a half to a third of the unknowns. Measured on every shipped geometry
(T = 0.02, 0.1, 0.3 with BCS gaps; house at phi = 0, 2, 2.8, 3.05; T-junction also at r = 0.1, 10, with a barrier, L_N =
30; against a 2x refined P5 mesh and a 2e-4-adaptive order-8 grid): the level's largest
errors are those of its grid, 1.5e-8 to 5.7e-6 in kappa/kappa_N and 3e-9 to 8.9e-6 in G/G_N
(house: 4.8e-6, 6.2e-5), those of FAST_GRID on the geometry's own mesh to within 1e-5 (house
G: 6.2e-5 against 5.4e-5), at 45-80% of its time. A mesh coarser in the element count alone
costs accuracy: P3 on half the elements is off by 1.2e-6 at r = 1 but 1.4e-4 at r = 0.1 (the
N arms' D_L dip next to the contact), the house by 3e-3. Networks unlike the shipped ones
(wires meshed with very few elements, sharp features inside a wire) should be checked with a
convergence study (:func:`convergence_study`) before relying on this level."""


def accuracy_settings(accuracy: str) -> Accuracy:
    """The grid and mesh settings of a named level of :data:`ACCURACY_LEVELS`."""
    try:
        return ACCURACY_LEVELS[accuracy]
    except (KeyError, TypeError):
        raise ValueError(f"accuracy must be one of {', '.join(ACCURACY_LEVELS)}, got {accuracy!r}") from None


# ---------------------------------------------------------------------------------------
# Geometry families: a geometry as a function of a phase
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GeometryFile:
    """A geometry file with overrides, optionally swept in one key (picklable).

    ``overrides`` are dotted keys as in :func:`femprox.geometry.files.load_geometry`;
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
# Adapter to femprox.observables.conductance (the only calls into the kinetic stage)
# ---------------------------------------------------------------------------------------

def sweep_grid(geometry: Geometry, temperatures: Sequence[float], options: EnergyGridOptions,
               breakpoints: Iterable[float] = ()):
    """The (starting) energy grid of a sweep task from its options (see EnergyGridOptions)."""
    return _energy_grid.energy_grid(geometry, temperatures, breakpoints=tuple(breakpoints),
                                    **options.as_kwargs())


def _mesh(geometry: Geometry, settings: MeshSettings):
    return build_mesh(geometry, refine=settings.refine, order=settings.order)


RETRY_REFINE = 1.25
"""Mesh refinement factor of the one retry after a SpectralConvergenceError."""


class SolveFailedError(SpectralConvergenceError):
    """A spectral solve failed, also on the refined retry mesh."""


def solve_retrying(solve: Callable, geometry: Geometry, settings: MeshSettings, retry: bool = True):
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
                          grid_options: EnergyGridOptions, mesh_settings: MeshSettings, retry: bool = True,
                          guess=None):
    """Energy grid, spectral solution, spectral conductance serving ``temperatures``, notes.
    ``guess``: ``neighbours`` of :func:`solve_spectral` warm-starting the first solve, used
    where the mesh fits them (not on the refined mesh of a retry)."""
    def fitting(mesh):
        return guess if guess is not None and guess[1].shape[1] == mesh.n_dofs else None

    if grid_options.adaptive_tolerance is None:
        grid = sweep_grid(geometry, temperatures, grid_options)

        def solve(mesh):
            return (grid,) + _energy_grid.solve_on_grid(mesh, grid, fitting(mesh), keep_distributions=False)
    else:
        def solve(mesh):
            return _energy_grid.adaptive_transport(mesh, temperatures, tol=grid_options.adaptive_tolerance,
                                                   guess=fitting(mesh), **grid_options.as_kwargs())
    (grid, solution, conductance), retry_note = solve_retrying(solve, geometry, mesh_settings, retry)
    notes = list(solution.notes) + ([retry_note] if retry_note else [])
    for note in solution.notes:
        log.debug("%s: %s", geometry.name, note)
    return grid, solution, conductance, notes


def _linear_response(conductance, grid, temperature: float):
    return _linear_responses(conductance, grid, [temperature])[0]


def _linear_responses(conductance, grid, temperatures: Sequence[float]):
    # the sweeps choose the gaps themselves (BCS at the group's representative temperature,
    # or fixed with bcs_gaps=False): no consistency check here
    return _observables.linear_responses(conductance, grid, temperatures, bcs_gaps=False)


def _two_terminal(response, a: str, b: str, others: str):
    return response.two_terminal(a, b, others=others)

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


class PlanQueue:
    """Plans run on one executor as one queue, to which plans can be added while it runs.

    A plan that depends on the result of another (e.g. phases added where a finished curve
    bends) is submitted as soon as that result is in, ahead of the tasks still waiting
    (``first=True``): the workers never wait between waves, and the new tasks do not end up
    alone at the end. Only ``window`` tasks are handed to the executor at a time (the rest
    wait here, so that their order can still change). ``progress(done, total)`` counts the
    tasks submitted so far (the total grows when a plan is added).
    """

    def __init__(self, executor: Executor, progress: Progress | None = None, window: int = 4):
        self.executor = executor
        self.progress = progress
        self.window = window
        self.plans: list[Plan] = []
        self.outputs: list[list] = []
        self.waiting: list[tuple[int, int]] = []  # (plan, task) not yet handed over
        self.running: dict = {}  # future -> (plan, task)
        self.done = 0

    def submit(self, plan: Plan, first: bool = False) -> int:
        """Queue the tasks of ``plan`` (ahead of all waiting tasks if ``first``); its index
        for :meth:`result`."""
        index = len(self.plans)
        self.plans.append(plan)
        self.outputs.append([_PENDING] * len(plan.tasks))
        tasks = [(index, k) for k in range(len(plan.tasks))]
        self.waiting = tasks + self.waiting if first else self.waiting + tasks
        self._fill()
        self._report()
        return index

    def result(self, index: int):
        """The assembled result of plan ``index``, waiting for its tasks (and reporting the
        progress of every task that finishes meanwhile). The first failure is raised, after
        cancelling every queued task."""
        return self.plans[index].assemble(self.outputs_of(index, len(self.plans[index].tasks)))

    def outputs_of(self, index: int, count: int) -> list:
        """The outputs of the first ``count`` tasks of plan ``index``, waiting for them (as
        :meth:`result` does, which needs all of them)."""
        try:
            while any(output is _PENDING for output in self.outputs[index][:count]):
                finished = next(as_completed(list(self.running)))
                plan, task = self.running.pop(finished)
                self.outputs[plan][task] = finished.result()  # raises the first failure
                self.done += 1
                self._fill()
                self._report()
        except BaseException:
            self.cancel()
            raise
        return self.outputs[index][:count]

    def release(self) -> None:
        """Hand every waiting task to the executor now (no plan will be put first any more):
        the workers stay busy while the caller does other work between :meth:`result` calls."""
        self.window = max(self.window, len(self.waiting) + len(self.running))
        self._fill()

    def cancel(self) -> None:
        self.waiting = []
        for future in self.running:
            future.cancel()

    def _fill(self) -> None:
        while self.waiting and len(self.running) < self.window:
            plan, task = self.waiting.pop(0)
            self.running[self.executor.submit(_call, self.plans[plan].tasks[task])] = (plan, task)

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, sum(len(plan.tasks) for plan in self.plans))


_PENDING = object()
"""Placeholder of a task output not yet received."""


# ---------------------------------------------------------------------------------------
# Sweeps
# ---------------------------------------------------------------------------------------

MATRIX_NAMES = ("charge", "thermoelectric", "peltier", "heat")
"""Multi-terminal linear-response matrices (see femprox.observables.conductance.LinearResponse)."""


@dataclass(frozen=True)
class TransportPoint:
    """Linear response of a network at one temperature (and phase).

    a, b: the terminals of the two-terminal quantities (the others floating, grounded, or
    absorbing with the transmitted part measured; see the sweep's ``others``).
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
class SweepTask:
    """One spectral solve of a sweep: a geometry at one phase and gap, the temperatures it
    serves, and how to solve it (run by :func:`run_sweep_task`)."""

    geometry: Geometry          # at the group's representative temperature
    temperatures: tuple[float, ...]
    phase: float | None
    between: tuple[str, str]
    others: str
    grid: EnergyGridOptions
    mesh: MeshSettings
    gap_factor: float


def run_sweep_task(task: SweepTask) -> tuple[list[TransportPoint], int, list[str]]:
    """One spectral solve and the linear response at each of its temperatures."""
    return _solve_and_respond(task, task.phase)[0]


def _solve_and_respond(task: "SweepTask | GridSweepTask", phase: float | None, guess=None):
    """((transport points at the task's temperatures, energies of the grid, notes), spectral
    solution) of one spectral solve: the work of a sweep task of either kind. ``guess``:
    warm start (see :func:`_spectral_conductance`)."""
    grid, solution, conductance, notes = _spectral_conductance(task.geometry, task.temperatures, task.grid,
                                                               task.mesh, guess=guess)
    points = [transport_point(response, _two_terminal(response, *task.between, task.others), phase,
                               task.gap_factor)
              for response in _linear_responses(conductance, grid, task.temperatures)]
    return (points, int(grid.nodes.size), notes), solution


CHAIN_LENGTH = 4
"""Gap groups of one geometry that one task solves in turn (:func:`run_sweep_chain`). Every
solve after a chain's first is warm-started, at 0.6-0.7 of the time of a cold solve (paper
Figs. 3 and 4); longer chains would save little more and leave fewer tasks to run in parallel."""


def _chains(keys: Sequence[object], length: int) -> list[tuple[int, ...]]:
    """Indices of runs of consecutive equal ``keys`` (None: a task on its own), cut into
    chains of at most ``length``."""
    chains: list[tuple[int, ...]] = []
    for key, run in itertools.groupby(range(len(keys)), key=lambda k: keys[k]):
        run = tuple(run)
        step = 1 if key is None else length
        chains += [run[k:k + step] for k in range(0, len(run), step)]
    return chains


def chain_tasks(tasks: Sequence[SweepTask], length: int = CHAIN_LENGTH) -> list[tuple[SweepTask, ...]]:
    """Consecutive tasks of one geometry (same name and phase; in :func:`sweep_tasks` they
    differ in their gaps only) cut into chains of at most ``length`` for :func:`run_sweep_chain`."""
    chains = _chains([(t.geometry.name, t.phase) for t in tasks], length)
    return [tuple(tasks[k] for k in chain) for chain in chains]


def run_sweep_chain(chain: Sequence[SweepTask]) -> list[tuple[list[TransportPoint], int, list[str]]]:
    """What :func:`run_sweep_task` returns for each task of ``chain`` (one geometry at
    several gaps, see :func:`chain_tasks`), solved in turn: each solve after the first is
    warm-started from the previous one's solution (:func:`~femprox.spectral.solver.gap_scaled_neighbours`).
    The results are those of separate solves (to ~1e-11: the branch check of the warm
    start sends any energy it doubts along the whole Dynes path)."""
    return [output for output, _ in _solved_in_turn(chain, lambda task: task.phase)]


def _solved_in_turn(chain: Sequence["SweepTask | GridSweepTask"], phase_of: Callable):
    """(output, solution) of :func:`_solve_and_respond` for each task of ``chain`` in turn,
    each solve warm-started from the previous one's solution scaled by their gap ratio."""
    previous, solution = None, None
    for task in chain:
        guess = None if solution is None else gap_scaled_neighbours(solution, task.gap_factor / previous.gap_factor)
        output, solution = _solve_and_respond(task, phase_of(task), guess)
        yield output, solution
        previous = task


def transport_point(response, pair, phase: float | None, gap_factor: float) -> TransportPoint:
    """A :class:`TransportPoint` from a linear response (``femprox.observables.conductance``) and its
    two-terminal pair; ``gap_factor`` is the Delta/Delta0 the spectral solve used."""
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

    def to_dataset(self, phase_key: str | None = None):
        """The points as a labelled xarray Dataset (dimensions phase, if swept, and
        temperature; see :func:`femprox.output.results.sweep_result_dataset`)."""
        from femprox.output.results import sweep_result_dataset  # xarray only when asked for

        return sweep_result_dataset(self, phase_key=phase_key)

    def column(self, name: str) -> np.ndarray:
        """An attribute of every point as a float array, e.g. ``column("heat_conductance_ratio")``
        (None, for points without a phase, becomes NaN)."""
        return np.array([math.nan if getattr(p, name) is None else getattr(p, name) for p in self.points],
                        dtype=float)


TWO_TERMINAL_MODES = ("floating", "grounded", "transmitted")
"""What the other terminals do (see femprox.observables.conductance.LinearResponse.two_terminal)."""


def check_others(others: str) -> None:
    """Refuse a mode for the other terminals that is not one of TWO_TERMINAL_MODES."""
    if others not in TWO_TERMINAL_MODES:
        raise ValueError(f"others must be one of {', '.join(TWO_TERMINAL_MODES)}, got {others!r}")


def _source_at(source: GeometrySource, phase: float | None) -> Geometry:
    if isinstance(source, Geometry):
        if phase is not None:
            raise ValueError("phases need a geometry family (a function phase -> Geometry, "
                             "e.g. GeometryFile with a phase_key), not a fixed Geometry")
        return source
    return source(phase) if phase is not None else source()


def check_temperatures(temperatures: Iterable[float]) -> tuple[float, ...]:
    """The temperatures (Delta0) as a tuple of floats; refused when empty or not positive and finite."""
    values = tuple(float(t) for t in np.atleast_1d(np.asarray(list(temperatures), dtype=float)))
    if not values:
        raise ValueError("no temperatures given")
    bad = [t for t in values if not (math.isfinite(t) and t > 0)]
    if bad:
        raise ValueError(f"temperatures must be positive and finite (Delta0), got {bad[0]!r}")
    return values


def check_between(geometry: Geometry, between: tuple[str, str] | None) -> tuple[str, str]:
    """The two terminals of two-terminal quantities: ``between``, checked against the
    geometry's reservoirs, or :func:`default_terminals`."""
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
                grid: EnergyGridOptions = ADAPTIVE_GRID, mesh: MeshSettings = MeshSettings(),
                dynes: float | None = None) -> list[SweepTask]:
    """The tasks of :func:`sweep`, one per (phase, group of temperatures sharing a gap)."""
    check_others(others)
    temps = check_temperatures(temperatures)
    phase_list: list[float | None] = [None] if phases is None else [float(p) for p in phases]
    tasks = []
    for phase in phase_list:
        geometry = with_dynes(_source_at(source, phase), dynes)
        pair = check_between(geometry, between)
        for group in gap_groups(geometry, temps, tolerance=gap_tolerance, scaling=scaling, bcs_gaps=bcs_gaps):
            at_t = at_temperature(geometry, group.representative, scaling=scaling) if bcs_gaps else geometry
            factor = float(bcs.gap(group.representative)) if bcs_gaps else 1.0
            tasks.append(SweepTask(at_t, group.temperatures, phase, pair, others, grid, mesh, factor))
    return tasks


def sweep_plan(source: GeometrySource, temperatures: Iterable[float], phases: Iterable[float] | None = None, *,
               between: tuple[str, str] | None = None, others: str = "floating", bcs_gaps: bool = True,
               gap_tolerance: float = DEFAULT_GAP_TOLERANCE, scaling: str = "common",
               grid: EnergyGridOptions = ADAPTIVE_GRID, mesh: MeshSettings = MeshSettings(),
               dynes: float | None = None) -> Plan:
    """:func:`sweep` as a :class:`Plan` (to share an executor queue with other plans)."""
    tasks = sweep_tasks(source, temperatures, phases, between=between, others=others, bcs_gaps=bcs_gaps,
                        gap_tolerance=gap_tolerance, scaling=scaling, grid=grid, mesh=mesh, dynes=dynes)

    chains = chain_tasks(tasks)

    def assemble(chain_outputs: list) -> SweepResult:
        outputs = [output for chain in chain_outputs for output in chain]
        points = sorted((p for pts, _, _ in outputs for p in pts),
                        key=lambda p: (0.0 if p.phase is None else p.phase, p.temperature))
        notes = tuple(dict.fromkeys(n for _, _, ns in outputs for n in ns))
        return SweepResult(points=tuple(points), grid=grid, mesh=mesh, others=others, bcs_gaps=bcs_gaps,
                           gap_tolerance=gap_tolerance, spectral_solves=len(tasks),
                           energies_per_solve=tuple(n for _, n, _ in outputs), notes=notes)

    return Plan(tuple((run_sweep_chain, chain) for chain in chains), assemble)


def sweep(source: GeometrySource, temperatures: Iterable[float], phases: Iterable[float] | None = None, *,
          between: tuple[str, str] | None = None, others: str = "floating", bcs_gaps: bool = True,
          gap_tolerance: float = DEFAULT_GAP_TOLERANCE, scaling: str = "common",
          grid: EnergyGridOptions = ADAPTIVE_GRID, mesh: MeshSettings = MeshSettings(),
          executor: Executor | None = None, progress: Progress | None = None,
          dynes: float | None = None, accuracy: str | None = None) -> SweepResult:
    """Linear response of a network over temperatures (Delta0) and phases (radians).

    ``source``: a Geometry, or a function phase -> Geometry (needed when ``phases`` are
    given; :class:`GeometryFile` is one). ``between``: the two terminals of G/G_N and
    kappa/kappa_N (default :func:`default_terminals`); ``others``: "floating" (zero charge
    and heat current), "grounded" (held at b's potential and temperature) or "transmitted"
    (all held at equilibrium; what arrives in b, over the path's normal conductance).
    ``bcs_gaps``: gaps follow BCS Delta(T) (:func:`femprox.geometry.temperature.at_temperature`;
    temperatures whose gaps differ by < ``gap_tolerance`` share a solve), else they keep
    their values in the geometry. ``dynes``: one Dynes rate (Delta0) for every
    superconducting wire and reservoir (:func:`with_dynes`; None keeps the geometry's).
    Raises SpectralConvergenceError if a solve fails twice. :func:`femprox.output.results.
    sweep_result_dataset` turns the result into a labelled xarray Dataset;
    :func:`femprox.output.results.parameter_sweep` sweeps any geometry parameter.
    ``accuracy``: a named level of :data:`ACCURACY_LEVELS` ("standard", "fast") that sets
    ``grid`` and ``mesh`` (then they must not be given as well).
    """
    if accuracy is not None:
        if grid != ADAPTIVE_GRID or mesh != MeshSettings():
            raise ValueError("give either accuracy or grid/mesh settings, not both")
        grid, mesh = accuracy_settings(accuracy).grid, accuracy_settings(accuracy).mesh
    return sweep_plan(source, temperatures, phases, between=between, others=others, bcs_gaps=bcs_gaps,
                      gap_tolerance=gap_tolerance, scaling=scaling, grid=grid,
                      mesh=mesh, dynes=dynes).run(executor, progress)


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
        solution, _ = solve_retrying(lambda m: solve_spectral(m, [task.energy]), task.geometry, task.mesh, False)
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
    pair = None if is_dos else check_between(geometry, between)
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


# ---------------------------------------------------------------------------------------
# General sweeps: any geometry parameter or override as an axis (Cartesian products)
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepAxis:
    """One swept geometry parameter.

    name: the axis name in results (the Dataset dimension and the CSV column), e.g. ``"r"``,
    ``"length_n"`` or ``"phase"``; key: the dotted override key of a geometry file that the
    values are written to (``"parameters.r"``, ``"nodes.S1.phase"``), or, for a Python
    geometry builder, the keyword argument it is passed as; values: in the units of that
    parameter (lengths xi0, energies Delta0, phases radians).
    """

    name: str
    key: str
    values: tuple[float, ...]

    @classmethod
    def make(cls, key: str, values: Iterable[float], name: str | None = None) -> "SweepAxis":
        """An axis from a key (``"r"`` stands for ``"parameters.r"``) and its values; the
        name defaults to the key's last part."""
        dotted = key if "." in key else f"parameters.{key}"
        numbers = tuple(float(v) for v in values)
        if not numbers:
            raise ValueError(f"sweep axis '{key}' has no values")
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"sweep axis '{key}' repeats a value: {list(numbers)}")
        return cls(name or dotted.rsplit(".", 1)[-1], dotted, numbers)


def _as_axes(axes: Mapping[str, Iterable[float]] | Sequence[SweepAxis] | None) -> tuple[SweepAxis, ...]:
    if axes is None:
        return ()
    if isinstance(axes, Mapping):
        result = tuple(SweepAxis.make(key, values) for key, values in axes.items())
    else:
        result = tuple(axes)
    names = [axis.name for axis in result]
    if len(set(names)) != len(names) or "temperature" in names:
        raise ValueError(f"sweep axes need distinct names other than 'temperature', got {names}")
    return result


def _geometry_for(source, axes: tuple[SweepAxis, ...], coordinates: tuple[float, ...]) -> Geometry:
    """The geometry at one point of the axes' Cartesian product."""
    if isinstance(source, Geometry):
        if axes:
            raise ValueError("sweep axes need a geometry file (GeometryFile or a path) or a builder function "
                             "taking the axes as keyword arguments, not a fixed Geometry")
        return source
    if isinstance(source, GeometryFile):
        overrides = dict(source.overrides)
        overrides.update({axis.key: value for axis, value in zip(axes, coordinates)})
        return load_geometry(source.path, overrides)
    # a builder such as femprox.geometry.devices.t_junction: keyword = the key's last part
    return source(**{axis.key.rsplit(".", 1)[-1]: value for axis, value in zip(axes, coordinates)})


def with_dynes(geometry: Geometry, dynes: float | None) -> Geometry:
    """``geometry`` with the Dynes rate ``dynes`` (Delta0) in every superconducting wire and
    reservoir (None: unchanged). Normal wires keep theirs: the rate models the smeared
    quasiparticle states of the superconductors."""
    if dynes is None:
        return geometry
    if not (math.isfinite(dynes) and dynes >= 0):
        raise ValueError(f"the Dynes rate must be finite and >= 0 (Delta0), got {dynes!r}")
    wires = tuple(replace(w, dynes=float(dynes)) if w.is_superconducting else w for w in geometry.wires)
    nodes = tuple(replace(n, dynes=float(dynes)) if n.kind is NodeKind.SUPERCONDUCTING_RESERVOIR else n
                  for n in geometry.nodes)
    return replace(geometry, nodes=nodes, wires=wires)


@dataclass(frozen=True)
class GridSweepTask:
    """One spectral solve of a general sweep: the geometry at one point of the axes (and at
    the representative temperature of a group sharing its gaps), and the temperatures it
    serves. ``coordinates`` are the axis values, in axis order.

    With ``self_consistent`` the task is instead the whole chain of temperatures of one axis
    point with the self-consistent Delta(x) (:func:`femprox.selfconsistency.transport.
    self_consistent_sweep`, ``phase_mode`` its ``phase=``); ``geometry`` then has its
    zero-temperature gaps and ``gap_factor`` is NaN."""

    geometry: Geometry
    temperatures: tuple[float, ...]
    coordinates: tuple[float, ...]
    between: tuple[str, str]
    others: str
    grid: EnergyGridOptions
    mesh: MeshSettings
    gap_factor: float
    self_consistent: bool = False
    phase_mode: str = "auto"


@dataclass(frozen=True)
class GridSweepOutput:
    """What one :class:`GridSweepTask` returns (small and picklable). ``critical_temperature``
    (Delta0): the structure's T_c, for self-consistent tasks (None otherwise, and where the
    linearized gap equation does not apply)."""

    coordinates: tuple[float, ...]
    points: tuple[TransportPoint, ...]
    energies: int
    notes: tuple[str, ...]
    critical_temperature: float | None = None


def run_grid_sweep_task(task: GridSweepTask) -> GridSweepOutput:
    """One spectral solve and the linear response at each temperature of the task (or, for a
    self-consistent task, the chain of temperatures)."""
    if task.self_consistent:
        return _run_self_consistent_chain(task)
    (points, energies, notes), _ = _solve_and_respond(task, None)
    return GridSweepOutput(task.coordinates, tuple(points), energies, tuple(notes))


def grid_task_chains(tasks: Sequence[GridSweepTask], length: int = CHAIN_LENGTH) -> list[tuple[int, ...]]:
    """Indices of the chains of :func:`run_grid_sweep_chain`: consecutive gap groups of one
    axis point (as :func:`grid_sweep_spec` lists them), at most ``length`` each; a
    self-consistent task (a chain of temperatures already) on its own."""
    return _chains([None if t.self_consistent else t.coordinates for t in tasks], length)


def run_grid_sweep_chain(chain: Sequence[GridSweepTask]) -> list[GridSweepOutput]:
    """:func:`run_grid_sweep_task` of each task of ``chain`` (see :func:`grid_task_chains`),
    each solve warm-started from the previous one as in :func:`run_sweep_chain`."""
    if len(chain) == 1 or any(task.self_consistent for task in chain):
        return [run_grid_sweep_task(task) for task in chain]
    return [GridSweepOutput(task.coordinates, tuple(points), energies, tuple(notes))
            for task, ((points, energies, notes), _) in zip(chain, _solved_in_turn(chain, lambda task: None))]


def _run_self_consistent_chain(task: GridSweepTask) -> GridSweepOutput:
    """All temperatures of one axis point with the self-consistent Delta(x), one serial,
    warm-started chain (the sweep's parallelism is over axis points)."""
    from femprox.selfconsistency.transport import self_consistent_sweep  # it imports this module

    result = self_consistent_sweep(task.geometry, task.temperatures, between=task.between, others=task.others,
                                   grid=task.grid, mesh=task.mesh, phase=task.phase_mode)
    tc = None if result.critical_temperature is None else float(result.critical_temperature.temperature)
    # energies per solve: the temperatures above T_c share one normal-state solve
    return GridSweepOutput(task.coordinates, result.transport.points, int(sum(result.transport.energies_per_solve)),
                           result.notes, tc)


@dataclass(frozen=True)
class GridSweepSpec:
    """A general sweep, fully planned: the axes, the temperatures, the settings and the
    tasks (one per axis point and gap group). :func:`femprox.output.results.grid_sweep_dataset`
    turns the tasks' outputs into an xarray Dataset."""

    axes: tuple[SweepAxis, ...]
    temperatures: tuple[float, ...]
    between: tuple[str, str]
    others: str
    bcs_gaps: bool
    gap_tolerance: float
    dynes: float | None
    grid: EnergyGridOptions
    mesh: MeshSettings
    tasks: tuple[GridSweepTask, ...]
    geometry: Geometry | None = None
    """The geometry at the first point of the axes, before BCS gaps (for provenance)."""
    self_consistent: bool = False
    """Whether the tasks are self-consistent chains of temperatures (one per axis point)."""


def grid_sweep_spec(source, temperatures: Iterable[float],
                    axes: Mapping[str, Iterable[float]] | Sequence[SweepAxis] | None = None, *,
                    between: tuple[str, str] | None = None, others: str = "floating", bcs_gaps: bool = True,
                    gap_tolerance: float = DEFAULT_GAP_TOLERANCE, scaling: str = "common",
                    dynes: float | None = None, grid: EnergyGridOptions = ADAPTIVE_GRID,
                    mesh: MeshSettings = MeshSettings(), self_consistent: bool = False,
                    phase: str = "auto") -> GridSweepSpec:
    """Plan a sweep over temperatures (Delta0) and the Cartesian product of ``axes``.

    ``source``: a geometry file (path or :class:`GeometryFile`; axis keys are its override
    keys, ``"r"`` meaning ``"parameters.r"``), a picklable builder called with the axes as
    keyword arguments (e.g. ``femprox.geometry.devices.t_junction``), or a fixed Geometry (no axes).
    ``axes``: ``{"r": [0.1, 1, 10], "length_n": [5, 10]}`` or :class:`SweepAxis` objects.
    ``dynes``: one Dynes rate (Delta0) for every superconducting wire and reservoir
    (:func:`with_dynes`; None keeps the geometry's). The rest as in :func:`sweep`. Every
    geometry is built (and checked) here, before any solve.

    ``self_consistent``: the S wires get Delta(x) from the gap equation at every temperature
    (:func:`femprox.selfconsistency.transport.self_consistent_sweep`, ``phase`` its
    ``phase=``): one task per axis point, a warm-started chain over the temperatures, whose
    output also carries the structure's T_c. Not with ``bcs_gaps=False``, ``dynes`` or a
    mesh ``order`` (the gap equation sets the gaps and uses the geometry's element orders).
    """
    check_others(others)
    temps = check_temperatures(temperatures)
    if self_consistent:
        _check_self_consistent_options(bcs_gaps, dynes, mesh, phase)
    if isinstance(source, (str, Path)):
        source = GeometryFile.from_path(source)
    axis_list = _as_axes(axes)
    tasks = []
    pair: tuple[str, str] | None = None
    first: Geometry | None = None
    for coordinates in itertools.product(*(axis.values for axis in axis_list)):
        geometry = with_dynes(_geometry_for(source, axis_list, coordinates), dynes)
        first = first or geometry
        point_pair = check_between(geometry, between)
        if pair is not None and point_pair != pair:
            raise ValueError(f"the default terminals change along the axes ({pair} vs {point_pair}): give between")
        pair = point_pair
        if self_consistent:
            _check_has_s_wires(geometry, coordinates, axis_list)
            tasks.append(GridSweepTask(geometry, tuple(sorted(set(temps))), tuple(coordinates), point_pair, others,
                                       grid, mesh, math.nan, self_consistent=True, phase_mode=phase))
            continue
        for group in gap_groups(geometry, temps, tolerance=gap_tolerance, scaling=scaling, bcs_gaps=bcs_gaps):
            at_t = at_temperature(geometry, group.representative, scaling=scaling) if bcs_gaps else geometry
            factor = float(bcs.gap(group.representative)) if bcs_gaps else 1.0
            tasks.append(GridSweepTask(at_t, group.temperatures, tuple(coordinates), point_pair, others, grid, mesh,
                                       factor))
    assert pair is not None
    return GridSweepSpec(axes=axis_list, temperatures=tuple(sorted(set(temps))), between=pair, others=others,
                         bcs_gaps=bcs_gaps, gap_tolerance=gap_tolerance, dynes=dynes, grid=grid, mesh=mesh,
                         tasks=tuple(tasks), geometry=first, self_consistent=self_consistent)


def _check_self_consistent_options(bcs_gaps: bool, dynes: float | None, mesh: MeshSettings, phase: str) -> None:
    from femprox.selfconsistency.transport import PHASE_CHOICES

    if not bcs_gaps:
        raise ValueError("a self-consistent sweep takes its gaps from the gap equation: bcs_gaps=False makes no sense")
    if dynes is not None:
        raise ValueError("a self-consistent sweep keeps the geometry's Dynes rates: dynes cannot be set")
    if mesh.order is not None:
        raise ValueError("a self-consistent sweep uses the geometry's element orders: use mesh refine only")
    if phase not in PHASE_CHOICES:
        raise ValueError(f"phase must be one of {', '.join(PHASE_CHOICES)}, got {phase!r}")


def _check_has_s_wires(geometry: Geometry, coordinates, axes: Sequence[SweepAxis]) -> None:
    """A self-consistent sweep point needs S wires (S reservoirs keep their bulk gap)."""
    from femprox.selfconsistency.gap_equation import materials_of

    try:
        materials_of(geometry)
    except ValueError as error:
        where = ", ".join(f"{axis.name} = {value:g}" for axis, value in zip(axes, coordinates)) or "the geometry"
        raise ValueError(f"self-consistent sweep at {where}: {error}") from None
