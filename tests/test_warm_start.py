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


def test_warm_started_energies_are_the_dynes_path_solutions(house_mesh):
    known = np.linspace(0.02, 0.6, 30)  # spacing 0.02: the cusp lies between two of them
    coarse = solve_spectral(house_mesh, known)
    new = 0.5 * (known[1:] + known[:-1]) + 0.003
    warm = solve_spectral(house_mesh, new, neighbours=(coarse.energies, coarse.gamma, coarse.gamma_tilde))
    cold = solve_spectral(house_mesh, new)
    note = next(n for n in warm.notes if "warm-started" in n)
    assert int(note.split()[0]) >= new.size // 2  # the warm path is really exercised
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
