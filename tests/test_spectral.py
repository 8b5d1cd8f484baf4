"""Physics checks of the spectral (retarded Usadel) solver, docs/physics.md sections 3 and 8."""

from pathlib import Path

import numpy as np
import pytest

from femprox.paper import analytic
from femprox.geometry.devices import sns_junction, t_junction
from femprox.geometry.network import Geometry, MeshOptions, Node, Wire
from femprox.geometry.files import load_geometry
from femprox.mesh import build_mesh
from femprox.spectral.solver import SpectralConvergenceError, bulk_riccati, solve_spectral

N_RES, S_RES, CLEAN, FREE = "normal_reservoir", "superconducting_reservoir", "clean", "free_end"


def uniform(elements: int, order: int = 2) -> MeshOptions:
    return MeshOptions(elements=elements, order=order, grading=1.0)


def minigap(geometry: Geometry, wire: str, x: float, low: float, high: float,
            threshold: float = 1e-6, rounds: int = 2) -> tuple[float, float]:
    """First energy in [low, high] where the DOS at ``x`` exceeds ``threshold``, and the
    grid resolution it was found with (two rounds of a 100-point scan)."""
    for _ in range(rounds):
        energies = np.linspace(low, high, 100)
        dos = solve_spectral(geometry, energies).dos(wire, [x])[:, 0]
        k = int(np.argmax(dos > threshold))
        assert k > 0, "DOS already finite at the lower end of the scan"
        low, high = energies[k - 1], energies[k]
    return high, high - low


# -- bulk superconductor ------------------------------------------------------------------

@pytest.mark.parametrize("dynes", [0.0, 0.02])
def test_bulk_bcs_density_of_states(dynes):
    # An S wire between two identical S reservoirs is bulk everywhere: the constant bulk
    # solution solves the discrete equations exactly, so only round-off remains (1e-9).
    geometry = Geometry(
        nodes=(Node("S1", S_RES, gap=1.0, dynes=dynes), Node("S2", S_RES, gap=1.0, dynes=dynes)),
        wires=(Wire("s", "S1", "S2", 3.0, gap=1.0, dynes=dynes),))
    energies = np.array([0.0, 0.3, 0.9, 1.05, 1.5, 3.0])
    dos = solve_spectral(geometry, energies).dos("s", np.linspace(0, 3, 7))
    e = energies + 1j * dynes
    expected = np.real(e / np.sqrt(e - 1) / np.sqrt(e + 1))
    np.testing.assert_allclose(dos, np.repeat(expected[:, None], 7, axis=1), atol=1e-9)


def test_bulk_riccati_is_retarded():
    energies = np.array([-2.0, -0.5, 0.0, 0.5, 2.0]) + 1e-3j
    gamma, gamma_tilde = bulk_riccati(energies, 1.0, 0.7)
    assert np.all(np.abs(gamma) <= 1)
    g = (1 + gamma * gamma_tilde) / (1 - gamma * gamma_tilde)
    # g = E / sqrt(E^2 - Delta^2) with the root analytic in the upper half plane
    np.testing.assert_allclose(g, energies / np.sqrt(energies - 1) / np.sqrt(energies + 1), rtol=1e-12)


# -- SNS junctions ------------------------------------------------------------------------

LONG = np.sqrt(200.0)  # E_Th = D / L^2 = 0.01 Delta0, i.e. Delta = 100 E_Th


@pytest.mark.slow
def test_long_sns_minigap_at_zero_phase():
    # docs/physics.md section 8: ~3.05 E_Th at Delta = 100 E_Th (3.12 E_Th for Delta -> infinity).
    # The scan resolves E_g to 1e-4 E_Th; 40 P2 elements put the discretization error of
    # the edge below 1e-3 E_Th (checked against 80 elements), so 1% is a safe tolerance
    # for a value the reference only quotes to two decimals.
    e_th = 2.0 / LONG**2
    geometry = sns_junction(length=LONG, gap=1.0, phase=0.0, mesh=MeshOptions(elements=40))
    gap, resolution = minigap(geometry, "wire", LONG / 2, 1e-3, 0.05)
    assert resolution < 1e-3 * e_th
    assert gap / e_th == pytest.approx(3.05, rel=0.01)


@pytest.mark.slow
def test_long_sns_minigap_shrinks_with_phase_and_closes_at_pi():
    e_th = 2.0 / LONG**2
    mesh = MeshOptions(elements=40)
    gap_half_pi, _ = minigap(sns_junction(length=LONG, phase=np.pi / 2, mesh=mesh), "wire", LONG / 2, 1e-3, 0.05)
    assert 1.5 * e_th < gap_half_pi < 3.0 * e_th
    # at phi = pi the minigap closes: finite DOS down to E << E_Th in the middle of the wire
    sol = solve_spectral(sns_junction(length=LONG, phase=np.pi, mesh=mesh), [0.01 * e_th, 0.1 * e_th])
    assert np.all(sol.dos("wire", [LONG / 2])[:, 0] > 0.05)
    closed = solve_spectral(sns_junction(length=LONG, phase=0.0, mesh=mesh), [0.1 * e_th])
    assert abs(closed.dos("wire", [LONG / 2])[0, 0]) < 1e-8


@pytest.mark.parametrize("phase", [0.0, np.pi / 2, 2.4])
def test_short_sns_minigap_follows_delta_cos_half_phase(phase):
    # docs/physics.md section 8: E_g = Delta |cos(phi/2)| for L << xi0. With L = 0.05 xi0 the
    # Thouless energy is 800 Delta; corrections are O(Delta/E_Th) ~ 1e-3, so the DOS in the
    # middle must vanish 1% below the predicted edge and be finite 1% above it. (Right at a
    # minigap edge the undamped equations are singular; see spectral._keep_broadened.)
    # Just below the edge the discrete DOS is negative by the discretization error, which
    # falls as h^4: 3e-2 with 16 P2 elements, below 1e-3 with 48.
    geometry = sns_junction(length=0.05, gap=1.0, phase=phase, mesh=MeshOptions(elements=48))
    expected = abs(np.cos(phase / 2))
    dos = solve_spectral(geometry, [0.99 * expected, 1.01 * expected]).dos("wire", [0.025])[:, 0]
    assert abs(dos[0]) < 1e-3
    assert dos[1] > 0.1


# -- the paper's T-junction ---------------------------------------------------------------

@pytest.mark.slow
def test_long_t_junction_approaches_semi_infinite_solution():
    # docs/physics.md section 6: for leads much longer than xi_N(E) and xi_S(E) the angle at the
    # crossing is theta_0(E). With 20 xi0 arms and energies >= 0.2 Delta0, xi_N <= 2.3 xi0,
    # so finite-length corrections are ~exp(-2 L/xi_N) < 1e-7; the mesh error is < 1e-5.
    geometry = t_junction(r=1.0, length_n=40.0, length_s=20.0, mesh=MeshOptions(elements=80))
    energies = np.linspace(0.2, 0.95, 7)
    theta = solve_spectral(geometry, energies).theta("left_arm", [20.0])[:, 0]
    expected = analytic.theta_crossing(energies, r=1.0)
    np.testing.assert_allclose(theta, expected, atol=1e-3)


def test_kinetic_coefficients_reduce_to_theta_forms_without_phase():
    # docs/physics.md section 4: D_L = cos^2(Im theta), D_T = cosh^2(Re theta) when chi = 0.
    # Both sides are algebraic functions of the same gamma: agreement to round-off.
    sol = solve_spectral(t_junction(r=1.0), np.array([0.05, 0.5, 0.99, 1.5]))
    x = np.linspace(0.0, 5.0, 11)
    coefficients = sol.kinetic_coefficients("left_arm", x)
    theta = sol.theta("left_arm", x)
    np.testing.assert_allclose(coefficients.d_l, np.cos(theta.imag) ** 2, atol=1e-10)
    np.testing.assert_allclose(coefficients.d_t, np.cosh(theta.real) ** 2, rtol=1e-10)
    np.testing.assert_allclose(coefficients.t_cal, 0.0, atol=1e-12)


# -- network topology ----------------------------------------------------------------------

def ns_chain(lengths, elements):
    """N reservoir -> chain of N wires joined by clean nodes -> S reservoir."""
    names = ["N"] + [f"c{k}" for k in range(len(lengths) - 1)] + ["S"]
    nodes = [Node("N", N_RES)] + [Node(n, CLEAN) for n in names[1:-1]] + [Node("S", S_RES, gap=1.0)]
    wires = [Wire(f"w{k}", names[k], names[k + 1], length, mesh=uniform(count))
             for k, (length, count) in enumerate(zip(lengths, elements))]
    return Geometry(nodes=tuple(nodes), wires=tuple(wires))


def test_wire_split_by_clean_node_reproduces_unsplit_wire():
    # Same vertices, same finite-element space: the solutions agree to solver tolerance.
    energies = np.array([0.02, 0.3, 0.8, 1.3])
    whole = solve_spectral(ns_chain([10.0], [20]), energies)
    split = solve_spectral(ns_chain([4.0, 6.0], [8, 12]), energies)
    for x_whole, wire, x_part in [(2.0, "w0", 2.0), (4.0, "w1", 0.0), (7.5, "w1", 3.5)]:
        np.testing.assert_allclose(split.fields(wire, [x_part]).gamma,
                                   whole.fields("w0", [x_whole]).gamma, atol=1e-10)


def test_parallel_wires_equal_one_wire_of_double_conductance():
    # A loop: two identical wires in parallel between the same nodes act as one wire with
    # twice the conductance (Kirchhoff at both nodes). Exact for identical meshes.
    energies = np.array([0.05, 0.4, 1.2])

    def network(parallel: bool) -> Geometry:
        nodes = (Node("N", N_RES), Node("C", CLEAN), Node("S", S_RES, gap=1.0, phase=0.3))
        tail = Wire("tail", "C", "N", 3.0, mesh=uniform(12))
        if parallel:
            arms = (Wire("p1", "S", "C", 2.0, mesh=uniform(8)), Wire("p2", "S", "C", 2.0, mesh=uniform(8)))
        else:
            arms = (Wire("p1", "S", "C", 2.0, conductance=2.0, mesh=uniform(8)),)
        return Geometry(nodes=nodes, wires=arms + (tail,))

    loop, single = solve_spectral(network(True), energies), solve_spectral(network(False), energies)
    for wire, x in [("p1", 1.0), ("tail", 1.5)]:
        np.testing.assert_allclose(loop.fields(wire, [x]).gamma, single.fields(wire, [x]).gamma, atol=1e-10)
    np.testing.assert_allclose(loop.fields("p2", [0.7]).gamma, loop.fields("p1", [0.7]).gamma, atol=1e-10)


def test_cross_with_two_s_arms_equals_t_with_double_conductance():
    # docs/physics.md section 7: a cross with two S arms of g_S each is a T with one arm of 2 g_S.
    energies = np.array([0.05, 0.6, 1.4])
    t = t_junction(r=4.0, length_n=6.0, length_s=4.0, mesh=uniform(16))
    s_arm = t.wire("s_arm")
    cross = Geometry(
        mesh=t.mesh, nodes=t.nodes + (Node("s_end2", FREE),),
        wires=(t.wires[0], t.wires[1],
               Wire("s_arm", "center", "s_end", 4.0, gap=1.0, conductance=s_arm.conductance / 2, mesh=uniform(16)),
               Wire("s_arm2", "center", "s_end2", 4.0, gap=1.0, conductance=s_arm.conductance / 2, mesh=uniform(16))))
    a, b = solve_spectral(t, energies), solve_spectral(cross, energies)
    np.testing.assert_allclose(b.fields("left_arm", [2.0]).gamma, a.fields("left_arm", [2.0]).gamma, atol=1e-10)


def test_y_junction_with_phase_obeys_kirchhoff_and_symmetry():
    # Y: an N wire to a normal reservoir and two equal arms to S reservoirs at +-phi/2.
    # Mirror symmetry (swap arms, phi -> -phi, gamma <-> gamma~) holds exactly; the
    # spectral current balance sum g gamma'_out = 0 at the degree-3 node holds to the
    # discretization error of FE derivatives (~1e-4 here on 24 P2 elements per wire).
    nodes = (Node("N", N_RES), Node("C", CLEAN), Node("S1", S_RES, gap=1.0, phase=0.6),
             Node("S2", S_RES, gap=1.0, phase=-0.6))
    wires = (Wire("n", "C", "N", 4.0, mesh=uniform(24)), Wire("a1", "C", "S1", 1.5, mesh=uniform(24)),
             Wire("a2", "C", "S2", 1.5, mesh=uniform(24)))
    sol = solve_spectral(Geometry(nodes=nodes, wires=wires), np.array([0.1, 0.5]))
    f1, f2 = sol.fields("a1", [0.5]), sol.fields("a2", [0.5])
    np.testing.assert_allclose(f1.gamma, f2.gamma_tilde, atol=1e-10)
    outflow = sum(sol.fields(w, [0.0]).dgamma for w in ("n", "a1", "a2"))
    scale = np.abs(sol.fields("a1", [0.0]).dgamma)
    assert np.all(np.abs(outflow) < 1e-3 * scale)


# -- mesh convergence ----------------------------------------------------------------------

def l2_error(coarse, fine, wire, length):
    """L2 norm over the wire of gamma_coarse - gamma_fine (fine evaluated at the coarse
    mesh's quadrature points)."""
    q = coarse.mesh.quadrature
    k = [w.name for w in coarse.geometry.wires].index(wire)
    on_wire = q.wire_index == k
    gamma_coarse = (q.values @ coarse.gamma.T)[on_wire]
    gamma_fine = fine.fields(wire, q.position[on_wire]).gamma.T
    return np.sqrt(np.sum(q.weights[on_wire, None] * np.abs(gamma_coarse - gamma_fine) ** 2, axis=0))


@pytest.mark.parametrize("order", [1, 2])
def test_mesh_convergence_rate_matches_element_order(order):
    # Smooth solution, uniform meshes: the L2 error falls as h^(p+1). The measured rate must
    # lie within 0.25 of p + 1 (pre-asymptotic effects at the coarsest mesh are smaller).
    energies = np.array([0.1, 0.7, 1.5])
    reference = solve_spectral(ns_chain([5.0], [64]).with_wire("w0", mesh=uniform(64, order=4)), energies)
    counts = [16, 32, 64]
    errors = [l2_error(solve_spectral(ns_chain([5.0], [n]).with_wire("w0", mesh=uniform(n, order)), energies),
                       reference, "w0", 5.0) for n in counts]
    rates = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
    np.testing.assert_allclose(rates, order + 1, atol=0.25)


# -- failures are reported clearly --------------------------------------------------------

def test_newton_failure_names_the_energies():
    with pytest.raises(SpectralConvergenceError, match=r"did not converge for .* energies.*E=0\.5"):
        solve_spectral(t_junction(), [0.5], max_iterations=1)


def test_energy_at_the_gap_edge_is_rejected_with_a_reason():
    with pytest.raises(ValueError, match="coincides with the gap of superconducting reservoir 'S1'"):
        solve_spectral(sns_junction(length=1.0).with_node("S1", phase=0.0), [1.0])


def test_mesh_order_and_refinement_options():
    geometry = t_junction()
    coarse, fine = build_mesh(geometry), build_mesh(geometry, refine=2.0, order=3)
    assert fine.order == 3 and fine.n_elements == 2 * coarse.n_elements
    with pytest.raises(ValueError, match="refine"):
        build_mesh(geometry, refine=0.0)


# -- every shipped geometry ----------------------------------------------------------------

GEOMETRY_FILES = sorted((Path(__file__).parent.parent / "geometries").glob("*.toml"))


@pytest.mark.parametrize("path", GEOMETRY_FILES, ids=lambda p: p.stem)
def test_every_geometry_file_loads_and_solves(path):
    # Energies below, near and above the gap (avoiding the BCS singularity at E = Delta0).
    # The checks are the bounds every retarded solution obeys: DOS >= 0 up to the
    # discretization slack of the solver, and DOS = 1 in normal reservoirs.
    solution = solve_spectral(load_geometry(path), [0.02, 0.4, 0.97, 1.6])
    for wire in solution.geometry.wires:
        dos = solution.dos(wire.name, np.linspace(0, wire.length, 5))
        assert np.all(np.isfinite(dos)) and np.all(dos > -2e-2)
    for node in solution.geometry.nodes:
        if node.kind.value == "normal_reservoir":
            wire = solution.geometry.wires_at(node.name)[0]
            x = 0.0 if wire.start == node.name else wire.length
            np.testing.assert_allclose(solution.dos(wire.name, [x]), 1.0, atol=1e-12)


def test_matsubara_energies_give_the_analytic_continuation():
    # On the imaginary axis the bulk BCS function is g(i omega) = omega / sqrt(omega^2 + Delta^2)
    # (real); an S wire between S reservoirs is bulk, so exact to round-off.
    geometry = Geometry(nodes=(Node("S1", S_RES, gap=1.0), Node("S2", S_RES, gap=1.0)),
                        wires=(Wire("s", "S1", "S2", 2.0, gap=1.0),))
    omega = np.array([0.01, 0.5, 3.0])
    g = solve_spectral(geometry, 1j * omega).fields("s", [1.0]).green[:, 0]
    np.testing.assert_allclose(g, omega / np.sqrt(omega**2 + 1), atol=1e-10)
    with pytest.raises(ValueError, match="upper half plane"):
        solve_spectral(geometry, [0.5 - 0.1j])


def test_threads_give_the_same_results_and_collect_failures():
    # Energies are independent, but each thread's batch predicts the next Dynes stage from its
    # own energies (analytic continuation through a spline), so the Newton iterations start
    # elsewhere; both converge to tol = 1e-10 in the step, quadratically: 1e-9 is generous.
    geometry = t_junction()
    energies = np.linspace(0.05, 2.0, 12)
    serial = solve_spectral(geometry, energies)
    threaded = solve_spectral(geometry, energies, threads=2)
    np.testing.assert_allclose(threaded.gamma, serial.gamma, rtol=0, atol=1e-9)
    with pytest.raises(SpectralConvergenceError, match="did not converge for 12 of 12"):
        solve_spectral(geometry, energies, threads=2, max_iterations=1)


@pytest.mark.parametrize("energies", [
    np.concatenate([np.linspace(1e-3, 0.3, 60), np.linspace(0.95, 1.05, 40), [1.5, 2.5]]),  # cubic spline
    np.linspace(0.40, 0.45, 20),  # a narrow range (adaptive refinement round): linear
], ids=["dense-grid", "narrow-range"])
def test_coarse_first_stage_leads_to_the_same_solution(monkeypatch, energies):
    # The first Dynes stage is solved on a subset of a dense grid and interpolated; the
    # final solutions must be those of the full first stage (both Newton-converged to a
    # step of 1e-10, so they agree far below that scale unless a branch changed).
    import femprox.spectral.solver as spectral

    geometry = t_junction()
    coarse = solve_spectral(geometry, energies)
    monkeypatch.setattr(spectral, "_COARSE_SPACING", 0.0)  # every energy "coarse": full stage
    full = solve_spectral(geometry, energies)
    assert coarse.iterations.sum() < full.iterations.sum()
    np.testing.assert_allclose(coarse.gamma, full.gamma, rtol=0, atol=1e-8)
    np.testing.assert_allclose(coarse.gamma_tilde, full.gamma_tilde, rtol=0, atol=1e-8)


# -- predicting the next Dynes stage --------------------------------------------------------

def _stage(a, b) -> "spectral._NewtonResult":
    from femprox.spectral import solver as spectral

    n = a.shape[-1]
    return spectral._NewtonResult(np.atleast_2d(a), np.atleast_2d(b), np.ones(n, dtype=bool), np.zeros(n, dtype=int),
                                  np.zeros(n), np.zeros(n, dtype=object))


def test_continuation_in_the_dynes_rate_converges_like_a_taylor_series():
    # The bulk BCS amplitude is analytic in z = E + i eta; continued from eta to eta/2 through
    # spline E-derivatives (orders 2 and 3 offered), the order-2 remainder falls like
    # delta_eta^3 (log2 ratio 3; 2.7-3.3 allows the spline's own error, which is O(h^2) in the
    # second derivative at h = 0.025), and order 3 is better still and far below the change of
    # the stage itself (factor 1e-3: measured 5e-4 at the largest step, 2e-5 at the smallest).
    from femprox.spectral import solver as spectral

    energies = np.linspace(1.5, 3.0, 61)
    inner = slice(10, -10)  # away from the spline's end conditions
    errors = []
    for eta in (0.2, 0.1, 0.05):
        a, b = bulk_riccati(energies + 1j * eta, 1.0, 0.3)
        exact, _ = bulk_riccati(energies + 0.5j * eta, 1.0, 0.3)
        second, third = spectral._continuation(_stage(a, b), energies, eta, eta / 2, None)
        errors.append([np.abs(c[0][0] - exact)[inner].max() for c in (second, third)])
        assert errors[-1][1] < errors[-1][0] and errors[-1][1] < 1e-3 * np.abs(a - exact)[inner].max()
    rates = np.log2(np.array(errors)[:-1, 0] / np.array(errors)[1:, 0])
    assert np.all((rates > 2.7) & (rates < 3.3)), rates


def test_continuation_saves_newton_iterations_and_finds_the_same_solution(monkeypatch):
    # The paper's T-junction on a grid dense at E -> 0 and the gap edge (where the Dynes path
    # does its work): with the analytic continuation (default) against the secant predictor
    # alone. Same roots to Newton's tolerance (1e-10 in the step, quadratic convergence: 1e-9
    # is generous); measured 35% fewer iterations (348 vs 539), asserted 15%.
    from femprox.spectral import solver as spectral

    mesh = build_mesh(t_junction(mesh=MeshOptions(elements=10, order=3)))
    energies = np.concatenate([np.geomspace(1e-4, 0.3, 30), 1 + np.geomspace(1e-4, 0.2, 20),
                               1 - np.geomspace(1e-4, 0.2, 20), [0.6, 1.6, 2.5, 4.0]])
    with_continuation = solve_spectral(mesh, energies)
    monkeypatch.setattr(spectral, "_TAYLOR_ORDERS", ())
    secant_only = solve_spectral(mesh, energies)
    np.testing.assert_allclose(with_continuation.gamma, secant_only.gamma, rtol=0, atol=1e-9)
    assert with_continuation.iterations.sum() < 0.85 * secant_only.iterations.sum()


@pytest.mark.parametrize("phase_index", [10, 11])  # barrier gaps 0.044 and 0.011 at T = 0.05
def test_dynes_path_follows_the_retarded_root_below_a_small_reservoir_gap(monkeypatch, phase_index):
    # The paper's shortcut model next to phi = pi: an N wire (E_Th 0.08) ending in a reservoir
    # whose gap is far below E_Th (the short last step). On its Fig. 4 energy grid the path must
    # end on the roots of a much finer path (24 geometric stages from 0.3 down to 1e-7, then
    # 0), i.e. on the branch continued from strong damping. The three-stage path (0.3, 0.03, 0)
    # ended elsewhere at 1-2
    # energies 3e-5 to 2.5e-3 below the gap, by 0.14-0.31 in gamma; both converge to 1e-10
    # steps, so 1e-7 separates "same root" from "other root" by six orders of magnitude.
    from femprox.paper import figures
    from femprox.spectral import solver as spectral
    from femprox.workflows.sweeps import sweep_grid

    temperatures = (0.05, 0.1)
    gap = abs(np.cos(figures.figure4_phases()[phase_index] / 2))
    geometry = figures.barrier_geometry(gap, half=True)
    energies = sweep_grid(geometry, temperatures, figures.SHORTCUT_GRID).nodes
    refine, order = figures.SHORTCUT_MESH.refine, figures.SHORTCUT_MESH.order
    mesh = build_mesh(geometry, refine=refine, order=order)
    assert spectral._dynes_path(spectral._UsadelProblem(mesh)) == spectral._SHORT_LAST_STEP_PATH
    solved = solve_spectral(mesh, energies)
    fine = tuple(np.geomspace(0.3, 1e-7, 24)) + (0.0,)
    monkeypatch.setattr(spectral, "_dynes_path", lambda problem: fine)
    reference = solve_spectral(build_mesh(geometry, refine=refine, order=order), energies)
    near_edge = np.abs(energies / gap - 1) < 3e-3
    assert near_edge.sum() >= 3  # the grid clusters at the edge: the test looks where it matters
    np.testing.assert_allclose(solved.gamma, reference.gamma, rtol=0, atol=1e-7)
    np.testing.assert_allclose(solved.gamma_tilde, reference.gamma_tilde, rtol=0, atol=1e-7)


def test_without_small_gaps_the_three_stage_path_ends_on_the_same_roots(monkeypatch):
    # The paper's T-junction at Delta0 (gap/E_Th = 50): the path keeps its direct last step
    # from 0.03 to 0 and must end where the 24-stage path does, on a grid dense at both edges
    # (at E -> 0 and below and above the gap; same 1e-7 criterion as above)
    from femprox.spectral import solver as spectral

    mesh = build_mesh(t_junction(mesh=MeshOptions(elements=10, order=3)))
    assert spectral._dynes_path(spectral._UsadelProblem(mesh)) == spectral._DYNES_PATH
    energies = np.concatenate([np.geomspace(1e-4, 0.3, 20), 1 - np.geomspace(3e-5, 0.2, 20),
                               1 + np.geomspace(3e-5, 0.2, 20), [0.6, 1.6, 2.5]])
    solved = solve_spectral(mesh, energies)
    fine = tuple(np.geomspace(0.3, 1e-7, 24)) + (0.0,)
    monkeypatch.setattr(spectral, "_dynes_path", lambda problem: fine)
    reference = solve_spectral(build_mesh(t_junction(mesh=MeshOptions(elements=10, order=3))), energies)
    np.testing.assert_allclose(solved.gamma, reference.gamma, rtol=0, atol=1e-7)
    np.testing.assert_allclose(solved.gamma_tilde, reference.gamma_tilde, rtol=0, atol=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize("path", GEOMETRY_FILES, ids=lambda p: p.stem)
def test_every_geometry_file_ends_on_the_roots_of_a_fine_dynes_path(path, monkeypatch):
    # The choice between the two Dynes paths (_dynes_path) is empirical: on every shipped
    # geometry, at the start grid of its sweeps (84 energies, clustered at E -> 0 and both
    # sides of each gap edge), the path it takes must end on the roots of the 24-stage path
    # (measured: at most 1.9e-10 apart; 1e-7 as in the tests above)
    from femprox.spectral import solver as spectral
    from femprox.workflows import sweeps

    geometry = load_geometry(path)
    energies = sweeps.sweep_grid(geometry, [0.05, 0.2], sweeps.FAST_GRID).nodes
    solved = solve_spectral(build_mesh(geometry), energies)
    fine = tuple(np.geomspace(0.3, 1e-7, 24)) + (0.0,)
    monkeypatch.setattr(spectral, "_dynes_path", lambda problem: fine)
    reference = solve_spectral(build_mesh(geometry), energies)
    np.testing.assert_allclose(solved.gamma, reference.gamma, rtol=0, atol=1e-7)
    np.testing.assert_allclose(solved.gamma_tilde, reference.gamma_tilde, rtol=0, atol=1e-7)
