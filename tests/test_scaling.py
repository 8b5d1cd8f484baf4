"""Large networks: energy chunks within a memory budget, clear errors when nothing fits."""

from pathlib import Path

import numpy as np
import pytest

from femprox.spectral import solver as spectral
from femprox.geometry.devices import t_junction
from femprox.geometry.network import Geometry, MeshOptions, Node, NodeKind, Wire
from femprox.mesh import build_mesh
from femprox.spectral.solver import ProblemTooLargeError, bytes_per_energy, solve_spectral


def small_grid(n: int = 3) -> Geometry:
    """n x n clean nodes, S reservoirs on the left, N reservoirs on the right (as in
    benchmarks/bench_grid.py, coarser mesh)."""
    name = lambda i, j: f"n{i}_{j}"  # noqa: E731
    nodes = [Node(name(i, j), NodeKind.CLEAN) for i in range(n) for j in range(n)]
    wires = []
    for i in range(n):
        nodes += [Node(f"S{i}", NodeKind.SUPERCONDUCTING_RESERVOIR, gap=1.0), Node(f"N{i}", NodeKind.NORMAL_RESERVOIR)]
        wires += [Wire(f"s{i}", f"S{i}", name(i, 0), 1.0), Wire(f"r{i}", name(i, n - 1), f"N{i}", 1.0)]
        wires += [Wire(f"h{i}_{j}", name(i, j), name(i, j + 1), 1.0) for j in range(n - 1)]
    wires += [Wire(f"v{i}_{j}", name(i, j), name(i + 1, j), 1.0) for i in range(n - 1) for j in range(n)]
    return Geometry(nodes=tuple(nodes), wires=tuple(wires), mesh=MeshOptions(elements=4, order=2))


def test_energy_chunks_give_the_same_solution():
    mesh = build_mesh(small_grid())
    energies = np.linspace(0.02, 2.0, 40) + 1e-7
    whole = solve_spectral(mesh, energies)
    per_energy = bytes_per_energy(mesh.stage_cache["usadel_problem"])
    chunked = solve_spectral(mesh, energies[::-1], memory_budget=6 * per_energy)  # 7 chunks, reversed order
    # each energy's Newton iteration does not depend on the others of its batch: the chunks
    # converge to the same tolerance from the same (interpolated) start
    np.testing.assert_allclose(chunked.gamma[::-1], whole.gamma, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(chunked.energies, energies[::-1])


def test_chunks_with_threads_and_matsubara_energies():
    mesh = build_mesh(t_junction(mesh=MeshOptions(elements=6, order=2)))
    per_energy = bytes_per_energy(spectral._shared_problem(mesh))
    matsubara = 1j * np.linspace(0.05, 3.0, 9)
    whole = solve_spectral(mesh, matsubara)
    chunked = solve_spectral(mesh, matsubara, memory_budget=2 * per_energy, threads=2)
    np.testing.assert_allclose(chunked.gamma, whole.gamma, rtol=0, atol=1e-9)


def test_problem_that_cannot_fit_is_refused(monkeypatch):
    monkeypatch.setattr(spectral, "_available_memory", lambda: 2**16)  # 64 kB left
    with pytest.raises(ProblemTooLargeError, match="network too large: estimated .* GB for one energy"):
        solve_spectral(small_grid(4), [0.5])


def test_too_large_is_reported_by_the_command_line(monkeypatch, tmp_path, capsys):
    from femprox import cli

    monkeypatch.setattr(spectral, "_available_memory", lambda: 2**16)
    t_junction_file = str(Path(__file__).resolve().parents[1] / "geometries" / "t_junction.toml")
    code = cli.main(["solve", t_junction_file, "--temperatures", "0.1", "-o", str(tmp_path / "run")])
    assert code == 2
    assert "network too large" in capsys.readouterr().err


def test_kinetic_energy_chunks_give_the_same_conductance():
    # a budget of one byte solves the kinetic equations one energy at a time
    from femprox.geometry.devices import house_interferometer
    from femprox.kinetic.solver import spectral_conductance
    from femprox.spectral.solver import solve_spectral

    solution = solve_spectral(house_interferometer(phase=1.0), np.linspace(0.05, 1.5, 7))
    whole = spectral_conductance(solution)
    chunked = spectral_conductance(solution, memory_budget=1)
    np.testing.assert_array_equal(chunked.matrix, whole.matrix)
    np.testing.assert_array_equal(chunked.distributions, whole.distributions)
    assert spectral_conductance(solution, keep_distributions=False, memory_budget=1).distributions is None


def test_size_check_plans_one_chunk_of_energies(monkeypatch):
    """The up-front check must not refuse what the chunked, sparse solver can do (before, it
    charged every energy at once plus a dense junction Schur complement: a 30 x 30 grid, which
    solves at 100 energies in 1.9 GB, was refused as needing 29.5 GB). It now plans
    CHUNK_ENERGIES energies at a time: refused just below that need, accepted just above, and
    the need does not grow with the number of energies."""
    from femprox.geometry import limits

    grid = small_grid(30)
    dofs, order, _ = limits.estimated_dofs(grid)
    working = limits.bytes_per_dof_energy(order) * dofs * limits.CHUNK_ENERGIES
    kept = limits.SOLUTION_BYTES_PER_DOF_ENERGY * dofs * 100  # the solution at every energy
    monkeypatch.setattr(limits, "memory_budget", lambda: 1.01 * (working + kept))
    assert limits.check_solve_size(grid, energies=100) == dofs
    monkeypatch.setattr(limits, "memory_budget", lambda: 0.99 * (working + kept))
    with pytest.raises(limits.LimitError, match="energies at a time"):
        limits.check_solve_size(grid, energies=100)
    assert limits.check_solve_size(grid, energies=1) == dofs  # one energy fits
