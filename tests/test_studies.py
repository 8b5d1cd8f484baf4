"""DOS maps, finite-bias I-V and current-phase relations (femprox.workflows.studies) and their commands
``femprox dos``, ``femprox iv``, ``femprox supercurrent``; plots of labelled results."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import femprox
from femprox.geometry import devices
from femprox.workflows import studies
from femprox.observables.energy_grid import energy_grid, solve_on_grid
from femprox.geometry.network import Geometry, Node, NodeKind, Wire
from femprox.observables.conductance import linear_response
from femprox.geometry.temperature import at_temperature
from cli_helpers import run

ROOT = Path(__file__).resolve().parent.parent
SNS = str(ROOT / "geometries" / "sns_junction.toml")
NS = str(ROOT / "geometries" / "ns_wire.toml")


def test_dos_map_shows_the_minigap_of_a_long_sns_junction():
    # L = 10 xi0: E_Th = 0.02 Delta0, minigap 3.05 E_Th = 0.061 Delta0 (README's verified table)
    ds = studies.dos_map(devices.sns_junction(length=10.0), [0.04, 0.1], points_per_wire=5)
    assert ds["dos"].dims == ("energy", "point")
    assert list(ds["x"].values) == [0.0, 2.5, 5.0, 7.5, 10.0]
    middle = ds["dos"].isel(point=2)
    assert float(middle.sel(energy=0.04)) < 1e-5  # inside the minigap (Dynes-like rounding at the edge only)
    assert float(middle.sel(energy=0.1)) > 1.0  # above it: the coherence peak
    # at the S reservoirs (ends) the BCS DOS below the gap is zero
    assert float(np.abs(ds["dos"].isel(point=0)).max()) < 1e-12


def test_iv_of_a_normal_wire_is_ohmic_and_conserves_energy():
    wire = Geometry(nodes=(Node("A", NodeKind.NORMAL_RESERVOIR), Node("B", NodeKind.NORMAL_RESERVOIR)),
                    wires=(Wire("w", "A", "B", 5.0, conductance=2.0),))
    ds = studies.iv_curve(wire, [0.1, 0.5], temperature=0.05)
    terminal = ds.attrs["biased_terminal"]
    assert ds.attrs["normal_conductance"] == pytest.approx(2.0 / 5.0, rel=1e-12)  # g/L
    assert ds["charge_current"].sel(terminal=terminal).values == pytest.approx(ds["normal_current"].values, rel=1e-10)
    # sum of the energy currents into the network vanishes (no energy sink in the wire)
    assert np.abs(ds["energy_current"].sum("terminal").values).max() < 1e-12
    # the heat delivered to the reservoirs is the Joule power: sum_i Q_i = -V I
    joule = ds["bias"].values * ds["charge_current"].sel(terminal=terminal).values
    assert ds["heat_current"].sum("terminal").values == pytest.approx(-joule, rel=1e-10)


def test_iv_at_small_bias_is_the_linear_response():
    wire = devices.ns_wire(length=10.0)
    ds = studies.iv_curve(wire, [-2e-4, 2e-4], temperature=0.01)
    terminal = ds.attrs["biased_terminal"]
    current = ds["charge_current"].sel(terminal=terminal).values
    warm = at_temperature(wire, 0.01)
    grid = energy_grid(warm, [0.01])
    _, conductance = solve_on_grid(warm, grid)
    linear = linear_response(conductance, grid, 0.01).charge[0, 0]
    # the symmetric difference is exact to O(V^2 / T^2) = 4e-4 times a small coefficient;
    # measured 1e-7 relative
    assert (current[1] - current[0]) / 4e-4 == pytest.approx(linear, rel=1e-5)


def test_short_junction_current_phase_relation_is_kulik_omelyanchuk():
    phases = np.array([0.5, 1.5, 2.0, 2.5])
    ds = studies.current_phase_relation(lambda phi: devices.sns_junction(length=0.05, phase=phi), phases)
    assert ds.attrs["normal_resistance"] == pytest.approx(0.05, rel=1e-12)  # L/g
    ko = math.pi * np.cos(phases / 2) * np.arctanh(np.sin(phases / 2))  # e I R_N / Delta0 at T = 0
    # the junction is 0.05 xi0 long, not zero: measured deviations 1.8e-3 .. 2.4e-3
    assert ds["e_i_rn"].values == pytest.approx(ko, rel=4e-3)
    assert ds.attrs["critical_phase"] == 2.0
    # odd in phase
    minus = studies.current_phase_relation(lambda phi: devices.sns_junction(length=0.05, phase=phi), -phases[:1])
    assert float(minus["current"][0]) == pytest.approx(-float(ds["current"][0]), rel=1e-10)


def test_dos_iv_supercurrent_commands_write_netcdf_csv_png(tmp_path, capsys):
    out = tmp_path / "dos"
    status, stdout, err = run(["dos", SNS, "--energies", "0.04", "0.1", "--points", "5", "-o", out], capsys)
    assert status == 0, err
    ds = femprox.load(out / "dos.nc")
    assert float(ds["dos"].sel(energy=0.1).isel(point=2)) > 1.0
    assert {p.name for p in out.iterdir()} == {"dos.nc", "dos.csv", "dos.png", "run.json"}

    out = tmp_path / "iv"
    status, stdout, err = run(["iv", NS, "--biases", "0.2", "0.4", "--temperature", "0.05", "-o", out], capsys)
    assert status == 0, err
    ds = femprox.load(out / "iv.nc")
    assert ds["current_ratio"].values == pytest.approx(
        ds["charge_current"].sel(terminal=ds.attrs["biased_terminal"]).values / ds["normal_current"].values)
    assert "I/(G_N V)" in stdout

    out = tmp_path / "ic"
    status, stdout, err = run(["supercurrent", SNS, "--set", "length=0.05", "--phases", "2.0", "-o", out], capsys)
    assert status == 0, err
    ds = femprox.load(out / "supercurrent.nc")
    assert float(ds["e_i_rn"][0]) == pytest.approx(math.pi * math.cos(1.0) * math.atanh(math.sin(1.0)), rel=4e-3)
    assert "I_c R_N" in stdout


@pytest.mark.parametrize("args, fragment", [
    (["iv", NS, "--terminal", "S"], "not a normal reservoir"),
    (["dos", SNS, "--points", "1"], "--points"),
    (["supercurrent", NS], "--phase-key"),
    (["iv", NS, "--temperature", "-1"], "--temperature"),
])
def test_study_commands_report_bad_input_in_one_line(args, fragment, tmp_path, capsys):
    status, _, err = run(args + ["-o", tmp_path / "x"], capsys)
    assert status == 2 and err.startswith("femprox: error: ") and fragment in err and len(err.splitlines()) == 1, err


def test_plots_of_labelled_results_return_axes_and_label_every_curve():
    from femprox.output import plotting
    from femprox.output import results
    from femprox.workflows import sweeps

    ds = results.parameter_sweep(ROOT / "geometries" / "t_junction.toml", [0.1, 0.3], {"r": [0.1, 10.0]},
                                 grid=sweeps.QUICK_GRID, mesh=sweeps.MeshSettings(refine=0.5))
    ax = plotting.plot_dataset(ds, "heat_conductance_ratio", errors=True)
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["r = 0.1", "r = 10"]
    line = ax.get_lines()[0]
    assert list(line.get_xdata()) == [0.1, 0.3] and line.get_marker() == "o"
    assert list(line.get_ydata()) == list(ds["heat_conductance_ratio"].sel(r=0.1).values)
    with pytest.raises(ValueError, match="no dimension"):
        plotting.plot_dataset(ds, "heat_conductance_ratio", against="phase")


def test_figures_go_through_pyplot_only_in_a_notebook(monkeypatch):
    import sys
    import types

    import matplotlib.pyplot as plt

    from femprox.output import plotting

    assert not plotting.in_notebook()  # pytest is no kernel: bare Figures, nothing global
    plt.close(plt.figure())  # let pyplot pick its backend now, outside the pretend kernel
    # a stand-in for the kernel's shell: the class name is what femprox looks at; pyplot may
    # register a display hook on it
    shell = type("ZMQInteractiveShell", (), {"events": types.SimpleNamespace(register=lambda *args: None)})()
    monkeypatch.setitem(sys.modules, "IPython", types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    assert plotting.in_notebook()
    before = set(plt.get_fignums())
    ax = plotting.plot_current_phase(studies.current_phase_relation(
        lambda phi: devices.sns_junction(length=0.05, phase=phi), [1.0]))
    opened = set(plt.get_fignums()) - before
    assert len(opened) == 1 and plt.figure(opened.pop()) is ax.figure  # shown by the inline backend
    plt.close(ax.figure)
