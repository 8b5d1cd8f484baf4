"""The femprox command line end to end: files written, exit codes, one-line errors."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from femprox import cli
from femprox.workflows import sweeps
from femprox.spectral.solver import SpectralConvergenceError
from cli_helpers import read_csv, run

ROOT = Path(__file__).resolve().parent.parent
T_JUNCTION = str(ROOT / "geometries" / "t_junction.toml")
HOUSE = str(ROOT / "geometries" / "house_interferometer.toml")
BAD_GEOMETRIES = sorted((ROOT / "tests" / "data" / "bad_geometries").glob("*.toml"))


def assert_one_line_error(status, err, *fragments):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("femprox: error: ")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


# -- femprox paper --------------------------------------------------------------------------

@pytest.mark.slow  # ~10 s: 46 spectral solves on coarse grids
def test_paper_quick_writes_both_figures_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "paper"
    status, stdout, _ = run(["paper", "--quick", "-o", out, "--no-progress", "--jobs", "1"], capsys)
    assert status == 0
    for name in ("figure3.png", "figure3.csv", "figure4.png", "figure4.csv", "long_wire_slopes.csv",
                 "paper_checks.txt", "run.json"):
        assert (out / name).stat().st_size > 0, name
    assert "Fig. 3" in stdout and "Fig. 4" in stdout
    fig3 = read_csv(out / "figure3.csv")
    assert {float(row["r"]) for row in fig3} == {0.1, 1.0, 10.0}
    kappa = np.array([float(row["heat_conductance_ratio"]) for row in fig3])
    assert np.all(np.isfinite(kappa)) and np.all(kappa <= 1 + 1e-9)
    fig4 = read_csv(out / "figure4.csv")
    phases = np.array([float(row["phase"]) for row in fig4])
    assert phases.min() == 0.0 and phases.max() == pytest.approx(2 * np.pi, abs=1e-12)
    comment = (out / "figure4.csv").read_text().splitlines()[1]
    assert "radians" in comment and "Delta0" in comment  # units in the header
    record = json.loads((out / "run.json").read_text())
    assert set(record["versions"]) >= {"femprox", "numpy", "scipy", "scikit-fem"}
    # a second run must not silently replace the results
    status, _, err = run(["paper", "--quick", "-o", out, "--no-progress"], capsys)
    assert_one_line_error(status, err, "exists", "--overwrite")


# -- femprox solve ----------------------------------------------------------------------------

def test_solve_writes_results_matrices_and_a_reproducible_record(tmp_path, capsys):
    out = tmp_path / "solve"
    status, stdout, _ = run(["solve", T_JUNCTION, "--set", "r=10", "--temperatures", "0.05", "0.3",
                             "--grid", "quick", "-o", out, "--no-progress", "--jobs", "1"], capsys)
    assert status == 0
    assert "kappa/kappa_N" in stdout
    rows = read_csv(out / "results.csv")
    assert [float(r["temperature"]) for r in rows] == [0.05, 0.3]
    assert all(0 < float(r["heat_conductance_ratio"]) < 1 for r in rows)
    matrices = read_csv(out / "matrices.csv")
    assert {r["matrix"] for r in matrices} == {"charge", "thermoelectric", "peltier", "heat", "normal"}
    assert len(matrices) == 2 * 5 * 2 * 2  # temperatures x matrices x terminals^2
    record = json.loads((out / "run.json").read_text())
    settings = record["settings"]
    assert settings["geometry"]["sha256"] == hashlib.sha256(Path(T_JUNCTION).read_bytes()).hexdigest()
    assert settings["geometry"]["toml"] == Path(T_JUNCTION).read_text()
    assert settings["geometry"]["overrides"] == {"parameters.r": 10}
    assert settings["temperatures"] == [0.05, 0.3]
    assert "mesh_description" in settings and "energy_grid" in settings
    assert set(record["versions"]) >= {"femprox", "numpy", "scipy", "scikit-fem"}
    assert (out / "sweep.png").stat().st_size > 0


def test_solve_sweeps_the_phase_parameter_and_overwrites_only_when_asked(tmp_path, capsys):
    out = tmp_path / "house"
    args = ["solve", HOUSE, "--temperatures", "0.1", "--phases", "0:pi:3", "--grid", "quick", "-o", out,
            "--no-progress", "--jobs", "1"]
    assert run(args, capsys)[0] == 0
    rows = read_csv(out / "results.csv")
    assert [float(r["phase"]) for r in rows] == pytest.approx([0, np.pi / 2, np.pi])
    # phi = pi closes the minigap: the N wire is exactly normal
    assert float(rows[-1]["heat_conductance_ratio"]) == pytest.approx(1.0, abs=1e-9)
    status, _, err = run(args, capsys)
    assert_one_line_error(status, err, "exists")
    assert run(args + ["--overwrite"], capsys)[0] == 0


def test_solve_with_the_adaptive_grid_records_its_tolerance(tmp_path, capsys):
    out = tmp_path / "adaptive"
    args = ["solve", HOUSE, "--temperatures", "0.1", "--phases", "2.6", "--grid", "adaptive", "-o", out,
            "--no-progress", "--jobs", "1"]
    assert run(args, capsys)[0] == 0
    rows = read_csv(out / "results.csv")
    # estimates of the adaptive grid are conservative and small here (1e-5 measured)
    assert float(rows[0]["conductance_ratio_error"]) < 1e-4
    assert json.loads((out / "run.json").read_text())["settings"]["energy_grid"]["adaptive_tolerance"] == \
        sweeps.ADAPTIVE_GRID.adaptive_tolerance


def test_solve_takes_an_accuracy_level_instead_of_grid_and_mesh(tmp_path, capsys):
    out = tmp_path / "fast"
    args = ["solve", T_JUNCTION, "--temperatures", "0.05", "0.2", "--accuracy", "fast", "-o", out,
            "--no-progress", "--jobs", "1"]
    assert run(args, capsys)[0] == 0
    settings = json.loads((out / "run.json").read_text())["settings"]
    level = sweeps.ACCURACY_LEVELS["fast"]
    assert settings["mesh"] == {"refine": level.mesh.refine, "order": level.mesh.order}
    assert settings["energy_grid"]["order"] == level.grid.order
    # the same numbers as the Python call with that level
    expected = sweeps.sweep(sweeps.GeometryFile.from_path(T_JUNCTION).geometry(), [0.05, 0.2], accuracy="fast")
    rows = read_csv(out / "results.csv")
    np.testing.assert_allclose([float(r["heat_conductance_ratio"]) for r in rows],
                               expected.column("heat_conductance_ratio"), rtol=1e-12)
    for extra, named in ((["--grid", "quick"], "--grid"), (["--refine", "0.5"], "--refine"),
                         (["--order", "4", "--grid", "fine"], "--grid, --order")):
        status, _, err = run(args[:-5] + extra + ["-o", tmp_path / "x", "--no-progress"], capsys)
        assert_one_line_error(status, err, "--accuracy", named, "not both")
    assert not (tmp_path / "x").exists()
    status, _, err = run(args[:-5] + ["--accuracy", "best", "-o", tmp_path / "x"], capsys)
    assert status == 2 and "invalid choice: 'best'" in err


# -- femprox mesh and convergence ---------------------------------------------------------------

def test_mesh_exports_point_data_and_draws(tmp_path, capsys):
    import meshio

    vtu, png = tmp_path / "t.vtu", tmp_path / "t.png"
    status, _, _ = run(["mesh", T_JUNCTION, "--export", vtu, "--energies", "0.1", "0.5", "--draw", png], capsys)
    assert status == 0
    data = meshio.read(vtu).point_data
    assert {"dos_E0.1", "d_l_E0.5", "d_t_E0.1"} <= set(data)
    assert png.stat().st_size > 0
    status, _, err = run(["mesh", T_JUNCTION, "--export", vtu], capsys)
    assert_one_line_error(status, err, "exists")


def test_mesh_export_takes_a_temperature_and_biases(tmp_path, capsys):
    import meshio

    nis = str(ROOT / "geometries" / "nis_thermometer.toml")
    vtu = tmp_path / "nis.vtu"
    status, out, _ = run(["mesh", nis, "--export", vtu, "--energies", "0.5", "--temperature", "0.1",
                          "--bias", "left=0.9", "--bias", "right=0.9"], capsys)
    assert status == 0 and "nis.vtu" in out
    f_t = meshio.read(vtu).point_data["f_T_E0.5"]
    assert f_t[0] == pytest.approx(0.5 * (np.tanh(7.0) - np.tanh(-2.0)), abs=1e-12)  # reservoir 'left'
    status, _, err = run(["mesh", nis, "--export", tmp_path / "a.vtu", "--energies", "0.5", "--bias", "left"], capsys)
    assert_one_line_error(status, err, "expected TERMINAL=V")
    status, _, err = run(["mesh", nis, "--export", tmp_path / "b.vtu", "--temperature", "0.1"], capsys)
    assert_one_line_error(status, err, "give --energies too")
    assert not (tmp_path / "a.vtu").exists() and not (tmp_path / "b.vtu").exists()


def test_convergence_prints_a_table_and_writes_csv_and_plot(tmp_path, capsys):
    out = tmp_path / "conv"
    status, stdout, _ = run(["convergence", T_JUNCTION, "--observable", "dos", "--energy", "0.5",
                             "--wire", "left_arm", "--refinements", "1", "2", "--orders", "1", "2",
                             "-o", out, "--no-progress", "--jobs", "1"], capsys)
    assert status == 0
    assert "fitted h-rate" in stdout
    rows = read_csv(out / "convergence.csv")
    assert [r["study"] for r in rows] == ["h", "h", "p", "p"]
    errors = [float(r["error"]) for r in rows]
    assert errors[1] < errors[0] and errors[3] < errors[2]  # refinement reduces the error
    assert (out / "convergence.png").stat().st_size > 0


# -- bad input: one line on stderr, exit status 2 -----------------------------------------------

@pytest.mark.parametrize("path", BAD_GEOMETRIES, ids=lambda p: p.stem)
def test_every_bad_geometry_file_gives_one_line(path, tmp_path, capsys):
    status, _, err = run(["solve", path, "-o", tmp_path / "out"], capsys)
    assert_one_line_error(status, err, path.name)
    assert not (tmp_path / "out").exists()  # nothing created for bad input


@pytest.mark.parametrize("args, fragment", [
    (["solve", "missing.toml", "-o", "{out}"], "no such file"),
    (["solve", T_JUNCTION, "--set", "r", "-o", "{out}"], "bad --set"),
    (["solve", T_JUNCTION, "--set", "=3", "-o", "{out}"], "bad --set"),
    (["solve", T_JUNCTION, "--set", "parameters.rr=3", "-o", "{out}"], "did you mean 'r'"),
    (["solve", T_JUNCTION, "--set", "wires.s_arm.lenght=3", "-o", "{out}"], "unknown key"),
    (["solve", T_JUNCTION, "--set", "r=-1", "-o", "{out}"], "sqrt"),
    (["solve", T_JUNCTION, "--set", "wires.s_arm.length=0", "-o", "{out}"], "positive"),
    (["solve", T_JUNCTION, "--temperatures", "abc", "-o", "{out}"], "--temperatures"),
    (["solve", T_JUNCTION, "--temperatures", "-0.1", "-o", "{out}"], "positive"),
    (["solve", T_JUNCTION, "--temperatures", "0.1:0.2", "-o", "{out}"], "bad range"),
    (["solve", T_JUNCTION, "--temperatures", "0.1:0.2:x", "-o", "{out}"], "--temperatures"),
    (["solve", T_JUNCTION, "--between", "left", "nowhere", "-o", "{out}"], "nowhere"),
    (["solve", T_JUNCTION, "--phases", "0", "1", "-o", "{out}"], "--phase-key"),
    (["solve", T_JUNCTION, "--refine", "0", "-o", "{out}"], "--refine"),
    (["solve", T_JUNCTION], "-o/--output"),
    (["solve", T_JUNCTION, "--others", "sideways", "-o", "{out}"], "invalid choice"),
    (["convergence", T_JUNCTION, "--observable", "entropy", "-o", "{out}"], "invalid choice"),
    (["convergence", T_JUNCTION, "--orders", "1.5", "-o", "{out}"], "--orders"),
    (["convergence", T_JUNCTION, "--observable", "dos", "--wire", "nope", "-o", "{out}"], "nope"),
    (["mesh", T_JUNCTION], "--export"),
    (["mesh", T_JUNCTION, "--export", "{out}.foo", "--energies", "0.5"], "unknown export format"),
    (["mesh", ROOT / "geometries" / "ns_wire.toml", "--export", "{out}.vtu", "--energies", "1.0"],
     "coincides with the gap"),
    (["teleport"], "invalid choice"),
    ([], "required"),
])
def test_bad_command_lines_give_one_line(args, fragment, tmp_path, capsys):
    out = tmp_path / "out"
    status, _, err = run([str(a).replace("{out}", str(out)) for a in args], capsys)
    assert_one_line_error(status, err, fragment)
    assert not out.exists()


def test_non_convergence_gives_one_line(tmp_path, capsys, monkeypatch):
    def fail(*args, **kwargs):
        raise SpectralConvergenceError("Usadel solver did not converge for 1 of 3 energies:\nE=0.5",
                                       np.array([0.5]))

    monkeypatch.setattr(sweeps._energy_grid, "solve_spectral", fail)  # fixed and adaptive grids
    status, _, err = run(["solve", T_JUNCTION, "-o", tmp_path / "out", "--no-progress", "--jobs", "1"], capsys)
    assert_one_line_error(status, err, "did not converge", "also after refining")


def test_installed_entry_point_reports_errors_without_traceback(tmp_path):
    # the console script itself (not only main()): exit status and stderr as a user sees them
    result = subprocess.run([sys.executable, "-m", "femprox.cli", "solve", str(tmp_path / "none.toml"),
                             "-o", str(tmp_path / "out")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"femprox: error: {tmp_path / 'none.toml'}: no such file"]


def test_value_lists_accept_expressions_and_ranges():
    assert cli.parse_values(["0.1", "pi/2"], "x") == pytest.approx([0.1, np.pi / 2])
    assert cli.parse_values(["0:1:3"], "x") == pytest.approx([0, 0.5, 1])
    assert cli.parse_values(["0.01:1:3:log"], "x") == pytest.approx([0.01, 0.1, 1])
    assert cli.parse_overrides(["r=10", "wires.s_arm.length=2*5", "nodes.a.position=[1, 2]"]) == {
        "parameters.r": 10, "wires.s_arm.length": "2*5", "nodes.a.position": [1, 2]}
