"""``femprox sweep`` (general sweeps, netCDF results, Dask, --resume), ``solve``'s results.nc and
``python -m femprox``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import meshio
import numpy as np
import pytest

import femprox
from femprox import cli
from femprox.workflows import sweeps
from cli_helpers import read_csv, run

ROOT = Path(__file__).resolve().parent.parent
T_JUNCTION = str(ROOT / "geometries" / "t_junction.toml")
HOUSE = str(ROOT / "geometries" / "house_interferometer.toml")
NS_WIRE = str(ROOT / "geometries" / "ns_wire.toml")
QUICK = ["--grid", "quick", "--refine", "0.5", "--no-progress", "--jobs", "1"]


def one_line_error(status, err, fragment):
    assert status == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("femprox: error: ") and fragment in err, err


def test_sweep_writes_a_labelled_result_and_tables_with_the_same_names(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["sweep", T_JUNCTION, "--sweep", "r=0.1,10", "--sweep", "length_n=5:10:2", "--temperatures", "0.1",
            "0.3", "-o", out, *QUICK]
    status, stdout, err = run(args, capsys)
    assert status == 0, err
    assert "8 spectral solves" in stdout
    ds = femprox.load(out / "results.nc")
    assert ds["heat_conductance_ratio"].dims == ("r", "length_n", "temperature")
    assert list(ds["length_n"].values) == [5.0, 10.0]
    rows = read_csv(out / "results.csv")
    assert list(rows[0])[:3] == ["r", "length_n", "temperature"]
    assert len(rows) == 8
    # the CSV columns are the Dataset's variables, value for value
    for row in rows:
        point = ds.sel(r=float(row["r"]), length_n=float(row["length_n"]), temperature=float(row["temperature"]))
        for name in ("conductance_ratio", "heat_conductance_ratio", "seebeck", "gap_factor"):
            assert float(row[name]) == float(point[name]), name
    matrices = read_csv(out / "matrices.csv")
    assert len(matrices) == 8 * 5 * 4  # points x matrices x terminal pairs
    heat = [m for m in matrices if m["matrix"] == "heat" and m["r"] == "10.0" and m["length_n"] == "5.0"
            and m["temperature"] == "0.3" and m["row_terminal"] == "left" and m["column_terminal"] == "right"]
    assert float(heat[0]["value"]) == float(ds["heat"].sel(r=10, length_n=5, temperature=0.3,
                                                          row_terminal="left", column_terminal="right"))
    record = json.loads((out / "run.json").read_text())
    assert record["command"] == "sweep"
    assert record["settings"]["axes"][1] == {"name": "length_n", "key": "parameters.length_n", "values": [5.0, 10.0]}
    assert len(list((out / "tasks").glob("*.json"))) == 8

    # an existing folder is refused without --resume or --overwrite
    status, _, err = run(args, capsys)
    one_line_error(status, err, "--resume")


def test_sweep_resume_computes_only_the_missing_solves(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    args = ["sweep", T_JUNCTION, "--sweep", "r=1,10", "--temperatures", "0.1", "-o", out, *QUICK]
    assert run(args, capsys)[0] == 0
    first = femprox.load(out / "results.nc")
    lost = sorted((out / "tasks").glob("*.json"))[0]
    lost.unlink()  # as if the sweep had been stopped before this solve finished
    calls = []
    original = sweeps.run_grid_sweep_task
    monkeypatch.setattr(sweeps, "run_grid_sweep_task", lambda task: calls.append(task) or original(task))
    assert run(args + ["--resume"], capsys)[0] == 0
    assert len(calls) == 1
    resumed = femprox.load(out / "results.nc")
    assert np.array_equal(resumed["heat_conductance_ratio"].values, first["heat_conductance_ratio"].values)


def test_sweep_runs_on_a_dask_scheduler_address(tmp_path, capsys):
    distributed = pytest.importorskip("distributed")
    # a real TCP scheduler, its workers threads of this process (small and quick)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp",
                                  dashboard_address=None) as cluster:
        out = tmp_path / "dask"
        status, _, err = run(["sweep", T_JUNCTION, "--sweep", "r=1,10", "--temperatures", "0.1", "-o", out,
                              "--scheduler", cluster.scheduler_address, *QUICK], capsys)
    assert status == 0, err
    assert json.loads((out / "run.json").read_text())["settings"]["scheduler"] is not None
    reference = tmp_path / "serial"
    assert run(["sweep", T_JUNCTION, "--sweep", "r=1,10", "--temperatures", "0.1", "-o", reference, *QUICK],
               capsys)[0] == 0
    assert np.array_equal(femprox.load(out / "results.nc")["conductance_ratio"].values,
                          femprox.load(reference / "results.nc")["conductance_ratio"].values)


@pytest.mark.parametrize("extra, fragment", [
    (["--sweep", "r"], "bad --sweep"),
    (["--sweep", "r=1", "--sweep", "parameters.r=2"], "given twice"),
    (["--sweep", "r=1:2:x"], "not a number"),
    (["--sweep", "r=1:2:0.5"], "count"),
    (["--sweep", "nosuch=1"], "nosuch"),
    (["--dynes", "-1"], "--dynes"),
])
def test_bad_sweep_options_give_one_line_before_any_folder(extra, fragment, tmp_path, capsys):
    out = tmp_path / "never"
    status, _, err = run(["sweep", T_JUNCTION, "-o", out, *QUICK, *extra], capsys)
    one_line_error(status, err, fragment)
    assert not out.exists()


def test_sweep_with_a_global_dynes_rate_records_it(tmp_path, capsys):
    out = tmp_path / "dynes"
    assert run(["sweep", HOUSE, "--sweep", "phi=0", "--temperatures", "0.2", "--dynes", "0.02", "-o", out, *QUICK],
               capsys)[0] == 0
    ds = femprox.load(out / "results.nc")
    assert ds.attrs["dynes"] == 0.02
    assert json.loads((out / "run.json").read_text())["settings"]["dynes"] == 0.02


def test_sweep_takes_an_accuracy_level(tmp_path, capsys):
    out = tmp_path / "fast"
    assert run(["sweep", NS_WIRE, "--sweep", "wires.wire.length=4,6", "--temperatures", "0.1", "--accuracy", "fast",
                "-o", out, "--no-progress", "--jobs", "1"], capsys)[0] == 0
    settings = json.loads((out / "run.json").read_text())["settings"]
    assert settings["mesh"] == {"refine": 0.3, "order": 5} and settings["energy_grid"]["order"] == 6
    status, _, err = run(["sweep", NS_WIRE, "--sweep", "wires.wire.length=4", "--accuracy", "fast", "-o",
                          tmp_path / "x", *QUICK], capsys)
    one_line_error(status, err, "--accuracy sets the energy grid and the mesh: give it or --grid, --refine")
    assert not (tmp_path / "x").exists()


def test_solve_writes_results_nc_beside_its_csv(tmp_path, capsys):
    out = tmp_path / "solve"
    assert run(["solve", HOUSE, "--temperatures", "0.1", "0.2", "--phases", "0:pi:3", "-o", out, *QUICK],
               capsys)[0] == 0
    ds = femprox.load(out / "results.nc")
    rows = read_csv(out / "results.csv")
    assert ds["heat_conductance_ratio"].dims == ("phase", "temperature")
    assert json.loads(ds.attrs["axes"]) == {"phase": "parameters.phi"}
    for row in rows:
        point = ds.sel(phase=float(row["phase"]), temperature=float(row["temperature"]))
        assert float(row["heat_conductance_ratio"]) == float(point["heat_conductance_ratio"])
        assert float(row["conductance_ratio"]) == float(point["conductance_ratio"])


def test_python_dash_m_runs_the_command_line():
    done = subprocess.run([sys.executable, "-m", "femprox", "--version"], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == f"femprox {femprox.__version__}"
    assert (ROOT / "femprox" / "py.typed").exists()


def test_command_line_script_flushes_its_output_and_keeps_the_exit_status(tmp_path):
    # the script ends with os._exit (no interpreter teardown): piped output must still arrive
    # in full, files be complete, and failures keep their status
    mesh = [sys.executable, "-m", "femprox", "mesh", T_JUNCTION]
    done = subprocess.run(mesh + ["--export", "m.vtu"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.startswith("wrote ") and done.stdout.endswith("m.vtu\n")
    assert meshio.read(tmp_path / "m.vtu").points.shape[0] > 0
    failed = subprocess.run(mesh, capture_output=True, text=True, cwd=tmp_path)
    assert failed.returncode == 2 and failed.stderr == "femprox: error: mesh: give --export FILE and/or --draw FILE.png\n"


def test_command_line_stops_quietly_when_its_reader_goes_away(tmp_path):
    # ``femprox mesh ... | head -c 0``: the file is written, then stdout is a dead pipe; like
    # ``yes | head`` the command ends with 128 + SIGPIPE and no error message
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run([sys.executable, "-m", "femprox", "mesh", T_JUNCTION, "--export", "m.vtu"],
                              stdout=writer, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    finally:
        os.close(writer)
    assert done.returncode == cli.EXIT_BROKEN_PIPE == 141 and done.stderr == ""
    assert meshio.read(tmp_path / "m.vtu").points.shape[0] > 0


def test_sweep_overwrite_starts_afresh(tmp_path, capsys):
    out = tmp_path / "run"
    assert run(["sweep", T_JUNCTION, "--sweep", "r=1,10", "--temperatures", "0.1", "-o", out, *QUICK], capsys)[0] == 0
    assert run(["sweep", T_JUNCTION, "--sweep", "r=2", "--temperatures", "0.1", "-o", out, "--overwrite", *QUICK],
               capsys)[0] == 0
    assert len(list((out / "tasks").glob("*.json"))) == 1  # only the new run's solve
    assert list(femprox.load(out / "results.nc")["r"].values) == [2.0]


@pytest.mark.parametrize("args, fragment", [
    (["sweep", T_JUNCTION, "--temperatures", "1e5", *QUICK], "out of range"),
    (["sweep", T_JUNCTION, "--sweep", "wires.left_arm.length=1e9", *QUICK], "out of range"),
    (["sweep", T_JUNCTION, "--sweep", "r=1:10:5000", "--temperatures", "0.01:0.5:5000", *QUICK], "at most"),
    (["dos", T_JUNCTION, "--energies", "1e6"], "out of range"),
    (["iv", NS_WIRE, "--biases", "1e6"], "out of range"),
    (["supercurrent", T_JUNCTION, "--phases", "1e6", "--phase-key", "r"], "out of range"),
])
def test_new_commands_check_value_ranges_first(args, fragment, tmp_path, capsys):
    out = tmp_path / "never"
    status, _, err = run(args + ["-o", out], capsys)
    one_line_error(status, err, fragment)
    assert not out.exists()
