"""Warm starts of refinement energies from converged neighbours (spectral._warm_start).

A warm-started energy must be the Dynes-path solution: Newton's tolerance is 1e-10 (step
size), and the warm and path solutions were measured to agree within 1.2e-9 on the whole
paper job, while a different root (the other branch at a minigap edge, or a spurious root)
lies 1e-2 or more away. The tests compare at 1e-8.
"""

import numpy as np
import pytest

from femprox.observables import energy_grid
from femprox.paper import figures
from femprox.spectral import solver as spectral
from femprox.observables.energy_grid import SpectralStore, adaptive_transport
from femprox.mesh import build_mesh
from femprox.spectral.solver import _neighbour_interpolation, solve_spectral
from femprox.workflows.sweeps import GeometryFile

SAME_ROOT = 1e-8


@pytest.fixture(scope="module")
def house_mesh():
    # the paper's house at phi = 2.6: a minigap-edge cusp near 0.24 Delta0
    source = GeometryFile.from_path(figures.HOUSE_FILE, {}, "parameters.phi")
    return build_mesh(source.geometry(2.6))


def _difference(a, b):
    return max(np.abs(a.gamma - b.gamma).max(), np.abs(a.gamma_tilde - b.gamma_tilde).max())


def _warm_start_counts(monkeypatch) -> list[tuple[int, int]]:
    """(energies, accepted) of every warm start from now on."""
    counts = []
    original = spectral._warm_start

    def recorded(problem, energies, *args):
        result, accepted = original(problem, energies, *args)
        counts.append((energies.size, int(accepted.sum())))
        return result, accepted

    monkeypatch.setattr(spectral, "_warm_start", recorded)
    return counts


def test_warm_started_energies_are_the_dynes_path_solutions(house_mesh, monkeypatch):
    known = np.linspace(0.02, 0.6, 30)  # spacing 0.02: the cusp lies between two of them
    coarse = solve_spectral(house_mesh, known)
    new = 0.5 * (known[1:] + known[:-1]) + 0.003
    counts = _warm_start_counts(monkeypatch)
    warm = solve_spectral(house_mesh, new, neighbours=(coarse.energies, coarse.gamma, coarse.gamma_tilde))
    cold = solve_spectral(house_mesh, new)
    assert counts[0][1] >= new.size // 2  # the warm path is really exercised
    assert _difference(warm, cold) < SAME_ROOT


def test_misleading_neighbours_fall_back_to_the_dynes_path(house_mesh):
    # neighbours of another phase (other minigap, other branch structure), and nonsense
    # values: what passes the checks must be the right root, the rest takes the path
    new = np.linspace(0.05, 0.5, 24)
    cold = solve_spectral(house_mesh, new)
    known = np.linspace(0.0, 0.6, 25)
    source = GeometryFile.from_path(figures.HOUSE_FILE, {}, "parameters.phi")
    other = solve_spectral(build_mesh(source.geometry(0.0)), known)
    assert other.gamma.shape[1] == cold.gamma.shape[1]
    wrong = [(known, other.gamma, other.gamma_tilde),
             (known, np.full_like(other.gamma, 0.95j), np.full_like(other.gamma, 0.95j))]
    for neighbours in wrong:
        warm = solve_spectral(house_mesh, new, neighbours=neighbours)
        assert _difference(warm, cold) < SAME_ROOT


def test_without_the_branch_checks_nonsense_neighbours_give_wrong_roots(house_mesh, monkeypatch):
    # what the checks of the previous test guard against (measured: 15 of 24 energies on
    # other roots, up to 1.7 off, when every Newton that converges is accepted)
    for name, value in (("_WARM_AGREEMENT", np.inf), ("_WARM_ITERATIONS", 30), ("_WARM_SPREAD", np.inf),
                        ("_BOUNDS_SLACK", np.inf)):
        monkeypatch.setattr(spectral, name, value)
    new = np.linspace(0.05, 0.5, 24)
    known = np.linspace(0.0, 0.6, 25)
    nonsense = np.full((known.size, house_mesh.n_dofs), 0.95j)
    warm = solve_spectral(house_mesh, new, neighbours=(known, nonsense, nonsense))
    assert _difference(warm, solve_spectral(house_mesh, new)) > 0.1


def test_neighbour_interpolation_is_exact_on_cubics_and_flags_kinks():
    known = np.linspace(0.0, 1.0, 21)
    rng = np.random.default_rng(1)
    coefficients = rng.normal(size=(4, 3)) + 1j * rng.normal(size=(4, 3))
    cubic = np.stack([np.polyval(c, known) for c in coefficients.T], axis=1)  # (21, 3)
    points = np.array([0.013, 0.41, 0.777, 0.99])
    (values,), spread = _neighbour_interpolation(known, (cubic,), points)
    exact = np.stack([np.polyval(c, points) for c in coefficients.T], axis=0)
    np.testing.assert_allclose(values, exact, rtol=0, atol=1e-12)
    assert np.all(spread < 1e-12)
    # a square-root edge at 0.5: the spread next to it is far larger than away from it
    edge = np.sqrt(np.abs(known - 0.5))[:, None]
    (_,), spread = _neighbour_interpolation(known, (edge,), np.array([0.12, 0.51]))
    assert spread[1] > 20 * spread[0]
    # outside the known range: not interpolated
    (_,), spread = _neighbour_interpolation(known, (edge,), np.array([-0.1, 1.2]))
    assert np.all(np.isnan(spread))


def test_adaptive_grid_with_warm_starts_matches_the_cold_one(house_mesh, monkeypatch):
    warm_grid, warm, warm_conductance = adaptive_transport(house_mesh, [0.1, 0.2], tol=1e-5)
    plain = energy_grid.solve_spectral

    def cold(mesh, energies, **options):
        options.pop("neighbours", None)
        return plain(mesh, energies, **options)

    monkeypatch.setattr(energy_grid, "solve_spectral", cold)
    cold_grid, cold_solution, cold_conductance = adaptive_transport(build_mesh(house_mesh.geometry), [0.1, 0.2],
                                                                    tol=1e-5)
    np.testing.assert_array_equal(warm_grid.edges, cold_grid.edges)
    assert _difference(warm, cold_solution) < SAME_ROOT
    np.testing.assert_allclose(warm_conductance.matrix, cold_conductance.matrix, rtol=0,
                               atol=SAME_ROOT * np.abs(cold_conductance.matrix).max())


# -- warm starts from the previous gap group of a sweep (sweeps.run_sweep_chain) ------------------

def test_gap_scaled_guesses_warm_start_most_energies_and_give_the_dynes_path_roots(monkeypatch):
    # the T-junction from Delta(0.1) to Delta(0.45) = 0.85: a large step; the scaled guesses
    # still pass the branch check at most energies, and what they give is the path's root
    from femprox.physics import bcs
    from femprox.geometry.temperature import at_temperature

    geometry = GeometryFile.from_path(figures.T_JUNCTION_FILE, {}).geometry()
    low, high = at_temperature(geometry, 0.1), at_temperature(geometry, 0.45)
    mesh_low, mesh_high = build_mesh(low), build_mesh(high)
    grid = energy_grid.energy_grid(high, [0.45], order=6, ratio=8.0, edge_ratio=10.0, edge_distance=1e-3,
                                   low_fraction=0.5)
    before = solve_spectral(mesh_low, energy_grid.energy_grid(low, [0.1], order=6, ratio=8.0).nodes)
    ratio = float(bcs.gap(0.45) / bcs.gap(0.1))
    assert ratio < 0.9
    counts = _warm_start_counts(monkeypatch)
    warm = solve_spectral(mesh_high, grid.nodes, neighbours=spectral.gap_scaled_neighbours(before, ratio))
    cold = solve_spectral(mesh_high, grid.nodes)
    assert counts[0][1] >= 0.6 * grid.nodes.size
    assert _difference(warm, cold) < SAME_ROOT
    with pytest.raises(ValueError, match="gap_ratio"):
        spectral.gap_scaled_neighbours(before, 0.0)


def test_a_chain_of_gap_groups_gives_the_separate_solves_results(monkeypatch):
    from femprox.workflows import sweeps

    source = GeometryFile.from_path(figures.HOUSE_FILE, {}, "parameters.phi")
    tasks = sweeps.sweep_tasks(source, [0.1, 0.25, 0.35, 0.45], [2.6], between=("left", "right"),
                               grid=sweeps.FAST_GRID, mesh=sweeps.MeshSettings(refine=0.5))
    (chain,) = sweeps.chain_tasks(tasks)
    assert len(chain) == 4  # four gaps, one geometry
    starts = _warm_start_counts(monkeypatch)  # refinement rounds and chain starts
    chained = sweeps.run_sweep_chain(chain)
    start_sizes = {sweeps.sweep_grid(t.geometry, t.temperatures, t.grid).nodes.size for t in chain[1:]}
    firsts = [count for count in starts if count[0] in start_sizes]  # warm starts of whole start grids
    alone = [sweeps.run_sweep_task(task) for task in tasks]
    # every later solve started from the one before, most of its energies accepted
    assert len(firsts) == 3 and all(accepted >= 0.5 * n for n, accepted in firsts)
    for (points, size, _), (reference, reference_size, _) in zip(chained, alone):
        for p, q in zip(points, reference):
            assert abs(p.heat_conductance_ratio - q.heat_conductance_ratio) < 1e-9
            assert abs(p.conductance_ratio - q.conductance_ratio) < 1e-9


def test_gap_scaled_guesses_skip_the_edge_of_a_gap_near_the_thouless_energy(monkeypatch):
    # the paper's shortcut model next to phi = pi: gap 0.011 -> 0.0103 below E_Th = 0.08 of
    # its wire; there a carried-over spurious root passed the branch check (see the docstring)
    small, smaller = figures.barrier_geometry(0.0109, half=True), figures.barrier_geometry(0.0103, half=True)
    mesh, other = build_mesh(small), build_mesh(smaller)
    grid = energy_grid.energy_grid(smaller, [0.3], order=6, ratio=8.0, edge_ratio=10.0, edge_distance=1e-3,
                                   low_fraction=0.5)
    before = solve_spectral(mesh, energy_grid.energy_grid(small, [0.2], order=6, ratio=8.0, edge_ratio=10.0,
                                                          edge_distance=1e-3, low_fraction=0.5).nodes)
    neighbours = spectral.gap_scaled_neighbours(before, 0.0103 / 0.0109)
    np.testing.assert_allclose(neighbours[3], [[0.0103 * 0.98, 0.0103 * 1.02]], rtol=1e-12)
    tried = []
    original = spectral._newton
    monkeypatch.setattr(spectral, "_newton", lambda problem, a, b, energies, **kw: tried.append(
        (energies.copy(), kw.get("max_iterations"))) or original(problem, a, b, energies, **kw))
    solve_spectral(other, grid.nodes, neighbours=neighbours)
    warm = np.concatenate([e for e, iterations in tried if iterations == spectral._WARM_ITERATIONS])
    near = np.abs(grid.nodes / 0.0103 - 1) <= 0.02
    assert near.sum() >= 12 and warm.size >= 40  # both sides of the edge are graded; the rest is tried
    assert not np.isin(grid.nodes[near], warm).any()
    # a gap far above E_Th (the T-junction's 1 vs 0.02): nothing excluded
    junction = solve_spectral(build_mesh(GeometryFile.from_path(figures.T_JUNCTION_FILE, {}).geometry()), [0.5, 1.5])
    assert spectral.gap_scaled_neighbours(junction, 0.9)[3].shape == (0, 2)


def test_an_adaptive_grid_keeps_the_notes_of_all_its_solves_once(house_mesh, monkeypatch):
    # e.g. energies kept with a tiny Dynes rate at a gap edge: the user must see them in the
    # sweep's notes whichever refinement round solved them
    original = energy_grid.solve_spectral
    calls = []

    def noted(mesh, energies, **options):
        solution = original(mesh, energies, **options)
        calls.append(energies.size)
        solution.notes.append(f"round {len(calls)} note")
        solution.notes.append("a note every round")
        return solution

    monkeypatch.setattr(energy_grid, "solve_spectral", noted)
    _, solution, _ = adaptive_transport(house_mesh, [0.1], tol=1e-3, order=6, ratio=8.0, edge_ratio=10.0,
                                        edge_distance=1e-3, low_fraction=0.5)
    assert len(calls) >= 2  # refined at least once (the cusp at 0.24)
    expected = ["round 1 note", "a note every round"] + [f"round {k} note" for k in range(2, len(calls) + 1)]
    assert solution.notes == expected
