"""The paper's figures as plain numbers (no drawing, no files): Figs. 3 and 4 of Bezuglyi &
Vinokur and the long-wire study of the exponents they print.

Built from :mod:`femprox.workflows.sweeps` (energy grids, meshes, tasks and plans, linear response):
Fig. 3 is the T-junction file swept in temperature for several r, with the paper's Eqs. 4
and 6 for the semi-infinite and Andreev models; Fig. 4 the house interferometer file swept in
phase, with the paper's shortcut model (a BCS-like barrier of gap Delta |cos(phi/2)|).
Drawing is in :mod:`femprox.output.plotting`, files in :mod:`femprox.api`.

Units: energies and temperatures in Delta0, lengths in xi0 (D_N = 2), phases in radians.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from femprox.paper import analytic
from femprox.physics import bcs
from femprox.observables import conductance as _observables
from femprox.geometry.network import Geometry, MeshOptions, Node, NodeKind, Wire
from femprox.geometry.files import load_geometry, shipped_geometry_path
from femprox.spectral.solver import solve_spectral
from femprox.workflows.sweeps import QUICK_GRID  # noqa: F401  (re-exported: figures.QUICK_GRID)
from femprox.workflows.sweeps import (ADAPTIVE_GRID, FAST_GRID, EnergyGridOptions, GeometryFile, MeshSettings, Plan,
                                      Progress, SweepTask, chain_tasks, check_temperatures, run_sweep_chain,
                                      solve_retrying, sweep_grid, sweep_tasks)
from femprox.geometry.temperature import gap_groups

log = logging.getLogger(__name__)

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

# Meshes of ``femprox paper``. The geometry files' meshes are chosen for ~1e-5 accuracy; a
# figure needs less. Chosen by measurement on 2026-11-30 (all 13 phases x 4 temperatures of
# Fig. 4, all temperatures and r of Fig. 3, against references on finer meshes with energy
# grids refined to 2e-5; largest errors in kappa/kappa_N and G/G_N):
# - house: P5 on a quarter of the elements, 1.1e-5 and 9.7e-6 (P6 on a fifth: 6.3e-6 and
#   2.0e-6, 25% more CPU; P4 on 0.4: 1.5e-5 and 3.1e-6, 13% more; P3 on 0.75: 7.6e-5).
# - T-junction (graded 30 times toward the contact, T_JUNCTION_MESH): P3 on half of the
#   elements, 1.0e-5 and 7.7e-6 (P4 on 0.35: 8.1e-6 and 1.1e-5, no faster in alternated runs;
#   P4 on a quarter is 2.3e-4 off in kappa at the lowest temperatures).
# - shortcut model (graded barrier wire): P5 on a quarter, 1.0e-6 and 7.2e-7 at all phases,
#   pi included (re-measured 2026-12-01 against P3 on 1.5, after the Dynes path's last step
#   was shortened; see _dynes_path in femprox.spectral.solver): 8% less CPU than P3 on a half
#   (7.1e-7 and 1.8e-6); P4 on 0.35: 3.0e-7 and 3.0e-7, as slow as P3. Before, next to pi
#   the path ended on other roots just below the barrier's gap and every mesh was up to
#   3.5e-4 off in G/G_N, which had looked like a property of P4 and P5 elements.
FIGURE3_MESH = MeshSettings(refine=0.5)
FIGURE4_MESH = MeshSettings(refine=0.25, order=5)
SHORTCUT_MESH = MeshSettings(refine=0.25, order=5)


# ---------------------------------------------------------------------------------------
# The paper's Eqs. 4 and 6 along a path of wires
# ---------------------------------------------------------------------------------------

def _path_ratios(solution, grid, wires: Sequence[str], temperatures: Sequence[float],
                 blocked_below: float = 0.0) -> list[tuple[float, float]]:
    """Paper Eqs. 4 and 6 along ``wires``: (kappa/kappa_N, G/G_N) per temperature.

    ``blocked_below``: energies below it carry no heat at all (1/R_Q = 0), the paper's
    impenetrable Andreev barrier; charge is not blocked (Andreev reflection carries it).
    """
    path = _observables.path_resistances(solution, list(wires))
    if blocked_below > 0:
        path = replace(path, r_q=np.where(path.energies < blocked_below, np.inf, path.r_q))
    ratios = _observables.paper_ratios_at(path, grid, temperatures)
    return [(r.heat_conductance_ratio, r.conductance_ratio) for r in ratios]


def _semi_infinite_ratios(grid, temperatures: Sequence[float], length_n: float, r: float,
                          gap: float) -> list[tuple[float, float]]:
    """The paper's semi-infinite-lead model (Eqs. 8-10) through Eqs. 4 and 6 on ``grid``."""
    energies = grid.nodes
    if gap > 0:
        r_q, r_i = analytic.spectral_resistances(energies, length_n, r, gap)
    else:
        r_q = r_i = np.ones_like(energies)
    path = _observables.PathResistances(energies=energies, r_q=np.asarray(r_q), r_i=np.asarray(r_i),
                                        wires=("semi-infinite model",))
    ratios = _observables.paper_ratios_at(path, grid, temperatures)
    return [(q.heat_conductance_ratio, q.conductance_ratio) for q in ratios]

# ---------------------------------------------------------------------------------------
# Figure 3: T-junction, kappa and G against temperature
# ---------------------------------------------------------------------------------------

def figure3_temperatures(quick: bool = False) -> np.ndarray:
    """Default temperatures of Fig. 3 (Delta0): dense and logarithmic up to 0.11 where the
    gap is flat (one spectral solve), then every 0.047 up to 0.56 (one solve each, as
    Delta(T) changes; T_c = 0.567), one above T_c."""
    if quick:
        return np.concatenate([np.geomspace(0.005, 0.11, 8), np.linspace(0.16, 0.53, 3), [0.6]])
    return np.concatenate([np.geomspace(0.005, 0.11, 30), np.linspace(0.14, 0.56, 10), [0.6]])


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
    sweeps: tuple[SweepTask, ...]  # gap groups of one r, solved in turn (see chain_tasks)
    r: float
    semi_infinite: bool
    length_n: float


def _run_figure3_task(task: _Figure3Task) -> list:
    """Per gap group of the chain: network ratios (kappa, G, errors) and the semi-infinite
    model on the same grid (the start grid when the grid is adaptive: the model has no
    features the start grid misses; at the default temperatures and r = 0.1, 1, 10 the start
    of FAST_GRID, also ADAPTIVE_GRID's, is within 3.3e-5 of FINE_GRID for it)."""
    # above T_c nothing is superconducting: the network is its own normal reference, the
    # ratios are 1 by definition (a solve gives 1 - 4e-15 with error estimates ~6e-16)
    solved = iter(run_sweep_chain([s for s in task.sweeps if not _normal_state(s.geometry)]))
    outputs = []
    for sweep in task.sweeps:
        if _normal_state(sweep.geometry):
            rows = [(1.0, 1.0, 0.0, 0.0)] * len(sweep.temperatures)
        else:
            points, _, _ = next(solved)
            rows = [(p.heat_conductance_ratio, p.conductance_ratio, p.heat_conductance_ratio_error,
                     p.conductance_ratio_error) for p in points]
        model = None
        if task.semi_infinite:
            # the task's geometry carries the S wire's gap at the group's temperature
            grid = sweep_grid(sweep.geometry, sweep.temperatures, sweep.grid)
            model = _semi_infinite_ratios(grid, sweep.temperatures, task.length_n, task.r,
                                          sweep.geometry.wire("s_arm").gap)
        outputs.append((task.r, sweep.temperatures, rows, model))
    return outputs


def _normal_state(geometry: Geometry) -> bool:
    """No pair potential anywhere: every wire's gap 0 and no superconducting reservoir."""
    return (all(wire.gap == 0.0 for wire in geometry.wires)
            and not any(node.kind is NodeKind.SUPERCONDUCTING_RESERVOIR for node in geometry.nodes))


def figure3_plan(*, path: str | Path = T_JUNCTION_FILE, r_values: Sequence[float] = (0.1, 1.0, 10.0),
                 length_n: float = 10.0, temperatures: Iterable[float] | None = None,
                 semi_infinite: bool = True, grid: EnergyGridOptions = ADAPTIVE_GRID,
                 mesh: MeshSettings = MeshSettings(), arm_elements: int | None = None) -> Plan:
    """:func:`figure3` as a :class:`Plan`; ``arm_elements`` fixes the element count of each
    N arm (default: the file's rule, two per xi0)."""
    temps = np.array(sorted(set(check_temperatures(
        figure3_temperatures() if temperatures is None else temperatures))))
    r_list = [float(r) for r in r_values]
    tasks = []
    for r in r_list:
        overrides = {"parameters.r": r, "parameters.length_n": float(length_n), **T_JUNCTION_MESH}
        if arm_elements is not None:
            overrides.update({f"wires.{arm}.mesh.elements": int(arm_elements) for arm in ("left_arm", "right_arm")})
        source = GeometryFile.from_path(path, overrides)
        for chain in chain_tasks(sweep_tasks(source.geometry(), temps, between=("left", "right"), grid=grid,
                                             mesh=mesh)):
            tasks.append(_Figure3Task(chain, r, semi_infinite, float(length_n)))
    length_s = load_geometry(path, {"parameters.length_n": float(length_n)}).wire("s_arm").length

    def assemble(outputs: list) -> Figure3Data:
        values = np.full((4, len(r_list), temps.size), np.nan)
        model = np.full((2, len(r_list), temps.size), np.nan)
        for r, group_temps, rows, model_rows in (group for chain in outputs for group in chain):
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
            spectral_solves=sum(not _normal_state(s.geometry) for t in tasks for s in t.sweeps))

    return Plan(tuple((_run_figure3_task, t) for t in tasks), assemble)


def figure3(*, path: str | Path = T_JUNCTION_FILE, r_values: Sequence[float] = (0.1, 1.0, 10.0),
            length_n: float = 10.0, temperatures: Iterable[float] | None = None,
            semi_infinite: bool = True, grid: EnergyGridOptions = ADAPTIVE_GRID,
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
                     grid: EnergyGridOptions = ADAPTIVE_GRID, mesh: MeshSettings = MeshSettings()) -> Plan:
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

SHORTCUT_GRID = replace(FAST_GRID, adaptive_tolerance=None)
"""Fixed energy grid of the shortcut model: its only edge, the barrier's gap, is a panel
boundary, so no refinement is needed. At the paper's phases and temperatures within 2.4e-5
(kappa/kappa_N) and 5.6e-5 (G/G_N) of 12-point panels with ratio 1.3, with 80% of
QUICK_GRID's energies (QUICK_GRID: 7.2e-6 and 5.1e-5; re-measured 2026-12-01 with the
shortened Dynes path, which had put both G/G_N figures near 1.5e-4 through other roots)."""


def figure4_phases(quick: bool = False) -> np.ndarray:
    """Phases on [0, pi] (radians), denser toward pi where kappa peaks sharply:
    phi_k = pi (1 - (1 - k/n)^2), spacing ~2 pi/n at 0 and pi/n^2 next to pi."""
    n = 4 if quick else 12
    u = np.linspace(0.0, 1.0, n + 1)
    return np.pi * (1.0 - (1.0 - u) ** 2)


def barrier_geometry(gap: float, length_n: float = 10.0, half: bool = False) -> Geometry:
    """The paper's shortcut model of the interferometer's contact (docs/physics.md section 7).

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
    """Shortcut model: Eq. 4 above E_g only (impenetrable barrier below), Eq. 6 at all E.

    Not chained with the other gap groups of its phase (as the network is): next to pi the
    barrier's gap (~0.01) is below the Thouless energy, where warm starts from the previous
    gap's solution and batches of other energies were seen to end on other roots within
    3e-5 of the gap edge (G/G_N 1e-4 to 3e-4 apart)."""
    if task.gap < _CLOSED_GAP:
        return task.phase, task.temperatures, [(1.0, 1.0)] * len(task.temperatures)
    geometry = barrier_geometry(task.gap, task.length_n, half=True)
    grid = sweep_grid(geometry, task.temperatures, task.grid)
    solution, _ = solve_retrying(lambda mesh: solve_spectral(mesh, grid.nodes), geometry, task.mesh)
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
    After :func:`refine_figure4` a temperature whose curves did not need a phase added for
    another temperature has NaN there (all six arrays; :func:`computed_mask`): each row is
    computed on its own phases.
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
                 shortcut_grid: EnergyGridOptions = SHORTCUT_GRID, shortcut_mesh: MeshSettings | None = None) -> Plan:
    """:func:`figure4` as a :class:`Plan`. ``shortcut_grid``: the shortcut model's grid
    (see :data:`SHORTCUT_GRID`); ``shortcut_mesh``: its mesh settings (default: ``mesh``)."""
    phase_list = np.array(sorted(figure4_phases() if phases is None else [float(p) for p in phases]))
    if mirror and (phase_list[0] < 0 or not np.isclose(phase_list[-1], np.pi, rtol=0, atol=1e-12)):
        raise ValueError("with mirror=True the phases must lie in [0, pi] and end at pi")
    temps = np.array(sorted(set(check_temperatures(temperatures))))
    source = GeometryFile.from_path(path, {"parameters.length_n": float(length_n)}, "parameters.phi")
    network = sweep_tasks(source, temps, phase_list, between=("left", "right"), grid=grid, mesh=mesh)
    chains = chain_tasks(network)
    shortcut = [_ShortcutTask(task.gap_factor * abs(math.cos(task.phase / 2)), task.temperatures, task.phase,
                              float(length_n), shortcut_grid, mesh if shortcut_mesh is None else shortcut_mesh)
                for task in network]
    house = source.geometry(0.0)

    def assemble(outputs: list) -> Figure4Data:
        keys = ("kappa", "conductance", "kappa_error", "conductance_error", "shortcut_kappa", "shortcut_conductance")
        values = {k: np.full((temps.size, phase_list.size), np.nan) for k in keys}
        column = {float(p): k for k, p in enumerate(phase_list)}
        for points, _, _ in (group for chain in outputs[:len(chains)] for group in chain):
            for p in points:
                k, j = int(np.searchsorted(temps, p.temperature)), column[p.phase]
                values["kappa"][k, j], values["conductance"][k, j] = p.heat_conductance_ratio, p.conductance_ratio
                values["kappa_error"][k, j] = p.heat_conductance_ratio_error
                values["conductance_error"][k, j] = p.conductance_ratio_error
        for output in outputs[len(chains):]:
            if output is None:  # not (yet) computed: see figure4_network_tasks
                continue
            phase, group_temps, rows = output
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

    tasks = [(run_sweep_chain, c) for c in chains] + [(_run_shortcut_task, t) for t in shortcut]
    return Plan(tuple(tasks), assemble)


def figure4_network_tasks(plan: Plan) -> int:
    """How many tasks of a :func:`figure4_plan` are network solves: they come first, the
    shortcut model's follow. ``plan.assemble(network_outputs + [None] * rest)`` gives the
    network curves alone (shortcut model NaN), e.g. to choose phases to refine early."""
    return sum(1 for function, _ in plan.tasks if function is run_sweep_chain)


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
# Fig. 4: phases refined where the curves change fast
# ---------------------------------------------------------------------------------------

PHASE_REFINE_TOLERANCE = 2e-2
"""Estimated largest deviation of a straight segment between neighbouring phases from the
curve, relative to the curve's full range, that :func:`refine_figure4` leaves alone. In
``femprox paper`` (13 phases, one round, each spectral solve refined on its own) the largest
measured distance from a 59-phase reference between the plotted points is 1.9% of the range
for the network curves (G at T = 0.05; 1.6% at T = 0.2 and 0.3, where refining every
temperature at every added phase gave 1.4%) and 2.2% for the shortcut model (T = 0.05;
2.0% at T = 0.2, was 0.8%)."""


def computed_mask(data: Figure4Data) -> np.ndarray:
    """(n_T, n_phi) True where a point was computed (after :func:`refine_figure4` a phase
    added for other temperatures only is NaN in all six arrays of a row)."""
    return ~np.all([np.isnan(getattr(data, key)) for key in _ARRAYS], axis=0)


def _half(data: Figure4Data) -> Figure4Data:
    """The data on [0, pi] (what was computed when the curves were mirrored)."""
    if not data.mirrored:
        return data
    keep = data.phases <= np.pi + 1e-12
    arrays = {k: getattr(data, k)[:, keep] for k in ("kappa", "conductance", "kappa_error", "conductance_error",
                                                     "shortcut_kappa", "shortcut_conductance")}
    return replace(data, phases=data.phases[keep], mirrored=False, **arrays)


def _segment_errors(phases: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Estimated largest distance between each straight segment and the curve, (n_T, n - 1):
    |f''| h^2 / 8 with f'' the larger second divided difference at the segment's ends (the
    curves are symmetric about 0 and pi, so the slopes there are mirrored, not one-sided)."""
    h = np.diff(phases)
    slopes = np.diff(values, axis=1) / h
    # mirror images of the first and last segment: f(-phi) = f(phi), f(2 pi - phi) = f(phi)
    padded = np.concatenate([-slopes[:, :1], slopes, -slopes[:, -1:]], axis=1)
    widths = np.concatenate([h[:1], h, h[-1:]])
    second = 2 * np.diff(padded, axis=1) / (widths[:-1] + widths[1:])  # at each phase
    curvature = np.maximum(np.abs(second[:, :-1]), np.abs(second[:, 1:]))
    return curvature * h**2 / 8


def _needed_midpoints(phases: np.ndarray, kappa: np.ndarray, conductance: np.ndarray, tolerance: float,
                      smallest_step: float) -> np.ndarray:
    """Midpoints of the intervals of ``phases`` (one temperature row's computed phases on
    [0, pi]) where a straight segment is estimated to miss kappa or G by more than
    ``tolerance`` times that curve's range."""
    if phases.size < 2:
        return np.empty(0)
    worst = np.zeros(phases.size - 1)
    for values in (kappa, conductance):
        span = float(np.ptp(values))
        worst = np.maximum(worst, _segment_errors(phases, values[None, :])[0] / (span if span > 0 else 1.0))
    split = (worst > tolerance) & (np.diff(phases) > 2 * smallest_step)
    return 0.5 * (phases[:-1] + phases[1:])[split]


def phases_to_refine_by_temperature(data: Figure4Data, tolerance: float = PHASE_REFINE_TOLERANCE,
                                    smallest_step: float = 2e-3) -> list[np.ndarray]:
    """:func:`phases_to_refine` for each temperature row on its own: the midpoints where that
    row's curves (on the phases computed for it; rows may miss phases another row has, NaN)
    need another point."""
    half = _half(data)
    needed = []
    for k in range(half.temperatures.size):
        done = np.isfinite(half.kappa[k]) & np.isfinite(half.conductance[k])
        needed.append(_needed_midpoints(half.phases[done], half.kappa[k, done], half.conductance[k, done],
                                        tolerance, smallest_step))
    return needed


def phases_to_refine(data: Figure4Data, tolerance: float = PHASE_REFINE_TOLERANCE,
                     smallest_step: float = 2e-3) -> np.ndarray:
    """Midpoints of the phase intervals (on [0, pi]) where a straight segment is estimated to
    miss kappa/kappa_N or G/G_N of the network by more than ``tolerance`` times that curve's
    range (at any temperature), i.e. where the curves bend sharply; intervals narrower
    than ``smallest_step`` (rad) are not split."""
    rows = phases_to_refine_by_temperature(data, tolerance, smallest_step)
    return np.unique(np.concatenate(rows)) if rows else np.empty(0)


_ARRAYS = ("kappa", "conductance", "kappa_error", "conductance_error", "shortcut_kappa", "shortcut_conductance")


def _merged(old: Figure4Data, new: Figure4Data) -> Figure4Data:
    """``old`` and ``new`` (both unmirrored) on the union of their phases; ``new`` may cover a
    subset of the temperatures of ``old``; entries computed in neither are NaN."""
    phases = np.unique(np.concatenate([old.phases, new.phases]))
    rows = np.minimum(np.searchsorted(old.temperatures, new.temperatures), old.temperatures.size - 1)
    if not np.allclose(old.temperatures[rows], new.temperatures, rtol=1e-12, atol=0):
        raise ValueError("the refinement's temperatures are not among the figure's")
    arrays = {}
    for key in _ARRAYS:
        values = np.full((old.temperatures.size, phases.size), np.nan)
        values[:, np.searchsorted(phases, old.phases)] = getattr(old, key)
        added = values[rows]
        added[:, np.searchsorted(phases, new.phases)] = getattr(new, key)
        values[rows] = added
        arrays[key] = values
    return replace(old, phases=phases, spectral_solves=old.spectral_solves + new.spectral_solves, **arrays)


def _gap_group_rows(data: Figure4Data, path: str | Path) -> list[np.ndarray]:
    """Rows of ``data`` (indices into its temperatures) that share a spectral solve."""
    house = GeometryFile.from_path(path, {"parameters.length_n": float(data.length_n)}, "parameters.phi").geometry(0.0)
    groups = gap_groups(house, [float(t) for t in data.temperatures])
    return [np.searchsorted(data.temperatures, group.temperatures) for group in groups]


def refinement_plan(data: Figure4Data, *, tolerance: float = PHASE_REFINE_TOLERANCE,
                    path: str | Path = HOUSE_FILE, grid: EnergyGridOptions = ADAPTIVE_GRID,
                    mesh: MeshSettings = MeshSettings(), shortcut_mesh: MeshSettings | None = None) -> Plan | None:
    """One round of :func:`refine_figure4` as a :class:`Plan` (None when no phase needs
    adding): Fig. 4 at the phases of :func:`phases_to_refine_by_temperature`, unmirrored,
    solved only for the temperatures whose curves need them (with the others of their
    spectral solve: temperatures sharing a gap come free); merge its result into ``data``
    with :func:`merge_refinement`."""
    needed = phases_to_refine_by_temperature(_half(data), tolerance)
    plans = []
    for rows in _gap_group_rows(data, path):
        extra = np.unique(np.concatenate([needed[k] for k in rows]))
        if extra.size:
            log.info("Fig. 4: %d phases added at T = %s", extra.size,
                     ", ".join(f"{t:g}" for t in data.temperatures[rows]))
            plans.append(figure4_plan(path=path, temperatures=data.temperatures[rows], phases=extra,
                                      length_n=data.length_n, mirror=False, grid=grid, mesh=mesh,
                                      shortcut_mesh=shortcut_mesh))
    if not plans:
        return None
    if len(plans) == 1:
        return plans[0]

    def assemble(outputs: list) -> Figure4Data:
        merged, start = None, 0
        for plan in plans:
            part = plan.assemble(outputs[start:start + len(plan.tasks)])
            start += len(plan.tasks)
            merged = part if merged is None else _merged_parts(merged, part)
        return merged

    return Plan(tuple(pair for plan in plans for pair in plan.tasks), assemble)


def _merged_parts(a: Figure4Data, b: Figure4Data) -> Figure4Data:
    """Two refinement results for disjoint temperature groups, on the union of both."""
    temperatures = np.union1d(a.temperatures, b.temperatures)
    gaps = np.empty(temperatures.size)
    gaps[np.searchsorted(temperatures, a.temperatures)] = a.gap
    gaps[np.searchsorted(temperatures, b.temperatures)] = b.gap
    empty = {key: np.full((temperatures.size, 0), np.nan) for key in _ARRAYS}
    base = replace(a, phases=np.empty(0), temperatures=temperatures, gap=gaps, spectral_solves=0, **empty)
    return _merged(_merged(base, a), b)


def merge_refinement(data: Figure4Data, more: Figure4Data) -> Figure4Data:
    """``data`` with the phases of ``more`` (a :func:`refinement_plan` result) added, mirrored
    to [0, 2 pi] like ``data``. Temperatures ``more`` does not cover get NaN at its phases
    (their curves did not need them)."""
    half = _merged(_half(data), more)
    if not data.mirrored:
        return half
    arrays = {}
    phases = half.phases
    for key in _ARRAYS:
        phases, arrays[key] = _mirror(half.phases, getattr(half, key))
    return replace(half, phases=phases, mirrored=True, **arrays)


def refine_figure4(data: Figure4Data, *, rounds: int = 2, tolerance: float = PHASE_REFINE_TOLERANCE,
                   path: str | Path = HOUSE_FILE, grid: EnergyGridOptions = ADAPTIVE_GRID,
                   mesh: MeshSettings = MeshSettings(), shortcut_mesh: MeshSettings | None = None,
                   executor: Executor | None = None, progress: Progress | None = None) -> Figure4Data:
    """Fig. 4 with phases added where the curves change fast, for up to ``rounds`` rounds:
    each group of temperatures sharing a spectral solve gets the phases its own curves need
    (:func:`phases_to_refine_by_temperature`; the other rows are NaN there). The other
    settings must be those ``data`` was made with. The result is mirrored to [0, 2 pi] like
    ``data``."""
    for _ in range(rounds):
        plan = refinement_plan(data, tolerance=tolerance, path=path, grid=grid, mesh=mesh, shortcut_mesh=shortcut_mesh)
        if plan is None:
            break
        data = merge_refinement(data, plan.run(executor, progress))
    return data
