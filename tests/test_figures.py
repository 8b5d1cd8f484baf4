"""Temperature dependence, sweeps, and the paper's claims measured on full network solutions.

Energies and temperatures in Delta0, lengths in xi0, phases in radians.
"""

import math
import runpy
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from femprox.paper import analytic
from femprox.physics import bcs
from femprox.paper import figures
from femprox.workflows import sweeps
from femprox.workflows.sweeps import PAPER_GRID, QUICK_GRID, GeometryFile
from femprox.geometry.network import Geometry, Node, NodeKind, Wire
from femprox.geometry.files import load_geometry
from femprox.paper.checks import figure3_checks, figure4_checks, log_slopes, slope_at
from femprox.geometry.temperature import at_temperature, gap_groups
from femprox.spectral.solver import solve_spectral

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
TC = bcs.critical_temperature()


def normal_wire() -> Geometry:
    return Geometry(nodes=(Node("a", NodeKind.NORMAL_RESERVOIR), Node("b", NodeKind.NORMAL_RESERVOIR)),
                    wires=(Wire("w", "a", "b", 3.0),))


# -- BCS temperature dependence -------------------------------------------------------------------

def test_at_temperature_scales_gaps_and_sets_reservoir_temperatures():
    house = load_geometry(figures.HOUSE_FILE, {"parameters.gap": 0.8})
    t_junction = load_geometry(figures.T_JUNCTION_FILE)
    warm = at_temperature(house, 0.3)
    assert all(n.temperature == 0.3 for n in warm.terminals)
    assert warm.node("S1").gap == pytest.approx(0.8 * bcs.gap(0.3), rel=1e-14)
    assert at_temperature(t_junction, 0.3).wire("s_arm").gap == pytest.approx(bcs.gap(0.3), rel=1e-14)
    assert house.node("S1").gap == 0.8 and house.node("left").temperature == 0.0  # original untouched
    hot = at_temperature(house, 0.6)  # above T_c the S reservoirs become normal ones
    assert hot.node("S1").kind is NodeKind.NORMAL_RESERVOIR and hot.node("S1").temperature == 0.6
    assert at_temperature(t_junction, 0.6).wire("s_arm").gap == 0.0
    # "own": a gap of 0.5 Delta0 has its own T_c = 0.5 * 0.567 < 0.3
    assert at_temperature(house, 0.3, scaling="own").node("S1").gap == pytest.approx(0.8 * bcs.gap(0.3 / 0.8))
    assert at_temperature(t_junction.with_wire("s_arm", gap=0.5), 0.3, scaling="own").wire("s_arm").gap == 0.0


def test_gap_groups_share_a_solve_only_while_the_gap_is_flat():
    t_junction = load_geometry(figures.T_JUNCTION_FILE)
    groups = gap_groups(t_junction, [0.3, 0.01, 0.05, 0.1, 0.11, 0.2, 0.58, 0.6])
    assert [g.temperatures for g in groups] == [(0.01, 0.05, 0.1, 0.11), (0.2,), (0.3,), (0.58, 0.6)]
    assert [g.representative for g in groups] == [0.11, 0.2, 0.3, 0.6]
    # Delta(0.11) = 0.99991: the low group is solved within the 1e-4 tolerance of every member
    assert 0 < groups[0].max_gap_error < 1e-4
    assert groups[-1].max_gap_error == 0.0  # above T_c every gap is exactly zero
    assert len(gap_groups(t_junction, [0.01, 0.3, 0.5], bcs_gaps=False)) == 1


# -- sweeps ---------------------------------------------------------------------------------

def test_normal_networks_give_exactly_the_normal_values():
    # docs/physics.md section 8, normal networks. Remaining error: quadrature of the thermal weights (1e-12)
    result = sweeps.sweep(normal_wire(), [0.05, 0.3], grid=QUICK_GRID)
    np.testing.assert_allclose(result.column("heat_conductance_ratio"), 1.0, atol=1e-9)
    np.testing.assert_allclose(result.column("conductance_ratio"), 1.0, atol=1e-9)
    # the T-junction above T_c has no gap left anywhere
    hot = sweeps.sweep(load_geometry(figures.T_JUNCTION_FILE), [0.58], grid=QUICK_GRID).points[0]
    assert hot.heat_conductance_ratio == pytest.approx(1.0, abs=1e-9)
    assert hot.conductance_ratio == pytest.approx(1.0, abs=1e-9)
    assert hot.gap_factor == 0.0


def test_sweep_reports_matrices_and_checks_its_input():
    result = sweeps.sweep(load_geometry(figures.T_JUNCTION_FILE), [0.05, 0.08], grid=QUICK_GRID)
    assert result.spectral_solves == 1  # one gap group
    point = result.points[0]
    assert (point.a, point.b) == ("left", "right") and point.terminals == ("left", "right")
    assert set(point.matrices) == {"charge", "thermoelectric", "peltier", "heat", "normal"}
    # currents are conserved between the two N reservoirs (the condensate floats, no charge lost
    # at zero bias in this symmetric geometry); rows of the normal matrix sum to zero exactly
    np.testing.assert_allclose(point.matrices["normal"].sum(axis=1), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="geometry family"):
        sweeps.sweep(normal_wire(), [0.1], phases=[0.0])
    with pytest.raises(ValueError, match="not a reservoir"):
        sweeps.sweep(normal_wire(), [0.1], between=("a", "c"))
    with pytest.raises(ValueError, match="positive"):
        sweeps.sweep(normal_wire(), [0.0])


# -- Fig. 3 claims --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def subgap():
    """T-junction of the paper (L_N = 10), r = 0.1, 1, 10, at subgap T (one solve per r)."""
    return figures.figure3(temperatures=np.geomspace(0.01, 0.11, 8), grid=PAPER_GRID)


def test_kappa_is_suppressed_and_falls_with_decreasing_temperature(subgap):
    checks = figure3_checks(subgap)
    assert all(checks.kappa_below_one)
    # the largest value (r = 10, T = 0.11) is 0.956: far below 1 compared with the errors (1e-4)
    assert subgap.kappa.max() < 0.97
    steps = np.diff(subgap.kappa, axis=1)
    assert np.all(steps > 10 * subgap.kappa_error[:, 1:])  # each step well above its error estimate
    # stronger proximity (smaller r) suppresses kappa more, at every temperature
    assert np.all(subgap.kappa[0] < subgap.kappa[1]) and np.all(subgap.kappa[1] < subgap.kappa[2])


def test_kappa_is_far_above_the_andreev_model(subgap):
    # Andreev model: exp(-Delta/T) small (7e-3 at T = 0.11); the network carries subgap heat
    assert np.all(subgap.kappa > 50 * subgap.andreev_kappa[None, :])


def test_semi_infinite_model_agrees_where_its_assumptions_hold(subgap):
    # L_N >> xi_N(E ~ T) holds at the highest T (xi_N = sqrt(D/2T) = 3 xi0 < L_N/2 = 5):
    # within 5% there; at T = 0.01 (xi_N = 10 xi0) the finite wire departs strongly
    top = -1
    np.testing.assert_allclose(subgap.kappa[:, top], subgap.semi_infinite_kappa[:, top], rtol=0.05)
    assert np.all(np.abs(subgap.kappa[:, 0] - subgap.semi_infinite_kappa[:, 0]) > 0.05)


def test_conductance_shows_the_reentrance():
    temperatures = [0.002, 0.01, 0.05, 0.11, 0.2, 0.3, 0.45]
    data = figures.figure3(r_values=(0.1,), temperatures=temperatures, semi_infinite=False, grid=PAPER_GRID)
    checks = figure3_checks(data)
    conductance = data.conductance[0]
    # maximum 1.17 near T = 0.3 (errors ~1e-4): clearly above 1
    assert checks.conductance_max[0] > 1.1
    assert 0.1 <= checks.conductance_max_temperature[0] <= 0.45
    # and back toward 1 as T -> 0: monotonic on the low side, within 1e-3 of 1 at T = 0.002
    peak = int(np.argmax(conductance))
    assert np.all(np.diff(conductance[:peak + 1]) > 0)
    assert 0 <= conductance[0] - 1 < 1e-3


def test_long_wire_slopes_in_the_window_are_those_of_eqs_11_12():
    """L_N = 100, r = 0.01: E_Th = 2e-4 << T0 = 0.1, a window of 500.

    Eqs. 11-12 (R_Q ~ T0/T) give kappa/kappa_N ~ T/T0: local slope 1 (kappa ~ T^2) deep in the
    window, not the paper's printed kappa ~ T^4 (slope 3); below E_Th D_L saturates and
    kappa/kappa_N -> const (slope 0, kappa ~ T, not T^3)."""
    data = figures.slope_study_plan(temperatures=np.geomspace(5e-5, 0.11, 16), grid=PAPER_GRID).run()
    t = data.temperatures
    network, model = log_slopes(t, data.kappa[0]), log_slopes(t, data.semi_infinite_kappa[0])
    window = (t > 10 * data.thouless_energy) & (t < 0.05 * data.t0[0])
    # measured: 0.99..1.01 at T = 0.002..0.005; the tolerance 0.05 covers the second-order
    # finite differences of 16 points per 7.6 decades
    assert np.all(np.abs(network[window] - 1) < 0.05)
    assert abs(slope_at(t, model, 1e-4) - 1) < 0.01  # the model has no E_Th cutoff: slope 1
    assert slope_at(t, network, 5e-5) < 0.1  # below E_Th: saturated
    # above T0 both tend to 0, and agree (the finite wire no longer matters)
    assert abs(network[-1] - model[-1]) < 0.01 and network[-1] < 0.6


# -- Fig. 4 claims --------------------------------------------------------------------------

PHASES = {"zero": 0.0, "phi": 0.4, "mirror": 2 * math.pi - 0.4, "shifted": 0.4 + 2 * math.pi,
          "near_pi": 0.9 * math.pi, "pi": math.pi}


@pytest.fixture(scope="module")
def house():
    """{name: (kappa/kappa_N, G/G_N) at T = 0.05, 0.1} from independent solves at phases
    related by the symmetries (no mirroring)."""
    source = GeometryFile.from_path(figures.HOUSE_FILE, phase_key="parameters.phi")
    result = sweeps.sweep(source, [0.05, 0.1], list(PHASES.values()), grid=PAPER_GRID)
    phase, kappa, conductance = (result.column(k) for k in ("phase", "heat_conductance_ratio", "conductance_ratio"))
    return {name: (kappa[phase == value], conductance[phase == value]) for name, value in PHASES.items()}


def test_kappa_of_phi_is_periodic_and_symmetric_about_pi(house):
    # exact symmetries of the discrete problem (S1 <-> S2 mirror; a global gauge shift by pi):
    # equal up to the rounding of the linear solves
    for k in range(2):
        np.testing.assert_allclose(house["phi"][k], house["mirror"][k], rtol=1e-8)  # phi and 2 pi - phi
        np.testing.assert_allclose(house["phi"][k], house["shifted"][k], rtol=1e-8)  # phi and phi + 2 pi


def test_kappa_oscillates_with_full_amplitude_peaking_at_pi(house):
    kappa = {name: values[0] for name, values in house.items()}
    conductance = {name: values[1] for name, values in house.items()}
    # at pi the anomalous function vanishes in the N wire by symmetry: exactly normal
    np.testing.assert_allclose(kappa["pi"], 1.0, atol=1e-8)
    rising = np.array([kappa[name] for name in ("zero", "phi", "near_pi", "pi")])
    assert np.all(np.diff(rising, axis=0) > 0)  # from 0 to pi, at both temperatures
    contrast = (kappa["pi"] - kappa["zero"]) / kappa["pi"]
    assert contrast[0] > 0.9  # T = 0.05: kappa(0) = 0.046 kappa_N, a full-scale oscillation
    # G has its dip at pi: back to G_N from well above (1.2 at 0.9 pi)
    np.testing.assert_allclose(conductance["pi"], 1.0, atol=1e-8)
    assert np.all(conductance["near_pi"] > conductance["pi"] + 0.05)


def test_shortcut_model_blocks_more_than_the_network():
    data = figures.figure4(phases=[0.0, math.pi / 2, math.pi], temperatures=[0.1], grid=QUICK_GRID)
    assert data.phases.tolist() == pytest.approx([0, math.pi / 2, math.pi, 3 * math.pi / 2, 2 * math.pi])
    np.testing.assert_allclose(data.kappa, data.kappa[:, ::-1], rtol=1e-12)  # mirrored
    assert data.shortcut_kappa[0, 2] == 1.0  # E_g(pi) = 0: a plain normal wire
    # the barrier blocks every subgap energy; the network only those in the minigap
    assert data.shortcut_kappa[0, 0] < 0.1 * data.kappa[0, 0]
    checks = figure4_checks(data)
    assert checks.kappa_max_phase[0] == pytest.approx(math.pi)


# -- convergence and helpers -----------------------------------------------------------------

def test_convergence_study_errors_fall_with_refinement():
    geometry = load_geometry(figures.T_JUNCTION_FILE)
    study = sweeps.convergence_study(geometry, "G", temperature=0.1, refinements=(1, 2), orders=(1, 2),
                                     grid=QUICK_GRID)
    assert study.h_errors[1] < study.h_errors[0] and study.p_errors[1] < study.p_errors[0]
    assert study.h_rate > 2  # P3 elements: at least their nominal rate on a smooth functional
    assert study.reference_dofs > study.h_dofs.max()


def test_log_slopes_are_exact_for_power_laws():
    t = np.geomspace(0.01, 1, 9) ** np.linspace(1, 1.3, 9)  # uneven spacing
    np.testing.assert_allclose(log_slopes(t, 3 * t**2), 2.0, rtol=1e-12)


def test_andreev_curve_matches_the_closed_form(subgap):
    expected = [analytic.andreev_kappa_ratio(t, gap=bcs.gap(t)) for t in subgap.temperatures]
    np.testing.assert_allclose(subgap.andreev_kappa, expected, rtol=1e-14)


# -- examples -------------------------------------------------------------------------------

@pytest.fixture
def quick_examples(monkeypatch):
    monkeypatch.setenv("FEMPROX_EXAMPLES_QUICK", "1")


def run_example(name: str) -> dict:
    return runpy.run_path(str(ROOT / "examples" / name))  # __name__ != "__main__": no plotting


def test_examples_are_all_covered():
    assert {p.name for p in EXAMPLES} == {"t_junction_kappa_vs_T.py", "house_interferometer_kappa_vs_phi.py",
                                          "custom_geometry.py", "mesh_convergence.py", "nis_thermometer.py",
                                          "s_loop_interferometer.py", "t_junction_with_barrier.py", "dos_map.py",
                                          "iv_curve.py", "supercurrent.py", "field_export.py",
                                          "sweep_on_cluster.py", "self_consistent_t_junction.py",
                                          "self_consistent_t_junction_curves.py",
                                          "self_consistent_parameter_sweep.py"}  # dos_map ... sweep_on_cluster: tests/test_examples.py; the last: tests/test_selfconsistent_transport.py


def test_example_t_junction(quick_examples):
    # kappa/kappa_N of the paper's T-junction, r = 1, T = 0.01 (0.36115 on the fine grid;
    # the quick grid is within 1e-4 at this temperature)
    assert run_example("t_junction_kappa_vs_T.py")["kappa_lowest"][1.0] == pytest.approx(0.3611, abs=1e-3)


def test_example_house_interferometer(quick_examples):
    assert run_example("house_interferometer_kappa_vs_phi.py")["contrast"][0] > 0.9


def test_example_custom_geometry(quick_examples):
    # a cross with two S arms of g_S is a T with one arm of 2 g_S: identical discrete problems
    assert run_example("custom_geometry.py")["largest_difference"] < 1e-9


def test_example_nis_thermometer(quick_examples):
    # T = 0.1, R_B = 100 R_N: the cooling power peaks at the grid bias nearest 1 - 0.66 T = 0.93
    example = run_example("nis_thermometer.py")
    assert example["best_bias"][0.1] == pytest.approx(0.934, abs=0.1)
    assert 0 < example["zero_bias"][0.1] < 0.01  # far below the normal conductance


def test_example_s_loop_interferometer(quick_examples):
    example = run_example("s_loop_interferometer.py")
    # full-scale oscillation in every model: kappa = kappa_N at half a flux quantum
    assert all(abs(k - 1) < 1e-3 for k in example["kappa_at_half"].values())
    zero = example["kappa_at_zero"]
    assert abs(zero["S loop (S wire, g = 1e4, L = 0.5)"] - zero["S reservoirs at +-phi/2"]) < 0.01


def test_example_t_junction_with_barrier(quick_examples):
    example = run_example("t_junction_with_barrier.py")
    # the transparent contact is the paper's model (0.3611 at T = 0.01, r = 1); a barrier of
    # R_N nearly removes the proximity effect (kappa/kappa_N 0.98 measured)
    assert example["kappa_lowest"][0.0] == pytest.approx(0.3611, abs=1e-3)
    assert example["kappa_lowest"][1.0] > 0.95


def test_example_mesh_convergence(quick_examples):
    study = run_example("mesh_convergence.py")["study"]
    assert study.h_errors[-1] < study.h_errors[0]


def test_example_self_consistent_parameter_sweep(quick_examples):
    example = run_example("self_consistent_parameter_sweep.py")
    tc = example["critical_temperature"]
    # the N wire suppresses a short S lead more (inverse proximity effect): measured T_c 0.282
    # (L_S = 2) and 0.550 (L_S = 10, the value of the file's own lead in
    # tests/test_cli_selfconsistent.py), below the bulk 0.567
    assert 0.2 < tc[2.0] < tc[10.0] < 0.567
    # at T = 0.3 the short lead is normal: the network is its own normal reference
    assert float(example["kappa"].sel(length_s=2.0, temperature=0.3)) == pytest.approx(1.0, abs=1e-9)
    assert float(example["kappa"].sel(length_s=10.0, temperature=0.3)) < 0.99


def test_half_barrier_model_has_the_ratios_of_the_whole():
    # the S reservoir at the contact decouples the mirror-image halves of the N wire
    gap, temperatures = 0.5, (0.05, 0.2)
    ratios = {}
    for half, wires in ((False, ("left_arm", "right_arm")), (True, ("left_arm",))):
        geometry = figures.barrier_geometry(gap, half=half)
        grid = sweeps.sweep_grid(geometry, temperatures, QUICK_GRID)
        solution = solve_spectral(geometry, grid.nodes)
        ratios[half] = np.array(figures._path_ratios(solution, grid, wires, temperatures, blocked_below=gap))
    assert np.all(ratios[True][:, 0] < 1)  # kappa/kappa_N
    np.testing.assert_allclose(ratios[True], ratios[False], rtol=1e-10)
    with pytest.raises(ValueError, match="needs a gap"):
        figures.barrier_geometry(0.0, half=True)


def test_adaptive_grid_resolves_the_moving_minigap_cusp():
    # House at phi = 2.6: the spectral functions have a cusp at the centre's local minigap
    # edge (~0.24 Delta0), inside a panel of the fixed grids. Reference: FINE_GRID refined to
    # 2e-6 (480 energies; refined to 2e-5 it agrees to 6e-13). A fixed grid of 12-point panels
    # with growth 1.3 (816 energies) is still 1.3e-6 off, so fixed references are no good here.
    source = GeometryFile.from_path(figures.HOUSE_FILE, {}, "parameters.phi")
    reference_grid = replace(sweeps.FINE_GRID, adaptive_tolerance=2e-6)
    results = {name: sweeps.sweep(source, [0.2], [2.6], bcs_gaps=False, grid=grid)
               for name, grid in (("reference", reference_grid), ("fixed", PAPER_GRID),
                                  ("adaptive", sweeps.ADAPTIVE_GRID))}
    g = {name: r.points[0].conductance_ratio for name, r in results.items()}
    adaptive = results["adaptive"].points[0]
    assert abs(g["fixed"] - g["reference"]) > 2e-3  # what the fixed grid misses ...
    # ... adaptive refinement finds (measured 5e-10 off, with 180 energies)
    assert abs(g["adaptive"] - g["reference"]) < 1e-6
    assert adaptive.conductance_ratio_error > abs(g["adaptive"] - g["reference"])  # honest estimate


def test_adaptive_grid_ignores_blocks_that_vanish_by_symmetry():
    # Without a phase the thermoelectric blocks (LT, TL) of the T-junction's spectral
    # conductance are rounding noise (1e-17); measured against their own size they looked
    # unresolved everywhere and refinement ran to its round limit (3400 energies, 3x the time
    # of FINE_GRID). Now the grid stays small and within 1e-5 of FINE_GRID (measured 1.4e-6).
    geometry = load_geometry(figures.T_JUNCTION_FILE)
    temperatures = [0.005, 0.05, 0.2]
    fine = sweeps.sweep(geometry, temperatures, bcs_gaps=False, grid=sweeps.FINE_GRID)
    adaptive = sweeps.sweep(geometry, temperatures, bcs_gaps=False, grid=sweeps.ADAPTIVE_GRID)
    assert adaptive.energies_per_solve[0] < 0.6 * fine.energies_per_solve[0]
    for column in ("heat_conductance_ratio", "conductance_ratio"):
        np.testing.assert_allclose(adaptive.column(column), fine.column(column), rtol=0, atol=1e-5)


def test_example_self_consistent_t_junction(quick_examples):
    # r = 1, T = 0.1: the self-consistent S arm lets more heat through than the rigid gap
    # (kappa/kappa_N 0.8558 vs 0.7617, see tests/test_selfconsistency.py); T_c 0.54967
    example = run_example("self_consistent_t_junction.py")
    kappa, _, kappa_rigid, _ = example["transport"][1.0, 0.1]
    assert kappa == pytest.approx(0.8558, abs=1e-3) and kappa_rigid == pytest.approx(0.7617, abs=1e-3)
    assert example["critical"][1.0] == pytest.approx(0.54967, abs=1e-5)
