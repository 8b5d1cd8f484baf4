"""Labelled sweep results: xarray Datasets, saved and loaded as netCDF (HDF5) files.

Pipeline position: after :mod:`femprox.workflows.sweeps`. A sweep's transport points become one
:class:`xarray.Dataset` whose dimensions are the swept geometry parameters (in the order
given, e.g. ``r``, ``length_n`` or ``phase``), then ``temperature``, and for the
multi-terminal matrices ``row_terminal`` and ``column_terminal``.

Naming: variables carry the names of the attributes of
:class:`femprox.workflows.sweeps.TransportPoint` and :class:`femprox.observables.conductance.LinearResponse`, and the
CSV columns written by the command line carry the same names:

=================================  =============================================================
variable                           meaning (units)
=================================  =============================================================
``conductance_ratio``              G/G_N between ``between_a`` and ``between_b`` (dimensionless)
``heat_conductance_ratio``         kappa/kappa_N at zero charge current (dimensionless)
``*_ratio_error``                  energy-integration error estimate of the ratio (same units)
``seebeck``                        V_a - V_b = -seebeck (T_a - T_b) at zero current (k_B/e)
``gap_factor``                     Delta/Delta0 used by the spectral solve
``charge``, ``thermoelectric``,    multi-terminal matrices dI_i/dV_j, dI_i/dT_j, dQ_i/dV_j,
``peltier``, ``heat``              dQ_i/dT_j: currents from terminal ``row_terminal`` into the
                                   network, forces at ``column_terminal`` (see docs/physics.md)
``normal``                         normal-state conductance matrix G_N
``<matrix>_error``                 absolute error estimates of the matrices
=================================  =============================================================

Provenance is kept in the attributes: the geometry (name, file path, TOML text and its
sha256, overrides, the resolved TOML of the first axis point), the axes (name -> override
key), the two-terminal settings, the energy grid and mesh settings as JSON, the number of
spectral solves, solver notes, and the package versions. netCDF attributes hold only
strings and numbers, so mappings are stored as JSON text (``json.loads(ds.attrs["mesh"])``)
and flags as 0/1.

Files: :func:`save` writes netCDF4/HDF5 with the h5netcdf engine, :func:`load` reads it back
(fully into memory, the file is closed afterwards).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from importlib import metadata
from concurrent.futures import Executor
from pathlib import Path

import numpy as np
import xarray as xr

from femprox.workflows.sweeps import (MATRIX_NAMES, EnergyGridOptions, GeometrySource, GridSweepOutput, GridSweepSpec,
                                      MeshSettings, Progress, SweepAxis, SweepResult, TransportPoint)

log = logging.getLogger(__name__)

__all__ = ["POINT_VARIABLES", "grid_sweep_dataset", "load", "package_versions", "parameter_sweep", "save",
           "sweep_result_dataset", "self_consistent_dataset", "write_gap_profiles_csv", "write_self_consistency_csv"]

POINT_VARIABLES = ("conductance_ratio", "conductance_ratio_error", "heat_conductance_ratio",
                   "heat_conductance_ratio_error", "seebeck", "gap_factor")
"""Per-point variables (attributes of TransportPoint, columns of results.csv)."""

MATRIX_VARIABLES = MATRIX_NAMES + ("normal",)
"""Matrix variables (keys of TransportPoint.matrices, values of matrices.csv's column 'matrix')."""

_DESCRIPTIONS = {
    "conductance_ratio": ("G/G_N, two-terminal electric conductance over its normal-state value", "1"),
    "conductance_ratio_error": ("energy-integration error estimate of G/G_N", "1"),
    "heat_conductance_ratio": ("kappa/kappa_N, two-terminal heat conductance at zero charge current over its "
                               "normal-state value", "1"),
    "heat_conductance_ratio_error": ("energy-integration error estimate of kappa/kappa_N", "1"),
    "seebeck": ("thermopower S: V_a - V_b = -S (T_a - T_b) at zero current", "k_B/e"),
    "gap_factor": ("Delta/Delta0 of the spectral solve (BCS Delta(T) or 1)", "1"),
    "charge": ("dI_i/dV_j, current from terminal i into the network", "G0"),
    "thermoelectric": ("dI_i/dT_j", "G0 k_B/e"),
    "peltier": ("dQ_i/dV_j, heat current from terminal i into the network", "G0 Delta0/e"),
    "heat": ("dQ_i/dT_j", "G0 Delta0 k_B/e^2"),
    "normal": ("normal-state conductance matrix dI_i/dV_j", "G0"),
}


def package_versions() -> dict[str, str]:
    """Versions of Python, femprox and the packages behind a result."""
    import platform

    versions = {"python": platform.python_version()}
    for name in ("femprox", "numpy", "scipy", "scikit-fem", "meshio", "xarray", "h5netcdf", "distributed"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _point_arrays(shape: tuple[int, ...], terminals: tuple[str, ...]) -> dict[str, np.ndarray]:
    arrays = {name: np.full(shape, np.nan) for name in POINT_VARIABLES}
    n = len(terminals)
    for name in MATRIX_VARIABLES:
        arrays[name] = np.full(shape + (n, n), np.nan)
        if name != "normal":
            arrays[f"{name}_error"] = np.full(shape + (n, n), np.nan)
    return arrays


def _fill(arrays: dict[str, np.ndarray], index: tuple[int, ...], point: TransportPoint) -> None:
    for name in POINT_VARIABLES:
        arrays[name][index] = getattr(point, name)
    for name in MATRIX_VARIABLES:
        arrays[name][index] = point.matrices[name]
        if name != "normal":
            arrays[f"{name}_error"][index] = point.matrix_errors[name]


def _dataset(dims: Sequence[str], coords: Mapping[str, np.ndarray], terminals: tuple[str, ...],
             arrays: dict[str, np.ndarray], attrs: dict) -> xr.Dataset:
    matrix_dims = tuple(dims) + ("row_terminal", "column_terminal")
    variables = {}
    for name, values in arrays.items():
        if name in _DESCRIPTIONS:
            description, units = _DESCRIPTIONS[name]
        else:  # a matrix's error estimate: the matrix's units
            base = name.removesuffix("_error")
            description, units = f"absolute error estimate of {base}", _DESCRIPTIONS[base][1]
        variables[name] = ((matrix_dims if values.ndim == len(dims) + 2 else tuple(dims)), values,
                           {"long_name": description, "units": units})
    coordinates = {name: (name, np.asarray(values, dtype=float)) for name, values in coords.items()}
    coordinates["row_terminal"] = ("row_terminal", np.array(terminals, dtype=object))
    coordinates["column_terminal"] = ("column_terminal", np.array(terminals, dtype=object))
    dataset = xr.Dataset(variables, coords=coordinates, attrs=attrs)
    dataset["temperature"].attrs.update(long_name="reservoir temperature", units="Delta0")
    if "phase" in dataset.coords:
        dataset["phase"].attrs.update(long_name="superconducting phase difference", units="rad")
    return dataset


def _common_attrs(between: tuple[str, str], others: str, bcs_gaps: bool, gap_tolerance: float, grid, mesh,
                  spectral_solves: int, energies: Sequence[int], notes: Sequence[str]) -> dict:
    return {"between_a": between[0], "between_b": between[1], "others": others, "bcs_gaps": int(bcs_gaps),
            "gap_tolerance": float(gap_tolerance), "energy_grid": json.dumps(asdict(grid)),
            "mesh": json.dumps(asdict(mesh)), "spectral_solves": int(spectral_solves),
            "energies_per_solve": np.asarray(list(energies), dtype=np.int64),
            "notes": json.dumps(list(notes)), "versions": json.dumps(package_versions()),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "units": "hbar = k_B = e = 1; energies and temperatures in Delta0, lengths in xi0, phases in rad; "
                     "G0 = the wires' conductance unit per xi0"}


def geometry_attrs(source: object, geometry: object = None) -> dict:
    """Provenance of a geometry source: a :class:`femprox.workflows.sweeps.GeometryFile` (path, text,
    sha256, overrides) and/or a Geometry (its name and resolved TOML)."""
    from femprox.geometry.files import geometry_to_toml
    from femprox.workflows.sweeps import GeometryFile

    attrs: dict = {}
    if isinstance(source, GeometryFile):
        attrs.update(geometry_path=str(Path(source.path).resolve()), geometry_toml=source.text,
                     geometry_sha256=source.sha256, overrides=json.dumps(dict(source.overrides), default=str))
    elif source is not None and not hasattr(source, "nodes"):
        attrs["geometry_builder"] = getattr(source, "__qualname__", repr(source))
    if geometry is not None:
        attrs.update(geometry_name=geometry.name, geometry_resolved_toml=geometry_to_toml(geometry))
    return attrs


def grid_sweep_dataset(spec: GridSweepSpec, outputs: Sequence[GridSweepOutput], *,
                       extra_attrs: Mapping[str, object] | None = None) -> xr.Dataset:
    """The Dataset of a general sweep from its spec and the outputs of its tasks (any order)."""
    if len(outputs) != len(spec.tasks):
        raise ValueError(f"{len(outputs)} outputs for {len(spec.tasks)} tasks")
    dims = tuple(axis.name for axis in spec.axes) + ("temperature",)
    shape = tuple(len(axis.values) for axis in spec.axes) + (len(spec.temperatures),)
    terminals = outputs[0].points[0].terminals
    arrays = _point_arrays(shape, terminals)
    position = [{value: k for k, value in enumerate(axis.values)} for axis in spec.axes]
    temperature_index = {t: k for k, t in enumerate(spec.temperatures)}
    filled = np.zeros(shape, dtype=bool)
    for output in outputs:
        head = tuple(lookup[value] for lookup, value in zip(position, output.coordinates))
        for point in output.points:
            index = head + (temperature_index[point.temperature],)
            _fill(arrays, index, point)
            filled[index] = True
    if not filled.all():
        raise ValueError(f"{int((~filled).sum())} sweep points have no result")
    notes = dict.fromkeys(n for output in outputs for n in output.notes)
    attrs = _common_attrs(spec.between, spec.others, spec.bcs_gaps, spec.gap_tolerance, spec.grid, spec.mesh,
                          len(spec.tasks), [output.energies for output in outputs], notes)
    attrs["axes"] = json.dumps({axis.name: axis.key for axis in spec.axes})
    attrs["dynes"] = math.nan if spec.dynes is None else float(spec.dynes)
    attrs["self_consistent"] = int(spec.self_consistent)
    attrs.update(extra_attrs or {})
    coords = {axis.name: np.array(axis.values) for axis in spec.axes}
    coords["temperature"] = np.array(spec.temperatures)
    dataset = _dataset(dims, coords, terminals, arrays, attrs)
    if spec.self_consistent:
        dataset["critical_temperature"] = _critical_temperatures(spec, outputs, position)
    return dataset


def _critical_temperatures(spec: GridSweepSpec, outputs: Sequence[GridSweepOutput], position) -> xr.DataArray:
    """T_c per axis point of a self-consistent sweep; NaN where there is none to report: S
    reservoirs (the linearized gap equation does not apply) or an S part that stays normal
    down to the lowest temperature the search tries (the notes say which)."""
    values = np.full(tuple(len(axis.values) for axis in spec.axes), np.nan)
    for output in outputs:
        tc = output.critical_temperature
        values[tuple(lookup[value] for lookup, value in zip(position, output.coordinates))] = \
            np.nan if tc is None else tc
    return xr.DataArray(values, dims=tuple(axis.name for axis in spec.axes),
                        attrs={"long_name": "critical temperature of the structure (linearized gap equation; "
                                            "NaN: none, see the notes)", "units": "Delta0"})


def sweep_result_dataset(result: SweepResult, *, phase_key: str | None = None,
                         extra_attrs: Mapping[str, object] | None = None) -> xr.Dataset:
    """The Dataset of a :func:`femprox.workflows.sweeps.sweep` result: dimensions ``phase`` (if the
    sweep had phases) and ``temperature``."""
    points = result.points
    temperatures = sorted({p.temperature for p in points})
    phases = sorted({p.phase for p in points if p.phase is not None})
    dims = (("phase",) if phases else ()) + ("temperature",)
    shape = ((len(phases),) if phases else ()) + (len(temperatures),)
    terminals = points[0].terminals
    arrays = _point_arrays(shape, terminals)
    t_index = {t: k for k, t in enumerate(temperatures)}
    p_index = {p: k for k, p in enumerate(phases)}
    for point in points:
        _fill(arrays, ((p_index[point.phase],) if phases else ()) + (t_index[point.temperature],), point)
    attrs = _common_attrs((points[0].a, points[0].b), result.others, result.bcs_gaps, result.gap_tolerance,
                          result.grid, result.mesh, result.spectral_solves, result.energies_per_solve, result.notes)
    attrs["axes"] = json.dumps({"phase": phase_key} if phases else {})
    attrs.update(extra_attrs or {})
    coords = ({"phase": np.array(phases)} if phases else {}) | {"temperature": np.array(temperatures)}
    return _dataset(dims, coords, terminals, arrays, attrs)


def save(dataset: xr.Dataset, path: str | Path) -> Path:
    """Write ``dataset`` as a netCDF4 (HDF5) file with the h5netcdf engine."""
    path = Path(path)
    # terminal names are Python strings (object dtype): netCDF stores them as variable-length text
    dataset.to_netcdf(path, engine="h5netcdf")
    return path


def load(path: str | Path) -> xr.Dataset:
    """Read a result written by :func:`save` (or by the command line) into memory."""
    with xr.open_dataset(path, engine="h5netcdf") as dataset:
        return dataset.load()


def parameter_sweep(source: "str | Path | GeometrySource", temperatures: Sequence[float],
                    axes: "Mapping[str, Sequence[float]] | Sequence[SweepAxis] | None" = None, *,
                    between: tuple[str, str] | None = None, others: str = "floating", bcs_gaps: bool = True,
                    dynes: float | None = None, grid: "EnergyGridOptions | None" = None,
                    mesh: "MeshSettings | None" = None, client: object | None = None,
                    executor: "Executor | None" = None, run_folder: str | Path | None = None,
                    resume: bool = False, progress: "Progress | None" = None, **plan_options) -> xr.Dataset:
    """Sweep temperatures (Delta0) and any geometry parameters; the labelled result.

    ``source``: a geometry file path, a :class:`femprox.workflows.sweeps.GeometryFile`, a picklable
    builder such as ``femprox.geometry.devices.t_junction`` (called with the axes as keyword
    arguments), or a fixed Geometry (no axes). ``axes``: ``{"r": [0.1, 1, 10], "phi": [0,
    3.14]}`` (keys are override keys, ``"r"`` = ``"parameters.r"``; the Cartesian product
    is swept) or a sequence of :class:`femprox.workflows.sweeps.SweepAxis`. ``between``, ``others``,
    ``bcs_gaps``: as in :func:`femprox.workflows.sweeps.sweep`; ``dynes``: one Dynes rate (Delta0)
    for all superconductors. ``grid``, ``mesh``: EnergyGridOptions (default the adaptive
    grid) and MeshSettings. ``client`` (a Dask ``distributed.Client``) or ``executor``:
    where the tasks run; ``run_folder``/``resume``: partial results on disk (see
    :mod:`femprox.workflows.distributed`). ``plan_options`` go to
    :func:`femprox.workflows.sweeps.grid_sweep_spec`, e.g. ``self_consistent=True`` (Delta(x)
    from the gap equation; the Dataset then also has ``critical_temperature`` per axis point).

    Returns a Dataset with dimensions (axes..., temperature[, row_terminal,
    column_terminal]); see the module docstring for the variables and attributes.
    """
    from femprox.workflows import sweeps
    from femprox.workflows.distributed import run_grid_tasks

    if isinstance(source, (str, Path)):
        source = sweeps.GeometryFile.from_path(source)
    spec = sweeps.grid_sweep_spec(source, temperatures, axes, between=between, others=others, bcs_gaps=bcs_gaps,
                                  dynes=dynes, grid=grid if grid is not None else sweeps.ADAPTIVE_GRID,
                                  mesh=mesh if mesh is not None else sweeps.MeshSettings(), **plan_options)
    outputs = run_grid_tasks(spec.tasks, client=client, executor=executor, run_folder=run_folder, resume=resume,
                             progress=progress)
    return grid_sweep_dataset(spec, outputs, extra_attrs=geometry_attrs(source, spec.geometry))


# ---------------------------------------------------------------------------------------
# Self-consistent sweeps: T_c and Delta(x) next to the transport
# ---------------------------------------------------------------------------------------

PROFILE_POINTS = 41
"""Points per S wire (ends included) at which Delta(x) profiles are written."""


def gap_profile_positions(geometry, wire: str, points: int = PROFILE_POINTS) -> np.ndarray:
    """Evenly spaced arc lengths (xi0) along S wire ``wire``, both ends included."""
    return np.linspace(0.0, geometry.wire(wire).length, points)


def self_consistent_dataset(result, *, points: int = PROFILE_POINTS,
                            extra_attrs: Mapping[str, object] | None = None) -> xr.Dataset:
    """The Dataset of a :func:`femprox.selfconsistency.transport.self_consistent_sweep` result.

    The transport variables of :func:`sweep_result_dataset` (dimension ``temperature``), and:
    ``gap_<wire>`` and ``gap_phase_<wire>`` (|Delta| in Delta0, phase in rad; dimensions
    temperature, ``x_<wire>`` with ``points`` positions along the S wire, xi0; zero and NaN
    above T_c), ``newton_iterations`` and ``energies`` per temperature, and the attribute
    ``critical_temperature`` (Delta0; NaN where the linearized gap equation does not apply).
    """
    from femprox.selfconsistency.transport import contact_ends

    attrs = {"self_consistent": 1,
             "critical_temperature": (math.nan if result.critical_temperature is None
                                      else float(result.critical_temperature.temperature)),
             "contact_ends": json.dumps(contact_ends(result.geometry))}
    attrs.update(extra_attrs or {})
    dataset = sweep_result_dataset(result.transport, extra_attrs=attrs)
    dataset["newton_iterations"] = ("temperature", np.array(result.newton_iterations, dtype=np.int64),
                                    {"long_name": "Newton iterations of the gap equation (0: S wires normal)",
                                     "units": "1"})
    dataset["energies"] = ("temperature", np.array(result.energies, dtype=np.int64),
                           {"long_name": "energies of the spectral solve", "units": "1"})
    for wire in (w.name for w in result.geometry.wires if w.is_superconducting):
        x = gap_profile_positions(result.geometry, wire, points)
        axis = f"x_{wire}"
        dataset = dataset.assign_coords({axis: (axis, x, {"long_name": f"arc length along {wire}",
                                                            "units": "xi0"})})
        dataset[f"gap_{wire}"] = (("temperature", axis), result.gap(wire, x),
                                  {"long_name": f"self-consistent |Delta| along {wire}", "units": "Delta0"})
        dataset[f"gap_phase_{wire}"] = (("temperature", axis), result.phase(wire, x),
                                        {"long_name": f"phase of Delta along {wire} (NaN: normal)",
                                         "units": "rad"})
    return dataset


def write_gap_profiles_csv(result, path: str | Path, *, points: int = PROFILE_POINTS) -> Path:
    """Delta(x) of every S wire at every temperature, long format: temperature, wire, x,
    |Delta|, phase (zero and empty above T_c)."""
    import csv

    tc = result.critical_temperature
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as handle:
        handle.write("# self-consistent pair potential Delta(x) = |Delta| e^{i phase} along every S wire\n")
        handle.write("# temperature and gap in Delta0, x in xi0 (arc length from the wire's start), phase in rad\n")
        handle.write(f"# critical temperature of the structure: "
                     f"{'not defined (S reservoirs)' if tc is None else repr(tc.temperature)} Delta0\n")
        writer = csv.writer(handle)
        writer.writerow(["temperature", "wire", "x", "gap", "phase"])
        for wire in (w.name for w in result.geometry.wires if w.is_superconducting):
            x = gap_profile_positions(result.geometry, wire, points)
            gaps, phases = result.gap(wire, x), result.phase(wire, x)
            for k, t in enumerate(result.temperatures):
                for j in range(x.size):
                    phase = "" if math.isnan(phases[k, j]) else repr(float(phases[k, j]))
                    writer.writerow([repr(float(t)), wire, repr(float(x[j])), repr(float(gaps[k, j])), phase])
    return path


def write_self_consistency_csv(result, path: str | Path, *, distances: Sequence[float] = (0.1, 1.0)) -> Path:
    """One row per temperature: Newton iterations, energies, seconds, the largest |Delta| of
    every S wire and |Delta| at ``distances`` (xi0) from every NS contact."""
    import csv

    from femprox.selfconsistency.transport import contact_ends

    tc = result.critical_temperature
    ends = contact_ends(result.geometry)
    s_wires = [w.name for w in result.geometry.wires if w.is_superconducting]
    usable = [(d, end) for d in distances for end in ends if d <= result.geometry.wire(end[0]).length]
    contact = {(d, end): result.contact_gap(d)[end] for d, end in usable}
    largest = {w: result.gap(w, gap_profile_positions(result.geometry, w)).max(axis=1) for w in s_wires}
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as handle:
        handle.write("# self-consistent pair potential per temperature (gaps and temperatures in Delta0, "
                     "distances in xi0)\n")
        handle.write(f"# critical_temperature = "
                     f"{'nan (not defined: S reservoirs)' if tc is None else repr(tc.temperature)}\n")
        handle.write("# max_gap_<wire>: largest |Delta| along the S wire (from 41 points); "
                     "gap_<wire>_<start|end>_<d>: |Delta| at distance d from the NS contact at that end\n")
        writer = csv.writer(handle)
        writer.writerow(["temperature", "newton_iterations", "energies", "seconds"]
                        + [f"max_gap_{w}" for w in s_wires]
                        + [f"gap_{end[0]}_{end[1]}_{d:g}" for d, end in usable])
        for k, t in enumerate(result.temperatures):
            writer.writerow([repr(float(t)), result.newton_iterations[k], result.energies[k],
                             f"{result.seconds[k]:.3f}"]
                            + [repr(float(largest[w][k])) for w in s_wires]
                            + [repr(float(contact[key][k])) for key in usable])
    return path
