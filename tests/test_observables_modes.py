"""Two-terminal modes (transmitted), floating-terminal solves, R_N, and the agreement of the
low-level route (energy_grid -> solve_on_grid -> linear_response) with sweep() on Delta(T)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from femprox.workflows import sweeps
from femprox.geometry.devices import sns_junction
from femprox.observables.energy_grid import energy_grid, solve_on_grid
from femprox.paper.figures import T_JUNCTION_FILE
from femprox.geometry.files import load_geometry
from femprox.mesh import build_mesh
from femprox.observables.conductance import least_resistance_path, linear_response, normal_resistance
from femprox.geometry.temperature import at_temperature
from networks import asymmetric_house, star_network


def response(geometry, temperature, **grid_options):
    grid = energy_grid(geometry, [temperature], **grid_options)
    _, conductance = solve_on_grid(geometry, grid)
    return linear_response(conductance, grid, temperature)


# star network: arms A (R = 2), B (R = 1.5), C (R = 2) to one clean node
R_A, R_B, R_C = 2.0, 1.5, 2.0


def test_transmitted_mode_in_a_normal_star_is_kirchhoff():
    r = response(star_network(), 0.1)
    t = r.two_terminal("A", "B", others="transmitted")
    # V_A = 1, B and C at 0: the node sits at V = (1/R_A) / sum(1/R); I_B = V / R_B
    node = (1 / R_A) / (1 / R_A + 1 / R_B + 1 / R_C)
    assert t.conductance == pytest.approx(node / R_B, rel=1e-12)
    assert t.normal_conductance == pytest.approx(1 / (R_A + R_B), rel=1e-14)  # path a + b
    assert t.conductance_ratio == pytest.approx(node / R_B * (R_A + R_B), rel=1e-12)
    # normal metal: Wiedemann-Franz holds for the transmitted part too
    assert t.heat_conductance_ratio == pytest.approx(t.conductance_ratio, rel=1e-12)
    assert math.isnan(t.seebeck)
    assert least_resistance_path(star_network(), "A", "B") == ("a", "b")
    # an explicit path changes only the normalization
    assert r.two_terminal("A", "B", others="transmitted", path=["a"]).normal_conductance == pytest.approx(1 / R_A)


def test_transmitted_heat_equals_floating_heat_when_the_s_terminals_absorb_nothing():
    # T = 0.05 << Delta: the S reservoirs Andreev-reflect, absorbing heat ~ exp(-Delta/T) ~ 2e-9,
    # so the heat reaching 'right' is all the heat; the remaining difference is the floating
    # mode's thermoelectric correction (phase 1 breaks the symmetry), ~1e-6 relative
    r = response(asymmetric_house(1.0), 0.05, order=6)
    transmitted = r.two_terminal("left", "right", others="transmitted")
    floating = r.two_terminal("left", "right", others="floating")
    assert transmitted.heat_conductance_ratio == pytest.approx(floating.heat_conductance_ratio, rel=1e-4)
    # charge, in contrast, is converted into supercurrent and leaves through S1, S2
    assert transmitted.conductance_ratio < 0.05 < 1 < floating.conductance_ratio
    # well above: quasiparticles enter the S reservoirs and carry heat away
    warm = response(asymmetric_house(1.0), 0.3, order=6)
    assert (warm.two_terminal("left", "right", others="transmitted").heat_conductance_ratio
            < 0.6 * warm.two_terminal("left", "right").heat_conductance_ratio)


def test_floating_probe_potential_in_a_normal_star():
    r = response(star_network(), 0.1)
    state = r.terminal_state(potentials={"A": 1.0}, float_charge=["C"], float_heat=["C"])
    # no current in arm c: C reads the node's potential, A and B in series
    assert state.potentials["C"] == pytest.approx(R_B / (R_A + R_B), rel=1e-12)
    assert state.charge_currents["A"] == pytest.approx(1 / (R_A + R_B), rel=1e-12)
    assert state.charge_currents["B"] == pytest.approx(-1 / (R_A + R_B), rel=1e-12)
    assert abs(state.charge_currents["C"]) < 1e-14


def test_thermovoltages_of_floating_probes_are_odd_in_the_phase():
    states = {}
    for phase in (1.0, -1.0):
        r = response(asymmetric_house(phase), 0.2, order=6)
        states[phase] = r.terminal_state(temperatures={"left": 1e-3}, float_charge=["right"])
        # consistency with the two-terminal thermopower: right held, left heated and open,
        # S reservoirs floating too: V_left - V_right = -S dT
        pair = r.two_terminal("left", "right")
        open_circuit = r.terminal_state(temperatures={"left": 1.0}, float_charge=["left"], float_heat=["S1", "S2"],
                                        float_condensate=True)
        assert open_circuit.potentials["left"] == pytest.approx(-pair.seebeck, rel=1e-9)
        assert abs(open_circuit.condensate_current) < 1e-14
    plus, minus = states[1.0].potentials["right"], states[-1.0].potentials["right"]
    assert abs(plus) > 1e-6  # an Andreev interferometer's thermovoltage...
    assert minus == pytest.approx(-plus, rel=1e-6)  # ...is odd in the phase (mesh and grid are the same)


def test_floating_solve_rejects_impossible_requests():
    r = response(asymmetric_house(1.0), 0.2, order=4)
    with pytest.raises(ValueError, match="superconducting"):
        r.terminal_state(float_charge=["S1"])
    with pytest.raises(ValueError, match="both held and floating"):
        r.terminal_state(potentials={"left": 1.0}, float_charge=["left"])
    with pytest.raises(KeyError):
        r.terminal_state(temperatures={"nowhere": 1.0})


def test_normal_resistance_of_a_junction_and_a_star():
    junction = sns_junction(length=3.0)
    names = [n.name for n in junction.terminals]
    resistance = sum(w.resistance for w in junction.wires)
    assert normal_resistance(junction, *names) == pytest.approx(resistance, rel=1e-12)
    assert normal_resistance(star_network(), "A", "B") == pytest.approx(R_A + R_B, rel=1e-12)  # C floats


def test_low_level_route_with_bcs_gap_equals_sweep():
    # sweep() applies BCS Delta(T); the low-level route does when given at_temperature(geometry, T)
    geometry, temperature = load_geometry(T_JUNCTION_FILE), 0.45
    coarse = sweeps.MeshSettings(refine=0.5)  # any mesh will do, as long as both routes use it
    high = sweeps.sweep(geometry, [temperature], grid=sweeps.FINE_GRID, mesh=coarse).points[0]
    warm = at_temperature(geometry, temperature)
    grid = energy_grid(warm, [temperature])  # FINE_GRID's options are energy_grid's defaults
    _, conductance = solve_on_grid(build_mesh(warm, refine=coarse.refine), grid)
    low = linear_response(conductance, grid, temperature).two_terminal("left", "right")
    # same gaps, grid, mesh and arithmetic: equal to rounding
    assert low.conductance_ratio == pytest.approx(high.conductance_ratio, abs=1e-12)
    assert low.heat_conductance_ratio == pytest.approx(high.heat_conductance_ratio, abs=1e-12)
    # keeping Delta0 instead (the gap at T = 0) is a visible error: Delta(0.45) = 0.72 Delta0
    cold_grid = energy_grid(geometry, [temperature])
    _, cold = solve_on_grid(build_mesh(geometry, refine=coarse.refine), cold_grid)
    wrong = linear_response(cold, cold_grid, temperature).two_terminal("left", "right")
    assert abs(wrong.conductance_ratio / high.conductance_ratio - 1) > 5e-3


def test_linear_response_says_when_the_gaps_are_not_those_of_its_temperature(caplog):
    geometry, temperature = load_geometry(T_JUNCTION_FILE), 0.45  # reservoirs at T = 0, gap Delta0
    mesh = build_mesh(geometry, refine=0.5)
    grid = energy_grid(geometry, [temperature], order=4)
    _, cold = solve_on_grid(mesh, grid)
    with caplog.at_level("WARNING", logger="femprox.observables.conductance"):
        linear_response(cold, grid, temperature)
    assert "not BCS Delta(0.45)" in caplog.text and "at_temperature" in caplog.text
    with pytest.raises(ValueError, match="not BCS"):
        linear_response(cold, grid, temperature, bcs_gaps=True)
    caplog.clear()
    with caplog.at_level("WARNING", logger="femprox.observables.conductance"):
        linear_response(cold, grid, temperature, bcs_gaps=False)  # gaps deliberately fixed
        warm = at_temperature(geometry, temperature)
        warm_grid = energy_grid(warm, [temperature], order=4)
        _, conductance = solve_on_grid(build_mesh(warm, refine=0.5), warm_grid)
        linear_response(conductance, warm_grid, temperature, bcs_gaps=True)  # consistent: no complaint
        # at T = 0.1 Delta(T) differs from Delta0 by 4e-5 < 1e-4: the cold network is fine there
        linear_response(cold, grid, 0.1, bcs_gaps=True)
    assert caplog.text == ""


def test_transmitted_normalization_counts_tunnel_barriers_as_series_resistors():
    from femprox.geometry.network import Geometry, Node, NodeKind, Wire
    from femprox.physics.contacts import TunnelBarrier

    normal = NodeKind.NORMAL_RESERVOIR
    wire = Geometry(nodes=(Node("A", normal), Node("B", normal)),
                    wires=(Wire("w", "A", "B", 2.0, conductance=1.0, end_contact=TunnelBarrier(3.0)),))
    t = response(wire, 0.1).two_terminal("A", "B", others="transmitted")
    # N-I-N: the barrier is a series resistor, so all of the path's conductance arrives
    assert t.normal_conductance == pytest.approx(1 / (2.0 + 3.0), rel=1e-14)
    assert t.conductance_ratio == pytest.approx(1.0, rel=1e-9)  # exact but for the thermal quadrature (1e-12)
