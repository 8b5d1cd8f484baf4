"""The ``femprox`` command line (entry point ``femprox.cli:main``).

Subcommands::

    femprox paper [-o DIR] [--quick]                      reproduce the paper's Figs. 3 and 4
    femprox solve GEOMETRY.toml -o DIR [--temperatures ...] [--phases ...] [--between A B] ...
    femprox mesh GEOMETRY.toml [--export FILE.vtu] [--energies ...] [--draw FILE.png]
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

Bad input prints one line ``femprox: error: ...`` on stderr and exits with status 2. This
module is the only place that configures logging and draws progress bars.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import time
import tomllib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from femprox import __version__, api, sweeps
from femprox.geometry import GeometryError
from femprox.geometry_file import evaluate_expression
from femprox.spectral import SpectralConvergenceError

EXIT_USAGE = 2
"""Exit status for bad input and failed computations."""

GRIDS = {"fine": sweeps.FINE_GRID, "paper": sweeps.PAPER_GRID, "quick": sweeps.QUICK_GRID,
         "adaptive": sweeps.ADAPTIVE_GRID}


class UsageError(ValueError):
    """Bad command-line input (reported on one line, exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line error messages in femprox's format."""

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
        overrides[_dotted(key)] = _toml_value(value)
    return overrides


def _dotted(key: str) -> str:
    return key if "." in key else f"parameters.{key}"


def _toml_value(text: str) -> object:
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def default_phase_key(path: str) -> str | None:
    """``parameters.phi`` if the file declares a parameter ``phi``, else None."""
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
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
    console.setFormatter(logging.Formatter("femprox: %(levelname)s: %(message)s"))
    # with a log file the solver's warnings (e.g. energies at a gap edge) go there, and a
    # summary line is printed at the end; -v shows them on the terminal too
    console.setLevel(logging.INFO if verbose else (logging.ERROR if log_file else logging.WARNING))
    root.addHandler(console)
    if log_file is not None:
        _add_file_handler(root, log_file)


def _add_file_handler(root: logging.Logger, log_file: Path) -> None:
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_LOG_FORMAT))
    handler.setLevel(logging.INFO)
    root.addHandler(handler)


def _worker_logging(log_file: str | None) -> None:
    """Initializer of pool workers: their records go to the run's log file only."""
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
    finally:
        pool.shutdown(cancel_futures=True)


class _Progress:
    """A tqdm bar created on the first call (progress(done, total))."""

    def __init__(self, description: str, enabled: bool):
        self.description, self.enabled, self.bar = description, enabled, None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.description, unit="solve", file=sys.stderr,
                            dynamic_ncols=True)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@contextmanager
def _run_context(args, description: str, out_dir: Path | None):
    """Logging (to DIR/femprox.log when there is an output folder), a pool and a bar."""
    log_file = out_dir / "femprox.log" if out_dir is not None else None
    _configure_logging(args.verbose, log_file)
    counter = _WarningCounter()
    logging.getLogger("femprox").addHandler(counter)
    progress = _Progress(description, not args.no_progress)
    try:
        with _executor(args.jobs, log_file) as pool:
            yield pool, progress
    finally:
        progress.close()
    # reached only on success: a failure is reported in one line by main()
    if counter.count and log_file is not None and not args.verbose:
        print(f"femprox: {counter.count} solver warning(s) logged in {log_file}", file=sys.stderr)


def _default_jobs() -> int:
    return max(1, min(2, os.cpu_count() or 1))


# ---------------------------------------------------------------------------------------
# Subcommands
# ---------------------------------------------------------------------------------------

def _mesh_settings(args) -> sweeps.MeshSettings:
    if not (args.refine > 0 and math.isfinite(args.refine)):
        raise UsageError(f"--refine must be a positive number, got {args.refine:g}")
    if args.order is not None and not 1 <= args.order <= 10:
        raise UsageError(f"--order must be an integer from 1 to 10, got {args.order}")
    return sweeps.MeshSettings(refine=args.refine, order=args.order)


def _prepare(out: str, overwrite: bool) -> Path:
    return api.prepare_output_directory(out, overwrite)


def run_paper(args) -> int:
    out = _prepare(args.output, args.overwrite)
    started = time.perf_counter()
    with _run_context(args, "femprox paper", out) as (pool, progress):
        # the folder is already checked and created: let paper_figures write into it
        result = api.paper_figures(out, quick=args.quick, overwrite=True, executor=pool, progress=progress)
    print(result.report, end="")
    print(f"wrote {len(result.files)} files to {out} in {time.perf_counter() - started:.1f} s")
    return 0


def run_solve(args) -> int:
    overrides = parse_overrides(args.set)
    temperatures = parse_values(args.temperatures, "--temperatures", positive=True)
    phases = parse_values(args.phases, "--phases") if args.phases else None
    phase_key = _dotted(args.phase_key) if args.phase_key else default_phase_key(args.geometry)
    if phases is not None and phase_key is None:
        raise UsageError("--phases needs --phase-key (the file declares no parameter 'phi')")
    mesh = _mesh_settings(args)
    between = tuple(args.between) if args.between else None
    # planning loads every phase's geometry and checks the terminals: bad input fails
    # here, before any folder is created
    sweeps.sweep_tasks(sweeps.GeometryFile.from_path(args.geometry, overrides, phase_key), temperatures, phases,
                       between=between, others=args.others, bcs_gaps=not args.fixed_gaps)
    out = _prepare(args.output, args.overwrite)
    with _run_context(args, "femprox solve", out) as (pool, progress):
        result, files = api.solve_to_files(
            args.geometry, out, temperatures=temperatures, overrides=overrides, phases=phases,
            phase_key=phase_key if phases is not None else None, between=between,
            others=args.others, bcs_gaps=not args.fixed_gaps, grid=GRIDS[args.grid], mesh=mesh, overwrite=True,
            executor=pool, progress=progress)
    _print_sweep(result)
    print(f"wrote {', '.join(files)} to {out}")
    return 0


def _print_sweep(result: sweeps.SweepResult) -> None:
    point = result.points[0]
    print(f"between {point.a} and {point.b} (others {result.others}):")
    print(f"{'T (Delta0)':>12}{'phase (rad)':>13}{'G/G_N':>14}{'kappa/kappa_N':>15}")
    for p in result.points:
        phase = "" if p.phase is None else f"{p.phase:.6g}"
        print(f"{p.temperature:>12.6g}{phase:>13}{p.conductance_ratio:>14.8g}{p.heat_conductance_ratio:>15.8g}")


def run_mesh(args) -> int:
    if not args.export and not args.draw:
        raise UsageError("mesh: give --export FILE and/or --draw FILE.png")
    overrides = parse_overrides(args.set)
    energies = parse_values(args.energies, "--energies") if args.energies else []
    if energies and not args.export:
        raise UsageError("--energies needs --export FILE")
    _configure_logging(args.verbose, None)
    mesh = _mesh_settings(args)
    for target in (args.export, args.draw):
        if target and Path(target).exists() and not args.overwrite:
            raise UsageError(f"{target} exists; pass --overwrite to replace it")
    sweeps.GeometryFile.from_path(args.geometry, overrides).geometry()
    if args.export:
        path = api.export_mesh(args.geometry, args.export, energies=energies, overrides=overrides, mesh=mesh,
                               overwrite=args.overwrite)
        print(f"wrote {path}")
    if args.draw:
        path = api.draw_network_to_file(args.geometry, args.draw, overrides=overrides, overwrite=args.overwrite)
        print(f"wrote {path}")
    return 0


def run_convergence(args) -> int:
    overrides = parse_overrides(args.set)
    refinements = parse_values(args.refinements, "--refinements", positive=True)
    orders = parse_values(args.orders, "--orders", positive=True)
    if any(not float(p).is_integer() or p > 10 for p in orders):
        raise UsageError("--orders: element orders are integers from 1 to 10")
    if not args.temperature > 0 or not math.isfinite(args.temperature):
        raise UsageError(f"--temperature must be positive (Delta0), got {args.temperature:g}")
    between = tuple(args.between) if args.between else None
    sweeps.convergence_plan(sweeps.GeometryFile.from_path(args.geometry, overrides).geometry(), args.observable,
                            temperature=args.temperature, energy=args.energy, wire=args.wire,
                            position=args.position, between=between)  # checks the input
    orders = [int(p) for p in orders]
    out = _prepare(args.output, args.overwrite)
    with _run_context(args, "femprox convergence", out) as (pool, progress):
        data, files = api.convergence_to_files(
            args.geometry, out, observable=args.observable, temperature=args.temperature, energy=args.energy,
            wire=args.wire, position=args.position, between=between,
            overrides=overrides, refinements=refinements, orders=orders, grid=GRIDS[args.grid], overwrite=True,
            executor=pool, progress=progress)
    print(api.convergence_table(data))
    print(f"wrote {', '.join(files)} to {out}")
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
    solve.add_argument("--grid", choices=tuple(GRIDS), default="adaptive",
                       help="energy grid (default adaptive: refined where the spectral data need it, "
                       "e.g. at an interferometer's minigap cusp, which moves with the phase; the fixed "
                       "grids fine, paper, quick may miss such cusps)")
    _mesh_arguments(solve)
    _common(solve, output="")
    solve.set_defaults(run=run_solve)

    mesh = commands.add_parser("mesh", help="export the meshed network (VTU/XDMF) or draw it (PNG)")
    _geometry_arguments(mesh)
    mesh.add_argument("--export", metavar="FILE", help="mesh file, format from the extension (.vtu, .xdmf)")
    mesh.add_argument("--energies", nargs="+", metavar="E", help="energies (Delta0) of the DOS, D_L, D_T point data")
    mesh.add_argument("--draw", metavar="FILE.png", help="drawing of the network")
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
    from femprox.distributed import dask_client

    if args.scheduler:
        with _run_context(argparse.Namespace(**{**vars(args), "jobs": 1}), "femprox sweep", out) as (_, progress):
            with dask_client(args.scheduler, workers=args.workers) as client:
                yield client, None, progress
        return
    with _run_context(args, "femprox sweep", out) as (pool, progress):
        yield None, pool, progress


def run_sweep(args) -> int:
    overrides = parse_overrides(args.set)
    temperatures = parse_values(args.temperatures, "--temperatures", positive=True)
    axes = parse_sweep_axes(args.sweep)
    if args.dynes is not None and not (args.dynes >= 0 and math.isfinite(args.dynes)):
        raise UsageError(f"--dynes must be a number >= 0 (Delta0), got {args.dynes:g}")
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    mesh = _mesh_settings(args)
    between = tuple(args.between) if args.between else None
    source = sweeps.GeometryFile.from_path(args.geometry, overrides)
    options = dict(between=between, others=args.others, bcs_gaps=not args.fixed_gaps, dynes=args.dynes,
                   grid=GRIDS[args.grid], mesh=mesh)
    spec = sweeps.grid_sweep_spec(source, temperatures, axes, **options)  # checks everything before any work
    out = api.prepare_run_folder(args.output, overwrite=args.overwrite, resume=args.resume)
    with _sweep_runner(args, out) as (client, pool, progress):
        dataset, files = api.sweep_to_files(source, out, temperatures=temperatures, axes=axes, client=client,
                                            executor=pool, resume=args.resume, overwrite=True, progress=progress,
                                            **options)
    print(f"{len(spec.tasks)} spectral solves; dimensions: "
          + ", ".join(f"{name} ({size})" for name, size in dataset["conductance_ratio"].sizes.items()))
    print(f"wrote {', '.join(files)} to {out} (load with femprox.load('{out / 'results.nc'}'))")
    return 0


def _study_common(args) -> dict:
    """Options shared by dos, iv and supercurrent, checked."""
    if not (args.temperature >= 0 and math.isfinite(args.temperature)):
        raise UsageError(f"--temperature must be a number >= 0 (Delta0), got {args.temperature:g}")
    if args.dynes is not None and not (args.dynes >= 0 and math.isfinite(args.dynes)):
        raise UsageError(f"--dynes must be a number >= 0 (Delta0), got {args.dynes:g}")
    return {"temperature": args.temperature, "bcs_gaps": not args.fixed_gaps, "dynes": args.dynes,
            "overrides": parse_overrides(args.set), "mesh": _mesh_settings(args), "overwrite": args.overwrite}


def run_dos(args) -> int:
    energies = parse_values(args.energies, "--energies")
    if args.points < 2:
        raise UsageError("--points must be at least 2")
    options = _study_common(args)
    _configure_logging(args.verbose, None)
    dataset, files = api.dos_to_files(args.geometry, args.output, energies=energies, wires=args.wire,
                                      points_per_wire=args.points, **options)
    print(f"DOS at {dataset.sizes['energy']} energies x {dataset.sizes['point']} points; "
          f"wrote {', '.join(files)} to {args.output}")
    return 0


def run_iv(args) -> int:
    biases = parse_values(args.biases, "--biases")
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
    sweep.add_argument("--dynes", type=float, help="one Dynes rate (Delta0) for every superconducting wire and "
                       "reservoir (default: the file's)")
    sweep.add_argument("--grid", choices=tuple(GRIDS), default="adaptive", help="energy grid (default adaptive)")
    sweep.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster: its scheduler address "
                       "(tcp://host:8786) or 'local' for a cluster on this machine")
    sweep.add_argument("--workers", type=int, help="workers of --scheduler local (default: CPUs, at most 4)")
    sweep.add_argument("--resume", action="store_true", help="continue the sweep stored in the output folder "
                       "(finished solves in DIR/tasks are read, not recomputed)")
    _mesh_arguments(sweep)
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

_EXPECTED_ERRORS = (UsageError, GeometryError, SpectralConvergenceError, api.OutputExistsError, OSError,
                    ValueError, KeyError)


def _one_line(error: BaseException) -> str:
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    if isinstance(error, OSError) and error.filename and error.strerror:
        text = f"{error.filename}: {error.strerror}"
    return " ".join(text.split()) or type(error).__name__


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


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 success, 2 bad input or failure)."""
    with _restored_logging():
        try:
            args = build_parser().parse_args(argv)
            if getattr(args, "jobs", 1) < 1:
                raise UsageError("--jobs must be at least 1")
            return args.run(args)
        except _EXPECTED_ERRORS as error:
            print(f"femprox: error: {_one_line(error)}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt:
            print("femprox: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
