"""Python API mirroring the command line: computations written to files with provenance.

=====================================  ===============================================================
``femprox paper``                      :func:`paper_figures` (data only: :func:`figure3`, :func:`figure4`)
``femprox solve``                      :func:`solve_to_files` (data only: :func:`sweep`)
``femprox sweep``                      :func:`sweep_to_files` (data only: :func:`femprox.output.results.parameter_sweep`)
``femprox dos``                        :func:`dos_to_files` (data only: :func:`femprox.workflows.studies.dos_map`)
``femprox iv``                         :func:`iv_to_files` (data only: :func:`femprox.workflows.studies.iv_curve`)
``femprox supercurrent``               :func:`supercurrent_to_files` (:func:`femprox.workflows.studies.current_phase_relation`)
``femprox mesh --export/--draw``       :func:`export_mesh`, :func:`draw_network_to_file`
``femprox convergence``                :func:`convergence_to_files` (data only: :func:`convergence_study`)
=====================================  ===============================================================

The data-only functions (re-exported from :mod:`femprox.workflows.sweeps` and :mod:`femprox.paper.figures`)
return plain dataclasses of numbers and write nothing.

Output folders are never overwritten silently: an existing, non-empty folder raises
:class:`OutputExistsError` unless ``overwrite=True``. Results are computed and checked
(:mod:`femprox.output.result_checks`: no NaN, physical bounds) before anything is written, then
written into a staging folder that replaces the previous run's files only when complete
(:mod:`femprox.output.safe_output`). Every folder gets a ``run.json``
record (geometry text and its sha256, all parameters, mesh and solver settings, package
versions) from which the run can be repeated. CSV files start with ``#`` comment lines
giving the columns and their units.

Units: energies and temperatures in Delta0, lengths in xi0, phases in radians.
"""

from __future__ import annotations

import csv
import hashlib
import json
import platform
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, replace
from importlib import metadata
from pathlib import Path

import numpy as np

from femprox.paper import figures
from femprox.geometry import limits
from femprox.output import result_checks
from femprox.output import safe_output
from femprox.workflows import sweeps
from femprox.paper.figures import Figure3Data, Figure4Data, figure3, figure4
from femprox.workflows.sweeps import (ConvergenceData, EnergyGridOptions, GeometryFile, MeshSettings, Progress,
                                      SweepResult, convergence_study, sweep)
from femprox.geometry.network import Geometry
from femprox.geometry.files import geometry_to_toml, load_geometry
from femprox.kinetic.solver import spectral_conductance
from femprox.mesh import build_mesh
from femprox.paper.checks import checks_report
from femprox.spectral.solver import solve_spectral
from femprox.geometry.temperature import at_temperature

__all__ = ["OutputExistsError", "PaperResult", "convergence_study", "convergence_to_files", "draw_network_to_file",
           "export_mesh", "figure3", "figure4", "package_versions", "paper_figures",
           "solve_to_files", "sweep"]


OutputExistsError = safe_output.OutputExistsError
"""The output folder (or file) exists and ``overwrite`` was not given."""


# ---------------------------------------------------------------------------------------
# Files and provenance
# ---------------------------------------------------------------------------------------

def _check_output_file(path: Path, overwrite: bool) -> None:
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass --overwrite (overwrite=True) to replace it")


def package_versions() -> dict[str, str]:
    """Versions of femprox and the numerical packages, and of Python."""
    versions = {"python": platform.python_version()}
    for name in ("femprox", "numpy", "scipy", "scikit-fem", "meshio", "matplotlib"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def geometry_record(source: GeometryFile | None, geometry: Geometry) -> dict:
    """The geometry as a run record keeps it: name and resolved TOML, and with a ``source``
    file its path, SHA-256, text and overrides (what ``run.json`` files store)."""
    record: dict = {"name": geometry.name, "resolved_toml": geometry_to_toml(geometry)}
    if source is not None:
        record.update(path=str(Path(source.path).resolve()), sha256=source.sha256, toml=source.text,
                      overrides=dict(source.overrides), phase_key=source.phase_key)
    return record


def write_json(path: Path, record: dict) -> None:
    """Write ``record`` as indented JSON (numpy numbers and arrays as plain values)."""
    path.write_text(json.dumps(record, indent=2, default=_json_default) + "\n", encoding="utf-8")


def _json_default(value: object):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {value!r}")


def run_record(command: str, settings: dict, started: float) -> dict:
    """The ``run.json`` record of a command: its settings, argv, package versions, platform
    and the seconds since ``started`` (a ``time.perf_counter()`` value)."""
    return {"command": command, "argv": sys.argv, "settings": settings, "versions": package_versions(),
            "platform": platform.platform(), "seconds": round(time.perf_counter() - started, 3)}


def _write_csv(path: Path, comments: Sequence[str], header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    """CSV with ``#`` comment lines, a header row and numbers that read back exactly."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        for line in comments:
            handle.write(f"# {line}\n")
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_cell(v) for v in row])
    return path


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, (float, np.floating)):
        return repr(float(value))  # shortest text that reads back to the same float
    return str(value)


def _save(figure, path: Path) -> Path:
    figure.savefig(path, dpi=150)
    return path


# ---------------------------------------------------------------------------------------
# femprox paper
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PaperResult:
    """The reproduced figures: data, the checks report and the files written."""

    figure3: Figure3Data
    figure4: Figure4Data
    slopes: Figure3Data
    report: str
    files: dict[str, Path]
    seconds: float


def paper_grid(quick: bool = False) -> EnergyGridOptions:
    """Energy grid of the house interferometer in ``femprox paper`` (Fig. 4), where the
    minigap cusp moves with the phase: ADAPTIVE_GRID (QUICK_GRID with --quick)."""
    return sweeps.QUICK_GRID if quick else sweeps.ADAPTIVE_GRID


def t_junction_paper_grid(quick: bool = False) -> EnergyGridOptions:
    """Energy grid of the T-junctions in ``femprox paper`` (Fig. 3, long wire): FAST_GRID, with
    a tenth fewer energies than ADAPTIVE_GRID and within 3e-6 of the reference there (errors
    far below those of the figure meshes; QUICK_GRID with --quick)."""
    return sweeps.QUICK_GRID if quick else sweeps.FAST_GRID


def paper_plans(quick: bool = False) -> dict[str, sweeps.Plan]:
    """The computations of ``femprox paper`` (quick: coarse grids, few points). On a pool
    they are queued as Fig. 4, Fig. 3, long wire (see :func:`_run_paper_plans`)."""
    return {name: paper_plan(name, quick) for name in ("slopes", "figure4", "figure3")}


def paper_plan(name: str, quick: bool = False) -> sweeps.Plan:
    """One of :func:`paper_plans`: "slopes", "figure4" or "figure3"."""
    if name == "figure4":
        return figures.figure4_plan(phases=figures.figure4_phases(quick), grid=paper_grid(quick),
                                    mesh=figures.FIGURE4_MESH, shortcut_mesh=figures.SHORTCUT_MESH)
    if name == "figure3":
        return figures.figure3_plan(temperatures=figures.figure3_temperatures(quick), grid=t_junction_paper_grid(quick),
                                    mesh=figures.FIGURE3_MESH)
    if name == "slopes":
        return figures.slope_study_plan(temperatures=figures.slope_study_temperatures(count=10 if quick else 25),
                                        grid=t_junction_paper_grid(quick))
    raise ValueError(f"no paper plan named {name!r}")


def paper_figures(out_dir: str | Path = "femprox-paper", *, quick: bool = False, overwrite: bool = False,
                  executor: Executor | None = None, progress: Progress | None = None) -> PaperResult:
    """Reproduce the paper's Figs. 3 and 4 into ``out_dir``.

    Writes figure3.png/csv (kappa/kappa_N and G/G_N against T, T-junction, r = 0.1, 1, 10),
    figure4.png/csv (against phi, house interferometer, T = 0.05, 0.1, 0.2, 0.3),
    long_wire_slopes.csv (L_N = 100 xi0, r = 0.01), paper_checks.txt and run.json.

    On an executor each figure is drawn (into the staging folder) as soon as its data are in,
    while the workers compute the rest; the results are checked before the folder is
    committed, and a failed check discards it (nothing written).
    """
    started = time.perf_counter()
    safe_output.check_target(out_dir, overwrite)  # refused before the work, created after it
    with safe_output.staged(out_dir, overwrite) as out:
        written: dict[str, Path] = {}
        slopes, fig4, fig3 = _run_paper_plans(quick, executor, progress,
                                              on_figure4=lambda data: written.update(_write_figure4_files(out, data)),
                                              on_figure3=lambda data: written.update(_write_figure3_files(out, data)))
        result_checks.check_paper(fig3, _computed_points(fig4))
        report = checks_report(fig3, fig4, slopes)
        written.update(_write_paper_records(out, fig3, fig4, slopes, report, quick, started))
        files = {name: written[name] for name in PAPER_FILES}
    seconds = time.perf_counter() - started
    return PaperResult(fig3, fig4, slopes, report, _final_paths(files, out_dir), seconds)


PAPER_FILES = ("figure3.png", "figure3.csv", "figure4.png", "figure4.csv", "long_wire_slopes.csv",
               "paper_checks.txt", "run.json")
"""The files ``femprox paper`` writes."""


def _computed_points(data: Figure4Data) -> Figure4Data:
    """Fig. 4 reduced to its computed points (flat arrays; NaN marks a phase not computed at
    that temperature, see :class:`Figure4Data`) for the result checks."""
    done = figures.computed_mask(data)
    return replace(data, kappa=data.kappa[done][None, :], conductance=data.conductance[done][None, :])


def _final_paths(files: dict[str, Path], out_dir: str | Path) -> dict[str, Path]:
    """The written files at their final place (they were written into a staging folder)."""
    return {name: Path(out_dir) / path.name for name, path in files.items()}


def _write_figure3_files(out: Path, fig3: Figure3Data) -> dict[str, Path]:
    return {"figure3.png": _save(_figure3_figure(fig3), out / "figure3.png"),
            "figure3.csv": write_figure3_csv(fig3, out / "figure3.csv")}


def _write_figure4_files(out: Path, fig4: Figure4Data) -> dict[str, Path]:
    return {"figure4.png": _save(_figure4_figure(fig4), out / "figure4.png"),
            "figure4.csv": write_figure4_csv(fig4, out / "figure4.csv")}


def _write_paper_records(out: Path, fig3: Figure3Data, fig4: Figure4Data, slopes: Figure3Data, report: str,
                         quick: bool, started: float) -> dict[str, Path]:
    """long_wire_slopes.csv, paper_checks.txt and run.json (the figures are written as soon
    as their data are in)."""
    files = {"long_wire_slopes.csv": write_slopes_csv(slopes, out / "long_wire_slopes.csv")}
    files["paper_checks.txt"] = out / "paper_checks.txt"
    files["paper_checks.txt"].write_text(report, encoding="utf-8")
    settings = {"quick": quick, "energy_grid": asdict(paper_grid(quick)),
                "t_junction_energy_grid": asdict(t_junction_paper_grid(quick)),
                "shortcut_model_energy_grid": asdict(figures.SHORTCUT_GRID),
                "figure3_mesh": {"overrides": figures.T_JUNCTION_MESH, **asdict(figures.FIGURE3_MESH)},
                "figure4_mesh": asdict(figures.FIGURE4_MESH),
                "shortcut_model_mesh": asdict(figures.SHORTCUT_MESH),
                "figure4_refinement": {"rounds": 0 if quick else FIGURE4_REFINE_ROUNDS,
                                       "tolerance": figures.PHASE_REFINE_TOLERANCE,
                                       "per_spectral_solve": True},
                "geometries": {"t_junction": _file_record(figures.T_JUNCTION_FILE),
                               "house_interferometer": _file_record(figures.HOUSE_FILE)},
                "spectral_solves": {"figure3": fig3.spectral_solves, "figure4": fig4.spectral_solves,
                                    "long_wire": slopes.spectral_solves}}
    files["run.json"] = out / "run.json"
    write_json(files["run.json"], run_record("paper", settings, started))
    return files


FIGURE4_REFINE_ROUNDS = 1
"""Rounds of :func:`femprox.paper.figures.refine_figure4` in ``femprox paper`` (none with --quick)."""


def _run_paper_plans(quick: bool, executor: Executor | None, progress: Progress | None,
                     on_figure4: Callable[[Figure4Data], object] | None = None,
                     on_figure3: Callable[[Figure3Data], object] | None = None
                     ) -> tuple[Figure3Data, Figure4Data, Figure3Data]:
    """(long-wire study, refined Fig. 4, Fig. 3); ``on_figure4``/``on_figure3`` are called
    with each figure's final data as soon as it is in.

    On an executor the Fig. 4 refinement is queued, ahead of everything else, as soon as the
    network curves of Fig. 4 are in (it depends on them only, not on the shortcut model);
    then every task is handed to the pool, so that the workers stay busy while this process
    draws Fig. 4 (in after its shortcut model and refinement), then Fig. 3; the long-wire
    study comes last (it has no figure to draw)."""
    rounds = 0 if quick else FIGURE4_REFINE_ROUNDS
    if executor is None:
        slopes, fig4, fig3 = sweeps.run_plans(list(paper_plans(quick).values()), None, progress)
        if rounds:
            fig4 = figures.refine_figure4(fig4, rounds=rounds, grid=paper_grid(quick), mesh=figures.FIGURE4_MESH,
                                          shortcut_mesh=figures.SHORTCUT_MESH)
        for callback, data in ((on_figure4, fig4), (on_figure3, fig3)):
            if callback is not None:
                callback(data)
        return slopes, fig4, fig3
    queue = sweeps.PlanQueue(executor, progress)
    plans, index = {}, {}
    for name in ("figure4", "figure3", "slopes"):  # the workers start on Fig. 4 while the others are set up
        plans[name] = paper_plan(name, quick)
        index[name] = queue.submit(plans[name])
    # import matplotlib while the workers compute; in a thread, so that this one keeps
    # handing tasks to the pool (the queue holds them back for the refinement round). The
    # workers exist already: a process pool that forks starts all of them on the first submit.
    threading.Thread(target=_import_plotting, name="femprox-import-plotting", daemon=True).start()
    fig4_plan = plans["figure4"]
    refinements = []
    if rounds:
        count = figures.figure4_network_tasks(fig4_plan)
        network = fig4_plan.assemble(queue.outputs_of(index["figure4"], count)
                                     + [None] * (len(fig4_plan.tasks) - count))
    for round_ in range(rounds):
        plan = figures.refinement_plan(network, grid=paper_grid(quick), mesh=figures.FIGURE4_MESH,
                                       shortcut_mesh=figures.SHORTCUT_MESH)
        if plan is None:
            break
        refinements.append(queue.submit(plan, first=True))
        if round_ + 1 < rounds:
            network = figures.merge_refinement(network, queue.result(refinements[-1]))
    queue.release()
    fig4 = queue.result(index["figure4"])
    for refinement in refinements:
        fig4 = figures.merge_refinement(fig4, queue.result(refinement))
    if on_figure4 is not None:
        on_figure4(fig4)
    fig3 = queue.result(index["figure3"])
    if on_figure3 is not None:
        on_figure3(fig3)
    return queue.result(index["slopes"]), fig4, fig3


def _import_plotting() -> None:
    """Import matplotlib (via femprox.output.plotting) now, e.g. while a pool computes (a failure
    shows up where the figures are drawn)."""
    try:
        import femprox.output.plotting  # noqa: F401
    except Exception:  # noqa: BLE001
        pass


def _file_record(path: Path) -> dict:
    data = Path(path).read_bytes()
    return {"path": str(Path(path).resolve()), "sha256": hashlib.sha256(data).hexdigest(),
            "toml": data.decode("utf-8-sig")}


def _figure3_figure(data: Figure3Data):
    from femprox.output.plotting import figure_with_axes, plot_conductance_vs_temperature, plot_kappa_vs_temperature

    figure, (left, right) = figure_with_axes(2)
    plot_kappa_vs_temperature(data, left)
    plot_conductance_vs_temperature(data, right)
    left.set_title("(a) " + left.get_title())
    right.set_title("(b) " + right.get_title())
    return figure


def _figure4_figure(data: Figure4Data):
    from femprox.output.plotting import figure_with_axes, plot_conductance_vs_phase, plot_kappa_vs_phase

    figure, (left, right) = figure_with_axes(2, height=4.8)
    plot_kappa_vs_phase(data, left)
    plot_conductance_vs_phase(data, right)
    left.set_title("(a) " + left.get_title())
    right.set_title("(b) " + right.get_title())
    return figure


def write_figure3_csv(data: Figure3Data, path: str | Path) -> Path:
    """Fig. 3 curves, one row per (r, T)."""
    comments = [
        f"Fig. 3: T-junction, L_N = {data.length_n:g} xi0, L_S = {data.length_s:g} xi0 (xi0 = sqrt(D_N/2 Delta0))",
        "temperature and gap in Delta0; all other columns dimensionless ratios",
        "heat_conductance_ratio (kappa/kappa_N), conductance_ratio (G/G_N): full network solution (*_error: "
        "energy-integration estimate)",
        "andreev_heat_conductance_ratio: Andreev model (no transport below Delta(T)); semi_infinite_*: analytic "
        "semi-infinite-lead model (paper Eqs. 8-10 in Eqs. 4, 6)"]
    header = ["r", "temperature", "gap", "heat_conductance_ratio", "heat_conductance_ratio_error",
              "conductance_ratio", "conductance_ratio_error", "andreev_heat_conductance_ratio",
              "semi_infinite_heat_conductance_ratio", "semi_infinite_conductance_ratio"]
    rows = []
    for k, r in enumerate(data.r_values):
        for j, t in enumerate(data.temperatures):
            model_k = None if data.semi_infinite_kappa is None else data.semi_infinite_kappa[k, j]
            model_g = None if data.semi_infinite_conductance is None else data.semi_infinite_conductance[k, j]
            rows.append([r, t, data.gap[j], data.kappa[k, j], data.kappa_error[k, j], data.conductance[k, j],
                         data.conductance_error[k, j], data.andreev_kappa[j], model_k, model_g])
    return _write_csv(Path(path), comments, header, rows)


def write_figure4_csv(data: Figure4Data, path: str | Path) -> Path:
    """Fig. 4 curves, one row per (T, phi)."""
    comments = [
        f"Fig. 4: house interferometer, L_N = {data.length_n:g} xi0, arms {data.arm_length:g} xi0 with "
        f"conductance {data.arm_conductance:g} g_N",
        "temperature and gap in Delta0; phase in radians; all other columns dimensionless ratios",
        "heat_conductance_ratio (kappa/kappa_N), conductance_ratio (G/G_N): full network solution between the N "
        "reservoirs, S reservoirs floating",
        "shortcut_*: the paper's shortcut model, a BCS-like barrier of gap Delta(T)|cos(phi/2)| at the contact",
        "values for phase > pi mirrored from 2 pi - phase (exact symmetry)" if data.mirrored
        else "every phase computed"]
    header = ["temperature", "gap", "phase", "heat_conductance_ratio", "heat_conductance_ratio_error",
              "conductance_ratio", "conductance_ratio_error", "shortcut_heat_conductance_ratio",
              "shortcut_conductance_ratio"]
    # each temperature at the phases computed for it (refinement adds phases only to the
    # temperatures whose curves need them; the others are NaN there and left out)
    computed = figures.computed_mask(data)
    rows = [[t, data.gap[k], phi, data.kappa[k, j], data.kappa_error[k, j], data.conductance[k, j],
             data.conductance_error[k, j], data.shortcut_kappa[k, j], data.shortcut_conductance[k, j]]
            for k, t in enumerate(data.temperatures) for j, phi in enumerate(data.phases)
            if computed[k, j]]
    return _write_csv(Path(path), comments, header, rows)


def write_slopes_csv(data: Figure3Data, path: str | Path) -> Path:
    """Long-wire kappa/kappa_N and its local log-slopes (network and semi-infinite model)."""
    from femprox.paper.checks import log_slopes

    comments = [f"T-junction with a long N wire: L_N = {data.length_n:g} xi0, r = {data.r_values[0]:g}, "
                f"E_Th = {data.thouless_energy:.6g} Delta0, T0 = {data.t0[0]:.6g} Delta0",
                "temperature in Delta0; slope = d ln(kappa/kappa_N) / d ln T (kappa ~ T^(1 + slope))"]
    header = ["temperature", "heat_conductance_ratio", "slope", "semi_infinite_heat_conductance_ratio",
              "semi_infinite_slope"]
    slopes = log_slopes(data.temperatures, data.kappa[0])
    model = data.semi_infinite_kappa[0] if data.semi_infinite_kappa is not None else np.full_like(slopes, np.nan)
    model_slopes = log_slopes(data.temperatures, model)
    rows = zip(data.temperatures, data.kappa[0], slopes, model, model_slopes)
    return _write_csv(Path(path), comments, header, rows)


# ---------------------------------------------------------------------------------------
# femprox solve
# ---------------------------------------------------------------------------------------

def solve_to_files(path: str | Path, out_dir: str | Path, *, temperatures: Sequence[float],
                   overrides: Mapping[str, object] | None = None, phases: Sequence[float] | None = None,
                   phase_key: str | None = None, between: tuple[str, str] | None = None,
                   others: str = "floating", bcs_gaps: bool = True,
                   grid: EnergyGridOptions = sweeps.ADAPTIVE_GRID, mesh: MeshSettings = MeshSettings(),
                   overwrite: bool = False, executor: Executor | None = None,
                   progress: Progress | None = None) -> tuple[SweepResult, dict[str, Path]]:
    """Sweep a geometry file over temperatures (and phases) and write the results.

    Files: results.csv (G/G_N, kappa/kappa_N, thermopower between the two terminals), results.nc
    (the same as a labelled xarray Dataset, :mod:`femprox.output.results`),
    matrices.csv (multi-terminal matrices, long format), sweep.png, run.json. ``phase_key``
    is the dotted override key set to each phase (default ``parameters.phi`` if declared).
    """
    started = time.perf_counter()
    source = GeometryFile.from_path(path, overrides, phase_key)
    geometry = source.geometry()  # validates the file and the overrides before any work
    if phases is not None and phase_key is None:
        raise ValueError("phases need a phase key (e.g. parameters.phi or nodes.S1.phase)")
    check_two_terminal(geometry, between, path)
    limits.check_values("temperatures", "temperature", temperatures)
    limits.check_values("phases", "phase", phases or ())
    safe_output.check_target(out_dir, overwrite)  # refused before the work, created after it
    result = sweeps.sweep(source, temperatures, phases, between=between, others=others, bcs_gaps=bcs_gaps,
                          grid=grid, mesh=mesh, executor=executor, progress=progress)
    result_checks.check_sweep(result)
    with safe_output.staged(out_dir, overwrite) as out:
        files = _write_solve_files(out, source, geometry, result, temperatures, phases, others, bcs_gaps, grid,
                                   mesh, started)
    return result, _final_paths(files, out_dir)


def check_two_terminal(geometry: Geometry, between: tuple[str, str] | None, source: str | Path | None = None) -> None:
    """Refuse a two-terminal pair whose G/G_N is undefined (two S reservoirs), naming why
    (and the file ``source``, if given)."""
    pair = between if between is not None else sweeps.default_terminals(geometry)
    problem = result_checks.undefined_two_terminal(geometry, *pair)
    if problem is not None:
        raise ValueError(problem if source is None else f"{source}: {problem}")


def _write_solve_files(out: Path, source: GeometryFile, geometry: Geometry, result: SweepResult,
                       temperatures: Sequence[float], phases: Sequence[float] | None, others: str, bcs_gaps: bool,
                       grid: EnergyGridOptions, mesh: MeshSettings, started: float) -> dict[str, Path]:
    files = {"results.csv": write_sweep_csv(result, out / "results.csv"),
             "matrices.csv": write_matrices_csv(result, out / "matrices.csv")}
    files["results.nc"] = _save_sweep_dataset(result, source, geometry, out / "results.nc")
    from femprox.output.plotting import figure_with_axes, plot_sweep

    figure, (left, right) = figure_with_axes(2)
    plot_sweep(result, "heat_conductance_ratio", left)
    plot_sweep(result, "conductance_ratio", right)
    files["sweep.png"] = _save(figure, out / "sweep.png")
    settings = {"temperatures": list(temperatures), "phases": None if phases is None else list(phases),
                "between": [result.points[0].a, result.points[0].b], "others": others, "bcs_gaps": bcs_gaps,
                "gap_tolerance": result.gap_tolerance, "energy_grid": asdict(grid), "mesh": asdict(mesh),
                "mesh_description": build_mesh(geometry, refine=mesh.refine, order=mesh.order).describe(),
                "spectral_tolerance": 1e-10, "spectral_solves": result.spectral_solves,
                "energies_per_solve": list(result.energies_per_solve), "notes": list(result.notes),
                "geometry": geometry_record(source, geometry)}
    files["run.json"] = out / "run.json"
    write_json(files["run.json"], run_record("solve", settings, started))
    return files


def write_sweep_csv(result: SweepResult, path: str | Path) -> Path:
    """One row per (phase, T): two-terminal ratios, their error estimates, thermopower."""
    point = result.points[0]
    comments = [f"two-terminal response between '{point.a}' and '{point.b}', other terminals {result.others}",
                "temperature and gap_factor (Delta/Delta0 of the solve) in Delta0 units; phase in radians "
                "(empty: no phase sweep); ratios dimensionless; seebeck in k_B/e (V_a - V_b = -S (T_a - T_b))"]
    header = ["temperature", "phase", "gap_factor", "conductance_ratio", "conductance_ratio_error",
              "heat_conductance_ratio", "heat_conductance_ratio_error", "seebeck"]
    rows = [[p.temperature, p.phase, p.gap_factor, p.conductance_ratio, p.conductance_ratio_error,
             p.heat_conductance_ratio, p.heat_conductance_ratio_error, p.seebeck] for p in result.points]
    return _write_csv(Path(path), comments, header, rows)


_MATRIX_UNITS = {"charge": "dI_i/dV_j (G0)", "thermoelectric": "dI_i/dT_j (G0 k_B/e)",
                 "peltier": "dQ_i/dV_j (G0 Delta0/e)", "heat": "dQ_i/dT_j (G0 Delta0 k_B/e^2)",
                 "normal": "normal-state dI_i/dV_j (G0)"}


def write_matrices_csv(result: SweepResult, path: str | Path) -> Path:
    """Multi-terminal matrices in long format: one row per (phase, T, matrix, i, j)."""
    comments = ["multi-terminal linear response; currents flow from terminal i into the network",
                "units: G0 = the wires' conductance unit per xi0 (a normal wire has G = g/L); energies "
                "and temperatures in Delta0",
                "matrices: " + "; ".join(f"{k}: {v}" for k, v in _MATRIX_UNITS.items())]
    header = ["temperature", "phase", "matrix", "row_terminal", "column_terminal", "value", "error"]
    rows = []
    for p in result.points:
        for name, matrix in p.matrices.items():
            errors = p.matrix_errors.get(name, np.zeros_like(matrix))
            for i, a in enumerate(p.terminals):
                for j, b in enumerate(p.terminals):
                    rows.append([p.temperature, p.phase, name, a, b, matrix[i, j], errors[i, j]])
    return _write_csv(Path(path), comments, header, rows)


# ---------------------------------------------------------------------------------------
# femprox mesh
# ---------------------------------------------------------------------------------------

def export_mesh(path: str | Path | Geometry, export_file: str | Path, *, energies: Sequence[float] = (),
                overrides: Mapping[str, object] | None = None, mesh: MeshSettings = MeshSettings(),
                temperature: float | None = None, potentials: Mapping[str, float] | None = None,
                overwrite: bool = False) -> Path:
    """Write the meshed network (VTU, XDMF, ... by extension) with the DOS, the kinetic
    coefficients D_L, D_T and the distribution functions f_L, f_T at ``energies`` (Delta0) as
    point data (``dos_E0.5``, ``f_L_E0.5``, ...), sampled at the high-order points of every
    element (:func:`femprox.output.export.network_points`).

    ``path``: a geometry file, or a Geometry built in Python. The reservoirs keep the file's
    temperatures and potentials unless ``temperature`` (every reservoir, Delta0; the gaps then
    follow BCS Delta(T)) or ``potentials`` (terminal name -> V in Delta0/e; S reservoirs are the
    reference 0) are given.
    """
    from femprox.output.export import check_export_path, field_point_data, write_network  # meshio: only here

    export_file = check_export_path(export_file)
    _check_output_file(export_file, overwrite)
    geometry = path if isinstance(path, Geometry) else load_geometry(path, overrides)
    if temperature is not None:
        limits.check_value("temperature", "temperature", temperature)
        geometry = at_temperature(geometry, temperature)
        for node in geometry.terminals:
            geometry = geometry.with_node(node.name, temperature=temperature)
    reservoirs = {n.name: (n.temperature, (potentials or {}).get(n.name, n.potential)) for n in geometry.terminals}
    unknown = set(potentials or {}) - set(reservoirs)
    if unknown:
        raise ValueError(f"--bias: no terminal named '{sorted(unknown)[0]}' (terminals: {', '.join(reservoirs)})")
    graph = build_mesh(geometry, refine=mesh.refine, order=mesh.order)
    data = field_point_data(graph, energies, reservoirs)
    result_checks.check_point_data(data)
    with safe_output.atomic_file(export_file, overwrite) as temporary:
        write_network(temporary, graph, data, overwrite=True)
    return export_file


def draw_network_to_file(path: str | Path, png: str | Path, *, overrides: Mapping[str, object] | None = None,
                         overwrite: bool = False) -> Path:
    """Sketch of the network (:func:`femprox.output.plotting.draw_network`) as an image file."""
    from femprox.output.plotting import draw_network, figure_with_axes

    png = drawing_path(png)
    _check_output_file(png, overwrite)
    figure, (ax,) = figure_with_axes(1, width=6.5, height=5.0)
    draw_network(load_geometry(path, overrides), ax)
    with safe_output.atomic_file(png, overwrite) as temporary:
        _save(figure, temporary)
    return png


def drawing_path(path: str | Path) -> Path:
    """The file a drawing is written to: ``path``, with ``.png`` added if it has no extension
    (what matplotlib would do silently); ValueError for an extension matplotlib cannot write."""
    from matplotlib.figure import Figure

    path = Path(path)
    if str(path).strip() == "" or path.name in ("", ".", ".."):
        raise ValueError("the drawing's file name is empty")
    if not path.suffix:
        return path.with_name(path.name + ".png")
    supported = Figure().canvas.get_supported_filetypes()
    if path.suffix[1:].lower() not in supported:
        raise ValueError(f"{path}: matplotlib cannot write '{path.suffix}' files (use one of "
                         f"{', '.join('.' + k for k in sorted(supported))})")
    return path


# ---------------------------------------------------------------------------------------
# femprox convergence
# ---------------------------------------------------------------------------------------

def convergence_to_files(path: str | Path, out_dir: str | Path, *, observable: str = "kappa",
                         temperature: float = 0.05, energy: float = 0.3, wire: str | None = None,
                         position: float | None = None, between: tuple[str, str] | None = None,
                         overrides: Mapping[str, object] | None = None,
                         refinements: Sequence[float] = (1, 2, 4, 8), orders: Sequence[int] = (1, 2, 3, 4),
                         grid: EnergyGridOptions = sweeps.PAPER_GRID, overwrite: bool = False,
                         executor: Executor | None = None,
                         progress: Progress | None = None) -> tuple[ConvergenceData, dict[str, Path]]:
    """h- and p-refinement study of an observable; writes convergence.csv, .png, run.json."""
    started = time.perf_counter()
    source = GeometryFile.from_path(path, overrides)
    geometry = source.geometry()
    if observable == "G":  # kappa between two S reservoirs is defined, G is not
        check_two_terminal(geometry, between, path)
    safe_output.check_target(out_dir, overwrite)  # refused before the work, created after it
    data = sweeps.convergence_study(geometry, observable, temperature=temperature, energy=energy, wire=wire,
                                    position=position, between=between, refinements=refinements,
                                    orders=orders, grid=grid, executor=executor, progress=progress)
    result_checks.check_convergence(data)
    with safe_output.staged(out_dir, overwrite) as out:
        files = _write_convergence_files(out, source, geometry, data, observable, temperature, refinements,
                                         orders, grid, started)
    return data, _final_paths(files, out_dir)


def _write_convergence_files(out: Path, source: GeometryFile, geometry: Geometry, data: ConvergenceData,
                             observable: str, temperature: float, refinements: Sequence[float],
                             orders: Sequence[int], grid: EnergyGridOptions, started: float) -> dict[str, Path]:
    files = {"convergence.csv": write_convergence_csv(data, out / "convergence.csv")}
    from femprox.output.plotting import figure_with_axes, plot_convergence

    figure, (ax,) = figure_with_axes(1)
    plot_convergence(data, ax)
    files["convergence.png"] = _save(figure, out / "convergence.png")
    settings = {"observable": observable, "temperature": temperature, "energy": data.energy, "wire": data.wire,
                "position": data.position, "between": data.between, "refinements": list(refinements),
                "orders": list(orders), "energy_grid": asdict(grid), "h_rate": data.h_rate,
                "geometry": geometry_record(source, geometry)}
    files["run.json"] = out / "run.json"
    write_json(files["run.json"], run_record("convergence", settings, started))
    return files


def write_convergence_csv(data: ConvergenceData, path: str | Path) -> Path:
    """One row per mesh: study, refine, order, DOFs, value, |value - reference|."""
    what = (f"DOS N(E)/N_0 at E = {data.energy:g} Delta0, {data.position:g} xi0 along wire '{data.wire}'"
            if data.observable == "dos" else
            f"{data.observable} ratio between {data.between[0]} and {data.between[1]} at "
            f"T = {data.temperature:g} Delta0")
    comments = [f"mesh convergence of {what}",
                f"reference: refine {2 * data.refinements.max():g}, order {max(data.orders.max(), data.h_order)}, "
                f"{data.reference_dofs} DOFs, value {data.reference:.12g}",
                f"fitted h-rate p (error ~ h^p): {data.h_rate:.3f}"]
    header = ["study", "refine", "order", "dofs", "value", "error"]
    rows = [["h", r, data.h_order, n, v, e] for r, n, v, e in
            zip(data.refinements, data.h_dofs, data.h_values, data.h_errors)]
    rows += [["p", 1, p, n, v, e] for p, n, v, e in zip(data.orders, data.p_dofs, data.p_values, data.p_errors)]
    return _write_csv(Path(path), comments, header, rows)


def convergence_table(data: ConvergenceData) -> str:
    """The study as a text table (printed by the CLI)."""
    lines = [f"{'study':<6}{'refine':>8}{'order':>7}{'DOFs':>8}{'value':>20}{'error':>12}"]
    for r, n, v, e in zip(data.refinements, data.h_dofs, data.h_values, data.h_errors):
        lines.append(f"{'h':<6}{r:>8g}{data.h_order:>7d}{n:>8d}{v:>20.12g}{e:>12.3e}")
    for p, n, v, e in zip(data.orders, data.p_dofs, data.p_values, data.p_errors):
        lines.append(f"{'p':<6}{1:>8g}{p:>7d}{n:>8d}{v:>20.12g}{e:>12.3e}")
    lines.append(f"reference ({data.reference_dofs} DOFs): {data.reference:.12g}; "
                 f"fitted h-rate p (error ~ h^p): {data.h_rate:.2f}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# femprox sweep: general sweeps, labelled results, Dask, resumable run folders
# ---------------------------------------------------------------------------------------

def _save_sweep_dataset(result: SweepResult, source: GeometryFile, geometry: Geometry, path: Path) -> Path:
    """results.nc of ``femprox solve``: the sweep as a labelled Dataset (phase, temperature)."""
    from femprox.output import results

    dataset = results.sweep_result_dataset(result, phase_key=source.phase_key,
                                           extra_attrs=results.geometry_attrs(source, geometry))
    return results.save(dataset, path)


def prepare_run_folder(path: str | Path, *, overwrite: bool = False, resume: bool = False) -> Path:
    """The output folder of a resumable sweep: an existing non-empty folder is refused
    unless ``resume`` (its ``tasks/`` are reused) or ``overwrite`` (its files replaced)."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputExistsError(f"{path} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not (overwrite or resume):
        raise OutputExistsError(f"output folder {path} exists and is not empty; pass --resume (resume=True) to "
                                "continue the sweep stored there or --overwrite (overwrite=True) to replace it")
    path.mkdir(parents=True, exist_ok=True)
    return path


def sweep_to_files(source: str | Path | GeometryFile, out_dir: str | Path, *, temperatures: Sequence[float],
                   axes: Mapping[str, Sequence[float]] | None = None, between: tuple[str, str] | None = None,
                   others: str = "floating", bcs_gaps: bool = True, dynes: float | None = None,
                   grid: EnergyGridOptions = sweeps.ADAPTIVE_GRID, mesh: MeshSettings = MeshSettings(),
                   client: object | None = None, executor: Executor | None = None, resume: bool = False,
                   overwrite: bool = False, progress: Progress | None = None, self_consistent: bool = False,
                   phase: str = "auto"):
    """A general sweep (:func:`femprox.output.results.parameter_sweep`) written to ``out_dir``;
    ``self_consistent``/``phase``: see :func:`femprox.workflows.sweeps.grid_sweep_spec`.

    Files: results.nc (the labelled Dataset; ``femprox.load``), results.csv (one row per
    axis point and temperature, columns named as the Dataset's variables), matrices.csv
    (long format), run.json (provenance), tasks/ (one file per finished spectral solve;
    with ``resume=True`` an interrupted sweep continues from them); a self-consistent sweep
    also critical_temperature.csv (T_c per axis point). Returns (Dataset, files).
    """
    from femprox.output import results

    started = time.perf_counter()
    if isinstance(source, (str, Path)):
        source = GeometryFile.from_path(source)
    # plan first: bad axes, keys or terminals fail before the folder is touched
    spec = sweeps.grid_sweep_spec(source, temperatures, axes, between=between, others=others, bcs_gaps=bcs_gaps,
                                  dynes=dynes, grid=grid, mesh=mesh, self_consistent=self_consistent, phase=phase)
    out = prepare_run_folder(out_dir, overwrite=overwrite, resume=resume)
    from femprox.workflows.distributed import RunFolder, run_grid_tasks

    if overwrite and not resume:  # a fresh run: task files of an earlier one are not kept around
        for stale in RunFolder(out).tasks.glob("*.json"):
            stale.unlink()

    outputs = run_grid_tasks(spec.tasks, client=client, executor=executor, run_folder=out, resume=resume,
                             progress=progress)
    dataset = results.grid_sweep_dataset(spec, outputs,
                                         extra_attrs=results.geometry_attrs(source, spec.geometry))
    # each result file appears complete or not at all (the run folder itself is not staged:
    # its tasks/ must outlive an interruption)
    files = {}
    writers = [("results.nc", lambda path: results.save(dataset, path)),
               ("results.csv", lambda path: write_dataset_csv(dataset, path)),
               ("matrices.csv", lambda path: write_dataset_matrices_csv(dataset, path))]
    if "critical_temperature" in dataset:
        writers.append(("critical_temperature.csv", lambda path: write_critical_temperature_csv(dataset, path)))
    for name, write in writers:
        with safe_output.atomic_file(out / name, overwrite=True) as temporary:
            write(temporary)
        files[name] = out / name
    settings = {"temperatures": list(spec.temperatures),
                "axes": [{"name": a.name, "key": a.key, "values": list(a.values)} for a in spec.axes],
                "between": list(spec.between), "others": others, "bcs_gaps": bcs_gaps, "dynes": dynes,
                "energy_grid": asdict(grid), "mesh": asdict(mesh), "spectral_solves": len(spec.tasks),
                "self_consistent": self_consistent, "phase": phase if self_consistent else None,
                "resumed": resume, "scheduler": None if client is None else str(getattr(client, "scheduler", client)),
                "notes": json.loads(dataset.attrs["notes"]),
                "geometry": geometry_record(source, spec.geometry)}
    with safe_output.atomic_file(out / "run.json", overwrite=True) as temporary:
        write_json(temporary, run_record("sweep", settings, started))
    files["run.json"] = out / "run.json"
    return dataset, files


def write_critical_temperature_csv(dataset, path: str | Path) -> Path:
    """T_c of a self-consistent sweep, one row per axis point (empty: none found)."""
    axes = list(json.loads(dataset.attrs["axes"]))
    comments = ["critical temperature of the structure (Delta0) from the linearized gap equation, per point of "
                "the swept parameters; empty where there is none (S reservoirs, or normal down to the lowest "
                "temperature tried: see run.json notes)"]
    table = dataset["critical_temperature"].to_dataframe().reset_index()
    rows = ([*values[:-1], None if np.isnan(values[-1]) else values[-1]]
            for values in table[axes + ["critical_temperature"]].itertuples(index=False))
    return _write_csv(Path(path), comments, axes + ["critical_temperature"], rows)


def _dataset_axes(dataset) -> list[str]:
    return list(json.loads(dataset.attrs["axes"])) + ["temperature"]


def write_dataset_csv(dataset, path: str | Path) -> Path:
    """One row per axis point and temperature: the axes, then the two-terminal variables."""
    from femprox.output.results import POINT_VARIABLES

    dims = _dataset_axes(dataset)
    comments = [f"two-terminal response between '{dataset.attrs['between_a']}' and '{dataset.attrs['between_b']}', "
                f"other terminals {dataset.attrs['others']}",
                "columns: swept parameters (geometry units: lengths xi0, energies Delta0, phases rad), temperature "
                "(Delta0), then " + "; ".join(f"{v}: {dataset[v].attrs['long_name']} ({dataset[v].attrs['units']})"
                                              for v in POINT_VARIABLES)]
    table = dataset[list(POINT_VARIABLES)].to_dataframe().reset_index()
    rows = table[dims + list(POINT_VARIABLES)].itertuples(index=False)
    return _write_csv(Path(path), comments, dims + list(POINT_VARIABLES), rows)


def write_dataset_matrices_csv(dataset, path: str | Path) -> Path:
    """Multi-terminal matrices, one row per (axis point, temperature, matrix, i, j)."""
    from femprox.output.results import MATRIX_VARIABLES

    dims = _dataset_axes(dataset)
    comments = ["multi-terminal linear response; currents flow from terminal i (row) into the network",
                "matrices: " + "; ".join(f"{k}: {v}" for k, v in _MATRIX_UNITS.items())]
    header = dims + ["matrix", "row_terminal", "column_terminal", "value", "error"]
    rows = []
    for name in MATRIX_VARIABLES:
        values = dataset[name]
        errors = dataset[f"{name}_error"] if f"{name}_error" in dataset else _zeros_like(values)
        table = values.to_dataframe(name="value").join(errors.to_dataframe(name="error")["error"]).reset_index()
        for row in table.itertuples(index=False):
            record = row._asdict()
            rows.append([record[d] for d in dims] + [name, record["row_terminal"], record["column_terminal"],
                                                     record["value"], record["error"]])
    return _write_csv(Path(path), comments, header, rows)


def _zeros_like(values):
    """Zeros shaped like a DataArray (the normal-state matrix has no error estimate)."""
    return values * 0.0


# ---------------------------------------------------------------------------------------
# femprox dos, iv, supercurrent
# ---------------------------------------------------------------------------------------

def _study_files(dataset, out_dir: str | Path, overwrite: bool, stem: str, plot, command: str, settings: dict,
                 started: float, source: GeometryFile, geometry: Geometry) -> dict[str, Path]:
    """stem.nc, stem.csv (long format, one row per point of the Dataset), stem.png, run.json,
    written into a staged folder that replaces ``out_dir`` only when complete."""
    with safe_output.staged(out_dir, overwrite) as out:
        files = _write_study_files(dataset, out, stem, plot, command, settings, started, source, geometry)
    return _final_paths(files, out_dir)


def _write_study_files(dataset, out: Path, stem: str, plot, command: str, settings: dict, started: float,
                       source: GeometryFile, geometry: Geometry) -> dict[str, Path]:
    from femprox.output import results
    from femprox.output.plotting import figure_with_axes

    files = {f"{stem}.nc": results.save(dataset, out / f"{stem}.nc")}
    table = dataset.to_dataframe().reset_index()
    comments = [f"{command}: " + "; ".join(f"{name}: {dataset[name].attrs.get('long_name', name)} "
                                           f"({dataset[name].attrs.get('units', '')})" for name in dataset.data_vars),
                "coordinates: " + "; ".join(f"{name} ({dataset[name].attrs.get('units', '')})"
                                            for name in dataset.coords)]
    files[f"{stem}.csv"] = _write_csv(out / f"{stem}.csv", comments, list(table.columns),
                                      table.itertuples(index=False))
    figure, (ax,) = figure_with_axes(1, width=7.0)
    plot(dataset, ax=ax)
    files[f"{stem}.png"] = _save(figure, out / f"{stem}.png")
    settings = settings | {"geometry": geometry_record(source, geometry)}
    files["run.json"] = out / "run.json"
    write_json(files["run.json"], run_record(command, settings, started))
    return files


def dos_to_files(path: str | Path, out_dir: str | Path, *, energies: Sequence[float],
                 wires: Sequence[str] | None = None, points_per_wire: int = 41, temperature: float = 0.0,
                 bcs_gaps: bool = True, dynes: float | None = None, overrides: Mapping[str, object] | None = None,
                 mesh: MeshSettings = MeshSettings(), overwrite: bool = False):
    """DOS map N(E, x) (:func:`femprox.workflows.studies.dos_map`) into dos.nc, dos.csv, dos.png, run.json."""
    from femprox.workflows import studies
    from femprox.output.plotting import plot_dos_map

    started = time.perf_counter()
    source = GeometryFile.from_path(path, overrides)
    geometry = source.geometry()
    safe_output.check_target(out_dir, overwrite)  # refused before the work, written after it
    dataset = studies.dos_map(geometry, energies, wires=wires, points_per_wire=points_per_wire,
                              temperature=temperature, bcs_gaps=bcs_gaps, dynes=dynes, mesh=mesh)
    settings = {"energies": list(map(float, energies)), "wires": list(wires or []), "points_per_wire": points_per_wire,
                "temperature": temperature, "bcs_gaps": bcs_gaps, "dynes": dynes, "mesh": asdict(mesh)}
    return dataset, _study_files(dataset, out_dir, overwrite, "dos", plot_dos_map, "dos", settings, started, source,
                                 geometry)


def iv_to_files(path: str | Path, out_dir: str | Path, *, biases: Sequence[float], terminal: str | None = None,
                temperature: float = 0.05, bcs_gaps: bool = True, dynes: float | None = None,
                overrides: Mapping[str, object] | None = None, mesh: MeshSettings = MeshSettings(),
                overwrite: bool = False):
    """Finite-bias currents (:func:`femprox.workflows.studies.iv_curve`) into iv.nc, iv.csv, iv.png, run.json."""
    from femprox.workflows import studies
    from femprox.output.plotting import plot_iv

    started = time.perf_counter()
    source = GeometryFile.from_path(path, overrides)
    geometry = source.geometry()
    safe_output.check_target(out_dir, overwrite)  # refused before the work, written after it
    dataset = studies.iv_curve(geometry, biases, terminal=terminal, temperature=temperature, bcs_gaps=bcs_gaps,
                               dynes=dynes, mesh=mesh)
    settings = {"biases": list(map(float, biases)), "terminal": dataset.attrs["biased_terminal"],
                "temperature": temperature, "bcs_gaps": bcs_gaps, "dynes": dynes, "mesh": asdict(mesh)}
    return dataset, _study_files(dataset, out_dir, overwrite, "iv", plot_iv, "iv", settings, started, source,
                                 geometry)


def supercurrent_to_files(path: str | Path, out_dir: str | Path, *, phases: Sequence[float], phase_key: str,
                          wire: str | None = None, temperature: float = 0.0, between: tuple[str, str] | None = None,
                          bcs_gaps: bool = True, dynes: float | None = None,
                          overrides: Mapping[str, object] | None = None, mesh: MeshSettings = MeshSettings(),
                          overwrite: bool = False):
    """Current-phase relation and I_c (:func:`femprox.workflows.studies.current_phase_relation`) into
    supercurrent.nc, supercurrent.csv, supercurrent.png, run.json."""
    from femprox.workflows import studies
    from femprox.output.plotting import plot_current_phase

    started = time.perf_counter()
    source = GeometryFile.from_path(path, overrides, phase_key)
    geometry = source.geometry()
    safe_output.check_target(out_dir, overwrite)  # refused before the work, written after it
    dataset = studies.current_phase_relation(source, phases, wire=wire, temperature=temperature, between=between,
                                             bcs_gaps=bcs_gaps, dynes=dynes, mesh=mesh)
    settings = {"phases": list(map(float, phases)), "phase_key": phase_key, "wire": dataset.attrs["wire"],
                "temperature": temperature, "between": [dataset.attrs["between_a"], dataset.attrs["between_b"]],
                "bcs_gaps": bcs_gaps, "dynes": dynes, "mesh": asdict(mesh),
                "normal_resistance": dataset.attrs["normal_resistance"],
                "critical_current": dataset.attrs["critical_current"]}
    return dataset, _study_files(dataset, out_dir, overwrite, "supercurrent", plot_current_phase, "supercurrent",
                                 settings, started, source, geometry)
