"""The ``femprox`` command line (entry point ``femprox.cli:main``).

Subcommands::

    femprox paper [-o DIR] [--quick]                      reproduce the paper's Figs. 3 and 4
    femprox solve GEOMETRY.toml -o DIR [--temperatures ...] [--phases ...] [--between A B] ...
    femprox solve GEOMETRY.toml -o DIR --self-consistent [--temperatures ...]   Delta(x), T_c too
    femprox mesh GEOMETRY.toml [--export FILE.vtu] [--energies ...] [--draw FILE.png]
                 [--self-consistent --temperature T]     |Delta|, phase as point data
    femprox convergence GEOMETRY.toml [--observable kappa|G|dos] [--temperature T] [-o DIR]
    femprox sweep GEOMETRY.toml -o DIR --sweep r=0.1,1,10 [--sweep ...] [--scheduler ADDR] [--resume]
    femprox dos GEOMETRY.toml [--energies ...] [--wire W] [-o DIR]     DOS map N(E, x)
    femprox iv GEOMETRY.toml [--biases ...] [--terminal A] [-o DIR]    finite-bias currents
    femprox supercurrent GEOMETRY.toml [--phases ...] [-o DIR]        I(phi), e I_c R_N

Value lists (``--temperatures``, ``--phases``, ``--energies``) take numbers, arithmetic
expressions (``pi/2``) and ranges ``start:stop:count`` (evenly spaced) or
``start:stop:count:log`` (geometric). Temperatures and energies in Delta0, phases in
radians. ``--set key=value`` overrides a key of the geometry file (``parameters.r=10``,
``wires.s_arm.length=20``; a key without a dot is a parameter: ``r=10``).

Bad input prints one line ``femprox: error: ...`` on stderr and exits with status 2; so does
any other failure, and an internal error (a bug) says so and where its traceback was saved.
Ctrl-C (SIGINT) and SIGTERM stop the worker processes, remove partial output and exit with
status 130 and 143. Output folders appear complete or not at all (:mod:`femprox.output.safe_output`).
This module is the only place that configures logging and draws progress bars.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
import signal
import sys
import tempfile
import time
import tomllib
import traceback
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import numpy as np

from femprox import __version__, api
from femprox.geometry import limits
from femprox.output import safe_output
from femprox.workflows import sweeps
from femprox.geometry.network import GeometryError
from femprox.geometry.files import FUNCTIONS, evaluate_expression, load_document
from femprox.selfconsistency.gap_equation import SelfConsistencyError
from femprox.spectral.solver import SpectralConvergenceError

EXIT_USAGE = 2
"""Exit status for bad input and failed computations."""

GRIDS = {"fine": sweeps.FINE_GRID, "paper": sweeps.PAPER_GRID, "quick": sweeps.QUICK_GRID,
         "adaptive": sweeps.ADAPTIVE_GRID, "fast": sweeps.FAST_GRID}


class UsageError(ValueError):
    """Bad command-line input (reported on one line, exit status 2)."""


# Command-line words that are values, not options, although they start with '-': negative
# numbers and expressions (-0.5, -.5, -pi:pi:5, -2*pi, -(1), -sqrt(2)). argparse's own pattern
# knows only plain negative numbers, so '--phases -pi:pi:5' failed as a missing argument.
_NEGATIVE_VALUE = re.compile(r"^-(\d|\.\d|pi\b|\(|(" + "|".join(FUNCTIONS) + r")\()")


class _Parser(argparse.ArgumentParser):
    """argparse with one-line error messages in femprox's format."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE_VALUE

    def error(self, message: str):  # noqa: D401 - argparse API
        raise UsageError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------------------------------
# Value parsing
# ---------------------------------------------------------------------------------------

def parse_number(text: str, what: str) -> float:
    """A number or an arithmetic expression such as ``pi/2``."""
    try:
        return evaluate_expression(text, {})
    except ValueError as error:
        raise UsageError(f"{what}: '{text}' is not a number ({error})") from None


def parse_values(items: Sequence[str], what: str, *, positive: bool = False) -> list[float]:
    """Numbers and ranges ``start:stop:count[:log]`` (see the module docstring)."""
    values: list[float] = []
    for item in items:
        for piece in item.replace(",", " ").split():
            values.extend(_parse_range(piece, what) if ":" in piece else [parse_number(piece, what)])
            limits.check_count(what, len(values))
    if not values:
        raise UsageError(f"{what}: no values given")
    if positive and min(values) <= 0:
        raise UsageError(f"{what}: values must be positive, got {min(values):g}")
    return values


def _parse_range(text: str, what: str) -> list[float]:
    parts = text.split(":")
    if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] not in ("log", "lin")):
        raise UsageError(f"{what}: bad range '{text}' (expected start:stop:count or start:stop:count:log)")
    start, stop = parse_number(parts[0], what), parse_number(parts[1], what)
    count = parse_number(parts[2], what)
    if not (count >= 1 and float(count).is_integer()):
        raise UsageError(f"{what}: the count in '{text}' must be a positive integer")
    limits.check_count(what, count)  # before anything is allocated
    if len(parts) == 4 and parts[3] == "log":
        if start <= 0 or stop <= 0:
            raise UsageError(f"{what}: a log range needs positive ends, got '{text}'")
        return list(np.geomspace(start, stop, int(count)))
    return list(np.linspace(start, stop, int(count)))


def parse_overrides(items: Sequence[str] | None) -> dict[str, object]:
    """``--set key=value`` pairs; values are read as TOML values (numbers, "strings",
    arrays), anything else is kept as text (an expression or a name)."""
    overrides: dict[str, object] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise UsageError(f"bad --set '{item}': expected key=value, e.g. parameters.r=10")
        if len(value) > limits.MAX_OVERRIDE_LENGTH:
            raise UsageError(f"--set {key}: the value is longer than {limits.MAX_OVERRIDE_LENGTH} characters")
        overrides[_dotted(key)] = _toml_value(value)
        if limits.tree_depth(overrides[_dotted(key)]) > 2:
            raise UsageError(f"--set {key}: arrays or tables nested too deeply")
    return overrides


def _dotted(key: str) -> str:
    return key if "." in key else f"parameters.{key}"


def _toml_value(text: str) -> object:
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text
    except RecursionError:
        raise UsageError(f"--set value nested too deeply: '{text[:40]}...'") from None


def default_phase_key(path: str) -> str | None:
    """``parameters.phi`` if the file declares a parameter ``phi``, else None."""
    try:
        document = load_document(path)  # refuses pipes, devices, absurd nesting (no hang)
    except GeometryError:
        return None  # load_geometry reports the problem itself
    parameters = document.get("parameters")
    return "parameters.phi" if isinstance(parameters, dict) and "phi" in parameters else None


# ---------------------------------------------------------------------------------------
# Logging, progress, executors
# ---------------------------------------------------------------------------------------

_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _TqdmHandler(logging.Handler):
    """Log records written with tqdm.write, so they do not break progress bars."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm import tqdm

        tqdm.write(self.format(record), file=sys.stderr)


def _configure_logging(verbose: int, log_file: Path | None) -> None:
    """stderr: warnings (or all with -v) when no log file, INFO with -v; the log file gets INFO."""
    root = logging.getLogger("femprox")
    root.handlers.clear()
    root.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
    root.propagate = False
    console = _TqdmHandler()
    console.setFormatter(_PrintableFormatter("femprox: %(levelname)s: %(message)s"))
    # with a log file the solver's warnings (e.g. energies at a gap edge) go there, and a
    # summary line is printed at the end; -v shows them on the terminal too
    console.setLevel(logging.INFO if verbose else (logging.ERROR if log_file else logging.WARNING))
    root.addHandler(console)
    console.addFilter(_CollapseRepeats())
    if log_file is not None:
        _add_file_handler(root, log_file, mode="w")  # a fresh log per run, never appended


class _PrintableFormatter(logging.Formatter):
    """Terminal output without control characters (names and paths come from the user)."""

    def format(self, record: logging.LogRecord) -> str:
        return limits.printable(super().format(record))


class _CollapseRepeats(logging.Filter):
    """Let each distinct message through once and count its repeats (see :func:`_log_repeats`):
    a sweep repeats the same solver note for every solve."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.levelno, record.name, record.getMessage())
        self.counts[key] += 1
        return self.counts[key] == 1


def _add_file_handler(root: logging.Logger, log_file: Path, mode: str = "a") -> None:
    handler = logging.FileHandler(log_file, mode=mode, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    handler.setLevel(logging.INFO)
    handler.addFilter(_CollapseRepeats())
    root.addHandler(handler)


def _log_repeats(root: logging.Logger) -> None:
    """Write how often collapsed messages were repeated (main process) into the log file."""
    for handler in root.handlers:
        if not isinstance(handler, logging.FileHandler):
            continue
        for collapse in [f for f in handler.filters if isinstance(f, _CollapseRepeats)]:
            for (_, name, message), count in collapse.counts.items():
                if count > 1:
                    record = logging.LogRecord(name, logging.INFO, __file__, 0, "the message '%s' was repeated "
                                               "%d more times (shown once)", (message, count - 1), None)
                    handler.emit(record)


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this worker when the main process dies, even by SIGKILL
    (no orphaned workers holding memory); a no-op elsewhere."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError, TypeError):
        pass


def _worker_logging(log_file: str | None) -> None:
    """Initializer of pool workers: their records go to the run's log file only."""
    # the main process handles Ctrl-C and SIGTERM and stops the workers; a worker that gets
    # SIGTERM itself just ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _die_with_parent()
    root = logging.getLogger("femprox")
    root.handlers.clear()
    root.propagate = False
    root.setLevel(logging.INFO)
    if log_file is not None:
        _add_file_handler(root, Path(log_file))
    else:
        root.addHandler(logging.NullHandler())


class _WarningCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@contextmanager
def _executor(jobs: int, log_file: Path | None):
    """A process pool for jobs > 1, else None (serial)."""
    if jobs <= 1:
        yield None
        return
    pool = ProcessPoolExecutor(jobs, initializer=_worker_logging,
                               initargs=(None if log_file is None else str(log_file),))
    try:
        yield pool
    except BaseException:
        _stop_workers(pool)  # a failure, Ctrl-C or SIGTERM: do not wait for running tasks
        raise
    pool.shutdown(cancel_futures=True)


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Terminate the pool's worker processes and reap them (no orphans)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    for process in processes:
        if process.is_alive():
            process.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join(timeout=5)


class _Progress:
    """A tqdm bar created on the first call (progress(done, total))."""

    def __init__(self, description: str, enabled: bool):
        self.description, self.enabled, self.bar = description, enabled, None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.description, unit="task", file=sys.stderr,
                            dynamic_ncols=True)
        if total != self.bar.total:  # a plan added while running (femprox paper's Fig. 4 refinement)
            self.bar.total = total
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextmanager
def _run_context(args, description: str, stage: safe_output.StagedFolder | None):
    """Logging (to femprox.log in the staged output folder), a pool and a bar; on success the
    staged folder is committed, on any failure or interruption it is removed."""
    log_file = stage.path / "femprox.log" if stage is not None else None
    _configure_logging(args.verbose, log_file)
    counter = _WarningCounter()
    root = logging.getLogger("femprox")
    root.addHandler(counter)
    progress = _Progress(description, not args.no_progress)
    try:
        try:
            with _executor(args.jobs, log_file) as pool:
                yield pool, progress
        finally:
            progress.close()
        _log_repeats(root)
    except BaseException:
        _close_file_handlers(root)
        if stage is not None:
            stage.discard()
        raise
    # reached only on success: a failure is reported in one line by main()
    _close_file_handlers(root)
    if stage is not None:
        stage.commit()
    if counter.count and stage is not None and not args.verbose:
        print(f"femprox: {counter.count} solver warning(s) logged in {stage.target / 'femprox.log'}",
              file=sys.stderr)


def _close_file_handlers(root: logging.Logger) -> None:
    for handler in [h for h in root.handlers if isinstance(h, logging.FileHandler)]:
        handler.close()
        root.removeHandler(handler)


def _default_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))


# ---------------------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------------------

def _mesh_settings(args) -> sweeps.MeshSettings:
    if not (args.refine > 0 and math.isfinite(args.refine)):
        raise UsageError(f"--refine must be a positive number, got {args.refine:g}")
    limits.check_value("--refine", "refine", args.refine)
    if args.order is not None and not 1 <= args.order <= 10:
        raise UsageError(f"--order must be an integer from 1 to 10, got {args.order}")
    return sweeps.MeshSettings(refine=args.refine, order=args.order)


def _grid_and_mesh(args) -> tuple[sweeps.EnergyGridOptions, sweeps.MeshSettings]:
    """Energy grid and mesh settings: a named --accuracy level, or --grid, --refine, --order."""
    if args.accuracy is None:
        return GRIDS[args.grid or "adaptive"], _mesh_settings(args)
    given = [option for option, value in (("--grid", args.grid), ("--order", args.order)) if value is not None]
    if args.refine != 1.0:
        given.append("--refine")
    if given:
        raise UsageError(f"--accuracy sets the energy grid and the mesh: give it or {', '.join(given)}, not both")
    level = sweeps.accuracy_settings(args.accuracy)
    return level.grid, level.mesh


def _accuracy_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--accuracy", choices=tuple(sweeps.ACCURACY_LEVELS),
                        help="a named accuracy level, grid and mesh together (sweep(accuracy=...)): standard "
                        "(the defaults) or fast (fewer energies, P5 elements on 0.3 of the file's element "
                        "counts; on the shipped geometries as accurate as the standard level to ~1e-5, at "
                        "half to two thirds of its time); not together with --grid, --refine, --order")


def _prepare(out: str, overwrite: bool) -> safe_output.StagedFolder:
    """A staging folder for the output folder ``out`` (checked, not created: it appears when
    the run commits)."""
    stage = safe_output.StagedFolder(out, overwrite)
    stage.open()
    return stage


def _check_size(args, geometry, *, refine: float, order: int | None, energies: int = limits.ENERGIES_PER_SOLVE,
                what: str = "", kept_per_dof_energy: float = limits.SOLUTION_BYTES_PER_DOF_ENERGY) -> None:
    limits.check_solve_size(geometry, refine=refine, order=order, energies=energies,
                            parallel=getattr(args, "jobs", 1), what=what or args.geometry,
                            kept_per_dof_energy=kept_per_dof_energy)


def run_paper(args) -> int:
    stage = _prepare(args.output, args.overwrite)
    started = time.perf_counter()
    with _run_context(args, "femprox paper", stage) as (pool, progress):
        # the staging folder is already checked and created: let paper_figures write into it
        result = api.paper_figures(stage.path, quick=args.quick, overwrite=True, executor=pool, progress=progress)
    print(result.report, end="")
    print(f"wrote {len(result.files)} files to {limits.printable(str(stage.target))} in {time.perf_counter() - started:.1f} s")
    return 0


def run_solve(args) -> int:
    _check_phase_option(args)
    if args.self_consistent:
        return run_solve_self_consistent(args)
    safe_output.check_target(args.output, args.overwrite)
    overrides = parse_overrides(args.set)
    temperatures = parse_values(args.temperatures, "--temperatures", positive=True)
    limits.check_values("--temperatures", "temperature", temperatures)
    phases = parse_values(args.phases, "--phases") if args.phases else None
    if phases is not None:
        limits.check_values("--phases", "phase", phases)
        limits.check_count("--temperatures x --phases", len(phases) * len(temperatures) / 10)
    phase_key = _dotted(args.phase_key) if args.phase_key else default_phase_key(args.geometry)
    if phases is not None and phase_key is None:
        raise UsageError("--phases needs --phase-key (the file declares no parameter 'phi')")
    grid, mesh = _grid_and_mesh(args)
    between = tuple(args.between) if args.between else None
    # planning loads every phase's geometry and checks the terminals: bad input fails
    # here, before any folder is created
    source = sweeps.GeometryFile.from_path(args.geometry, overrides, phase_key)
    sweeps.sweep_tasks(source, temperatures, phases,
                       between=between, others=args.others, bcs_gaps=not args.fixed_gaps)
    geometry = source.geometry()
    api.check_two_terminal(geometry, between, args.geometry)
    _check_size(args, geometry, refine=mesh.refine * sweeps.RETRY_REFINE, order=mesh.order)
    stage = _prepare(args.output, args.overwrite)
    with _run_context(args, "femprox solve", stage) as (pool, progress):
        result, files = api.solve_to_files(
            args.geometry, stage.path, temperatures=temperatures, overrides=overrides, phases=phases,
            phase_key=phase_key if phases is not None else None, between=between,
            others=args.others, bcs_gaps=not args.fixed_gaps, grid=grid, mesh=mesh, overwrite=True,
            executor=pool, progress=progress)
    _print_sweep(result)
    print(f"wrote {', '.join(files)} to {limits.printable(str(stage.target))}")
    return 0


SELF_CONSISTENT_FILES = ("results.csv", "matrices.csv", "results.nc", "self_consistency.csv",
                         "gap_profiles.csv", "sweep.png", "run.json")
"""What ``femprox solve --self-consistent`` writes."""


def _check_self_consistent_geometry(geometry, path: str) -> None:
    """Refuse a network without S wires (nothing to make self-consistent), naming the file."""
    from femprox.selfconsistency.gap_equation import materials_of

    try:
        materials_of(geometry)
    except ValueError as error:
        raise UsageError(f"{path}: --self-consistent: {error} (S reservoirs keep their bulk gap; "
                         "only S wires get a self-consistent Delta(x))") from None


def _refuse_with_self_consistent(args, extra: list[tuple[object, str, str]]) -> None:
    """Options that make no sense with --self-consistent (the shared ones and ``extra``
    (given, option, why) triples) give a usage error."""
    shared = [(args.fixed_gaps, "--fixed-gaps", "the gaps come from the gap equation"),
              (args.order is not None, "--order", "the gap equation uses the file's element orders; use --refine"),
              (args.accuracy is not None, "--accuracy", "its levels are verified for rigid gaps; use --grid and "
               "--refine")]
    for given, option, why in extra + shared:
        if given:
            raise UsageError(f"--self-consistent cannot be combined with {option}: {why}")


def run_solve_self_consistent(args) -> int:
    """``femprox solve --self-consistent``: Delta(x) from the gap equation at every temperature
    (each starts from the last; with -j N the temperatures are cut into N such chains run in
    parallel), then kappa/kappa_N and G/G_N with it."""
    from femprox.selfconsistency.transport import self_consistent_sweep

    _refuse_with_self_consistent(args, [(args.phases, "--phases", "one run is one chain of temperatures; "
                                         "sweep phases with --set per run")])
    safe_output.check_target(args.output, args.overwrite)
    overrides = parse_overrides(args.set)
    temperatures = parse_values(args.temperatures, "--temperatures", positive=True)
    limits.check_values("--temperatures", "temperature", temperatures)
    if len(set(temperatures)) != len(temperatures):
        raise UsageError("--temperatures: a temperature is given twice")
    grid, mesh = _grid_and_mesh(args)
    between = tuple(args.between) if args.between else None
    source = sweeps.GeometryFile.from_path(args.geometry, overrides)
    geometry = source.geometry()
    _check_self_consistent_geometry(geometry, args.geometry)
    sweeps.sweep_tasks(geometry, temperatures, between=between, others=args.others)  # checks the terminals
    api.check_two_terminal(geometry, between, args.geometry)
    _check_size(args, geometry, refine=mesh.refine, order=None)
    stage = _prepare(args.output, args.overwrite)
    started = time.perf_counter()
    with _run_context(args, "femprox solve --self-consistent", stage) as (pool, progress):
        result = self_consistent_sweep(geometry, temperatures, between=between, others=args.others,
                                       grid=grid, mesh=mesh, phase=args.phase, executor=pool,
                                       chains=args.jobs, progress=progress)
        from femprox.output import result_checks

        result_checks.check_sweep(result.transport)
        files = _write_self_consistent_files(stage.path, source, geometry, result, args, started)
    _print_sweep(result.transport)
    tc = result.critical_temperature
    print("T_c of the structure: " + ("not defined (S reservoirs)" if tc is None
                                      else f"{tc.temperature:.6g} Delta0") + "; Newton iterations per T: "
          + " ".join(str(n) for n in result.newton_iterations))
    print(f"phase of Delta: {result.phase_mode}" + ("; the charge converted in S wires leaves through the S reservoirs"
                                              if result.condensate_split else ""))
    print(f"wrote {', '.join(files)} to {limits.printable(str(stage.target))}")
    return 0


def _write_self_consistent_files(out: Path, source, geometry, result, args, started: float) -> list[str]:
    from dataclasses import asdict

    from femprox.output import results
    from femprox.output.plotting import figure_with_axes, plot_sweep

    api.write_sweep_csv(result.transport, out / "results.csv")
    api.write_matrices_csv(result.transport, out / "matrices.csv")
    results.save(results.self_consistent_dataset(result, extra_attrs=results.geometry_attrs(source, geometry)),
                 out / "results.nc")
    results.write_self_consistency_csv(result, out / "self_consistency.csv")
    results.write_gap_profiles_csv(result, out / "gap_profiles.csv")
    figure, (left, right) = figure_with_axes(2)
    plot_sweep(result.transport, "heat_conductance_ratio", left)
    plot_sweep(result.transport, "conductance_ratio", right)
    figure.savefig(out / "sweep.png", dpi=150)
    tc = result.critical_temperature
    point = result.transport.points[0]
    settings = {"self_consistent": True, "phase": result.phase_mode, "condensate_split": result.condensate_split,
                "temperatures": [float(t) for t in result.temperatures],
                "between": [point.a, point.b], "others": result.transport.others,
                "critical_temperature": None if tc is None else tc.temperature,
                "newton_iterations": list(result.newton_iterations), "energies": list(result.energies),
                "seconds_per_temperature": [round(s, 3) for s in result.seconds],
                "energy_grid": asdict(result.transport.grid), "mesh": asdict(result.transport.mesh),
                "notes": list(result.notes), "geometry": api.geometry_record(source, geometry)}
    api.write_json(out / "run.json", api.run_record("solve --self-consistent", settings, started))
    return list(SELF_CONSISTENT_FILES)


def _phase_argument(parser) -> None:
    from femprox.selfconsistency.transport import PHASE_CHOICES

    parser.add_argument("--phase", choices=PHASE_CHOICES, default="auto",
                        help="with --self-consistent: the phase of Delta held at the file's profile (rigid) or "
                        "solved for, conserving supercurrents (self-consistent); default auto: self-consistent "
                        "where an equilibrium supercurrent can flow (flux, phase differences among S wires and "
                        "S reservoirs of one connected part), else rigid (then exact and cheaper)")


def _check_phase_option(args) -> None:
    if args.phase != "auto" and not args.self_consistent:
        raise UsageError("--phase needs --self-consistent (the rigid-gap solvers keep the file's phases)")


def _print_sweep(result: sweeps.SweepResult) -> None:
    point = result.points[0]
    print(f"between {point.a} and {point.b} (others {result.others}):")
    print(f"{'T (Delta0)':>12}{'phase (rad)':>13}{'G/G_N':>14}{'kappa/kappa_N':>15}")
    for p in result.points:
        phase = "" if p.phase is None else f"{p.phase:.6g}"
        print(f"{p.temperature:>12.6g}{phase:>13}{p.conductance_ratio:>14.8g}{p.heat_conductance_ratio:>15.8g}")


def run_mesh(args) -> int:
    if args.export is None and args.draw is None:
        raise UsageError("mesh: give --export FILE and/or --draw FILE.png")
    _check_phase_option(args)
    overrides = parse_overrides(args.set)
    energies = parse_values(args.energies, "--energies") if args.energies else []
    limits.check_values("--energies", "energy", energies)
    if energies and not args.export:
        raise UsageError("--energies needs --export FILE")
    _configure_logging(args.verbose, None)
    mesh = _mesh_settings(args)
    targets = _mesh_targets(args)
    geometry = sweeps.GeometryFile.from_path(args.geometry, overrides).geometry()
    _check_size(args, geometry, refine=mesh.refine, order=mesh.order, energies=max(1, len(energies)),
                kept_per_dof_energy=limits.EXPORT_BYTES_PER_DOF_ENERGY)
    temperature, potentials = _reservoir_state(args)
    if args.self_consistent:
        if not args.export:
            raise UsageError("--self-consistent needs --export FILE (Delta(x) is written as point data)")
        if temperature is None:
            raise UsageError("--self-consistent needs --temperature T (Delta0), the temperature of the gap equation")
        if mesh.order is not None:
            raise UsageError("--self-consistent cannot be combined with --order: the gap equation uses the "
                             "file's element orders; use --refine")
        _check_self_consistent_geometry(geometry, args.geometry)
        path = _export_self_consistent(args, geometry, energies, temperature, potentials, mesh.refine)
        print(f"wrote {limits.printable(str(path))}")
    elif (temperature is not None or potentials) and not energies:
        raise UsageError("--temperature and --bias set the reservoirs for f_L, f_T: give --energies too")
    if args.export and not args.self_consistent:
        path = api.export_mesh(args.geometry, args.export, energies=energies, overrides=overrides, mesh=mesh,
                               temperature=temperature, potentials=potentials, overwrite=args.overwrite)
        print(f"wrote {limits.printable(str(path))}")
    if args.draw:
        path = api.draw_network_to_file(args.geometry, args.draw, overrides=overrides, overwrite=args.overwrite)
        print(f"wrote {limits.printable(str(path))}")
    return 0


def _export_self_consistent(args, geometry, energies, temperature: float, potentials: dict[str, float],
                            refine: float) -> Path:
    """The mesh of the self-consistent solution at ``temperature`` with |Delta| and its phase
    (point data ``gap``, ``gap_phase``) and, at ``energies``, the DOS, D_L, D_T, f_L, f_T
    solved with that Delta(x)."""
    from femprox.output import export
    from femprox.output import result_checks
    from femprox.selfconsistency.gap_equation import solve_gap

    from femprox.selfconsistency.transport import resolve_phase

    phase = resolve_phase(geometry, args.phase)
    solution = solve_gap(geometry, temperature, refine=refine, phase=phase)
    mesh = solution.mesh  # its reservoirs are at ``temperature``
    state = {n.name: (n.temperature, n.potential) for n in mesh.geometry.terminals}
    unknown = set(potentials) - set(state)
    if unknown:
        raise UsageError(f"--bias: no terminal named '{sorted(unknown)[0]}' (terminals: {', '.join(state)})")
    state.update({name: (state[name][0], v) for name, v in potentials.items()})
    data = export.pair_potential_point_data(mesh, solution.pair_potential)
    if energies:
        data |= export.field_point_data(mesh, energies, state, pair_potential=solution.pair_potential)
    result_checks.check_point_data(data)
    target = export.check_export_path(args.export)
    with safe_output.atomic_file(target, args.overwrite) as temporary:
        export.write_network(temporary, mesh, data, overwrite=True)
    largest = float(np.max(data["gap"]))
    print(f"self-consistent Delta(x) at T = {temperature:g} Delta0: {solution.iterations} Newton iterations, "
          f"largest |Delta| {largest:.6g} Delta0 (phase {phase})")
    return target


def _reservoir_state(args) -> tuple[float | None, dict[str, float]]:
    """``--temperature`` and ``--bias TERMINAL=V`` of ``femprox mesh``."""
    temperature = None
    if args.temperature is not None:
        temperature = limits.check_value("--temperature", "temperature", _single_value(args.temperature, "--temperature"))
    potentials = {}
    for item in args.bias or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UsageError(f"bad --bias '{limits.printable(item)}': expected TERMINAL=V, e.g. left=0.5")
        potentials[name.strip()] = limits.check_value(f"--bias {name.strip()}", "potential",
                                                      _single_value(value, "--bias"))
    return temperature, potentials


def _single_value(text: str, option: str) -> float:
    values = parse_values([text], option)
    if len(values) != 1:
        raise UsageError(f"{option} takes one value, got {limits.printable(text)}")
    return values[0]


def _mesh_targets(args) -> list[Path]:
    """The files ``mesh`` will write, checked up front: formats, existence, and that
    --export and --draw do not name the same file."""
    for option, value in (("--export", args.export), ("--draw", args.draw)):
        if value is not None and value.strip() == "":
            raise UsageError(f"{option}: the file name is empty")
    targets = []
    if args.export:
        from femprox.output.export import check_export_path  # meshio: imported only where needed

        targets.append(check_export_path(args.export))
    if args.draw:
        targets.append(api.drawing_path(args.draw))
    if len(targets) == 2 and targets[0].absolute() == targets[1].absolute():
        raise UsageError(f"--export and --draw name the same file {targets[0]}")
    for target in targets:
        if target.is_dir():
            raise UsageError(f"{target} is a folder")
        if target.exists() and not args.overwrite:
            raise UsageError(f"{target} exists; pass --overwrite to replace it")
        if not target.absolute().parent.is_dir():
            raise UsageError(f"{target}: folder {target.parent} does not exist")
    return targets


def run_convergence(args) -> int:
    safe_output.check_target(args.output, args.overwrite)
    overrides = parse_overrides(args.set)
    refinements = parse_values(args.refinements, "--refinements", positive=True)
    limits.check_values("--refinements", "refine", refinements)
    orders = parse_values(args.orders, "--orders", positive=True)
    if any(not float(p).is_integer() or p > 10 for p in orders):
        raise UsageError("--orders: element orders are integers from 1 to 10")
    if not args.temperature > 0 or not math.isfinite(args.temperature):
        raise UsageError(f"--temperature must be positive (Delta0), got {args.temperature:g}")
    limits.check_value("--temperature", "temperature", args.temperature)
    limits.check_value("--energy", "energy", args.energy)
    between = tuple(args.between) if args.between else None
    geometry = sweeps.GeometryFile.from_path(args.geometry, overrides).geometry()
    sweeps.convergence_plan(geometry, args.observable,
                            temperature=args.temperature, energy=args.energy, wire=args.wire,
                            position=args.position, between=between)  # checks the input
    if args.observable == "G":  # kappa between two S reservoirs is defined, G is not
        api.check_two_terminal(geometry, between, args.geometry)
    orders = [int(p) for p in orders]
    own_order = max(geometry.mesh_options(w).order for w in geometry.wires)
    _check_size(args, geometry, refine=2 * max(refinements), order=max(max(orders), own_order))
    stage = _prepare(args.output, args.overwrite)
    with _run_context(args, "femprox convergence", stage) as (pool, progress):
        data, files = api.convergence_to_files(
            args.geometry, stage.path, observable=args.observable, temperature=args.temperature, energy=args.energy,
            wire=args.wire, position=args.position, between=between,
            overrides=overrides, refinements=refinements, orders=orders, grid=GRIDS[args.grid], overwrite=True,
            executor=pool, progress=progress)
    print(api.convergence_table(data))
    print(f"wrote {', '.join(files)} to {limits.printable(str(stage.target))}")
    return 0


# ---------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------

def _common(parser: argparse.ArgumentParser, *, output: str | None, jobs: bool = True) -> None:
    if output is not None:
        parser.add_argument("-o", "--output", default=output, required=output == "",
                            help="output folder (refused if it exists and is not empty, unless --overwrite)"
                            + (f"; default {output}" if output else ""))
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")
    if jobs:
        parser.add_argument("-j", "--jobs", type=int, default=_default_jobs(),
                            help="worker processes (default: %(default)s)")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="show solver messages")


def _geometry_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("geometry", help="geometry file (TOML)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a key of the file, e.g. parameters.r=10 or wires.s_arm.length=20")


def _mesh_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--refine", type=float, default=1.0, help="multiply all element counts (default 1)")
    parser.add_argument("--order", type=int, default=None, help="element order for all wires (default: the file's)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="femprox", description="Finite-element Usadel solver for heat and charge transport "
                     "in superconductor/normal-metal wire networks (energies in Delta0, lengths in xi0).")
    parser.add_argument("--version", action="version", version=f"femprox {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    paper = commands.add_parser("paper", help="reproduce the paper's Figs. 3 and 4 (PNG, CSV, checks)")
    _common(paper, output="femprox-paper")
    paper.add_argument("--quick", action="store_true", help="coarse grids and few points (for tests)")
    paper.set_defaults(run=run_paper)

    solve = commands.add_parser("solve", help="sweep any geometry over temperatures and phases")
    _geometry_arguments(solve)
    solve.add_argument("--temperatures", nargs="+", default=["0.1"], metavar="T",
                       help="temperatures (Delta0): values or ranges a:b:n[:log] (default 0.1)")
    solve.add_argument("--phases", nargs="+", metavar="PHI", help="phases (rad): values or ranges, e.g. 0:2*pi:25")
    solve.add_argument("--phase-key", help="key set to each phase (default parameters.phi if declared)")
    solve.add_argument("--between", nargs=2, metavar=("A", "B"), help="the two terminals (default: first two "
                       "normal reservoirs)")
    solve.add_argument("--others", choices=("floating", "grounded"), default="floating",
                       help="the other terminals (default floating)")
    solve.add_argument("--fixed-gaps", action="store_true", help="keep the file's gaps (no BCS Delta(T))")
    solve.add_argument("--self-consistent", action="store_true",
                       help="S wires get Delta(x) from the gap equation at every temperature (instead of "
                       "the rigid BCS Delta(T)); writes T_c and Delta(x) profiles too (-j N: N chains of temperatures)")
    _phase_argument(solve)
    solve.add_argument("--grid", choices=tuple(GRIDS),
                       help="energy grid (default adaptive: refined where the spectral data need it, "
                       "e.g. at an interferometer's minigap cusp, which moves with the phase; the fixed "
                       "grids fine, paper, quick may miss such cusps; fast: the same panels refined to a "
                       "ten times looser tolerance; --accuracy fast adds its mesh)")
    _mesh_arguments(solve)
    _accuracy_argument(solve)
    _common(solve, output="")
    solve.set_defaults(run=run_solve)

    mesh = commands.add_parser("mesh", help="export the meshed network (VTU/XDMF) or draw it (PNG)")
    _geometry_arguments(mesh)
    mesh.add_argument("--export", metavar="FILE", help="mesh file, format from the extension (.vtu, .xdmf)")
    mesh.add_argument("--energies", nargs="+", metavar="E", help="energies (Delta0) of the DOS, D_L, D_T point data")
    mesh.add_argument("--draw", metavar="FILE.png", help="drawing of the network")
    mesh.add_argument("--temperature", metavar="T", help="temperature (Delta0) of every reservoir for f_L, f_T "
                      "(gaps follow BCS Delta(T)); default: the file's temperatures")
    mesh.add_argument("--bias", action="append", metavar="TERMINAL=V",
                      help="potential (Delta0/e) of a normal reservoir for f_L, f_T (repeatable)")
    mesh.add_argument("--self-consistent", action="store_true",
                      help="solve the gap equation at --temperature and export |Delta| and its phase as point "
                      "data gap, gap_phase (the DOS etc. at --energies use that Delta(x))")
    _phase_argument(mesh)
    _mesh_arguments(mesh)
    _common(mesh, output=None, jobs=False)
    mesh.set_defaults(run=run_mesh)

    convergence = commands.add_parser("convergence", help="h- and p-refinement study of an observable")
    _geometry_arguments(convergence)
    convergence.add_argument("--observable", choices=sweeps.OBSERVABLES, default="kappa",
                             help="kappa/kappa_N, G/G_N or the DOS at a point (default kappa)")
    convergence.add_argument("--temperature", type=float, default=0.05, help="T in Delta0 (default 0.05)")
    convergence.add_argument("--energy", type=float, default=0.3, help="energy of the DOS (Delta0, default 0.3)")
    convergence.add_argument("--wire", help="wire of the DOS (default: the first)")
    convergence.add_argument("--position", type=float, help="point of the DOS along the wire (xi0, default middle)")
    convergence.add_argument("--between", nargs=2, metavar=("A", "B"), help="terminals of kappa and G")
    convergence.add_argument("--refinements", nargs="+", default=["1", "2", "4", "8"], help="h-study refinements")
    convergence.add_argument("--orders", nargs="+", default=["1", "2", "3", "4"], help="p-study element orders")
    convergence.add_argument("--grid", choices=tuple(GRIDS), default="paper", help="energy grid (default paper)")
    _common(convergence, output="femprox-convergence")
    convergence.set_defaults(run=run_convergence)
    _add_result_commands(commands)
    return parser


# ---------------------------------------------------------------------------------------
# femprox sweep (general sweeps, labelled results, Dask) and the other physics commands
# ---------------------------------------------------------------------------------------

def parse_sweep_axes(items: Sequence[str] | None) -> dict[str, list[float]]:
    """``--sweep key=values`` items (``r=0.1,1,10``, ``length_n=5:20:4``, ``nodes.S1.phase=0:pi:5``)
    as {dotted key: values}; a key without a dot is a parameter."""
    axes: dict[str, list[float]] = {}
    for item in items or ():
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise UsageError(f"bad --sweep '{item}': expected key=values, e.g. r=0.1,1,10 or length_n=5:20:4")
        dotted = _dotted(key)
        if dotted in axes:
            raise UsageError(f"--sweep {key} given twice")
        axes[dotted] = parse_values([values], f"--sweep {key}")
    return axes


@contextmanager
def _sweep_runner(args, out: Path):
    """(client, executor, progress) for ``femprox sweep``: a Dask client for --scheduler,
    else a local process pool (-j) or serial."""
    from femprox.workflows.distributed import dask_client

    # the run folder is not staged: its tasks/ must survive an interruption (--resume); the
    # log goes straight into it (closed by _run_context at the end)
    if args.scheduler:
        with _run_context(argparse.Namespace(**{**vars(args), "jobs": 1}), "femprox sweep", None) as (_, progress):
            _add_file_handler(logging.getLogger("femprox"), out / "femprox.log")
            with dask_client(args.scheduler, workers=args.workers) as client:
                yield client, None, progress
        return
    with _run_context(args, "femprox sweep", None) as (pool, progress):
        _add_file_handler(logging.getLogger("femprox"), out / "femprox.log")
        yield None, pool, progress


def run_sweep(args) -> int:
    _check_phase_option(args)
    if args.self_consistent:
        _refuse_with_self_consistent(args, [(args.dynes is not None, "--dynes", "the file's Dynes rates are kept")])
    overrides = parse_overrides(args.set)
    temperatures = parse_values(args.temperatures, "--temperatures", positive=True)
    axes = parse_sweep_axes(args.sweep)
    if args.dynes is not None and not (args.dynes >= 0 and math.isfinite(args.dynes)):
        raise UsageError(f"--dynes must be a number >= 0 (Delta0), got {args.dynes:g}")
    _check_ranges(temperatures=temperatures, dynes=args.dynes)
    for key, values in axes.items():  # a swept key with a known range (length, gap, phase, ...) is checked
        limits.check_values(f"--sweep {key}", key.rsplit(".", 1)[-1], values)
    limits.check_count("--sweep (all axis points x temperatures)",
                       math.prod(len(v) for v in axes.values()) * len(temperatures))
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    grid, mesh = _grid_and_mesh(args)
    between = tuple(args.between) if args.between else None
    source = sweeps.GeometryFile.from_path(args.geometry, overrides)
    options = dict(between=between, others=args.others, bcs_gaps=not args.fixed_gaps, dynes=args.dynes,
                   grid=grid, mesh=mesh)
    if args.self_consistent:
        options.update(self_consistent=True, phase=args.phase)
    try:  # checks everything before any work
        spec = sweeps.grid_sweep_spec(source, temperatures, axes, **options)
    except ValueError as error:
        if args.self_consistent:  # e.g. no S wire at some point of the axes
            raise UsageError(f"{args.geometry}: --self-consistent: {error}") from None
        raise
    out = api.prepare_run_folder(args.output, overwrite=args.overwrite, resume=args.resume)
    with _sweep_runner(args, out) as (client, pool, progress):
        dataset, files = api.sweep_to_files(source, out, temperatures=temperatures, axes=axes, client=client,
                                            executor=pool, resume=args.resume, overwrite=True, progress=progress,
                                            **options)
    work = (f"{len(spec.tasks)} self-consistent chains of temperatures" if args.self_consistent
            else f"{len(spec.tasks)} spectral solves")
    print(f"{work}; dimensions: "
          + ", ".join(f"{name} ({size})" for name, size in dataset["conductance_ratio"].sizes.items()))
    if "critical_temperature" in dataset:
        tc = dataset["critical_temperature"]
        print(f"T_c (Delta0): {float(tc.min()):.6g} .. {float(tc.max()):.6g} over the axes (results.nc: "
              "critical_temperature)")
    print(f"wrote {', '.join(files)} to {out} (load with femprox.load('{out / 'results.nc'}'))")
    return 0


def _check_ranges(*, temperatures=(), dynes: float | None = None, energies=(), biases=(), phases=()) -> None:
    """The accepted ranges of femprox.geometry.limits for the new commands' values."""
    limits.check_values("--temperatures", "temperature", temperatures)
    if dynes is not None:
        limits.check_value("--dynes", "dynes", dynes)
    limits.check_values("--energies", "energy", energies)
    limits.check_values("--biases", "potential", biases)
    limits.check_values("--phases", "phase", phases)


def _study_common(args) -> dict:
    """Options shared by dos, iv and supercurrent, checked."""
    if not (args.temperature >= 0 and math.isfinite(args.temperature)):
        raise UsageError(f"--temperature must be a number >= 0 (Delta0), got {args.temperature:g}")
    if args.dynes is not None and not (args.dynes >= 0 and math.isfinite(args.dynes)):
        raise UsageError(f"--dynes must be a number >= 0 (Delta0), got {args.dynes:g}")
    _check_ranges(temperatures=[args.temperature], dynes=args.dynes)
    return {"temperature": args.temperature, "bcs_gaps": not args.fixed_gaps, "dynes": args.dynes,
            "overrides": parse_overrides(args.set), "mesh": _mesh_settings(args), "overwrite": args.overwrite}


def run_dos(args) -> int:
    energies = parse_values(args.energies, "--energies")
    _check_ranges(energies=energies)
    if not 2 <= args.points <= 10_000:
        raise UsageError("--points must be from 2 to 10000")
    options = _study_common(args)
    _configure_logging(args.verbose, None)
    dataset, files = api.dos_to_files(args.geometry, args.output, energies=energies, wires=args.wire,
                                      points_per_wire=args.points, **options)
    print(f"DOS at {dataset.sizes['energy']} energies x {dataset.sizes['point']} points; "
          f"wrote {', '.join(files)} to {args.output}")
    return 0


def run_iv(args) -> int:
    biases = parse_values(args.biases, "--biases")
    _check_ranges(biases=biases)
    options = _study_common(args)
    _configure_logging(args.verbose, None)
    dataset, files = api.iv_to_files(args.geometry, args.output, biases=biases, terminal=args.terminal, **options)
    terminal = dataset.attrs["biased_terminal"]
    print(f"{'V (Delta0/e)':>14}{'I (G0 Delta0/e)':>18}{'I/(G_N V)':>12}   (bias on {terminal}, others at 0)")
    for v, i, ratio in zip(dataset["bias"].values, dataset["charge_current"].sel(terminal=terminal).values,
                           dataset["current_ratio"].values):
        print(f"{v:>14.6g}{i:>18.8g}{ratio:>12.6g}")
    print(f"wrote {', '.join(files)} to {args.output}")
    return 0


def run_supercurrent(args) -> int:
    phases = parse_values(args.phases, "--phases")
    _check_ranges(phases=phases)
    phase_key = _dotted(args.phase_key) if args.phase_key else default_phase_key(args.geometry)
    if phase_key is None:
        raise UsageError("supercurrent needs --phase-key (the file declares no parameter 'phi')")
    options = _study_common(args)
    _configure_logging(args.verbose, None)
    between = tuple(args.between) if args.between else None
    dataset, files = api.supercurrent_to_files(args.geometry, args.output, phases=phases, phase_key=phase_key,
                                               wire=args.wire, between=between, **options)
    print(f"{'phase (rad)':>12}{'e I R_N (Delta0)':>18}{'e I R_N / E_Th':>16}")
    for phi, value, reduced in zip(dataset["phase"].values, dataset["e_i_rn"].values,
                                   dataset["e_i_rn_over_thouless"].values):
        print(f"{phi:>12.6g}{value:>18.8g}{reduced:>16.6g}")
    rn = dataset.attrs["normal_resistance"]
    print(f"I_c R_N = {dataset.attrs['critical_current'] * rn:.8g} Delta0 at phase {dataset.attrs['critical_phase']:.4g} "
          f"(largest |I| over the phases given; R_N = {rn:.6g} between {dataset.attrs['between_a']} and "
          f"{dataset.attrs['between_b']})")
    print(f"wrote {', '.join(files)} to {args.output}")
    return 0


def _study_arguments(parser: argparse.ArgumentParser, output: str) -> None:
    parser.add_argument("--temperature", type=float, default=0.0 if output != "femprox-iv" else 0.05,
                        help="temperature (Delta0) of the reservoirs and the BCS gaps (default %(default)s)")
    parser.add_argument("--fixed-gaps", action="store_true", help="keep the file's gaps (no BCS Delta(T))")
    parser.add_argument("--dynes", type=float, help="one Dynes rate (Delta0) for every superconductor")
    _mesh_arguments(parser)
    _common(parser, output=output, jobs=False)


def _add_result_commands(commands) -> None:
    sweep = commands.add_parser("sweep", help="sweep temperatures and any geometry parameters (Cartesian "
                                "product); labelled netCDF result, Dask clusters, resumable")
    _geometry_arguments(sweep)
    sweep.add_argument("--sweep", action="append", metavar="KEY=VALUES",
                       help="a swept parameter or file key with its values, e.g. r=0.1,1,10 or length_n=5:20:4 "
                       "(repeat for a Cartesian product)")
    sweep.add_argument("--temperatures", nargs="+", default=["0.1"], metavar="T",
                       help="temperatures (Delta0): values or ranges a:b:n[:log] (default 0.1)")
    sweep.add_argument("--between", nargs=2, metavar=("A", "B"), help="the two terminals (default: first two "
                       "normal reservoirs)")
    sweep.add_argument("--others", choices=sweeps.TWO_TERMINAL_MODES, default="floating",
                       help="the other terminals: floating (default), grounded, or transmitted (all held at "
                       "equilibrium, absorbing; G, kappa of what arrives in B, over the path's normal values)")
    sweep.add_argument("--fixed-gaps", action="store_true", help="keep the file's gaps (no BCS Delta(T))")
    sweep.add_argument("--self-consistent", action="store_true",
                       help="S wires get Delta(x) from the gap equation at every temperature: one warm-started "
                       "chain of temperatures per axis point (the points run in parallel); results.nc also "
                       "gets T_c per axis point (critical_temperature)")
    _phase_argument(sweep)
    sweep.add_argument("--dynes", type=float, help="one Dynes rate (Delta0) for every superconducting wire and "
                       "reservoir (default: the file's)")
    sweep.add_argument("--grid", choices=tuple(GRIDS), help="energy grid (default adaptive)")
    sweep.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster: its scheduler address "
                       "(tcp://host:8786) or 'local' for a cluster on this machine")
    sweep.add_argument("--workers", type=int, help="workers of --scheduler local (default: CPUs, at most 4)")
    sweep.add_argument("--resume", action="store_true", help="continue the sweep stored in the output folder "
                       "(finished solves in DIR/tasks are read, not recomputed)")
    _mesh_arguments(sweep)
    _accuracy_argument(sweep)
    _common(sweep, output="")
    sweep.set_defaults(run=run_sweep)

    dos = commands.add_parser("dos", help="local density of states N(E, x) along wires (netCDF, CSV, PNG)")
    _geometry_arguments(dos)
    dos.add_argument("--energies", nargs="+", default=["0:2:201"], metavar="E",
                     help="energies (Delta0): values or ranges (default 0:2:201)")
    dos.add_argument("--wire", action="append", help="a wire to sample (repeat; default all)")
    dos.add_argument("--points", type=int, default=41, help="points per wire (default 41)")
    _study_arguments(dos, "femprox-dos")
    dos.set_defaults(run=run_dos)

    iv = commands.add_parser("iv", help="finite-bias charge and heat currents of every terminal (I-V)")
    _geometry_arguments(iv)
    iv.add_argument("--biases", nargs="+", default=["0:1.5:16"], metavar="V",
                    help="potentials (Delta0/e) of the biased terminal (default 0:1.5:16)")
    iv.add_argument("--terminal", help="the biased normal reservoir (default: the first); others stay at V = 0")
    _study_arguments(iv, "femprox-iv")
    iv.set_defaults(run=run_iv)

    supercurrent = commands.add_parser("supercurrent", help="current-phase relation I(phi) and I_c in e I R_N "
                                       "units (Matsubara sums)")
    _geometry_arguments(supercurrent)
    supercurrent.add_argument("--phases", nargs="+", default=["0:pi:13"], metavar="PHI",
                              help="phases (rad): values or ranges (default 0:pi:13)")
    supercurrent.add_argument("--phase-key", help="key set to each phase (default parameters.phi if declared)")
    supercurrent.add_argument("--wire", help="wire the current flows through (default: the first)")
    supercurrent.add_argument("--between", nargs=2, metavar=("A", "B"),
                              help="reservoirs of R_N (default: the first two S reservoirs)")
    _study_arguments(supercurrent, "femprox-supercurrent")
    supercurrent.set_defaults(run=run_supercurrent)


# ---------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------

_EXPECTED_ERRORS = (UsageError, GeometryError, SpectralConvergenceError, SelfConsistencyError,
                    api.OutputExistsError, OSError, ValueError, KeyError)

EXIT_SIGINT = 130
"""Exit status after Ctrl-C (128 + SIGINT)."""
EXIT_SIGTERM = 143
"""Exit status after SIGTERM (128 + SIGTERM)."""
EXIT_BROKEN_PIPE = 141
"""Exit status when the reader of standard output went away (128 + SIGPIPE, as ``yes | head``)."""


class _Terminated(BaseException):
    """Raised in the main thread by SIGTERM, so that cleanup (workers, partial output) runs."""


def _one_line(error: BaseException) -> str:
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    if isinstance(error, OSError) and error.filename and error.strerror:
        text = f"{error.filename}: {error.strerror}"
    if isinstance(error, SpectralConvergenceError):
        text = _short_convergence_message(error, text)
    return limits.printable(" ".join(text.split()) or type(error).__name__)


def _short_convergence_message(error: SpectralConvergenceError, text: str) -> str:
    """'did not converge for 12 of 400 energies on 'house' (E = 0.5, 0.51, ... Delta0) ...' in one
    short line instead of the solver's list of every energy with its reason."""
    head = re.match(r"(.*?did not converge for \d+ of \d+ energies(?: on '[^']*')?)", text)
    if head is None:
        return text if len(text) <= 300 else text[:297] + "..."
    energies = getattr(error, "energies", None)
    shown = "" if energies is None or len(energies) == 0 else f" (E = {limits.describe_sequence(energies)} Delta0)"
    retry = re.search(r"\(also after refining the mesh by [^)]*\)", text)
    return (f"{head.group(1)}{shown}{' ' + retry.group(0) if retry else ''}; try a finer mesh (--refine 2) "
            "or avoid energies at a gap edge")


def _report_internal_error(error: BaseException) -> str:
    """Save the traceback of an unexpected exception; the one line that points to it."""
    try:
        descriptor, name = tempfile.mkstemp(prefix="femprox-crash-", suffix=".log")
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(f"femprox {__version__}, argv {sys.argv!r}\n")
            handle.write("".join(traceback.format_exception(error)))
        where = f"traceback saved in {name}"
    except OSError:
        where = "the traceback could not be saved"
    return (f"internal error (a bug in femprox, please report it): {type(error).__name__}: "
            f"{_one_line(error)}; {where}")


@contextmanager
def _signals_raise():
    """SIGTERM raises _Terminated and SIGINT KeyboardInterrupt in the main thread while main()
    runs (the previous handlers are restored after)."""
    if sys.platform == "win32" or not _in_main_thread():
        yield
        return

    def terminate(signum, frame):
        # a second signal must not interrupt the cleanup that the first one starts
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        raise _Terminated(signum) if signum == signal.SIGTERM else KeyboardInterrupt

    previous = {signum: signal.signal(signum, terminate) for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


@contextmanager
def _restored_logging():
    """Leave the 'femprox' logger as found (main() may run inside a larger program or tests)."""
    logger = logging.getLogger("femprox")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    try:
        yield
    finally:
        for handler in logger.handlers:
            if handler not in handlers:
                handler.close()
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


def _error(text: str) -> None:
    print(f"femprox: error: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 2 bad input or any failure,
    130 after Ctrl-C, 143 after SIGTERM, 141 when standard output was closed by its reader).
    Never raises except SystemExit for --help/--version."""
    with _restored_logging(), _signals_raise():
        try:
            args = build_parser().parse_args(argv)
            jobs = getattr(args, "jobs", 1)
            if jobs < 1 or jobs > max(4, 4 * (os.cpu_count() or 1)):
                raise UsageError(f"--jobs must be from 1 to {max(4, 4 * (os.cpu_count() or 1))} "
                                 f"(4 per processor), got {jobs}")
            _configure_logging(args.verbose, None)  # warnings while the input is checked
            return args.run(args)
        except BrokenPipeError:
            # the reader of stdout went away (``femprox ... | head``): what was computed is
            # written already; like other Unix tools, stop without a message on a dead pipe
            _silence_stdout()
            return EXIT_BROKEN_PIPE
        except _EXPECTED_ERRORS as error:
            _error(_one_line(error))
            return EXIT_USAGE
        except RecursionError:
            _error("the input is nested too deeply")
            return EXIT_USAGE
        except BrokenProcessPool:
            _error("a worker process died unexpectedly (killed, or out of memory?); try fewer --jobs or a "
                   "smaller problem")
            return EXIT_USAGE
        except MemoryError:
            _error("out of memory; use fewer energies, temperatures or phases, a coarser mesh or fewer --jobs")
            return EXIT_USAGE
        except KeyboardInterrupt:
            print("femprox: interrupted (Ctrl-C); partial output removed", file=sys.stderr)
            return EXIT_SIGINT
        except _Terminated:
            print("femprox: terminated (SIGTERM); workers stopped, partial output removed", file=sys.stderr)
            return EXIT_SIGTERM
        except Exception as error:  # noqa: BLE001 - the one place that turns bugs into one line
            _error(_report_internal_error(error))
            return EXIT_USAGE


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that no later flush of the dead pipe fails."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file descriptor (e.g. captured in tests)
        pass


def run() -> NoReturn:
    """The ``femprox`` script and ``python -m femprox``: :func:`main`, then exit at once.

    By the time :func:`main` returns every file is written and closed and the workers are
    gone; tearing down the interpreter (numpy's, scipy's and matplotlib's modules) would take
    another 0.2-0.3 s, 5% of ``femprox paper``. Only the output streams and the logging
    handlers still need flushing.
    """
    status = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            pass
    os._exit(status)


if __name__ == "__main__":
    run()
