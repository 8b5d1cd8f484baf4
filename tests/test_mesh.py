"""Graph mesh: gluing, grading, quadrature maps and point evaluation."""

import numpy as np
import pytest
import scipy.sparse as sp

import femprox.mesh as mesh_module
from femprox.geometry.devices import t_junction
from femprox.geometry.network import MeshOptions
from femprox.mesh import PointwiseForms, _graded_partition, build_mesh


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_dof_count_glues_wire_ends_at_nodes(order):
    mesh = build_mesh(t_junction(mesh=MeshOptions(elements=5, order=order)))
    # 3 wires x 5 elements: vertices shared at the 4 nodes, (order - 1) DOFs inside elements
    vertices = 3 * 6 - 6 + 4
    assert mesh.n_dofs == vertices + 15 * (order - 1)
    assert sorted(mesh.dirichlet_dofs) == sorted([mesh.node_dof["left"], mesh.node_dof["right"]])


def test_grading_ratio_and_direction():
    edges = _graded_partition(10, 4.0, at_start=True, at_end=False)
    sizes = np.diff(edges)
    assert edges[0] == 0 and edges[-1] == pytest.approx(1.0)
    assert sizes[-1] / sizes[0] == pytest.approx(4.0)
    both = np.diff(_graded_partition(10, 4.0, True, True))
    np.testing.assert_allclose(both, both[::-1])


@pytest.mark.parametrize("order", [2, 3, 4])
def test_point_evaluation_matches_quadrature_and_reflection_symmetry(order):
    # Evaluating the same field at different point sets of equal size must not reuse
    # stale basis values (scikit-fem 12's ElementLinePp caches them; see mesh.py).
    mesh = build_mesh(t_junction(mesh=MeshOptions(elements=4, order=order, grading=1.0)))
    q = mesh.quadrature
    u = np.random.default_rng(1).normal(size=mesh.n_dofs)
    for k in range(3):
        on = q.wire_index == k
        values, _ = mesh.evaluation_matrices(k, q.position[on])
        np.testing.assert_allclose(values @ u, (q.values @ u)[on], atol=1e-12)
    # Poisson problem -u'' = 1 with u = 0 at the normal reservoirs is mirror symmetric
    forms = PointwiseForms(q, mesh.n_dofs)
    stiffness = sp.csr_matrix((forms.derivative_derivative @ np.ones(q.weights.size), (forms.rows, forms.cols)),
                              shape=(mesh.n_dofs,) * 2)
    load = q.values.T @ q.weights
    free = mesh.free_dofs
    u = np.zeros(mesh.n_dofs)
    u[free] = sp.linalg.spsolve(stiffness[free][:, free].tocsc(), load[free])
    x = np.array([0.3, 1.7, 4.4])
    left, _ = mesh.evaluation_matrices("left_arm", x)
    right, _ = mesh.evaluation_matrices("right_arm", 5.0 - x)
    np.testing.assert_allclose(left @ u, right @ u, rtol=1e-12)


def test_line_element_keeps_evaluations_per_point_set():
    # the element caches its Legendre evaluation per exact point set: revisiting a set after
    # others of the same size (and after more sets than it keeps) gives that set's values
    import skfem

    element = mesh_module._line_element(5)
    point_sets = [np.random.default_rng(k).uniform(-1, 1, size=(1, 7)) for k in range(6)]
    for X in point_sets + point_sets[::-1]:
        values, derivatives = skfem.ElementLinePp(5)._reval_legendre(X[0], 5)  # fresh: no cache
        for i in range(6):
            v, d = element.lbasis(X, i)
            np.testing.assert_array_equal(v, values[i])
            np.testing.assert_array_equal(d, derivatives[i])
    assert len(element._evaluations) == element._CACHED_POINT_SETS


def test_kirchhoff_balance_is_natural():
    # Poisson problem with unit source: the fluxes g u' out of the centre node sum to zero
    # (the weak form imposes it; nothing is imposed explicitly at the node).
    mesh = build_mesh(t_junction(mesh=MeshOptions(elements=8, order=3)))
    q = mesh.quadrature
    g = q.wire_parameter(mesh.geometry, "conductance")
    stiffness = q.derivatives.T @ sp.diags(g * q.weights) @ q.derivatives
    load = q.values.T @ (g * q.weights)
    free = mesh.free_dofs
    u = np.zeros(mesh.n_dofs)
    u[free] = sp.linalg.spsolve(stiffness.tocsc()[free][:, free], load[free])
    outflow = 0.0
    for wire in mesh.geometry.wires:
        _, d_start = mesh.evaluation_matrices(wire.name, [0.0])
        _, d_end = mesh.evaluation_matrices(wire.name, [wire.length])
        if wire.start == "center":
            outflow += wire.conductance * (d_start @ u)[0]
        else:
            outflow -= wire.conductance * (d_end @ u)[0]
    total_source = sum(w.conductance * w.length for w in mesh.geometry.wires)
    # P3 reproduces the quadratic exact solution, so the balance holds to round-off
    assert outflow == pytest.approx(0.0, abs=1e-10 * total_source)


def test_auto_grading_finds_ns_junctions_and_short_arms_to_superconductors():
    from femprox.geometry.devices import house_interferometer
    from femprox.mesh import _graded_ends

    t = t_junction()
    options = MeshOptions()
    assert _graded_ends(t, t.wire("left_arm"), options) == (False, True)   # toward the S arm
    assert _graded_ends(t, t.wire("s_arm"), options) == (True, False)
    # the house's centre reaches the S reservoirs through 0.5 xi0 normal arms
    house = house_interferometer(mesh=options)
    assert _graded_ends(house, house.wire("left_arm"), options) == (False, True)
    assert _graded_ends(house, house.wire("right_arm"), options) == (True, False)


def test_solver_set_up_is_cached_on_the_mesh_but_not_pickled():
    import pickle

    from femprox.geometry.devices import t_junction
    from femprox.spectral.solver import solve_spectral

    mesh = build_mesh(t_junction())
    first = solve_spectral(mesh, [0.2, 0.4])
    cached = dict(mesh.stage_cache)
    assert cached  # built by the first solve ...
    second = solve_spectral(mesh, [0.2, 0.4])
    assert all(mesh.stage_cache[k] is v for k, v in cached.items())  # ... and reused
    np.testing.assert_array_equal(first.gamma, second.gamma)
    copy = pickle.loads(pickle.dumps(mesh))
    assert copy.stage_cache == {}
    np.testing.assert_allclose(solve_spectral(copy, [0.2, 0.4]).gamma, first.gamma, rtol=0, atol=1e-12)


def test_meshes_of_equal_wires_share_bases_and_forms_exactly():
    # a sweep meshes one network at many gaps/phases: bases and quadrature forms are built once
    # per process and shared (keyed on every input array); other wires get their own
    from femprox.geometry.devices import house_interferometer
    from femprox.mesh import ASSEMBLY_CACHE, pointwise_forms
    from femprox.spectral.solver import _shared_problem, solve_spectral

    options = MeshOptions(elements=6, order=3)
    first, second = (build_mesh(house_interferometer(phase=phi, mesh=options)) for phi in (0.3, 2.0))
    assert first.basis is second.basis
    assert pointwise_forms(first.quadrature, first.n_dofs) is pointwise_forms(second.quadrature, second.n_dofs)
    assert _shared_problem(first).test_values is _shared_problem(second).test_values
    longer = build_mesh(house_interferometer(phase=0.3, length_n=12.0, mesh=options))
    finer = build_mesh(house_interferometer(phase=0.3, mesh=MeshOptions(elements=6, order=4)))
    assert longer.basis is not first.basis and finer.basis is not first.basis
    # a wire of another conductance: same basis, other weak forms
    stronger = house_interferometer(phase=0.3, mesh=options)
    stronger = stronger.with_wire("s1_arm", conductance=2 * stronger.wire("s1_arm").conductance)
    assert _shared_problem(build_mesh(stronger)).test_values is not _shared_problem(first).test_values
    # shared objects give the very numbers of freshly built ones
    shared = solve_spectral(second, [0.05, 0.3, 1.2])
    ASSEMBLY_CACHE.clear()
    fresh = solve_spectral(build_mesh(house_interferometer(phase=2.0, mesh=options)), [0.05, 0.3, 1.2])
    np.testing.assert_array_equal(shared.gamma, fresh.gamma)


def test_assembly_cache_keeps_the_last_few_and_no_large_meshes():
    from femprox.mesh import AssemblyCache

    cache = AssemblyCache(size=2, max_points=100)
    built = []

    def build(value):
        built.append(value)
        return [value]

    a = cache.get(b"a", 10, lambda: build("a"))
    assert cache.get(b"a", 10, lambda: build("again")) is a
    cache.get(b"b", 10, lambda: build("b"))
    cache.get(b"c", 10, lambda: build("c"))      # pushes out "a", the least recently used
    cache.get(b"a", 10, lambda: build("a"))
    cache.get(b"big", 1000, lambda: build("big"))
    cache.get(b"big", 1000, lambda: build("big"))  # never kept
    assert built == ["a", "b", "c", "a", "big", "big"]
    # and at most max_points points in all
    cache = AssemblyCache(size=8, max_points=100)
    built.clear()
    for key in (b"x", b"y", b"y", b"x"):  # 60 + 60 points: "y" pushes out "x"
        cache.get(key, 60, lambda: build(key))
    assert built == [b"x", b"y", b"x"]


def _mesh_in_child():
    build_mesh(t_junction(mesh=MeshOptions(elements=3, order=2)))


def test_a_process_forked_while_the_assembly_cache_is_locked_can_mesh():
    import multiprocessing

    from femprox.mesh import ASSEMBLY_CACHE

    with ASSEMBLY_CACHE._lock:  # as if another thread were inside get() at the fork
        child = multiprocessing.get_context("fork").Process(target=_mesh_in_child)
        child.start()
    child.join(timeout=60)
    hung = child.is_alive()
    if hung:
        child.kill()
    assert not hung and child.exitcode == 0
