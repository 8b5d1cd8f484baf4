"""Energy integrals for many temperatures at once, the FAST_GRID accuracy level, and the plan
queue of the paper job (energy_grid, observables, sweeps, figures, api)."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import pytest

from femprox.paper import figures
from femprox.workflows import sweeps
from femprox.geometry.devices import t_junction
from femprox.observables.energy_grid import (THERMAL_CUTOFF, _PanelShares, energy_grid, linear_response_weights,
                                             solve_on_grid)
from femprox.mesh import build_mesh
from femprox.observables.conductance import (linear_response, linear_responses, paper_ratios, paper_ratios_at,
                                             path_resistances)

TEMPERATURES = np.array([0.004, 0.013, 0.05, 0.2, 0.45])


@pytest.fixture(scope="module")
def junction():
    """A T-junction with all gaps fixed, its grid for TEMPERATURES and spectral conductance."""
    geometry = t_junction(r=1.0, length_n=10.0, length_s=10.0)
    grid = energy_grid(geometry, TEMPERATURES, order=4, ratio=3.0, edge_ratio=4.0, edge_distance=1e-4)
    solution, conductance = solve_on_grid(build_mesh(geometry, refine=0.5), grid, keep_distributions=False)
    return grid, solution, conductance


def test_thermal_weights_are_those_of_the_general_rule_at_every_temperature(junction):
    grid = junction[0]
    W, dW = grid.thermal_weights_and_difference(TEMPERATURES)
    for k, t in enumerate(TEMPERATURES):
        expected, expected_difference = grid.weights_and_difference(lambda e: linear_response_weights(e, t), t)
        # same sub-panel rule, vectorized: equal to rounding, except panels beyond 40 T,
        # which the general rule keeps with weights < 1e-14 of the column's largest
        scale = np.abs(expected).max(axis=0)
        np.testing.assert_array_less(np.abs(W[k] - expected).max(axis=0), 1e-13 * scale)
        np.testing.assert_array_less(np.abs(dW[k] - expected_difference).max(axis=0), 1e-13 * scale)
        beyond = grid.nodes > THERMAL_CUTOFF * t + (grid.edges[1:] - grid.edges[:-1]).max()
        assert np.all(W[k][beyond] == 0)


def test_linear_responses_equal_one_temperature_at_a_time(junction):
    grid, solution, conductance = junction
    together = linear_responses(conductance, grid, TEMPERATURES, bcs_gaps=False)
    for t, response in zip(TEMPERATURES, together):
        alone = linear_response(conductance, grid, t, bcs_gaps=False)
        assert response.temperature == t
        for name in ("charge", "thermoelectric", "peltier", "heat"):
            scale = np.abs(getattr(alone, name)).max()
            # one einsum over all temperatures instead of one per temperature: rounding only
            np.testing.assert_allclose(getattr(response, name), getattr(alone, name), rtol=0, atol=1e-13 * scale)
            np.testing.assert_allclose(response.differences[name], alone.differences[name], rtol=0,
                                       atol=1e-13 * scale)
    path = path_resistances(solution, ["left_arm", "right_arm"])
    for t, ratios in zip(TEMPERATURES, paper_ratios_at(path, grid, TEMPERATURES)):
        single = paper_ratios(path, grid, t)
        assert ratios.heat_conductance_ratio == pytest.approx(single.heat_conductance_ratio, rel=1e-13)
        assert ratios.conductance_ratio == pytest.approx(single.conductance_ratio, rel=1e-13)


def test_linear_responses_name_a_temperature_the_grid_does_not_cover(junction):
    grid, _, conductance = junction
    with pytest.raises(ValueError, match="T = 0.6 needs energies up to 24"):
        linear_responses(conductance, grid, [0.1, 0.6], bcs_gaps=False)
    with pytest.raises(ValueError, match="temperature must be positive"):
        linear_responses(conductance, grid, [0.1, float("nan")], bcs_gaps=False)


def test_panel_shares_sum_to_one_per_temperature_and_kernel(junction):
    grid = junction[0]
    shares = _PanelShares(TEMPERATURES).shares(grid)
    assert shares.shape == (TEMPERATURES.size, grid.n_panels, 3)
    # each kernel's integral is split among the panels: the shares add up to 1
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, rtol=1e-12)
    assert np.all(shares >= 0)


def _reference_and_fast(geometry, temperatures, mesh: sweeps.MeshSettings):
    reference = sweeps.EnergyGridOptions(order=10, ratio=1.5, edge_ratio=2.0, edge_distance=1e-6)
    fine = sweeps.sweep(geometry, temperatures, grid=reference, mesh=mesh)
    fast = sweeps.sweep(geometry, temperatures, grid=sweeps.FAST_GRID, mesh=mesh)
    return fine, fast


@pytest.mark.slow
@pytest.mark.parametrize("r", [0.1, 10.0])
def test_fast_grid_is_accurate_on_the_t_junction_with_two_thirds_of_the_energies(r):
    geometry = t_junction(r=r)
    temperatures = [0.005, 0.03, 0.11]
    fine, fast = _reference_and_fast(geometry, temperatures, sweeps.MeshSettings(refine=0.5))
    # measured 1.8e-6 (r = 0.1) and 2.7e-6 (r = 10) against 680-energy panels on the same
    # mesh; 2e-5 leaves room for rounding differences and still fails if a panel misses a
    # feature (coarser starts that do were measured 1e-4 off)
    for name in ("heat_conductance_ratio", "conductance_ratio"):
        np.testing.assert_allclose(fast.column(name), fine.column(name), rtol=0, atol=2e-5)
    adaptive = sweeps.sweep(geometry, temperatures, mesh=sweeps.MeshSettings(refine=0.5))
    assert sum(fast.energies_per_solve) <= 0.8 * sum(adaptive.energies_per_solve)


@pytest.mark.slow
def test_fast_level_mesh_is_as_accurate_as_the_geometry_mesh_where_fewer_p3_elements_are_not():
    # r = 0.1: the N arms' D_L dip next to the contact needs the elements; P3 on half of them
    # was measured 1.4e-4 off here. The fast level's P5 on 0.3 of them, against a 2x refined
    # P5 mesh, all on the same fine energy grid (so that only the mesh differs): measured
    # 5.3e-6 in kappa/kappa_N at T = 0.005 (the geometry's own P3 mesh: 5.5e-6; both within
    # 2e-7 of each other). 1e-5 is the level's budget; P3 on half the elements (1.4e-4)
    # fails it fourteenfold, so the test tells the meshes apart
    geometry = t_junction(r=0.1)
    temperatures = [0.005, 0.03, 0.11]
    grid = sweeps.EnergyGridOptions(order=10, ratio=1.5, edge_ratio=2.0, edge_distance=1e-6)
    reference = sweeps.sweep(geometry, temperatures, grid=grid, mesh=sweeps.MeshSettings(refine=2.0, order=5))
    level = sweeps.sweep(geometry, temperatures, grid=grid, mesh=sweeps.FAST_MESH)
    coarse_p3 = sweeps.sweep(geometry, temperatures, grid=grid, mesh=sweeps.MeshSettings(refine=0.5))
    for name in ("heat_conductance_ratio", "conductance_ratio"):
        np.testing.assert_allclose(level.column(name), reference.column(name), rtol=0, atol=1e-5)
    assert np.max(np.abs(coarse_p3.column("heat_conductance_ratio") - reference.column("heat_conductance_ratio"))) > 1e-5


@pytest.mark.slow
def test_default_grid_resolves_the_house_where_the_moving_cusp_falls_between_panels():
    # phi = 1.31, T = 0.1 (kappa) and phi = 3.01, T = 0.3 (G, next to the cusp) were the worst
    # points of a 25-phase scan for the former default (QUICK_GRID refined to 1e-2: 7.5e-5 and
    # 3.5e-4 off) and for FAST_GRID (4.3e-5, 5.7e-4); phi = 3.12, T = 0.3 (G, the minigap
    # closing) the worst of a scan dense next to pi for FAST_GRID refined to 1e-3 (1.7e-4).
    # ADAPTIVE_GRID, FAST_GRID's panels refined to 5e-4, measured 5.8e-7 and 1.4e-5 and 2e-8
    # against FINE_GRID refined to 2e-5 (same mesh, so only the grid differs); 3e-5 leaves
    # twice that and fails all three of the others
    house = sweeps.GeometryFile.from_path(str(figures.HOUSE_FILE), phase_key="parameters.phi")
    phases, temperatures = [1.309, 3.011, 3.12], [0.1, 0.3]
    reference = sweeps.sweep(house, temperatures, phases, mesh=figures.FIGURE4_MESH,
                             grid=replace(sweeps.FINE_GRID, adaptive_tolerance=2e-5))
    default = sweeps.sweep(house, temperatures, phases, mesh=figures.FIGURE4_MESH)
    for name in ("heat_conductance_ratio", "conductance_ratio"):
        np.testing.assert_allclose(default.column(name), reference.column(name), rtol=0, atol=3e-5)


def test_accuracy_levels_choose_grid_and_mesh_and_refuse_bad_input():
    geometry = t_junction(r=1.0)
    result = sweeps.sweep(geometry, [0.1], accuracy="fast", bcs_gaps=False)
    assert result.grid == sweeps.FAST_GRID and result.mesh == sweeps.FAST_MESH
    standard = sweeps.sweep(geometry, [0.1], accuracy="standard", bcs_gaps=False)
    assert standard.grid == sweeps.ADAPTIVE_GRID and standard.mesh == sweeps.MeshSettings()
    # the yardstick's accuracy (agreement to 1e-4): measured 2e-6 apart here
    assert result.points[0].heat_conductance_ratio == pytest.approx(standard.points[0].heat_conductance_ratio,
                                                                     abs=1e-4)
    with pytest.raises(ValueError, match="accuracy must be one of standard, fast, got 'quick'"):
        sweeps.sweep(geometry, [0.1], accuracy="quick")
    with pytest.raises(ValueError, match="either accuracy or grid/mesh"):
        sweeps.sweep(geometry, [0.1], accuracy="fast", grid=sweeps.QUICK_GRID)


# -- the plan queue of the paper job ---------------------------------------------------------

def _record(task):
    log, name, gate = task
    gate.wait(5)
    log.append(name)
    if name == "fail":
        raise RuntimeError("task failed")
    return name


def _plan(log, names, gate):
    return sweeps.Plan(tuple((_record, (log, n, gate)) for n in names), lambda outputs: list(outputs))


def test_plan_queue_runs_added_plans_ahead_of_waiting_tasks_and_counts_progress():
    log, gate, reports = [], threading.Event(), []
    with ThreadPoolExecutor(1) as pool:
        queue = sweeps.PlanQueue(pool, lambda done, total: reports.append((done, total)), window=1)
        first = queue.submit(_plan(log, ["a1", "a2"], gate))
        second = queue.submit(_plan(log, ["b1", "b2", "b3"], gate))
        gate.set()
        assert queue.result(first) == ["a1", "a2"]
        # a1 and a2 are done; b1 at most has been handed over: the new plan runs before b2, b3
        urgent = queue.submit(_plan(log, ["c1"], gate), first=True)
        assert queue.result(urgent) == ["c1"]
        assert queue.result(second) == ["b1", "b2", "b3"]
    assert log.index("c1") < log.index("b2")
    assert reports[-1] == (6, 6) and max(total for _, total in reports) == 6
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)


def test_plan_queue_raises_the_first_failure_and_cancels_the_rest():
    log, gate = [], threading.Event()
    gate.set()
    with ThreadPoolExecutor(1) as pool:
        queue = sweeps.PlanQueue(pool, window=1)
        index = queue.submit(_plan(log, ["fail", "never1", "never2"], gate))
        with pytest.raises(RuntimeError, match="task failed"):
            queue.result(index)
    assert "never2" not in log


def test_refinement_plan_and_merge_are_one_round_of_refine_figure4(monkeypatch):
    phases = np.linspace(0.0, math.pi, 11)
    gentle = 1 + 0.1 * np.cos(phases)
    dip = 1.2 - 0.2 * np.exp(-np.abs(phases - math.pi) / 0.05)
    base = figures.Figure4Data(
        phases=phases, temperatures=np.array([0.1]), gap=np.ones(1), kappa=gentle[None], conductance=dip[None],
        kappa_error=0 * gentle[None], conductance_error=0 * gentle[None], shortcut_kappa=gentle[None],
        shortcut_conductance=dip[None], length_n=10.0, arm_length=0.5, arm_conductance=10.0, mirrored=False,
        spectral_solves=0)

    def fake_plan(*, phases, temperatures, **_):  # the added phases with made-up values
        values = np.full((1, len(phases)), 0.5)
        data = figures.Figure4Data(
            phases=np.asarray(phases), temperatures=np.asarray(temperatures), gap=np.ones(1), kappa=values,
            conductance=values, kappa_error=0 * values, conductance_error=0 * values, shortcut_kappa=values,
            shortcut_conductance=values, length_n=10.0, arm_length=0.5, arm_conductance=10.0, mirrored=False,
            spectral_solves=len(phases))
        return sweeps.Plan((), lambda outputs: data)

    monkeypatch.setattr(figures, "figure4_plan", fake_plan)
    plan = figures.refinement_plan(base)
    assert plan is not None
    merged = figures.merge_refinement(base, plan.run())
    again = figures.refine_figure4(base, rounds=1)
    np.testing.assert_array_equal(merged.phases, again.phases)
    np.testing.assert_array_equal(merged.conductance, again.conductance)
    assert merged.phases.size > phases.size
    gentle_only = figures.Figure4Data(**{**base.__dict__, "conductance": gentle[None]})
    assert figures.refinement_plan(gentle_only) is None
