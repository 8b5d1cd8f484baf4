"""Batched block-tridiagonal solver against dense solves."""

import numpy as np
import pytest
import scipy.sparse as sp

from femprox.linalg import BatchedBlockSolver


def graph_pattern(n: int) -> sp.coo_matrix:
    """A chain with two long-range links (a loop and a branch), like a wire network."""
    pattern = sp.diags([np.ones(n - 1), np.ones(n), np.ones(n - 1)], [-1, 0, 1]).tolil()
    for i, j in [(0, 10), (3, 40)]:
        pattern[i, j] = pattern[j, i] = 1
    return pattern.tocoo()


@pytest.mark.parametrize("fields", [1, 2])
@pytest.mark.parametrize("batch_last", [False, True])
def test_solutions_match_dense_linear_algebra(fields, batch_last):
    n, batch = 50, 5
    pattern = graph_pattern(n)
    rng = np.random.default_rng(3)
    data = rng.normal(size=(batch, pattern.nnz, fields, fields)) + 1j * rng.normal(size=(batch, pattern.nnz, fields, fields))
    data[:, pattern.row == pattern.col] += 10 * np.eye(fields)
    solver = BatchedBlockSolver(pattern.row, pattern.col, n, fields)
    lu = solver.factor(np.moveaxis(data, 0, -1) if batch_last else data, batch_last=batch_last)
    rhs = rng.normal(size=(batch, n, fields, 3))
    x = lu.solve(rhs)
    for e in range(batch):
        dense = np.zeros((n * fields, n * fields), dtype=complex)
        for k, (r, c) in enumerate(zip(pattern.row, pattern.col)):
            dense[r * fields:(r + 1) * fields, c * fields:(c + 1) * fields] += data[e, k]
        expected = np.linalg.solve(dense, rhs[e].reshape(n * fields, 3))
        # well-conditioned random matrices: agreement to a few ulps times the size
        np.testing.assert_allclose(x[e].reshape(n * fields, 3), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lu.solve(rhs[..., 1]), x[..., 1], rtol=1e-13)


def test_subset_of_factors_solves_the_selected_systems():
    n, batch = 50, 6
    pattern = graph_pattern(n)
    rng = np.random.default_rng(5)
    data = rng.normal(size=(batch, pattern.nnz, 2, 2)) + 10 * (pattern.row == pattern.col)[None, :, None, None] * np.eye(2)
    lu = BatchedBlockSolver(pattern.row, pattern.col, n, 2).factor(data)
    rhs = rng.normal(size=(batch, n, 2))
    pick = np.array([1, 4])
    np.testing.assert_allclose(lu.subset(pick).solve(rhs[pick]), lu.solve(rhs)[pick], rtol=1e-13)


def star_pattern(arms: int = 4, length: int | list[int] = 12) -> tuple[sp.coo_matrix, int]:
    """Chains joined at one junction unknown (index 0), like wires meeting at a node."""
    lengths = [length] * arms if isinstance(length, int) else list(length)
    n = 1 + sum(lengths)
    pattern = sp.lil_matrix((n, n))
    pattern[0, 0] = 1
    for arm, size in enumerate(lengths):
        chain = 1 + sum(lengths[:arm]) + np.arange(size)
        pattern[0, chain[0]] = pattern[chain[0], 0] = 1
        for i, j in zip(chain[:-1], chain[1:]):
            pattern[i, j] = pattern[j, i] = 1
        for i in chain:
            pattern[i, i] = 1
    return pattern.tocoo(), n


def dense_matrix(pattern, data_e, n, fields):
    dense = np.zeros((n * fields, n * fields), dtype=complex)
    for k, (r, c) in enumerate(zip(pattern.row, pattern.col)):
        dense[r * fields:(r + 1) * fields, c * fields:(c + 1) * fields] += data_e[k]
    return dense


@pytest.mark.parametrize("batch_last", [False, True])
def test_junction_separators_match_dense_linear_algebra(batch_last):
    pattern, n = star_pattern()
    fields, batch = 2, 4
    rng = np.random.default_rng(7)
    data = rng.normal(size=(batch, pattern.nnz, fields, fields)) + 1j * rng.normal(size=(batch, pattern.nnz, fields, fields))
    data[:, pattern.row == pattern.col] += 6 * np.eye(fields)
    plain = BatchedBlockSolver(pattern.row, pattern.col, n, fields)
    split = BatchedBlockSolver(pattern.row, pattern.col, n, fields, separators=[0])
    # RCM enters through one arm; beyond the junction the other three run side by side in
    # one band. Split off at the junction, every arm is a chain.
    assert plain.block_size == 3 * fields and split.block_size == fields
    lu = split.factor(np.moveaxis(data, 0, -1) if batch_last else data, batch_last=batch_last)
    rhs = rng.normal(size=(batch, n, fields, 2)) + 1j * rng.normal(size=(batch, n, fields, 2))
    x = lu.solve(rhs)
    for e in range(batch):
        expected = np.linalg.solve(dense_matrix(pattern, data[e], n, fields), rhs[e].reshape(n * fields, 2))
        np.testing.assert_allclose(x[e].reshape(n * fields, 2), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lu.solve(rhs[..., 0]), x[..., 0], rtol=1e-13)
    pick = np.array([3, 1])
    np.testing.assert_allclose(lu.subset(pick).solve(rhs[pick]), x[pick], rtol=1e-13)


def test_chains_of_different_lengths_share_lanes():
    # split at the junction: chains of 12, 7, 5, 4 and 3 unknowns; the short ones are packed
    # end to end into lanes as long as the longest (12), the rest of a lane is padding
    pattern, n = star_pattern(arms=5, length=[12, 7, 5, 4, 3])
    solver = BatchedBlockSolver(pattern.row, pattern.col, n, 2, separators=[0])
    assert (solver.chains.n_lanes, solver.chains.n_blocks) == (3, 12)  # [12], [7, 5], [4, 3]
    rng = np.random.default_rng(11)
    batch = 3
    data = rng.normal(size=(batch, pattern.nnz, 2, 2)) + 1j * rng.normal(size=(batch, pattern.nnz, 2, 2))
    data[:, pattern.row == pattern.col] += 6 * np.eye(2)
    rhs = rng.normal(size=(batch, n, 2)) + 0j
    x = solver.factor(data).solve(rhs)
    for e in range(batch):
        expected = np.linalg.solve(dense_matrix(pattern, data[e], n, 2), rhs[e].reshape(-1))
        np.testing.assert_allclose(x[e].reshape(-1), expected, rtol=1e-10, atol=1e-12)


def ladder_pattern(rungs: int = 4, length: int = 5) -> tuple[sp.coo_matrix, int, np.ndarray]:
    """Two rails and rungs of chains between 2 * rungs junction unknowns (a sandwich-like
    network); chains of different lengths so that lanes pack several of them."""
    junctions = np.arange(2 * rungs)
    n = 2 * rungs
    links = []

    def chain(a: int, b: int, size: int) -> None:
        nonlocal n
        inner = list(range(n, n + size))
        n += size
        path = [a] + inner + [b]
        links.extend(zip(path[:-1], path[1:]))

    for k in range(rungs):
        chain(2 * k, 2 * k + 1, length + k % 3)                  # rung
        if k + 1 < rungs:
            chain(2 * k, 2 * k + 2, 2 + k % 2)                   # rails
            chain(2 * k + 1, 2 * k + 3, 3)
    pattern = sp.lil_matrix((n, n))
    for i in range(n):
        pattern[i, i] = 1
    for a, b in links:
        pattern[a, b] = pattern[b, a] = 1
    return pattern.tocoo(), n, junctions


@pytest.mark.parametrize("extra", [(), (3,)])
def test_many_junctions_match_dense_linear_algebra(extra):
    pattern, n, junctions = ladder_pattern()
    fields, batch = 2, 3
    solver = BatchedBlockSolver(pattern.row, pattern.col, n, fields, separators=junctions)
    assert solver.separators.size == junctions.size and solver.chains.n_lanes < 10  # 10 chains, packed
    rng = np.random.default_rng(13)
    data = rng.normal(size=(batch, pattern.nnz, fields, fields)) + 1j * rng.normal(size=(batch, pattern.nnz, fields, fields))
    data[:, pattern.row == pattern.col] += 6 * np.eye(fields)
    rhs = rng.normal(size=(batch, n, fields) + extra) + 1j * rng.normal(size=(batch, n, fields) + extra)
    lu = solver.factor(data)
    x = lu.solve(rhs)
    for e in range(batch):
        expected = np.linalg.solve(dense_matrix(pattern, data[e], n, fields), rhs[e].reshape(n * fields, -1))
        np.testing.assert_allclose(x[e].reshape(n * fields, -1), expected, rtol=1e-10, atol=1e-12)
    pick = np.array([2, 0])
    np.testing.assert_allclose(lu.subset(pick).solve(rhs[pick]), x[pick], rtol=1e-13)
