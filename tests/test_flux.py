"""Magnetic flux: vector potentials along wires, loops, gauge invariance.

Known results checked: gauge invariance (moving the vector potential between wires, together
with the pair potentials' phases, changes no observable; the difference is discretization
error and converges away), flux periodicity with h/2e, the minigap of an SNS ring closing at
half a flux quantum, Onsager reciprocity under flux reversal, and the house interferometer
with an S loop tending to its reservoir model.
"""

import numpy as np
import pytest

from femprox.geometry.devices import house_interferometer, house_s_loop
from femprox.observables.energy_grid import energy_grid, solve_on_grid
from femprox.geometry.network import Geometry, Loop, MeshOptions, Node, NodeKind, Wire
from femprox.kinetic.solver import spectral_conductance
from femprox.observables.conductance import linear_response
from femprox.physics.flux import effective_fluxes
from femprox.spectral.solver import solve_spectral

N_RES, S_RES, CLEAN = NodeKind.NORMAL_RESERVOIR, NodeKind.SUPERCONDUCTING_RESERVOIR, NodeKind.CLEAN
ENERGIES = np.array([0.05, 0.2, 0.6, 1.3])


def gauged_ring(flux: float, chi: tuple[float, float, float], mesh: MeshOptions) -> Geometry:
    """SNS ring with an N probe, in the gauge chi (phases at nodes c1, c2, m).

    S reservoir c1, S wire c1 -> c2, N wires c2 -> m -> c1 threaded by ``flux``, N probe
    m -> p. The gauge function is linear along each wire: it shifts the pair potentials'
    phases by chi and every wire's vector-potential integral by the change of chi along it.
    """
    c1, c2, m = chi
    turn = 2 * np.pi
    wires = (Wire("s", "c1", "c2", 0.5, gap=1.0, conductance=20.0, phase=c1, phase_end=c2,
                  flux=(c2 - c1) / turn, mesh=mesh),
             Wire("n1", "c2", "m", 1.0, flux=flux / 2 + (m - c2) / turn, mesh=mesh),
             Wire("n2", "m", "c1", 1.0, flux=flux / 2 + (c1 - m) / turn, mesh=mesh),
             Wire("probe", "m", "p", 2.0, mesh=mesh))
    nodes = (Node("c1", S_RES, gap=1.0, phase=c1), Node("c2", CLEAN), Node("m", CLEAN), Node("p", N_RES))
    return Geometry(nodes=nodes, wires=wires)


def gauge_difference(mesh: MeshOptions) -> tuple[float, float]:
    """Max differences of the DOS along the probe and of the spectral conductance between
    two gauges of the same ring."""
    one = solve_spectral(gauged_ring(0.3, (0.0, 0.0, 0.0), mesh), ENERGIES, tol=1e-12)
    other = solve_spectral(gauged_ring(0.3, (0.7, -1.1, 2.0), mesh), ENERGIES, tol=1e-12)
    x = [0.0, 1.0, 2.0]
    dos = np.abs(one.dos("probe", x) - other.dos("probe", x)).max()
    matrix = np.abs(spectral_conductance(one).matrix - spectral_conductance(other).matrix).max()
    return dos, matrix


def test_gauge_invariance_to_solver_tolerance_on_a_fine_mesh():
    # P5, 24 elements per wire: discretization error of the gauge change ~1e-14 (measured)
    dos, matrix = gauge_difference(MeshOptions(elements=24, order=5))
    assert dos < 1e-10 and matrix < 1e-10


def test_gauge_difference_is_discretization_error():
    # The gauge factor e^{i chi(x)} is not a polynomial, so on coarse meshes the two gauges
    # differ by the discretization error, which converges away (measured 1.5e-4, 1.9e-6,
    # 2.7e-8 for P3 with 6, 12, 24 elements: factor ~75 per halving; asserted > 30).
    differences = [gauge_difference(MeshOptions(elements=n, order=3))[0] for n in (6, 12, 24)]
    assert differences[0] / differences[1] > 30 and differences[1] / differences[2] > 30


def test_loop_flux_goes_to_the_normal_wires_in_proportion_to_their_resistance():
    nodes = (Node("c1", S_RES, gap=1.0), Node("c2", CLEAN), Node("m", CLEAN))
    wires = (Wire("s", "c1", "c2", 0.5, gap=1.0), Wire("n1", "c2", "m", 1.0),
             Wire("n2", "c1", "m", 3.0, conductance=2.0))  # traversed backwards in the loop
    geometry = Geometry(nodes=nodes, wires=wires, loops=(Loop("ring", ("s", "n1", "n2"), 0.5),))
    # resistances 1 and 1.5: shares 0.2 and 0.3 of the circulation, n2 counted backwards
    np.testing.assert_allclose(effective_fluxes(geometry), [0.0, 0.2, -0.3], rtol=1e-15)


def test_sns_ring_minigap_closes_at_half_a_flux_quantum():
    nodes = (Node("c1", S_RES, gap=1.0), Node("c2", CLEAN), Node("m", CLEAN))
    wires = (Wire("s", "c1", "c2", 0.5, gap=1.0, conductance=20.0), Wire("n1", "c2", "m", 1.0),
             Wire("n2", "m", "c1", 1.0))
    ring = Geometry(nodes=nodes, wires=wires, loops=(Loop("ring", ("s", "n1", "n2")),))
    energies = np.array([0.005, 0.02])  # far below the minigap ~ 3 E_Th = 1.5 Delta0 / ...
    closed = solve_spectral(ring, energies).dos("n1", [1.0])
    assert closed.max() < 1e-6
    half = solve_spectral(ring.with_loop("ring", flux=0.5), energies).dos("n1", [1.0])
    # at Phi0/2 the phase difference across the N wire is pi: the minigap closes and the
    # middle of the N wire is normal at E -> 0 (measured 0.9999)
    assert half.min() > 0.99
    quarter = solve_spectral(ring.with_loop("ring", flux=0.25), energies).dos("n1", [1.0])
    assert quarter.max() < 1e-6  # still gapped at Phi0/4


def s_loop_response(flux: float, temperature: float = 0.1, **arguments):
    geometry = house_s_loop(flux=flux, **arguments)
    grid = energy_grid(geometry, [temperature])
    _, conductance = solve_on_grid(geometry, grid)
    return linear_response(conductance, grid, temperature)


def test_flux_periodicity_and_onsager_reciprocity():
    # 16 P4 elements on every wire: the 2 pi winding that Phi -> Phi + 1 adds to the arms
    # is resolved to ~1e-8 (the files' own 6-element arms: 5e-5 in G, 2.7e-4 in kappa)
    mesh = MeshOptions(elements=16, order=4, grading=20.0)
    plus, minus, shifted = (s_loop_response(flux, mesh=mesh) for flux in (0.3, -0.3, 1.3))
    # Phi -> Phi + 1 is a gauge change winding 2 pi around the loop (measured 3e-9, 2.8e-8)
    for key in ("charge", "heat"):
        a, b = getattr(plus, key), getattr(shifted, key)
        assert np.abs(a - b).max() < 3e-7 * np.abs(a).max()
    # Onsager under flux reversal, to the accuracy of two energy quadratures (as for phases)
    assert np.allclose(plus.charge, minus.charge.T, rtol=0, atol=1e-7 * np.abs(plus.charge).max())
    assert np.allclose(plus.heat, minus.heat.T, rtol=0, atol=1e-7 * np.abs(plus.heat).max())
    # energy is conserved (the floating S loop converts charge, not energy)
    assert np.abs(plus.heat.sum(axis=0)).max() < 1e-9 * np.abs(plus.heat).max()
    # and the flux matters
    assert abs(plus.two_terminal("left", "right").heat_conductance_ratio
               - s_loop_response(0.0).two_terminal("left", "right").heat_conductance_ratio) > 0.05


@pytest.mark.slow
def test_s_loop_house_tends_to_the_reservoir_model():
    flux = 0.3
    grid_temperature = 0.1
    reservoir_geometry = house_interferometer(phase=2 * np.pi * flux)
    grid = energy_grid(reservoir_geometry, [grid_temperature])
    _, conductance = solve_on_grid(reservoir_geometry, grid)
    reference = linear_response(conductance, grid, grid_temperature).two_terminal("left", "right")
    errors = []
    for loop_conductance in (1e3, 1e4):
        pair = s_loop_response(flux, loop_conductance=loop_conductance, loop_length=0.5).two_terminal("left", "right")
        errors.append((abs(pair.conductance_ratio - reference.conductance_ratio),
                       abs(pair.heat_conductance_ratio - reference.heat_conductance_ratio)))
    # measured: G 1.2e-2 -> 1.2e-3, kappa 0.16 -> 0.018 (about 1/g_loop)
    assert errors[1][0] < 0.2 * errors[0][0] and errors[1][1] < 0.2 * errors[0][1]
    assert errors[1][0] < 3e-3 and errors[1][1] < 3e-2


def test_supercurrent_driven_by_flux_equals_that_driven_by_phase():
    # S1 (phase +phi/2) - N - S2 (phase -phi/2) is the gauge image of S1, S2 at phase 0 with
    # the N wire's vector potential winding phi: the Matsubara supercurrents agree to solver
    # and discretization tolerance (measured ~1e-9 relative on this P3 mesh)
    from femprox.geometry.devices import sns_junction
    from femprox.spectral.supercurrent import matsubara_supercurrent

    phi = 1.9
    mesh = MeshOptions(elements=24, order=4)
    by_phase = matsubara_supercurrent(sns_junction(length=1.0, phase=phi, mesh=mesh), "wire", 0.05)
    by_flux = matsubara_supercurrent(sns_junction(length=1.0, mesh=mesh).with_wire("wire", flux=phi / (2 * np.pi)),
                                     "wire", 0.05)
    assert abs(by_phase.current) > 0.1
    assert abs(by_flux.current - by_phase.current) < 1e-7 * abs(by_phase.current)
