"""Self-consistent phase (solve_gap(phase="self-consistent")) and where the converted charge
goes (femprox.kinetic.condensate): docs/self_consistency.md, "Self-consistent phase" and "Where the
converted charge goes"."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import brentq

from femprox.physics import bcs
from femprox.kinetic.condensate import condensate_split, converted_charge, phase_stiffness, split_condensate
from femprox.geometry.devices import house_s_loop
from femprox.observables.energy_grid import energy_grid
from femprox.geometry.network import Geometry, Loop, MeshOptions, Node, NodeKind, Wire
from femprox.kinetic.solver import T, spectral_conductance
from femprox.mesh import build_mesh
from femprox.observables.conductance import linear_response
from femprox.physics.contacts import TunnelBarrier
from femprox.physics.pair_potential import PairPotentialField
from femprox.selfconsistency.gap_equation import MatsubaraRule, linearized_eigenvalue, solve_gap
from femprox.geometry.temperature import at_temperature

S_RES = NodeKind.SUPERCONDUCTING_RESERVOIR


def s_wire_between_reservoirs(phase: float, length: float, elements: int) -> Geometry:
    """One S wire between two S reservoirs (bulk gap at T) with phases 0 and ``phase``."""
    return Geometry(nodes=(Node("A", S_RES, gap=1.0), Node("B", S_RES, gap=1.0, phase=phase)),
                    wires=(Wire("s", "A", "B", length=length, gap=1.0, phase_end=phase,
                                mesh=MeshOptions(elements=elements)),))


def sns_with_s_lead(phase: float, elements: int = 12) -> Geometry:
    """S reservoir A - S wire (6 xi0) - N wire (2 xi0) - S reservoir B at phase ``phase``."""
    return Geometry(nodes=(Node("A", S_RES, gap=1.0), Node("c", NodeKind.CLEAN),
                           Node("B", S_RES, gap=1.0, phase=phase)),
                    wires=(Wire("s", "A", "c", length=6.0, gap=1.0, mesh=MeshOptions(elements=elements)),
                           Wire("n", "c", "B", length=2.0, mesh=MeshOptions(elements=elements))))


def fork(length_1: float = 4.0, length_2: float = 4.0) -> Geometry:
    """N reservoir - N wire (3 xi0) - node c - two S wires to S reservoirs S1, S2."""
    return Geometry(nodes=(Node("N", NodeKind.NORMAL_RESERVOIR), Node("c", NodeKind.CLEAN),
                           Node("S1", S_RES, gap=1.0), Node("S2", S_RES, gap=1.0)),
                    wires=(Wire("n", "N", "c", length=3.0), Wire("s1", "c", "S1", length=length_1, gap=1.0),
                           Wire("s2", "c", "S2", length=length_2, gap=1.0)))


def relative_mismatch(current) -> float:
    return abs(current.current_at_start - current.current_at_end) / abs(current.current)


# -- the complex gap equation ----------------------------------------------------------------

def test_supercurrent_is_constant_along_a_phase_biased_s_wire():
    result = solve_gap(s_wire_between_reservoirs(2.0, 10.0, 10), 0.3, phase="self-consistent")
    assert result.phase == "self-consistent" and result.iterations <= 6  # measured: 3 (quadratic)
    current = result.supercurrent("s")
    # measured 1.1e-4 with 10 P3 elements, 5.7e-5 with 20: discretization (the end fluxes and the
    # Matsubara sum differ from the gap equation's quadrature points and rule)
    assert relative_mismatch(current) < 5e-4
    assert current.current < -0.2  # a real current: -0.254 g Delta0
    x, chi = result.phase_profile("s", [0.0, 2.5, 5.0, 7.5, 10.0])
    assert np.all(np.diff(chi) > 0) and abs(chi[2] - 1.0) < 1e-6  # symmetric: phase 1 in the middle
    x, magnitude = result.profile("s", [2.5, 7.5])
    assert abs(magnitude[0] - magnitude[1]) < 1e-7


def test_sns_with_long_s_lead_conserves_supercurrent_only_when_self_consistent():
    geometry = sns_with_s_lead(1.5)
    consistent = solve_gap(geometry, 0.2, phase="self-consistent")
    lead, weak_link = consistent.supercurrent("s"), consistent.supercurrent("n")
    # measured 3e-5 (12 elements), 1.5e-5 (24): discretization
    assert relative_mismatch(lead) < 3e-4
    assert abs(lead.current_at_end - weak_link.current_at_start) < 1e-8  # the same node
    # the lead takes part of the phase difference (0.75 of 1.5 rad at the NS contact)
    x, chi = consistent.phase_profile("s", [5.99])
    assert 0.5 < chi[0] < 1.0
    rigid = solve_gap(geometry, 0.2)
    lead = rigid.supercurrent("s")
    # rigid phase (0 all along the lead): 99.5% of the current at the NS contact is converted
    # inside the lead; the S reservoir receives 0.53% of it (measured)
    assert abs(lead.current_at_start) < 0.02 * abs(lead.current_at_end)


def bulk_gap_with_phase_gradient(temperature: float, q: float, diffusion: float = 2.0) -> float:
    """|Delta| of a uniform current-carrying superconductor (cutoff-free): with the depairing
    rate Gamma = D q^2/2 the Matsubara equation is (omega + Gamma cos theta) sin theta = Delta
    cos theta; the gap equation is summed with the same Matsubara rule as solve_gap."""
    rule = MatsubaraRule.build(temperature)
    depairing = diffusion * q * q / 2
    log_ratio = np.log(temperature / bcs.critical_temperature())

    def sine(delta: float) -> np.ndarray:
        return np.sin([brentq(lambda t: (w + depairing * np.cos(t)) * np.sin(t) - delta * np.cos(t), 0, np.pi / 2,
                              xtol=1e-15) for w in rule.frequencies])

    return brentq(lambda d: rule.weights @ (sine(d) - d / rule.frequencies) - log_ratio * d, 1e-6, 1.0, xtol=1e-13)


@pytest.mark.slow
def test_current_carrying_s_wire_is_depaired_as_in_bulk():
    temperature, length = 0.3, 30.0
    result = solve_gap(s_wire_between_reservoirs(7.5, length, 30), temperature, phase="self-consistent")
    middle = length / 2
    _, chi = result.phase_profile("s", [middle - 0.5, middle + 0.5])
    q = chi[1] - chi[0]  # the phase is linear in the middle (constant current, uniform |Delta|)
    magnitude = result.profile("s", [middle])[1][0]
    expected = bulk_gap_with_phase_gradient(temperature, q)
    # measured q = 0.2549, |Delta| 0.86352 vs bulk 0.86349 (3e-5; 4.7e-4 with L = 20: the
    # reservoirs' bulk gap relaxes over a few xi0), suppressed by 0.081 below Delta(T)
    assert abs(magnitude - expected) < 2e-4
    assert float(bcs.gap(temperature)) - magnitude > 0.05


def test_free_s_wire_keeps_its_held_phase_and_the_bulk_gap():
    """No S reservoir: the global phase is held at one point (gauge anchor)."""
    geometry = Geometry(nodes=(Node("free", NodeKind.FREE_END), Node("N", NodeKind.NORMAL_RESERVOIR)),
                        wires=(Wire("s", "free", "N", length=4.0, gap=1.0, phase=0.7,
                                    end_contact=TunnelBarrier(1e10), mesh=MeshOptions(elements=4)),))
    result = solve_gap(geometry, 0.5 * bcs.critical_temperature(), phase="self-consistent")
    x, chi = result.phase_profile("s")
    assert np.max(np.abs(chi - 0.7)) < 1e-9  # measured 5e-15
    bulk = float(bcs.gap(0.5 * bcs.critical_temperature()))  # 0.956885
    assert np.max(np.abs(result.profile("s")[1] - bulk)) < 1e-8  # measured 3.6e-9: the Matsubara rule


def test_unknown_phase_mode_is_refused_by_name():
    with pytest.raises(ValueError, match="phase must be one of"):
        solve_gap(fork(), 0.2, phase="free")


# -- where the converted charge goes -----------------------------------------------------------

def test_phase_stiffness_and_split_of_a_uniform_s_wire():
    temperature = 0.3
    mesh = build_mesh(at_temperature(s_wire_between_reservoirs(0.0, 5.0, 5), temperature))
    kappa = phase_stiffness(mesh, temperature)
    gap = float(bcs.gap(temperature))
    # dirty-limit stiffness g (pi/2) Delta tanh(Delta/2T); measured 4.7e-8 (the Matsubara rule's
    # tail for a summand ~ omega^-2 and the spectral tolerance)
    assert np.max(np.abs(kappa / (0.5 * np.pi * gap * np.tanh(gap / (2 * temperature))) - 1)) < 2e-7
    split = condensate_split(mesh, kappa)
    assert split.terminals == ("A", "B") and split.islands == ()
    position = mesh.quadrature.position
    # uniform stiffness: h_A = 1 - x/L (P3 elements hold it exactly); kappa is uniform to the
    # spectral solver's tolerance, measured 2e-12
    assert np.max(np.abs(split.shares[0] - (1 - position / 5.0))) < 1e-9
    assert np.max(np.abs(split.shares.sum(axis=0) - 1)) < 1e-12


def linear_response_of(result, grid, temperature, split: bool):
    solution = result.solve_spectral(grid.nodes)
    conductance = spectral_conductance(solution)
    if split:
        stiffness = phase_stiffness(result.mesh, temperature, result.pair_potential)
        conductance = split_condensate(conductance, solution, condensate_split(result.mesh, stiffness))
    return conductance, linear_response(conductance, grid, temperature)


def test_charge_is_conserved_over_all_terminals_with_the_split():
    temperature = 0.2
    geometry = fork(4.0, 4.0)
    result = solve_gap(geometry, temperature, phase="self-consistent")
    grid = energy_grid(result.geometry, [temperature])
    plain, response = linear_response_of(result, grid, temperature, split=False)
    _, split = linear_response_of(result, grid, temperature, split=True)
    n = split.index("N")
    scale = abs(split.charge[n, n])
    # with the split: the charge currents of N, S1, S2 sum to zero (solver tolerance ~1e-12)
    assert abs(split.charge[:, n].sum()) < 1e-10 * scale
    assert abs(split.thermoelectric[:, n].sum()) < 1e-10 * scale
    # without it the S terminals receive only the quasiparticle current: measured 91% of the
    # charge that N injects is converted in the S wires and booked to the condensate
    missing = abs(response.charge[:, n].sum()) / scale
    assert missing > 0.5
    # symmetric device: the two S terminals take equal shares
    assert abs(split.charge[split.index("S1"), n] - split.charge[split.index("S2"), n]) < 1e-10 * scale
    # the normal terminal's own conductance does not change
    assert abs(split.charge[n, n] - response.charge[n, n]) < 1e-14 * scale


def test_shorter_s_wire_takes_the_larger_share():
    temperature = 0.2
    mesh = build_mesh(at_temperature(fork(4.0, 8.0), temperature))
    split = condensate_split(mesh, phase_stiffness(mesh, temperature))
    q = mesh.quadrature
    first = np.flatnonzero(q.wire_index == 1)[np.argmin(q.position[q.wire_index == 1])]  # s1 at the NS node
    # there (where the conversion happens) h_1 is close to the series-resistor value
    # L_2/(L_1 + L_2) = 2/3; the suppressed stiffness near the contact shifts it
    assert 0.6 < split.shares[0, first] < 0.7
    assert abs(split.shares[:, first].sum() - 1) < 1e-12


def _grounded_s_wire_and_island() -> Geometry:
    """An S wire to an S reservoir and, behind a short N wire, a free-ended S island."""
    return Geometry(nodes=(Node("N", NodeKind.NORMAL_RESERVOIR), Node("c", NodeKind.CLEAN),
                           Node("d", NodeKind.CLEAN), Node("S1", S_RES, gap=1.0), Node("end", NodeKind.FREE_END)),
                    wires=(Wire("n", "N", "c", length=3.0), Wire("s1", "c", "S1", length=3.0, gap=1.0),
                           Wire("n2", "c", "d", length=1.0), Wire("island", "d", "end", length=3.0, gap=1.0)))


def test_island_next_to_grounded_s_wires_is_refused():
    temperature = 0.2
    geometry = _grounded_s_wire_and_island()
    mesh = build_mesh(at_temperature(geometry, temperature))
    split = condensate_split(mesh, phase_stiffness(mesh, temperature))
    assert split.terminals == ("S1",) and split.islands == (("island",),)
    grid_energies = np.linspace(0.1, 2.0, 5)
    from femprox.spectral.solver import solve_spectral

    solution = solve_spectral(mesh, grid_energies)
    with pytest.raises(ValueError, match="island"):
        split_condensate(spectral_conductance(solution), solution, split)


def test_converted_charge_equals_the_condensate_booking():
    temperature = 0.2
    mesh = build_mesh(at_temperature(fork(4.0, 6.0), temperature))
    from femprox.spectral.solver import solve_spectral

    solution = solve_spectral(mesh, np.linspace(0.05, 2.0, 9))
    conductance = spectral_conductance(solution)
    everywhere = np.array([w.is_superconducting for w in mesh.geometry.wires])[mesh.quadrature.wire_index]
    converted = converted_charge(conductance, solution, everywhere[None, :].astype(float))[:, 0]
    scale = np.max(np.abs(conductance.condensate))
    # the conversion integral and minus the sum of the T reactions agree to rounding
    assert np.max(np.abs(converted + conductance.condensate)) < 1e-12 * scale
    assert np.max(np.abs(conductance.matrix[:, :, T].sum(axis=1) - converted)) < 1e-12 * scale


# -- T_c with a vector potential (covariant linearized gap equation) ---------------------------

def sn_pair(flux_on_s: float = 0.0, elements: int = 12) -> Geometry:
    """S wire (6 xi0, free end) - N wire (1 xi0) ending free in effect; ``flux_on_s``: a vector
    potential along the S wire (removable by a gauge change: no loop)."""
    return Geometry(nodes=(Node("a", NodeKind.FREE_END), Node("c", NodeKind.CLEAN),
                           Node("R", NodeKind.NORMAL_RESERVOIR)),
                    wires=(Wire("s", "a", "c", length=6.0, gap=1.0, flux=flux_on_s,
                                mesh=MeshOptions(elements=elements)),
                           Wire("n", "c", "R", length=1.0, end_contact=TunnelBarrier(1e10),
                                mesh=MeshOptions(elements=elements))))


def s_ring(flux: float, link_elements: int = 16) -> Geometry:
    """A ring: S wire (4 xi0) closed by a normal link (0.5 xi0) threaded by ``flux`` (h/2e),
    which femprox.physics.flux puts on the link; a decoupled lead to the reservoir."""
    return Geometry(nodes=(Node("a", NodeKind.CLEAN), Node("b", NodeKind.CLEAN), Node("R", NodeKind.NORMAL_RESERVOIR)),
                    wires=(Wire("s", "a", "b", length=4.0, gap=1.0, mesh=MeshOptions(elements=8)),
                           Wire("n", "b", "a", length=0.5, mesh=MeshOptions(elements=link_elements)),
                           Wire("lead", "b", "R", length=1.0, end_contact=TunnelBarrier(1e10),
                                mesh=MeshOptions(elements=2))),
                    loops=(Loop("ring", ("s", "n"), flux),))


def test_covariant_linearized_equation_without_flux_is_the_real_one():
    from femprox.selfconsistency.gap_equation import _covariant_eigenvalue, _GapEquation, materials_of

    geometry = sn_pair(elements=6)
    mesh = build_mesh(geometry)
    equation = _GapEquation(mesh, materials_of(geometry), MatsubaraRule.build(0.45))
    assert abs(_covariant_eigenvalue(mesh, equation, False) - linearized_eigenvalue(mesh, 0.45)) < 1e-12  # 3e-15


def test_tc_is_gauge_invariant_and_flux_periodic():
    # a vector potential without a loop changes nothing (measured 1.4e-7 with 6 elements,
    # 2e-9 with 12: e^{iqx} is not in the FE space)
    assert abs(linearized_eigenvalue(sn_pair(0.3), 0.45) - linearized_eigenvalue(sn_pair(0.0), 0.45)) < 1e-7
    values = {flux: linearized_eigenvalue(s_ring(flux), 0.3) for flux in (0.0, 0.25, -0.25, 0.5, 1.0)}
    assert abs(values[0.25] - values[-0.25]) < 1e-12  # time reversal
    # one flux quantum is a gauge change: measured 3.8e-3, 7.3e-5, 1.3e-6 with 4, 8, 16 link elements
    assert abs(values[1.0] - values[0.0]) < 1e-5
    # frustration lowers the eigenvalue, i.e. T_c: 1.0152, 0.9785, 0.9344
    assert values[0.0] - values[0.25] > 0.02 and values[0.25] - values[0.5] > 0.02


def test_bad_inputs_of_the_condensate_stage_are_named():
    from femprox.spectral.supercurrent import matsubara_supercurrent

    mesh = build_mesh(at_temperature(fork(), 0.2))
    with pytest.raises(ValueError, match="stiffness"):
        condensate_split(mesh, np.ones(3))
    with pytest.raises(ValueError, match="GraphMesh"):
        matsubara_supercurrent(fork(), "s1", 0.2, pair_potential=PairPotentialField.rigid(mesh))
    from femprox.spectral.solver import solve_spectral

    solution = solve_spectral(mesh, np.linspace(0.1, 2.0, 3))
    conductance = spectral_conductance(solution, keep_distributions=False)
    split = condensate_split(mesh, phase_stiffness(mesh, 0.2))
    with pytest.raises(ValueError, match="distributions"):
        split_condensate(conductance, solution, split)


@pytest.mark.slow
def test_local_stiffness_split_is_close_to_the_exact_phase_response():
    from femprox.kinetic.condensate import phase_response_split

    temperature = 0.2
    exact, equilibrium = phase_response_split(fork(4.0, 8.0), temperature)
    mesh = equilibrium.mesh
    superconducting = np.abs(equilibrium.pair_potential.values) > 0
    # gauge invariance: turning every S reservoir turns every phase, sum_s h_s = 1; measured
    # 1.7e-7 (central differences with epsilon = 1e-3 and Newton tol 1e-11)
    assert np.max(np.abs(exact.shares[:, superconducting].sum(axis=0) - 1)) < 1e-6
    local = condensate_split(mesh, phase_stiffness(mesh, temperature, equilibrium.pair_potential))
    assert np.max(np.abs(exact.shares - local.shares)) < 0.02  # measured 0.0067
    grid = energy_grid(equilibrium.geometry, [temperature])
    solution = equilibrium.solve_spectral(grid.nodes)
    conductance = spectral_conductance(solution)
    by_exact = linear_response(split_condensate(conductance, solution, exact), grid, temperature)
    by_local = linear_response(split_condensate(conductance, solution, local), grid, temperature)
    n = by_exact.index("N")
    converted = abs(by_exact.charge[1:, n].sum())
    # S1 (4 xi0) takes -0.19962 exactly, -0.19976 by the local stiffness: 4.3e-4 of the
    # converted current
    assert np.max(np.abs(by_exact.charge[1:, n] - by_local.charge[1:, n])) < 2e-3 * converted
    assert abs(by_exact.charge[:, n].sum()) < 1e-6 * converted  # measured 1e-7: the difference quotient


def test_tc_does_not_impose_a_rigid_phase_gradient():
    """At T_c nothing fixes the phase of a free S wire: its rigid phase_end is not imposed."""
    def free_wire(phase_end: float) -> Geometry:
        return Geometry(nodes=(Node("free", NodeKind.FREE_END), Node("N", NodeKind.NORMAL_RESERVOIR)),
                        wires=(Wire("s", "free", "N", length=4.0, gap=1.0, phase_end=phase_end,
                                    end_contact=TunnelBarrier(1e10), mesh=MeshOptions(elements=4)),))

    # measured 1.0259909820 for both (the real kernel with the rigid gradient gave 0.9765)
    assert abs(linearized_eigenvalue(free_wire(2.0), 0.5) - linearized_eigenvalue(free_wire(0.0), 0.5)) < 1e-12


def test_split_ignores_s_wires_whose_gap_vanished():
    """An S wire whose self-consistent Delta is zero converts nothing: not an island."""
    temperature = 0.2
    geometry = _grounded_s_wire_and_island()
    mesh = build_mesh(at_temperature(geometry, temperature))
    stiffness = phase_stiffness(mesh, temperature)
    stiffness[mesh.quadrature.wire_index == 3] = 0.0  # as if Delta had vanished on the island
    split = condensate_split(mesh, stiffness)
    assert split.islands == () and np.all(np.isfinite(split.shares))
    s1 = mesh.quadrature.wire_index == 1
    assert np.max(np.abs(split.shares[0, s1] - 1)) < 1e-12  # one S terminal takes everything


def test_point_triples_assemble_the_weak_form_matrices():
    # the complex Newton's Jacobian is assembled from these quadruples once per frequency;
    # they must give V^T diag(w x) V and V^T diag(w x) Dx for any point density x (rounding)
    from femprox.selfconsistency.gap_equation import _point_triples

    mesh = build_mesh(house_s_loop(0.25))
    q = mesh.quadrature
    V, Dx = q.values.tocsr(), q.derivatives.tocsr()
    x = np.random.default_rng(1).normal(size=q.weights.size) + 1j
    for right in (V, Dx):
        rows, columns, points, values = _point_triples(V, right, q.weights)
        assembled = sp.csr_matrix((values * x[points], (rows, columns)), shape=(V.shape[1], right.shape[1]))
        direct = V.T @ sp.diags(q.weights * x) @ right
        assert abs(assembled - direct).max() < 1e-13 * abs(direct).max()
