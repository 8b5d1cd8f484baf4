"""Labelled results (femprox.output.results), general sweeps, run folders and Dask (femprox.workflows.distributed)."""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np
import pytest
import xarray as xr

from femprox.physics import bcs
from femprox.geometry import devices
from femprox.output import results
from femprox.workflows import sweeps
from femprox.workflows.distributed import RunFolder, run_grid_tasks, task_key
from femprox.paper.figures import HOUSE_FILE, T_JUNCTION_FILE
from femprox.geometry.files import load_geometry
from femprox.workflows.sweeps import MeshSettings, QUICK_GRID, SweepAxis

# coarse and quick: these tests check bookkeeping and equalities between routes, which hold
# exactly (same arithmetic) whatever the accuracy of the grid and the mesh
COARSE = MeshSettings(refine=0.5)
TEMPERATURES = [0.1, 0.3]  # different BCS gaps: two spectral solves per geometry
AXES = {"r": [0.1, 10.0], "length_n": [5.0, 10.0]}


@pytest.fixture(scope="module")
def serial_dataset():
    return results.parameter_sweep(T_JUNCTION_FILE, TEMPERATURES, AXES, grid=QUICK_GRID, mesh=COARSE)


def test_sweep_dataset_is_labelled_by_the_axes_and_temperature(serial_dataset):
    ds = serial_dataset
    assert ds["conductance_ratio"].dims == ("r", "length_n", "temperature")
    assert ds["heat"].dims == ("r", "length_n", "temperature", "row_terminal", "column_terminal")
    assert list(ds["r"].values) == [0.1, 10.0] and list(ds["length_n"].values) == [5.0, 10.0]
    assert list(ds["temperature"].values) == TEMPERATURES
    assert list(ds["row_terminal"].values) == ["left", "right"]
    assert json.loads(ds.attrs["axes"]) == {"r": "parameters.r", "length_n": "parameters.length_n"}
    assert ds.attrs["spectral_solves"] == 8 and len(ds.attrs["energies_per_solve"]) == 8
    assert ds.attrs["geometry_sha256"] == hashlib.sha256(T_JUNCTION_FILE.read_bytes()).hexdigest()
    assert {"numpy", "xarray", "h5netcdf"} <= set(json.loads(ds.attrs["versions"]))
    # the gap of each solve is BCS Delta(T), whatever the axis point
    assert np.array_equal(ds["gap_factor"].sel(r=10.0, length_n=5.0).values, [bcs.gap(0.1), bcs.gap(0.3)])
    # proximity effect: stronger for small r (kappa lower), every ratio physical
    kappa = ds["heat_conductance_ratio"]
    assert float(kappa.sel(r=0.1, length_n=10.0, temperature=0.1)) < float(kappa.sel(r=10.0, length_n=10.0,
                                                                                     temperature=0.1))
    assert bool(((kappa > 0) & (kappa < 1)).all())


def test_each_point_equals_a_plain_sweep_of_that_geometry(serial_dataset):
    # the same solve, the same arithmetic: equal to the last bit
    source = sweeps.GeometryFile.from_path(T_JUNCTION_FILE, {"parameters.r": 10.0, "parameters.length_n": 5.0})
    plain = sweeps.sweep(source.geometry(), TEMPERATURES, grid=QUICK_GRID, mesh=COARSE)
    point = serial_dataset.sel(r=10.0, length_n=5.0)
    assert np.array_equal(point["conductance_ratio"].values, plain.column("conductance_ratio"))
    assert np.array_equal(point["heat_conductance_ratio"].values, plain.column("heat_conductance_ratio"))
    assert np.array_equal(point["charge"].values[1], plain.points[1].matrices["charge"])


def test_netcdf_round_trip_is_identical(serial_dataset, tmp_path):
    path = results.save(serial_dataset, tmp_path / "sweep.nc")
    back = results.load(path)
    xr.testing.assert_identical(serial_dataset, back)
    assert back["heat_conductance_ratio"].attrs["units"] == "1"
    import femprox
    xr.testing.assert_identical(femprox.load(path), back)


def test_sweep_result_dataset_has_phase_and_temperature_dimensions():
    source = sweeps.GeometryFile.from_path(HOUSE_FILE, phase_key="parameters.phi")
    result = sweeps.sweep(source, [0.2], [0.0, math.pi], bcs_gaps=False, grid=QUICK_GRID, mesh=COARSE)
    ds = results.sweep_result_dataset(result, phase_key="parameters.phi")
    xr.testing.assert_equal(result.to_dataset("parameters.phi"), ds)  # values and coordinates (not attrs)
    assert ds["heat_conductance_ratio"].dims == ("phase", "temperature")
    assert list(ds["phase"].values) == [0.0, math.pi]
    # at phi = pi the minigap closes and heat flows as in the normal state (README: exactly kappa_N)
    assert float(ds["heat_conductance_ratio"].sel(phase=math.pi, temperature=0.2)) == pytest.approx(1.0, abs=1e-9)
    assert float(ds["heat_conductance_ratio"].sel(phase=0.0, temperature=0.2)) < 0.8


def test_axes_are_checked_before_any_solve():
    with pytest.raises(ValueError, match="repeats"):
        SweepAxis.make("r", [1.0, 1.0])
    with pytest.raises(ValueError, match="distinct names"):
        sweeps.grid_sweep_spec(T_JUNCTION_FILE, [0.1], [SweepAxis.make("r", [1]), SweepAxis.make("nodes.x.r", [2])])
    with pytest.raises(ValueError, match="fixed Geometry"):
        sweeps.grid_sweep_spec(load_geometry(T_JUNCTION_FILE), [0.1], {"r": [1.0]})
    with pytest.raises(ValueError, match="unknown"):  # a typo in a key is the geometry file's error
        sweeps.grid_sweep_spec(T_JUNCTION_FILE, [0.1], {"wires.left_arm.lenght": [1.0]})


def test_a_builder_function_is_swept_through_keyword_arguments():
    spec = sweeps.grid_sweep_spec(devices.t_junction, [0.05], {"r": [0.5, 2.0]}, grid=QUICK_GRID)
    conductances = [w.conductance for task in spec.tasks for w in task.geometry.wires if w.name.startswith("s")]
    assert conductances == pytest.approx([2 / math.sqrt(0.5), 2 / math.sqrt(2.0)])


def test_one_dynes_rate_for_every_superconductor():
    house = load_geometry(HOUSE_FILE)
    damped = sweeps.with_dynes(house, 0.01)
    superconductors = [w for w in damped.wires if w.is_superconducting] + [
        n for n in damped.nodes if n.kind.value == "superconducting_reservoir"]
    assert superconductors and all(s.dynes == 0.01 for s in superconductors)
    assert all(w.dynes == 0.0 for w in damped.wires if not w.is_superconducting)
    assert sweeps.with_dynes(house, None) is house
    with pytest.raises(ValueError):
        sweeps.with_dynes(house, -1.0)
    # physics: a Dynes rate puts states into the gap, which carry heat that a clean
    # superconductor blocks, so kappa/kappa_N grows with it at low T
    ds = results.parameter_sweep(T_JUNCTION_FILE, [0.05], {"r": [1.0]}, dynes=0.05, grid=QUICK_GRID, mesh=COARSE)
    clean = results.parameter_sweep(T_JUNCTION_FILE, [0.05], {"r": [1.0]}, grid=QUICK_GRID, mesh=COARSE)
    assert ds.attrs["dynes"] == 0.05 and math.isnan(clean.attrs["dynes"])
    assert float(ds["heat_conductance_ratio"].squeeze()) > float(clean["heat_conductance_ratio"].squeeze()) + 1e-3


# -- run folders and resuming -------------------------------------------------------------------

class _Interrupted(RuntimeError):
    pass


def test_an_interrupted_sweep_resumes_from_its_task_files(serial_dataset, tmp_path):
    spec = sweeps.grid_sweep_spec(T_JUNCTION_FILE, TEMPERATURES, AXES, grid=QUICK_GRID, mesh=COARSE)
    calls = []

    def dies_after_three(task):
        if len(calls) == 3:
            raise _Interrupted("killed")
        calls.append(task)
        return sweeps.run_grid_sweep_task(task)

    with pytest.raises(_Interrupted):
        run_grid_tasks(spec.tasks, function=dies_after_three, run_folder=tmp_path)
    assert len(RunFolder(tmp_path).finished()) == 3
    assert not list((tmp_path / "tasks").glob("*.tmp"))  # nothing half-written

    resumed_calls = []

    def counted(task):
        resumed_calls.append(task)
        return sweeps.run_grid_sweep_task(task)

    outputs = run_grid_tasks(spec.tasks, function=counted, run_folder=tmp_path, resume=True)
    assert len(resumed_calls) == len(spec.tasks) - 3  # only what was lost is computed again
    resumed = results.grid_sweep_dataset(spec, outputs)
    # a given function solves each task on its own (no warm start from the gap group before)
    alone = results.grid_sweep_dataset(spec, run_grid_tasks(spec.tasks, function=sweeps.run_grid_sweep_task))
    for name in results.POINT_VARIABLES + ("charge", "heat_error"):
        assert np.array_equal(resumed[name].values, alone[name].values), name  # read back bit for bit
        # the default chains warm-start the second gap group: the same roots (Newton's last
        # step below 1e-10, quadratic convergence), so ratios and their estimates within 1e-10
        np.testing.assert_allclose(alone[name].values, serial_dataset[name].values, rtol=0, atol=1e-10)


def test_a_resumed_sweep_runs_a_chain_again_whose_task_was_lost(serial_dataset, tmp_path, monkeypatch):
    spec = sweeps.grid_sweep_spec(T_JUNCTION_FILE, TEMPERATURES, AXES, grid=QUICK_GRID, mesh=COARSE)
    chains = sweeps.grid_task_chains(spec.tasks)
    assert chains == [(0, 1), (2, 3), (4, 5), (6, 7)]  # the two gap groups of each axis point
    run_grid_tasks(spec.tasks, run_folder=tmp_path)
    folder = RunFolder(tmp_path)
    folder.file(task_key(spec.tasks[3])).unlink()  # the second, warm-started solve of a chain
    solved = []
    original = sweeps._solve_and_respond
    monkeypatch.setattr(sweeps, "_solve_and_respond", lambda task, *args: solved.append(task) or original(task, *args))
    written = {key: folder.file(key).stat().st_mtime_ns for key in folder.finished()}
    outputs = run_grid_tasks(spec.tasks, run_folder=tmp_path, resume=True)
    # the chain is solved again from its start, so that the lost task starts from the same
    # solution as before; the task file that was there is left as it was
    assert solved == [spec.tasks[2], spec.tasks[3]]
    assert all(folder.file(key).stat().st_mtime_ns == time for key, time in written.items())
    resumed = results.grid_sweep_dataset(spec, outputs)
    for name in results.POINT_VARIABLES + ("charge", "heat_error"):
        assert np.array_equal(resumed[name].values, serial_dataset[name].values), name


def test_task_keys_change_with_every_input():
    spec = sweeps.grid_sweep_spec(T_JUNCTION_FILE, TEMPERATURES, AXES, grid=QUICK_GRID, mesh=COARSE)
    keys = {task_key(t) for t in spec.tasks}
    assert len(keys) == len(spec.tasks)
    other_mesh = sweeps.grid_sweep_spec(T_JUNCTION_FILE, TEMPERATURES, AXES, grid=QUICK_GRID)
    assert not keys & {task_key(t) for t in other_mesh.tasks}
    again = sweeps.grid_sweep_spec(T_JUNCTION_FILE, TEMPERATURES, AXES, grid=QUICK_GRID, mesh=COARSE)
    assert keys == {task_key(t) for t in again.tasks}


def test_resume_needs_a_folder():
    with pytest.raises(ValueError, match="run folder"):
        run_grid_tasks([], resume=True)


# -- Dask ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    # in-process and small: two single-threaded workers in this process, no dashboard
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
    client = distributed.Client(cluster)
    yield client
    client.close()
    cluster.close()


def test_a_sweep_on_a_dask_cluster_equals_the_serial_one(serial_dataset, dask_client, tmp_path):
    ds = results.parameter_sweep(T_JUNCTION_FILE, TEMPERATURES, AXES, grid=QUICK_GRID, mesh=COARSE,
                                 client=dask_client, run_folder=tmp_path)
    for name in results.POINT_VARIABLES + results.MATRIX_VARIABLES:
        assert np.array_equal(ds[name].values, serial_dataset[name].values), name
    assert len(RunFolder(tmp_path).finished()) == ds.attrs["spectral_solves"]


def test_existing_plans_run_on_dask_through_its_executor(dask_client):
    geometry = load_geometry(T_JUNCTION_FILE)
    serial = sweeps.sweep(geometry, TEMPERATURES, grid=QUICK_GRID, mesh=COARSE)
    on_dask = sweeps.sweep(geometry, TEMPERATURES, grid=QUICK_GRID, mesh=COARSE,
                           executor=dask_client.get_executor())
    assert np.array_equal(serial.column("heat_conductance_ratio"), on_dask.column("heat_conductance_ratio"))


def test_plain_sweep_takes_the_same_global_dynes_rate(serial_dataset):
    geometry = load_geometry(T_JUNCTION_FILE)
    damped = sweeps.sweep(geometry, [0.05], grid=QUICK_GRID, mesh=COARSE, dynes=0.05).points[0]
    ds = results.parameter_sweep(T_JUNCTION_FILE, [0.05], dynes=0.05, grid=QUICK_GRID, mesh=COARSE)
    assert damped.heat_conductance_ratio == float(ds["heat_conductance_ratio"].squeeze())


def test_transmitted_mode_through_a_sweep_equals_the_response_method():
    from networks import asymmetric_house

    from femprox.observables.energy_grid import energy_grid, solve_on_grid
    from femprox.observables.conductance import linear_response

    geometry = asymmetric_house(1.0)
    ds = results.parameter_sweep(geometry, [0.3], others="transmitted", grid=sweeps.FINE_GRID, bcs_gaps=False)
    grid = energy_grid(geometry, [0.3])
    _, conductance = solve_on_grid(geometry, grid)
    pair = linear_response(conductance, grid, 0.3).two_terminal("left", "right", others="transmitted")
    assert float(ds["heat_conductance_ratio"].squeeze()) == pytest.approx(pair.heat_conductance_ratio, abs=1e-13)
    assert float(ds["conductance_ratio"].squeeze()) == pytest.approx(pair.conductance_ratio, abs=1e-13)
    assert ds.attrs["others"] == "transmitted"


class _DiesOnce:
    """Runs a task; the first attempt at the ``victim`` task kills its worker process (each
    attempt leaves a file in ``folder``, so the test can count them across processes)."""

    def __init__(self, folder, victim: str):
        self.folder, self.victim = str(folder), victim

    def __call__(self, task):
        import os
        import time
        import uuid
        from pathlib import Path

        folder, name = Path(self.folder), f"{task.coordinates}"
        (folder / f"attempt-{uuid.uuid4().hex}").write_text(name)
        if name == self.victim and not (folder / "killed").exists():
            (folder / "killed").write_text(name)
            # let the client collect (and release) what this worker finished before, so that
            # only this task is lost, then die mid-task as if the machine went away
            time.sleep(1.0)
            os._exit(1)
        return sweeps.run_grid_sweep_task(task)


@pytest.mark.slow  # ~6 s: starts two worker processes and loses one
def test_a_lost_worker_loses_only_its_task(tmp_path):
    import sys

    distributed = pytest.importorskip("distributed")
    import cloudpickle

    # the workers are separate processes that cannot import this test module: ship it by value
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    spec = sweeps.grid_sweep_spec(T_JUNCTION_FILE, [0.1], {"r": [0.1, 1.0, 10.0]}, grid=QUICK_GRID, mesh=COARSE)
    victim = f"{spec.tasks[1].coordinates}"
    attempts = tmp_path / "attempts"
    attempts.mkdir()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        outputs = run_grid_tasks(spec.tasks, function=_DiesOnce(attempts, victim), client=client,
                                 run_folder=tmp_path / "run")
    names = [p.read_text() for p in attempts.glob("attempt-*")]
    # the scheduler gave the lost task to a worker again; nothing else was computed twice
    assert names.count(victim) == 2 and len(names) == len(spec.tasks) + 1
    assert len(RunFolder(tmp_path / "run").finished()) == len(spec.tasks)
    serial = run_grid_tasks(spec.tasks)
    assert [o.points[0].heat_conductance_ratio for o in outputs] == [o.points[0].heat_conductance_ratio
                                                                     for o in serial]


def test_provenance_keeps_the_geometry_as_given_not_at_temperature(serial_dataset):
    # the resolved TOML is the file at the first axis point (r = 0.1, length_n = 5), with its
    # zero-temperature gap, not the copy with BCS Delta(T) that was solved
    reloaded = load_geometry(T_JUNCTION_FILE, {"parameters.r": 0.1, "parameters.length_n": 5.0})
    from femprox.geometry.files import geometry_to_toml

    assert serial_dataset.attrs["geometry_resolved_toml"] == geometry_to_toml(reloaded)
