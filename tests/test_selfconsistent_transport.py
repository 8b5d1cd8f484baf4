"""Transport with a self-consistent pair potential (femprox.selfconsistency.transport), the
energy-grid hooks it needs, and Delta(x) in the field export."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from femprox.physics import bcs
from femprox.geometry.devices import ns_wire, t_junction
from femprox.observables.energy_grid import adaptive_transport, energy_grid, solve_on_grid
from femprox.output.export import network_points, pair_potential_point_data
from femprox.output.results import parameter_sweep
from femprox.geometry.network import Geometry, Node, NodeKind, Wire
from femprox.mesh import build_mesh
from femprox.observables.conductance import linear_response
from femprox.physics.pair_potential import PairPotentialField
from femprox.selfconsistency.gap_equation import solve_gap
from femprox.selfconsistency.transport import (contact_ends, gap_edges, normal_state, resolve_phase,
                                               self_consistent_sweep, supercurrent_reason)
from femprox.workflows.sweeps import FINE_GRID, QUICK_GRID, MeshSettings
from femprox.geometry.temperature import at_temperature

S_RESERVOIR = NodeKind.SUPERCONDUCTING_RESERVOIR
T_C_T_JUNCTION = 0.5496701  # r = 1, L_N = L_S = 10 xi0 (tests/test_selfconsistency.py)


@pytest.fixture(scope="module")
def junction_sweep():
    """T-junction r = 1 at T = 0.1 (superconducting) and 0.56 (above the structure's T_c,
    below the bulk T_c0 = 0.567)."""
    return self_consistent_sweep(t_junction(r=1.0), [0.56, 0.1])


# -- the energy-grid hooks -------------------------------------------------------------------

def test_energy_grid_uses_given_gap_edges_instead_of_the_wires():
    geometry = t_junction(r=1.0)
    own = energy_grid(geometry, [0.3])
    given = energy_grid(geometry, [0.3], gaps=[0.8])
    assert np.any(np.isclose(own.edges, 1.0, rtol=0, atol=1e-15))
    assert np.any(np.isclose(given.edges, 0.8, rtol=0, atol=1e-15))
    assert not np.any(np.isclose(given.edges, 1.0, rtol=0, atol=1e-12))
    # graded toward the edge from both sides like a wire gap (first panel 1e-6 of the edge)
    assert np.min(np.abs(given.edges - 0.8)[given.edges != 0.8]) == pytest.approx(0.8e-6, rel=1e-9)


def test_adaptive_transport_with_the_rigid_field_is_the_plain_solve():
    # the pass-through must not change anything: a field equal to the wires' own gaps gives
    # the same grid and the same spectral conductance bit for bit
    geometry = at_temperature(t_junction(r=1.0), 0.2)
    mesh = build_mesh(geometry)
    plain = adaptive_transport(mesh, [0.2], tol=1e-2, order=4)
    through = adaptive_transport(mesh, [0.2], tol=1e-2, order=4, pair_potential=PairPotentialField.rigid(mesh))
    assert np.array_equal(plain[0].edges, through[0].edges)
    assert np.array_equal(plain[2].matrix, through[2].matrix)
    assert through[1].pair_potential is not None


# -- the sweep -------------------------------------------------------------------------------

def test_above_the_structures_tc_the_network_is_normal(junction_sweep):
    # T = 0.56 > T_c = 0.5497: no pair potential anywhere, so both ratios are 1 (to the
    # rounding of the energy integrals: 1e-9), although the bulk BCS gap is still 0.16
    assert junction_sweep.critical_temperature.temperature == pytest.approx(T_C_T_JUNCTION, rel=1e-6)
    assert float(bcs.gap(0.56)) > 0.1
    k = list(junction_sweep.temperatures).index(0.56)
    assert junction_sweep.solutions[k] is None and junction_sweep.newton_iterations[k] == 0
    assert junction_sweep.column("heat_conductance_ratio")[k] == pytest.approx(1.0, abs=1e-9)
    assert junction_sweep.column("conductance_ratio")[k] == pytest.approx(1.0, abs=1e-9)
    assert np.all(junction_sweep.gap("s_arm", [0.0, 5.0, 10.0])[k] == 0)
    assert np.all(np.isnan(junction_sweep.phase("s_arm", [5.0])[k]))


def test_sweep_equals_the_direct_route_on_a_fixed_fine_grid(junction_sweep):
    # independent route: solve_gap, the solution's own spectral solve on the fixed FINE grid
    # (order 8, graded at the self-consistent edge), kinetic stage, linear response. The sweep
    # uses the adaptive grid (tol 1e-2 per panel share): it agrees to its error estimate,
    # which on the T-junction is ~1e-5 (ADAPTIVE_GRID docs in femprox.workflows.sweeps); 1e-4 asserted.
    solution = solve_gap(t_junction(r=1.0), 0.1)
    grid = energy_grid(solution.geometry, [0.1], gaps=gap_edges(solution), **FINE_GRID.as_kwargs())
    from femprox.kinetic.solver import spectral_conductance

    conductance = spectral_conductance(solution.solve_spectral(grid.nodes), keep_distributions=False)
    pair = linear_response(conductance, grid, 0.1, bcs_gaps=False).two_terminal("left", "right")
    k = list(junction_sweep.temperatures).index(0.1)
    assert junction_sweep.column("heat_conductance_ratio")[k] == pytest.approx(pair.heat_conductance_ratio, abs=1e-4)
    assert junction_sweep.column("conductance_ratio")[k] == pytest.approx(pair.conductance_ratio, abs=1e-4)
    # and the self-consistent Delta(x) is the one solve_gap gives (same mesh, same start)
    x = [0.1, 1.0, 9.0]
    assert np.allclose(junction_sweep.gap("s_arm", x)[k], solution.profile("s_arm", x)[1], atol=1e-7)


def test_self_consistent_lead_conducts_heat_better_than_the_rigid_gap(junction_sweep):
    # the suppressed Delta near the contact weakens the proximity effect: kappa/kappa_N at
    # T = 0.1 is 0.856 self-consistent against 0.762 with the rigid bulk gap (docs); a
    # difference of 0.09, asserted > 0.05
    k = list(junction_sweep.temperatures).index(0.1)
    from femprox.workflows.sweeps import sweep

    rigid = sweep(t_junction(r=1.0), [0.1])
    assert junction_sweep.column("heat_conductance_ratio")[k] - rigid.points[0].heat_conductance_ratio > 0.05


def test_contact_gap_and_gap_edges(junction_sweep):
    k = list(junction_sweep.temperatures).index(0.1)
    solution = junction_sweep.solutions[k]
    assert contact_ends(t_junction()) == [("s_arm", "start")]
    near, far = junction_sweep.contact_gap(0.1)["s_arm", "start"][k], junction_sweep.contact_gap(1.0)["s_arm", "start"][k]
    assert 0 < near < far < 1  # suppressed toward the contact
    # the grid's gap edge is the largest |Delta| of the S arm (at its free end, ~the bulk gap)
    _, magnitude = solution.pair_potential.magnitude(solution.mesh.wire_index("s_arm"))
    assert gap_edges(solution) == [pytest.approx(magnitude.max(), rel=1e-15)]
    assert magnitude.max() == pytest.approx(float(bcs.gap(0.1)), abs=2e-3)
    assert junction_sweep.column("gap_factor")[k] == pytest.approx(magnitude.max(), rel=1e-12)
    with pytest.raises(ValueError, match="outside S wire 's_arm'"):
        junction_sweep.contact_gap(11.0)


def test_normal_state_keeps_everything_but_the_gaps():
    geometry = normal_state(t_junction(r=1.0))
    assert [w.gap for w in geometry.wires] == [0.0, 0.0, 0.0]
    assert [w.length for w in geometry.wires] == [w.length for w in t_junction(r=1.0).wires]


def test_bad_input_is_refused_with_a_message():
    with pytest.raises(ValueError, match="no superconducting wire"):
        self_consistent_sweep(ns_wire(), [0.1])
    with pytest.raises(ValueError, match="element orders"):
        self_consistent_sweep(t_junction(), [0.1], mesh=MeshSettings(order=2))
    with pytest.raises(ValueError, match="positive and finite"):
        self_consistent_sweep(t_junction(), [0.1, -0.2])
    with pytest.raises(ValueError, match="only once"):
        self_consistent_sweep(t_junction(), [0.1, 0.1])
    with pytest.raises(ValueError, match="not a reservoir"):
        self_consistent_sweep(t_junction(), [0.1], between=("left", "nowhere"))


# -- Delta(x) in the field export ------------------------------------------------------------

def test_pair_potential_point_data_follows_the_field():
    # a field linear in x with a constant phase is reproduced exactly by the element
    # polynomials (degree >= 1): at every exported point of the S arm |Delta| = 0.5 + 0.03 x
    mesh = build_mesh(t_junction(r=1.0))
    s_arm = mesh.wire_index("s_arm")

    def delta(wire, x):
        return np.where(wire == s_arm, (0.5 + 0.03 * x) * np.exp(0.7j), 0.0)

    field = PairPotentialField.from_function(mesh, delta)
    data = pair_potential_point_data(mesh, field)
    points = network_points(mesh)
    ids, x = points.samples[s_arm]
    assert np.allclose(data["gap"][ids], 0.5 + 0.03 * x, rtol=0, atol=1e-12)
    assert np.allclose(data["gap_phase"][ids], 0.7, rtol=0, atol=1e-12)
    # N wires: zero, phase 0, except the shared node "center", which takes the S arm's end
    for k in (mesh.wire_index("left_arm"), mesh.wire_index("right_arm")):
        ids_n, _ = points.samples[k]
        inner = np.setdiff1d(ids_n, ids)
        assert np.all(data["gap"][inner] == 0) and np.all(data["gap_phase"][inner] == 0)
    other = build_mesh(t_junction(r=1.0), refine=2.0)
    with pytest.raises(ValueError, match="another mesh"):
        pair_potential_point_data(other, field)


# -- convergence of the research result (slow) -----------------------------------------------

@pytest.mark.slow  # ~40 s: a reference run with the mesh refined twice, cutoff and grid tightened
def test_research_numbers_against_a_refined_reference():
    # T-junction r = 1 at T = 0.05 and 0.2 with the defaults of the README table, against an
    # independent reference: mesh x2 (P3 elements of half the size), Matsubara explicit
    # cutoff x2 (40 Delta0), FINE grid refined to 1e-4. Measured differences (dominated by
    # the mesh; docs/self_consistency.md, "Research result"): kappa/kappa_N 4.6e-4 and 1e-4,
    # G/G_N 2.5e-5 and 5.5e-5, |Delta| at 1 xi0 from the contact 4.2e-4 and 4.5e-4, T_c 1.1e-5
    # relative. Asserted with about twice that margin: 1e-3, 2e-4, 1e-3, 3e-5. (|Delta| at
    # 0.1 xi0 converges slowly, 0.014 per mesh doubling: not asserted.)
    from dataclasses import replace

    temperatures = [0.05, 0.2]
    default = self_consistent_sweep(t_junction(r=1.0), temperatures)
    reference = self_consistent_sweep(t_junction(r=1.0), temperatures, mesh=MeshSettings(refine=2.0),
                                      explicit_cutoff=40.0, grid=replace(FINE_GRID, adaptive_tolerance=1e-4))
    for column, tol in (("heat_conductance_ratio", 1e-3), ("conductance_ratio", 2e-4)):
        assert np.allclose(default.column(column), reference.column(column), rtol=0, atol=tol), column
    near = [default.contact_gap(1.0)["s_arm", "start"], reference.contact_gap(1.0)["s_arm", "start"]]
    assert np.allclose(near[0], near[1], rtol=0, atol=1e-3)
    assert default.critical_temperature.temperature == pytest.approx(reference.critical_temperature.temperature,
                                                                     rel=3e-5)
    # the paper's rigid gap underestimates kappa/kappa_N at both temperatures (by 0.12 and 0.04)
    from femprox.workflows.sweeps import sweep

    rigid = sweep(t_junction(r=1.0), temperatures).column("heat_conductance_ratio")
    assert np.all(reference.column("heat_conductance_ratio") - rigid > 0.02)


@pytest.mark.slow  # ~10 s: r = 1 at 4 temperatures, self-consistent and rigid
def test_research_example_runs_quick_and_saves_its_figure(tmp_path, monkeypatch):
    import runpy
    from pathlib import Path

    monkeypatch.setenv("FEMPROX_EXAMPLES_QUICK", "1")
    monkeypatch.setenv("FEMPROX_EXAMPLES_OUTPUT", str(tmp_path))
    script = Path(__file__).resolve().parent.parent / "examples" / "self_consistent_t_junction_curves.py"
    namespace = runpy.run_path(str(script), run_name="__main__")
    assert (tmp_path / "self_consistent_t_junction.png").stat().st_size > 0
    difference, where = namespace["largest_difference"](1.0, "heat_conductance_ratio")
    assert difference > 0.02 and where < namespace["curves"][1.0]["sc"].critical_temperature.temperature


def test_parallel_chains_agree_with_the_serial_chain():
    # cut into two chains (each warm-started on its own, the upper one from the bulk gap)
    # the Newton iterations start elsewhere but stop at the same tolerance (1e-8 in Delta):
    # kappa and G agree to 1e-7 (they depend smoothly on Delta; 4e-10 measured on 25 T)
    from concurrent.futures import ThreadPoolExecutor

    from femprox.selfconsistency.transport import _split_chains

    temperatures = [0.2, 0.3]
    serial = self_consistent_sweep(t_junction(r=1.0), temperatures)
    with ThreadPoolExecutor(2) as pool:
        parallel = self_consistent_sweep(t_junction(r=1.0), temperatures, executor=pool, chains=2)
    for column in ("heat_conductance_ratio", "conductance_ratio"):
        assert np.allclose(serial.column(column), parallel.column(column), rtol=0, atol=1e-7)
    assert np.allclose(serial.gap("s_arm", [1.0, 5.0]), parallel.gap("s_arm", [1.0, 5.0]), rtol=0, atol=1e-7)
    # the low temperatures (many Matsubara frequencies) get a shorter chain
    low, high = _split_chains(list(np.geomspace(0.005, 0.5, 25)), 2)
    assert len(low) < len(high) and low + high == list(np.geomspace(0.005, 0.5, 25))
    assert _split_chains([0.1], 4) == [[0.1]]


# -- the phase of Delta and the charge converted in S wires ------------------------------------

def fork(phase_2: float = 0.0) -> Geometry:
    """N reservoir - N wire (3 xi0) - node c - two S wires (4 xi0) to S reservoirs S1, S2 (S2 at
    phase ``phase_2``: the wire s2 then winds from 0 to it)."""
    return Geometry(nodes=(Node("N", NodeKind.NORMAL_RESERVOIR), Node("c", NodeKind.CLEAN),
                           Node("S1", S_RESERVOIR, gap=1.0), Node("S2", S_RESERVOIR, gap=1.0, phase=phase_2)),
                    wires=(Wire("n", "N", "c", length=3.0), Wire("s1", "c", "S1", length=4.0, gap=1.0),
                           Wire("s2", "c", "S2", length=4.0, gap=1.0, phase=0.0, phase_end=phase_2)))


def column_sums(point) -> tuple[float, float]:
    """Largest |sum over all terminals| of a column of the charge and thermoelectric matrices,
    relative to the N terminal's own conductance dI_N/dV_N."""
    scale = abs(point.matrices["charge"][0, 0])
    return (float(np.max(np.abs(point.matrices["charge"].sum(axis=0)))) / scale,
            float(np.max(np.abs(point.matrices["thermoelectric"].sum(axis=0)))) / scale)


@pytest.fixture(scope="module")
def fork_sweeps():
    return {mode: self_consistent_sweep(fork(), [0.2], between=("N", "S1"), phase=mode)
            for mode in ("auto", "self-consistent")}


def test_two_s_reservoirs_conserve_charge_and_rigid_equals_self_consistent_phase(fork_sweeps):
    auto, free = fork_sweeps["auto"], fork_sweeps["self-consistent"]
    # equal phases everywhere: no supercurrent, "auto" takes the (exact, cheaper) rigid phase
    assert auto.phase_mode == "rigid" and free.phase_mode == "self-consistent"
    for result in (auto, free):
        assert result.condensate_split
        point = result.transport.points[0]
        assert point.terminals == ("N", "S1", "S2")
        # the kinetic solver's tolerance: measured 1.4e-15 (charge), 1e-24 (thermoelectric);
        # without the split the S terminals would miss 91% of dI_N/dV_N (test_phase_selfconsistency)
        charge, thermoelectric = column_sums(point)
        assert charge < 1e-10 and thermoelectric < 1e-10
        # symmetric fork: S1 and S2 take equal shares
        assert point.matrices["charge"][1, 0] == pytest.approx(point.matrices["charge"][2, 0], rel=1e-10)
    # the two phase treatments solve the same equations here: they differ by the Newton
    # tolerance (1e-8 in Delta; measured 1.5e-14 in kappa/kappa_N)
    for column in ("heat_conductance_ratio", "conductance_ratio"):
        assert abs(auto.column(column)[0] - free.column(column)[0]) < 1e-7
    assert np.max(np.abs(auto.gap("s1", [0.5, 2.0]) - free.gap("s1", [0.5, 2.0]))) < 1e-7


def test_a_phase_biased_fork_gets_the_self_consistent_phase_and_conserves_charge():
    geometry = fork(1.0)
    assert "s2" in supercurrent_reason(geometry)
    result = self_consistent_sweep(geometry, [0.2], between=("N", "S1"))
    assert result.phase_mode == "self-consistent" and result.condensate_split
    charge, thermoelectric = column_sums(result.transport.points[0])
    assert charge < 1e-10 and thermoelectric < 1e-10  # measured 5e-15
    # the phase of Delta relaxes: not the rigid linear profile along s2 (0.5 rad in the middle)
    phase = result.phase("s2", [2.0])[0, 0]
    assert 0.0 < phase < 1.0 and abs(phase - 0.5) > 1e-3


def test_phase_rule_and_bad_phase():
    assert supercurrent_reason(t_junction(r=1.0)) is None
    assert resolve_phase(t_junction(r=1.0), "auto") == "rigid"
    assert resolve_phase(fork(), "self-consistent") == "self-consistent"
    # a phase of 2 pi on one S reservoir is the same pair potential: no supercurrent
    assert supercurrent_reason(replace(fork(), nodes=tuple(
        replace(n, phase=2 * np.pi) if n.name == "S1" else n for n in fork().nodes),
        wires=tuple(replace(w, phase=2 * np.pi, phase_end=2 * np.pi) if w.name == "s1" else w
                    for w in fork().wires))) is None
    assert "Phi0" in supercurrent_reason(replace(t_junction(r=1.0), wires=tuple(
        replace(w, flux=0.1) if w.name == "left_arm" else w for w in t_junction(r=1.0).wires)))
    with pytest.raises(ValueError, match="phase must be one of"):
        self_consistent_sweep(t_junction(r=1.0), [0.2], phase="free")


@pytest.mark.slow
def test_parameter_sweep_over_the_flux_of_the_s_loop_house_gives_a_periodic_even_tc():
    # the S wire of the house's loop carries the screening supercurrent, which breaks pairs:
    # T_c oscillates with the flux (Little-Parks-like), even in the flux, with period h/2e and
    # its minimum at half a flux quantum, where kappa/kappa_N = 1 (full-scale oscillation, as
    # with the rigid gap). Measured on this coarse mesh: T_c 0.4693 (0), 0.4240 (+-1/4),
    # 0.3702 (1/2); T_c(1) - T_c(0) = -1.8e-5, the gauge's discretization error (the vector
    # potential sits on the arms; it converges with the mesh), hence 1e-4 for periodicity
    path = Path(__file__).resolve().parent.parent / "geometries" / "house_s_loop.toml"
    fluxes = [-0.25, 0.0, 0.25, 0.5, 1.0]
    dataset = parameter_sweep(path, [0.2], {"flux": fluxes}, self_consistent=True, grid=QUICK_GRID,
                              mesh=MeshSettings(refine=0.5))
    tc = dict(zip(fluxes, dataset["critical_temperature"].values.tolist()))
    assert tc[-0.25] == pytest.approx(tc[0.25], abs=1e-9)
    assert tc[1.0] == pytest.approx(tc[0.0], abs=1e-4)
    assert tc[0.5] + 0.03 < tc[0.25] < tc[0.0] - 0.03
    assert float(dataset["heat_conductance_ratio"].sel(flux=0.5, temperature=0.2)) == pytest.approx(1.0, abs=1e-6)
