"""``femprox solve --self-consistent`` and ``femprox mesh --self-consistent``: the files, what
they say (T_c, Delta(x)), and clear refusals."""

import json
from pathlib import Path

import numpy as np
import pytest

from femprox import cli
from femprox.output import results
from femprox.output.export import read_network
from cli_helpers import read_csv, run

ROOT = Path(__file__).resolve().parent.parent
T_JUNCTION = str(ROOT / "geometries" / "t_junction.toml")
NS_WIRE = str(ROOT / "geometries" / "ns_wire.toml")


def one_line_error(status, err, *fragments):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("femprox: error: ") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def solved(tmp_path_factory):
    out = tmp_path_factory.mktemp("sc") / "run"
    status = cli.main(["solve", T_JUNCTION, "--self-consistent", "--temperatures", "0.2", "0.56", "-o", str(out),
                       "--no-progress", "--grid", "quick"])
    assert status == 0
    return out


def test_solve_writes_tc_and_profiles(solved):
    for name in cli.SELF_CONSISTENT_FILES:
        assert (solved / name).stat().st_size > 0, name
    run_record = json.loads((solved / "run.json").read_text())["settings"]
    tc = run_record["critical_temperature"]
    assert tc == pytest.approx(0.5496701, rel=1e-6)  # the T-junction's T_c (tests/test_selfconsistency.py)
    assert run_record["newton_iterations"][1] == 0  # T = 0.56 > T_c: normal
    # no supercurrent can flow (one S wire, one phase): the automatic phase is the rigid one;
    # no S reservoir: the converted charge has nowhere to be split to
    assert run_record["phase"] == "rigid" and run_record["condensate_split"] is False
    dataset = results.load(solved / "results.nc")
    assert dataset.attrs["critical_temperature"] == pytest.approx(tc, rel=1e-15)
    gap = dataset["gap_s_arm"]
    assert gap.dims == ("temperature", "x_s_arm") and gap.shape == (2, results.PROFILE_POINTS)
    assert float(gap.sel(temperature=0.56).max()) == 0.0
    # rises from the contact toward the free end, where it is close to the bulk gap (0.99 at T = 0.2)
    profile = gap.sel(temperature=0.2).values
    assert profile[1] < profile[20] < profile[-1] and profile[-1] == pytest.approx(0.99, abs=0.01)
    rows = read_csv(solved / "gap_profiles.csv")
    assert len(rows) == 2 * results.PROFILE_POINTS
    from_csv = np.array([float(r["gap"]) for r in rows if float(r["temperature"]) == 0.2])
    assert np.array_equal(from_csv, profile)  # exact: repr() in the CSV
    summary = read_csv(solved / "self_consistency.csv")
    assert float(summary[0]["gap_s_arm_start_1"]) == pytest.approx(float(gap.sel(temperature=0.2).interp(x_s_arm=1.0)),
                                                                    abs=0.02)  # 41-point linear interpolation
    transport = read_csv(solved / "results.csv")
    assert float(transport[1]["heat_conductance_ratio"]) == pytest.approx(1.0, abs=1e-9)


def test_solve_refuses_to_overwrite(solved, capsys):
    status, _, err = run(["solve", T_JUNCTION, "--self-consistent", "-o", solved, "--no-progress"], capsys)
    one_line_error(status, err, "exists", "--overwrite")


@pytest.mark.parametrize("extra, fragment", [
    (["--phases", "0", "1"], "--phases"),
    (["--fixed-gaps"], "--fixed-gaps"),
    (["--order", "2"], "--order"),
    (["--accuracy", "fast"], "--accuracy"),
    (["--temperatures", "0.1", "0.1"], "twice"),
])
def test_solve_refuses_what_makes_no_sense(tmp_path, capsys, extra, fragment):
    status, _, err = run(["solve", T_JUNCTION, "--self-consistent", "-o", tmp_path / "x", "--no-progress"] + extra,
                         capsys)
    one_line_error(status, err, fragment)
    assert not (tmp_path / "x").exists()


def test_network_without_s_wires_is_refused(tmp_path, capsys):
    status, _, err = run(["solve", NS_WIRE, "--self-consistent", "-o", tmp_path / "x", "--no-progress"], capsys)
    one_line_error(status, err, "ns_wire.toml", "no superconducting wire")
    assert not (tmp_path / "x").exists()
    status, _, err = run(["mesh", NS_WIRE, "--self-consistent", "--temperature", "0.1", "--export",
                          tmp_path / "n.vtu"], capsys)
    one_line_error(status, err, "no superconducting wire")


def test_phase_needs_self_consistent(tmp_path, capsys):
    status, _, err = run(["solve", T_JUNCTION, "--phase", "rigid", "-o", tmp_path / "x", "--no-progress"], capsys)
    one_line_error(status, err, "--phase needs --self-consistent")
    status, _, err = run(["mesh", T_JUNCTION, "--phase", "self-consistent", "--export", tmp_path / "m.vtu"], capsys)
    one_line_error(status, err, "--phase needs --self-consistent")
    assert not (tmp_path / "x").exists() and not (tmp_path / "m.vtu").exists()


def test_sweep_runs_one_chain_per_axis_point_with_the_numbers_of_solve(solved, tmp_path, capsys):
    # the same chain (T = 0.2, 0.56, quick grid) as the solve fixture at r = 1 (the file's
    # value), next to r = 10: each axis point is one task, so r = 1 must give solve's numbers
    out = tmp_path / "sweep"
    status, printed, _ = run(["sweep", T_JUNCTION, "--sweep", "r=1,10", "--temperatures", "0.2", "0.56",
                              "--self-consistent", "--grid", "quick", "-o", out, "--no-progress", "--jobs", "1"],
                             capsys)
    assert status == 0 and "2 self-consistent chains of temperatures" in printed
    dataset = results.load(out / "results.nc")
    assert dataset.attrs["self_consistent"] == 1
    tc = dataset["critical_temperature"]
    assert tc.dims == ("r",)
    assert float(tc.sel(r=1.0)) == json.loads((solved / "run.json").read_text())["settings"]["critical_temperature"]
    # a larger r (S wire of lower conductance against the N wire) lets the N wire suppress the
    # pair potential more (inverse proximity effect): measured 0.5482 at r = 10 against 0.5497
    # at r = 1, both below the bulk T_c = 0.5669
    assert float(tc.sel(r=10.0)) < float(tc.sel(r=1.0)) < 0.5669
    solve_rows = read_csv(solved / "results.csv")
    for row, expected in zip(dataset.sel(r=1.0)["heat_conductance_ratio"].values, solve_rows):
        assert row == float(expected["heat_conductance_ratio"])
    settings = json.loads((out / "run.json").read_text())["settings"]
    assert settings["self_consistent"] is True and settings["phase"] == "auto"
    table = read_csv(out / "critical_temperature.csv")
    assert [(float(row["r"]), float(row["critical_temperature"])) for row in table] == \
        [(1.0, float(tc.sel(r=1.0))), (10.0, float(tc.sel(r=10.0)))]  # exact: repr() in the CSV
    # each chain's task file keeps its T_c; resumed, every chain is read back from there
    from femprox.workflows.distributed import RunFolder

    folder = RunFolder(out)
    assert sorted(folder.read(key).critical_temperature for key in folder.finished()) == sorted(tc.values)
    status, _, _ = run(["sweep", T_JUNCTION, "--sweep", "r=1,10", "--temperatures", "0.2", "0.56",
                        "--self-consistent", "--grid", "quick", "-o", out, "--no-progress", "--jobs", "1",
                        "--resume"], capsys)
    assert status == 0
    resumed = results.load(out / "results.nc")
    assert np.array_equal(resumed["critical_temperature"].values, tc.values)
    assert np.array_equal(resumed["heat_conductance_ratio"].values, dataset["heat_conductance_ratio"].values)


@pytest.mark.parametrize("extra, fragment", [
    (["--fixed-gaps"], "--fixed-gaps"),
    (["--dynes", "0.01"], "--dynes"),
    (["--order", "2"], "--order"),
    (["--accuracy", "fast"], "--accuracy"),
])
def test_sweep_refuses_what_makes_no_sense(tmp_path, capsys, extra, fragment):
    status, _, err = run(["sweep", T_JUNCTION, "--sweep", "r=1", "--self-consistent", "-o", tmp_path / "x",
                          "--no-progress"] + extra, capsys)
    one_line_error(status, err, fragment)
    assert not (tmp_path / "x").exists()


def test_sweep_names_the_point_without_s_wires(tmp_path, capsys):
    status, _, err = run(["sweep", NS_WIRE, "--sweep", "wires.wire.length=4,6", "--self-consistent",
                          "-o", tmp_path / "x", "--no-progress"], capsys)
    one_line_error(status, err, "ns_wire.toml", "length = 4", "no superconducting wire")
    status, _, err = run(["sweep", T_JUNCTION, "--sweep", "r=1", "--phase", "rigid", "-o", tmp_path / "x"], capsys)
    one_line_error(status, err, "--phase needs --self-consistent")
    assert not (tmp_path / "x").exists()


def test_mesh_export_has_delta_and_its_phase(tmp_path, capsys):
    # a phase 0.7 on the S arm is kept (only |Delta| is solved): exported as gap_phase
    path = tmp_path / "field.vtu"
    status, out, _ = run(["mesh", T_JUNCTION, "--self-consistent", "--temperature", "0.2", "--energies", "0.5",
                          "--set", "wires.s_arm.phase=0.7", "--export", path], capsys)
    assert status == 0 and "Newton iterations" in out
    mesh = read_network(path)
    gap, phase = mesh.point_data["gap"], mesh.point_data["gap_phase"]
    assert gap.max() == pytest.approx(0.99, abs=0.01)
    assert np.allclose(phase[gap > 0], 0.7, rtol=0, atol=1e-12)
    assert np.all(phase[gap == 0] == 0)
    assert "dos_E0.5" in mesh.point_data
    status, _, err = run(["mesh", T_JUNCTION, "--self-consistent", "--temperature", "0.2", "--export", path], capsys)
    one_line_error(status, err, "exists")
    status, _, err = run(["mesh", T_JUNCTION, "--self-consistent", "--export", tmp_path / "b.vtu"], capsys)
    one_line_error(status, err, "--temperature")


def test_critical_temperature_table_leaves_points_without_tc_empty(tmp_path):
    import xarray as xr

    from femprox.api import write_critical_temperature_csv

    dataset = xr.Dataset({"critical_temperature": ("length_s", np.array([np.nan, 0.2817871688576431]))},
                         coords={"length_s": [1.0, 2.0]}, attrs={"axes": json.dumps({"length_s": "parameters.length_s"})})
    rows = read_csv(write_critical_temperature_csv(dataset, tmp_path / "tc.csv"))
    assert rows == [{"length_s": "1.0", "critical_temperature": ""},
                    {"length_s": "2.0", "critical_temperature": "0.2817871688576431"}]
