"""The example scripts (tutorials, runnable cell by cell) run as scripts, quick, and save files."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

import femprox

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def output(tmp_path, monkeypatch):
    monkeypatch.setenv("FEMPROX_EXAMPLES_QUICK", "1")
    monkeypatch.setenv("FEMPROX_EXAMPLES_OUTPUT", str(tmp_path))
    return tmp_path


def run_script(name: str) -> dict:
    """The example as ``python examples/NAME`` runs it (plots saved, not shown)."""
    return runpy.run_path(str(ROOT / "examples" / name), run_name="__main__")


def test_dos_map_tutorial(output):
    namespace = run_script("dos_map.py")
    # minigap 3.05 E_Th at Delta = 50 E_Th (L = 10 xi0): the DOS vanishes up to the last
    # sampled energy below it (quick grid: energies 0.0177 Delta0 apart)
    assert 3.05 * 0.02 - 0.018 < namespace["minigap_below"] < 3.05 * 0.02
    assert (output / "dos_map.png").stat().st_size > 0
    assert femprox.load(output / "dos_map.nc")["dos"].dims == ("energy", "point")


def test_iv_tutorial(output):
    namespace = run_script("iv_curve.py")
    # reentrance: I/(G_N V) > 1 at a few E_Th, approaching 1 from above far beyond
    assert float(namespace["ratio"].max()) > 1.1
    assert abs(float((namespace["heat_into_network"] + namespace["joule"]).max())) < 1e-12
    assert (output / "iv_curve.png").exists()


def test_supercurrent_tutorial(output):
    namespace = run_script("supercurrent.py")
    assert namespace["largest_deviation"] < 4e-3  # Kulik-Omelyanchuk, L = 0.05 xi0 (see test_studies)
    assert (output / "supercurrent.png").exists()


def test_field_export_tutorial(output):
    run_script("field_export.py")
    from femprox.output.export import read_network

    mesh = read_network(output / "house_fields.vtu")
    assert {"dos_E0.2", "f_L_E1.5", "f_T_E0.2"} <= set(mesh.point_data)
    # the left reservoir is biased (V = 0.3): f_T there is that of a reservoir at V = 0.3, T = 0.1
    from femprox.observables.energy_grid import reservoir_distributions

    f_t_left = reservoir_distributions(0.2, 0.1, 0.3)[1]
    assert np.isclose(mesh.point_data["f_T_E0.2"], f_t_left, atol=1e-12).any()


def test_sweep_on_cluster_tutorial(output):
    namespace = run_script("sweep_on_cluster.py")
    dataset = femprox.load(output / "sweep.nc")
    assert dataset["heat_conductance_ratio"].dims == ("r", "length_n", "temperature")
    assert dataset["heat_conductance_ratio"].equals(namespace["dataset"]["heat_conductance_ratio"])
    # strong proximity effect (small r) suppresses kappa most at the lowest temperature
    assert float(namespace["strongest_effect"]["r"][0]) == 0.1
    assert len(list((output / "sweep-run" / "tasks").glob("*.json"))) == dataset.attrs["spectral_solves"]
    assert (output / "sweep.png").exists()


@pytest.mark.parametrize("name, png", [("t_junction_kappa_vs_T.py", "t_junction_kappa_vs_T.png"),
                                       ("custom_geometry.py", "custom_geometry.png")])
def test_older_examples_save_their_figures(output, name, png):
    run_script(name)
    assert (output / png).stat().st_size > 0
