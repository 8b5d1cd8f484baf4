"""Self-consistent pair potential (docs/self_consistency.md): the field hook in the solvers, the
gap equation, T_c from the linearized gap equation."""

import numpy as np
import pytest

from femprox.physics import bcs
from femprox.kinetic.coefficients import kinetic_coefficients
from femprox.geometry.devices import t_junction
from femprox.geometry.network import Geometry, MeshOptions, Node, NodeKind, Wire
from femprox.kinetic.solver import coefficients_at_quadrature, spectral_conductance
from femprox.mesh import build_mesh
from femprox.physics.bulk import pair_potential_conversion
from femprox.physics.contacts import TunnelBarrier
from femprox.physics.pair_potential import PairPotentialField, Superconductor, lorentzian_critical_temperature
from femprox.selfconsistency.gap_equation import (MatsubaraRule, SelfConsistencyError, critical_temperature, gap_curve,
                                                  linearized_eigenvalue, solve_gap)
from femprox.spectral.solver import solve_spectral

TC0 = bcs.critical_temperature()
# A barrier of 1e10 wire resistances decouples a wire from its reservoir (the proximity
# coupling through it is ~1e-10): networks need a reservoir, these tests want free ends.
ISOLATING_BARRIER = 1e10


def isolated_s_wire(length: float = 4.0, elements: int = 4, debye: None = None) -> Geometry:
    """An S wire with free ends in effect (one end on a normal reservoir behind 1e10 R_wire)."""
    return Geometry(nodes=(Node("free", NodeKind.FREE_END), Node("N", NodeKind.NORMAL_RESERVOIR)),
                    wires=(Wire("s", "free", "N", length=length, gap=1.0, end_contact=TunnelBarrier(ISOLATING_BARRIER),
                                mesh=MeshOptions(elements=elements)),))


def sn_wire(length_s: float, length_n: float, elements: int = 6) -> Geometry:
    """S wire (free end) in transparent contact with an N wire whose far end is free in effect."""
    return Geometry(
        nodes=(Node("a", NodeKind.FREE_END), Node("c", NodeKind.CLEAN), Node("R", NodeKind.NORMAL_RESERVOIR)),
        wires=(Wire("s", "a", "c", length=length_s, gap=1.0, mesh=MeshOptions(elements=elements)),
               Wire("n", "c", "R", length=length_n, end_contact=TunnelBarrier(ISOLATING_BARRIER),
                    mesh=MeshOptions(elements=elements))))


# -- the pair-potential field in the solvers -------------------------------------------------

def test_rigid_field_reproduces_the_wire_gaps_and_leaves_the_cached_problem_alone():
    mesh = build_mesh(t_junction(r=1.0))
    energies = np.linspace(0.05, 1.5, 12)
    plain = solve_spectral(mesh, energies)
    rigid = solve_spectral(mesh, energies, pair_potential=PairPotentialField.rigid(mesh))
    assert np.array_equal(plain.gamma, rigid.gamma)
    halved = PairPotentialField.from_values(mesh, 0.5 * PairPotentialField.rigid(mesh).values)
    weak = solve_spectral(mesh, energies, pair_potential=halved)
    assert np.max(np.abs(weak.gamma - plain.gamma)) > 0.1  # the field is used ...
    again = solve_spectral(mesh, energies)
    assert np.array_equal(again.gamma, plain.gamma)  # ... and the mesh's cached problem is untouched
    # the kinetic stage takes c_TL, c_TT from the field carried by the solution
    c = coefficients_at_quadrature(weak)
    fields = weak.fields_at_quadrature()
    gap = np.abs(halved.values)[None, :]
    expected_tl, expected_tt = pair_potential_conversion(fields.gamma, fields.gamma_tilde, gap, np.ones_like(gap))
    assert np.allclose(c.c_tt, expected_tt, rtol=0, atol=1e-14) and np.allclose(c.c_tl, expected_tl, rtol=0, atol=1e-14)
    assert np.max(np.abs(c.c_tt)) > 0.1
    point = weak.kinetic_coefficients("s_arm", [2.0])
    direct = kinetic_coefficients(weak.fields("s_arm", [2.0]), gap=0.5)
    assert np.allclose(point.c_tt, direct.c_tt, rtol=0, atol=1e-14)
    assert spectral_conductance(weak).matrix.shape == (12, 2, 2, 2, 2)


def test_field_belongs_to_its_mesh_and_interpolates_inside_elements():
    geometry = t_junction(r=1.0)
    mesh = build_mesh(geometry)
    s_arm = mesh.wire_index("s_arm")
    # a polynomial of degree points_per_element - 1 (= order + 1) is reproduced exactly
    field = PairPotentialField.from_function(mesh, lambda wire, x: 0.3 + 0.01 * x**4 - 0.002 * x**3)
    assert field.points_per_element == mesh.order + 2
    x = np.linspace(0, 10, 37)
    assert np.allclose(field.at(s_arm, x), 0.3 + 0.01 * x**4 - 0.002 * x**3, rtol=0, atol=1e-12)
    refined = build_mesh(geometry, refine=2)
    with pytest.raises(ValueError, match="another mesh"):
        solve_spectral(refined, [0.5], pair_potential=field)
    moved = field.on_mesh(refined)
    assert moved.matches(refined)
    assert np.allclose(moved.at(s_arm, x), field.at(s_arm, x), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="normal wires"):
        PairPotentialField.from_values(mesh, np.ones(mesh.quadrature.position.size))


# -- the Matsubara rule and materials ---------------------------------------------------------

@pytest.mark.parametrize("temperature", [0.002, 0.005, 0.02, 0.3, 0.56])
def test_matsubara_rule_sums_inverse_cubes(temperature):
    # 2 pi T sum omega_n^-3 = (2 pi T)^-2 * 7 zeta(3) (Hurwitz zeta(3, 1/2) = 7 zeta(3)): the
    # bulk gap equation's summand decays like omega^-3; the rule's defaults reach 3e-9 (relative).
    from scipy.special import zeta

    rule = MatsubaraRule.build(temperature)
    exact = (2 * np.pi * temperature) ** -2 * 7 * zeta(3)
    assert abs(rule.weights @ rule.frequencies**-3.0 / exact - 1) < 1e-8
    coarse = MatsubaraRule.build(temperature, tail_order=3, tail_panels=3, minimum=4, explicit_cutoff=1.0)
    assert abs(coarse.weights @ coarse.frequencies**-3.0 / exact - 1) > 1e-7  # the check can fail


def bulk_gap_sum_exactly(temperature: float, gap: float) -> float:
    """2 pi T sum_n [Delta/sqrt(omega_n^2 + Delta^2) - Delta/omega_n] term by term (4e6
    terms) plus the integral of the leading -Delta^3/(2 omega^3) beyond (~1e-17 left)."""
    omega = np.pi * temperature * (2 * np.arange(4_000_000) + 1)
    total = 2 * np.pi * temperature * np.sum(gap / np.sqrt(omega**2 + gap**2) - gap / omega)
    return total - gap**3 / (4 * (omega[-1] + np.pi * temperature) ** 2)


@pytest.mark.parametrize("ratio", [0.01, 0.05])
def test_low_temperature_rule_stops_the_explicit_sum_early_without_losing_accuracy(ratio):
    # the bulk summand: smooth above a few Delta0, where the graded Gauss panels take over
    temperature = ratio * TC0
    gap = float(bcs.gap(ratio))
    exact = bulk_gap_sum_exactly(temperature, gap)

    def error(rule: MatsubaraRule) -> float:
        return abs(rule.weights @ (gap / np.sqrt(rule.frequencies**2 + gap**2) - gap / rule.frequencies) - exact)

    rule, every = MatsubaraRule.build(temperature), MatsubaraRule.build(temperature, tail_start=20.0)
    assert rule.explicit < every.explicit / 2 and rule.frequencies.size < every.frequencies.size
    # measured 6.5e-11 (0.01) and 2.4e-10 (0.05); every frequency up to 20 Delta0: 8e-11, 2.6e-10.
    # The gap equation's d(sum)/dDelta is ~1 here, so this is the error in the bulk Delta.
    assert error(rule) < 1e-9
    # the check can fail: graded panels as long as the far ones (ratio 3) were off by 2.7e-8 at 0.05
    if ratio == 0.05:
        assert error(MatsubaraRule.build(temperature, graded_ratio=3.0)) > 1e-8


def test_low_temperature_bulk_gap_with_the_early_tail():
    # measured 6e-11 and 3.2e-10 (cutoff-free BCS, femprox.physics.bcs): the rule is not the limit
    for ratio in (0.01, 0.05):
        result = solve_gap(isolated_s_wire(), ratio * TC0, tol=1e-12)
        delta = np.abs(result.pair_potential.values[np.abs(result.pair_potential.values) > 0])
        assert np.max(np.abs(delta - bcs.gap(ratio))) < 1e-8


def test_early_tail_leaves_the_t_junction_unchanged(monkeypatch):
    # T-junction r = 1 at T = 0.02: 120 instead of 216 Matsubara frequencies. Measured change of
    # Delta at x >= 0.1 xi0: 4.6e-10 (T = 0.005: 2.9e-11; kappa/kappa_N and G/G_N within 1e-10).
    # The far tail panels are where they were: moving them changes Delta near the contact by
    # ~1e-4 (the docs' convergence table), so 1e-7 distinguishes the two.
    geometry = t_junction(r=1.0)
    new = solve_gap(geometry, 0.02, tol=1e-11)
    build = MatsubaraRule.build.__func__
    every = classmethod(lambda cls, t, **options: build(cls, t, **{"tail_start": 20.0, **options}))
    monkeypatch.setattr(MatsubaraRule, "build", every)  # the rule before: every frequency up to 20 Delta0
    old = solve_gap(geometry, 0.02, tol=1e-11)
    assert old.rule.explicit == 160
    assert new.rule.frequencies.size == 120 and new.rule.explicit == 32
    x, delta = new.profile("s_arm")
    _, before = old.profile("s_arm")
    assert np.max(np.abs(delta - before)[x >= 0.1]) < 1e-7


def test_material_and_bad_input():
    with pytest.raises(ValueError, match="critical_temperature"):
        Superconductor(-1.0)
    with pytest.raises(ValueError, match="debye_frequency"):
        Superconductor(0.5, debye_frequency=1.0)  # omega_D below 2 pi T_c: not weak coupling
    # the smooth cutoff tends to the cutoff-free form as omega_D grows
    assert abs(Superconductor(TC0, 1e6).log_ratio(0.3) - np.log(0.3 / TC0)) < 1e-9
    assert abs(lorentzian_critical_temperature(Superconductor(TC0, 10.0).inverse_coupling(), 10.0) / TC0 - 1) < 1e-12
    geometry = t_junction(r=1.0)
    with pytest.raises(ValueError, match="normal"):
        solve_gap(geometry, 0.3, materials={"left_arm": Superconductor(0.5)})
    with pytest.raises(ValueError, match="no wire"):
        solve_gap(geometry, 0.3, materials={"nope": Superconductor(0.5)})
    with pytest.raises(ValueError, match="temperature"):
        solve_gap(geometry, -0.1)
    with pytest.raises(SelfConsistencyError, match="did not converge"):
        solve_gap(geometry, 0.3, max_iterations=1)


# -- bulk and NS contact ----------------------------------------------------------------------

@pytest.mark.parametrize("fraction, published", [(0.5, 0.956885), (0.7, 0.828771), (0.9, 0.526342)])
def test_isolated_s_wire_has_the_bulk_bcs_gap(fraction, published):
    # Uniform in a wire with free ends: the FE solution is the exact bulk one, so only the
    # Matsubara rule (3e-9 relative on the omega^-3 tail) and the 1e-10 barrier leak remain;
    # measured 3.5e-9. Started from a uniform Delta = 1 to exercise the iteration.
    geometry = isolated_s_wire()
    mesh = build_mesh(geometry)
    start = PairPotentialField.from_function(mesh, lambda wire, x: np.ones_like(x))
    result = solve_gap(geometry, fraction * TC0, tol=1e-10, initial=start)
    _, delta = result.profile("s")
    expected = bcs.gap(fraction * TC0)
    assert np.max(np.abs(delta - expected)) < 1e-8
    assert abs(expected - published) < 5e-7  # the published 6-digit values
    assert 2 <= result.iterations <= 6


def test_t_junction_gap_vanishes_at_the_contact_and_recovers_over_a_few_xi():
    # r = 1: S arm (10 xi0, g = 2) on an N wire between normal reservoirs, T = 0.3 Delta0.
    result = solve_gap(t_junction(r=1.0), 0.3)
    bulk = bcs.gap(0.3)
    x, delta = result.profile("s_arm", np.array([0.01, 0.1, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0]))
    assert np.all(np.diff(delta) > 0)  # rises monotonically from the contact
    # continuous with Delta = 0 in the N wire: the cutoff-free form drives Delta to 0 at a
    # transparent contact like 1/ln(1/x); at x = 0.01 xi0 it is down to 15% of bulk
    # (measured 0.140 against bulk 0.945); 0.562 at 1 xi0, 0.923 at 5 xi0, 0.9438 at the free
    # end (10 xi0): the deficit decays by e over ~1.35 xi0 (the S arm has D = 2, xi_S ~ xi0)
    assert delta[0] < 0.2 * bulk
    assert 0.3 * bulk < delta[3] < 0.8 * bulk  # half recovered at one xi0 ...
    assert bulk - delta[6] < 0.03 * bulk and bulk - delta[7] < 2e-3  # ... within 3% by 5 xi0
    assert result.iterations <= 6 and result.residual < 1e-8
    # the real-energy solution with this field is gapped in the S arm far from the contact
    dos = result.solve_spectral([0.5 * bulk]).dos("s_arm", [9.0])
    assert dos[0, 0] < 1e-3


def test_s_reservoir_keeps_its_bulk_gap_and_the_wire_meets_it():
    # N reservoir - N wire (3 xi0) - S wire (6 xi0) - S reservoir: the reservoir imposes the
    # bulk BCS functions at Delta(T), so the wire's Delta reaches it there (measured 2e-5 and
    # 1.1e-4 off at T = 0.2, 0.5, interpolated to the wire's end from the Gauss points)
    geometry = Geometry(
        nodes=(Node("N", NodeKind.NORMAL_RESERVOIR), Node("c", NodeKind.CLEAN),
               Node("S", NodeKind.SUPERCONDUCTING_RESERVOIR, gap=1.0)),
        wires=(Wire("n", "N", "c", 3.0), Wire("s", "c", "S", 6.0, gap=1.0)))
    for temperature in (0.2, 0.5):
        result = solve_gap(geometry, temperature)
        assert result.geometry.node("S").gap == pytest.approx(bcs.gap(temperature), rel=1e-14)
        _, delta = result.profile("s", [0.01, 6.0])
        assert abs(delta[1] - bcs.gap(temperature)) < 5e-4 and delta[0] < 0.2


def test_matrix_free_newton_steps_agree_with_the_dense_jacobian():
    # networks with many S quadrature points solve the Newton step by GMRES on the
    # Jacobian's action; forced here on the T-junction, both give the same Delta(x) (measured
    # 4.6e-15) in the same number of iterations
    dense = solve_gap(t_junction(r=1.0), 0.5)
    krylov = solve_gap(t_junction(r=1.0), 0.5, dense_limit=0)
    assert np.max(np.abs(krylov.pair_potential.values - dense.pair_potential.values)) < 1e-10
    assert krylov.iterations == dense.iterations
    # ... and T_c's eigenvalue from ARPACK on K's action equals the dense one (1e-15 measured)
    for geometry in (t_junction(r=1.0), t_junction(r=1.0).with_wire("s_arm", phase=0.7)):
        assert abs(linearized_eigenvalue(geometry, 0.5, dense_limit=0) - linearized_eigenvalue(geometry, 0.5)) < 1e-10


def test_a_uniform_phase_changes_nothing_but_the_phase():
    # gauge invariance: the S arm at phase 0.7 (N wires carry no phase) has the same |Delta|
    geometry = t_junction(r=1.0)
    turned = geometry.with_wire("s_arm", phase=0.7)
    plain, rotated = solve_gap(geometry, 0.4), solve_gap(turned, 0.4)
    assert np.max(np.abs(np.abs(rotated.pair_potential.values) - np.abs(plain.pair_potential.values))) < 1e-9
    s_points = np.abs(rotated.pair_potential.values) > 0
    assert np.allclose(np.angle(rotated.pair_potential.values[s_points]), 0.7, rtol=0, atol=1e-12)
    assert abs(linearized_eigenvalue(turned, 0.5) - linearized_eigenvalue(geometry, 0.5)) < 1e-12


# -- T_c -----------------------------------------------------------------------------------

def test_isolated_wire_tc_is_the_materials():
    assert abs(critical_temperature(isolated_s_wire()).temperature / TC0 - 1) < 1e-7
    smooth = Superconductor(0.4, debye_frequency=8.0)
    tc = critical_temperature(isolated_s_wire(), materials={"s": smooth}).temperature
    assert abs(tc / 0.4 - 1) < 1e-7


def test_tc_falls_monotonically_with_the_n_length_and_saturates():
    values = [critical_temperature(sn_wire(3.0, length)).temperature for length in (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)]
    # measured 0.4684, 0.4430, 0.4244, 0.4172, 0.4163, 0.4162 (T_c0 = 0.5669)
    assert np.all(np.diff(values) < 0) and values[0] < TC0
    assert values[-2] - values[-1] < 0.01 * (values[0] - values[2])


def test_gap_vanishes_above_tc_and_not_below():
    geometry = sn_wire(3.0, 1.0)
    tc = critical_temperature(geometry)
    assert linearized_eigenvalue(geometry, 0.99 * tc.temperature) > 1
    assert linearized_eigenvalue(geometry, 1.01 * tc.temperature) < 1
    below, above = gap_curve(geometry, [0.98 * tc.temperature, 1.02 * tc.temperature])
    assert np.max(np.abs(below.pair_potential.values)) > 0.05
    assert np.max(np.abs(above.pair_potential.values)) < 1e-8
    # just below T_c, Delta(x) has the shape of the linearized equation's eigenvector
    x, delta = below.profile("s")
    mode = np.abs(tc.mode.on_mesh(below.mesh).magnitude(0)[1])
    shape = delta / delta.max()
    assert np.max(np.abs(shape - mode)) < 0.05


def test_cooper_limit_of_a_thin_bilayer_with_a_smooth_debye_cutoff():
    # Thin S and N layers (<< xi0, equal D and g, i.e. equal densities of states) act as one
    # superconductor of coupling lambda d_S / (d_S + d_N) with the same Lorentzian cutoff.
    # The deviation falls like d^2: measured 4.6%, 1.2%, 0.32% for d_S = 0.2, 0.1, 0.05 xi0.
    omega_d = 10.0
    inverse = Superconductor(TC0, omega_d).inverse_coupling()
    deviations = []
    for d_s in (0.1, 0.05):
        d_n = d_s / 2
        expected = lorentzian_critical_temperature(inverse * (d_s + d_n) / d_s, omega_d)
        tc = critical_temperature(sn_wire(d_s, d_n, elements=2), debye_frequency=omega_d).temperature
        deviations.append(tc / expected - 1)
    assert 0 < deviations[1] < 0.005 and 3.5 < deviations[0] / deviations[1] < 4.5
    # the cutoff-free form has no Cooper limit (its coupling ~ 1/ln omega_D -> 0): the bilayer
    # is normal at half the finite-cutoff T_c, and still down to T = 0.01 (eigenvalue 0.93)
    assert linearized_eigenvalue(sn_wire(0.05, 0.025, elements=2), 0.5 * expected) < 1
    with pytest.raises(ValueError, match="stays normal"):
        critical_temperature(sn_wire(0.05, 0.025, elements=2), lowest=0.01)


@pytest.mark.slow
def test_t_junction_gap_converges_in_the_matsubara_cutoff_and_the_mesh():
    # T = 0.1, r = 1. Away from the contact (x >= 1 xi0) Delta changes by 6.6e-5, 6.3e-5,
    # 5.9e-5 at x = 1 per doubling of the explicit cutoff (20 -> 160 Delta0), 4e-6 at 5 xi0:
    # a slow, log-like drift fed by the contact region, where the pair potential (zero in the N
    # wire) is discontinuous and the continuous FE space cannot follow the highest
    # frequencies (truncated sums make the contact value drift, docs/self_consistency.md). Mesh
    # refinement (x2) moves Delta(1 xi0) by 4.2e-4. T_c is far less sensitive: 4e-7 (cutoff
    # 20 -> 80) and 1.1e-5 (mesh x2), relative.
    geometry = t_junction(r=1.0)
    x = np.array([1.0, 2.0, 3.0, 5.0, 10.0])
    base = solve_gap(geometry, 0.1).profile("s_arm", x)[1]
    more_frequencies = solve_gap(geometry, 0.1, explicit_cutoff=80.0).profile("s_arm", x)[1]
    finer = solve_gap(geometry, 0.1, refine=2).profile("s_arm", x)[1]
    assert np.max(np.abs(more_frequencies - base)) < 2e-4
    assert np.max(np.abs(more_frequencies - base)[3:]) < 1e-5
    assert np.max(np.abs(finer - base)) < 6e-4
    tc = critical_temperature(geometry).temperature
    assert abs(critical_temperature(geometry, explicit_cutoff=80.0).temperature / tc - 1) < 2e-6
    assert abs(critical_temperature(geometry, refine=2).temperature / tc - 1) < 5e-5


@pytest.mark.slow
def test_self_consistent_s_lead_weakens_the_proximity_suppression_of_heat_transport():
    # End to end: Delta(x) -> real energies -> kinetic stage -> kappa/kappa_N, G/G_N of the
    # paper's T-junction (r = 1, T = 0.1). The inverse proximity effect lowers Delta near the
    # contact, so the N wire is less proximitized: kappa/kappa_N 0.8558 against 0.7617 with
    # the rigid bulk gap. Energy grid order 8 -> 12 changes it by 2e-10, mesh x2 by 3e-4.
    from femprox.observables.energy_grid import energy_grid, solve_on_grid
    from femprox.observables.conductance import linear_response
    from femprox.geometry.temperature import at_temperature

    geometry, temperature = t_junction(r=1.0), 0.1
    rigid = at_temperature(geometry, temperature)
    grid = energy_grid(rigid, [temperature])
    _, conductance = solve_on_grid(rigid, grid)
    rigid_pair = linear_response(conductance, grid, temperature).two_terminal("left", "right", others="floating")
    result = solve_gap(geometry, temperature)
    conductance = spectral_conductance(result.solve_spectral(grid.nodes))
    pair = linear_response(conductance, grid, temperature).two_terminal("left", "right", others="floating")
    assert abs(rigid_pair.heat_conductance_ratio - 0.7617) < 1e-3
    assert abs(pair.heat_conductance_ratio - 0.8558) < 1e-3
    assert abs(pair.conductance_ratio - 1.0971) < 1e-3


# -- geometry-file keys -----------------------------------------------------------------------

ISOLATED_WIRE_FILE = """
name = "isolated_wire"
[nodes.free]
kind = "free_end"
[nodes.N]
kind = "normal_reservoir"
[wires.s]
start = "free"
end = "N"
length = 4.0
gap = 1.0
end_barrier = 1e10
critical_temperature = 0.4
debye_frequency = 8.0
mesh = { elements = 4 }
"""


def test_material_keys_in_geometry_files():
    from femprox.geometry.files import GeometryFileError, geometry_to_toml, parse_geometry

    geometry = parse_geometry(ISOLATED_WIRE_FILE)
    wire = geometry.wire("s")
    assert (wire.critical_temperature, wire.debye_frequency) == (0.4, 8.0)
    assert parse_geometry(geometry_to_toml(geometry)) == geometry  # written back exactly
    # the file's material is the default; a materials= argument still overrides it
    assert abs(critical_temperature(geometry).temperature / 0.4 - 1) < 1e-7
    assert abs(critical_temperature(geometry, materials={"s": Superconductor(0.3)}).temperature / 0.3 - 1) < 1e-7
    with pytest.raises(GeometryFileError, match="debye_frequency.*2 pi T_c"):
        parse_geometry(ISOLATED_WIRE_FILE.replace("debye_frequency = 8.0", "debye_frequency = 2.0"))
    with pytest.raises(GeometryFileError, match="critical_temperature"):
        parse_geometry(ISOLATED_WIRE_FILE.replace("critical_temperature = 0.4", "critical_temperature = -1"))
    with pytest.raises(GeometryFileError, match="only meaningful for a superconducting wire"):
        parse_geometry(ISOLATED_WIRE_FILE.replace("gap = 1.0", "gap = 0.0"))
