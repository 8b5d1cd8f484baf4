"""Batched block-tridiagonal solver against dense solves."""

import numpy as np
import pytest
import scipy.sparse as sp

from femprox.linalg.block import BatchedBlockSolver


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


def assert_solves_like_dense(lu, pattern, data, n, fields, rhs, pick) -> np.ndarray:
    """The factors' solutions (two right-hand sides, one, and a subset of the batch) against
    dense linear algebra; returns the solutions of ``rhs``."""
    x = lu.solve(rhs)
    for e in range(rhs.shape[0]):
        expected = np.linalg.solve(dense_matrix(pattern, data[e], n, fields), rhs[e].reshape(n * fields, 2))
        np.testing.assert_allclose(x[e].reshape(n * fields, 2), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lu.solve(rhs[..., 0]), x[..., 0], rtol=1e-13)
    np.testing.assert_allclose(lu.subset(pick).solve(rhs[pick]), x[pick], rtol=1e-13)
    return x


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
    assert_solves_like_dense(lu, pattern, data, n, fields, rhs, np.array([3, 1]))


def test_chains_of_different_lengths_share_lanes():
    # split at the junction: chains of 12, 7, 5, 4 and 3 unknowns; the short ones are packed
    # end to end into lanes, the rest of a lane is padding. Lanes as long as the longest
    # chain (12) need three ([12], [7, 5], [4, 3]: cost 12 x 3.5 in the model of
    # _lane_length); lanes of 16 need two ([12, 4], [7, 5, 3]: cost 16 x 2.5), and win
    pattern, n = star_pattern(arms=5, length=[12, 7, 5, 4, 3])
    solver = BatchedBlockSolver(pattern.row, pattern.col, n, 2, separators=[0])
    assert (solver.chains.n_lanes, solver.chains.n_blocks) == (2, 16)
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


# -- any sparsity pattern: junction graphs of every shape, barrier couplings -----------------

def random_entries(pattern_rows, pattern_cols, batch, fields, rng, dominance=None):
    """Random complex entries, diagonally dominant (the block LU pivots only inside blocks:
    dominance keeps every pivot block well conditioned, as the Usadel Jacobians' are)."""
    data = rng.normal(size=(batch, pattern_rows.size, fields, fields)) \
        + 1j * rng.normal(size=(batch, pattern_rows.size, fields, fields))
    degree = np.bincount(pattern_rows, minlength=pattern_rows.max() + 1)
    boost = (2.0 * fields * degree[pattern_rows] + 2.0) if dominance is None else dominance
    diagonal = pattern_rows == pattern_cols
    data[:, diagonal] += (boost * np.ones(pattern_rows.size))[diagonal, None, None] * np.eye(fields)
    return data


def assert_matches_dense(solver, rows, cols, n, fields, rng, batch=3, extra=(2,)):
    """Factor, solve and compare with dense solves; also 3-index right-hand sides and subsets."""
    data = random_entries(rows, cols, batch, fields, rng)
    lu = solver.factor(data)
    rhs = rng.normal(size=(batch, n, fields) + extra) + 1j * rng.normal(size=(batch, n, fields) + extra)
    x = lu.solve(rhs)
    fi, fj = np.meshgrid(np.arange(fields), np.arange(fields), indexing="ij")
    dense_rows = (rows[:, None, None] * fields + fi).reshape(-1)
    dense_cols = (cols[:, None, None] * fields + fj).reshape(-1)
    for e in range(batch):
        dense = np.zeros((n * fields, n * fields), dtype=complex)
        np.add.at(dense, (dense_rows, dense_cols), data[e].reshape(-1))
        expected = np.linalg.solve(dense, rhs[e].reshape(n * fields, -1))
        # diagonally dominant, condition number O(10): agreement to rounding times the size
        np.testing.assert_allclose(x[e].reshape(n * fields, -1), expected, rtol=1e-10, atol=1e-12)
    pick = np.array([batch - 1, 0])
    np.testing.assert_allclose(lu.subset(pick).solve(rhs[pick]), x[pick], rtol=1e-12, atol=1e-14)


def network_pattern(edges, n_junctions: int, chain_length, rng=None, barriers=()):
    """Scalar pattern of a wire network: junction unknowns 0..n_junctions-1, every edge (a, b)
    a chain of ``chain_length`` unknowns from a to b (tridiagonal, like P1 elements).

    ``barriers``: junctions whose wire ends get their own unknown, coupled to the junction
    unknown by a point term only (a Kupriyanov-Lukichev interface): the chain then starts at
    that end unknown, which shares no element with the junction.
    """
    links, n = [], n_junctions
    for a, b in edges:
        size = chain_length if rng is None else int(rng.integers(1, chain_length + 1))
        path = [a] + list(range(n, n + size)) + [b]
        n += size
        for end, position in ((a, 0), (b, -1)):
            if end in barriers:  # a separate end unknown between the chain and the junction
                links.append((end, n))
                path.insert(1 if position == 0 else len(path) - 1, n)
                path.pop(0 if position == 0 else -1)
                n += 1
        links.extend(zip(path[:-1], path[1:]))
    pairs = {(i, i) for i in range(n)} | {(a, b) for a, b in links} | {(b, a) for a, b in links}
    rows, cols = np.array(sorted(pairs)).T
    return rows, cols, n


def grid_edges(width: int, height: int):
    index = np.arange(width * height).reshape(height, width)
    return [(int(a), int(b)) for a, b in zip(index[:, :-1].ravel(), index[:, 1:].ravel())] + \
           [(int(a), int(b)) for a, b in zip(index[:-1].ravel(), index[1:].ravel())]


def random_graph_edges(n: int, extra: int, rng):
    """A random spanning tree plus ``extra`` random edges (loops), no self-loops or repeats."""
    edges = {(int(rng.integers(0, k)), k) for k in range(1, n)}
    while len(edges) < n - 1 + extra:
        a, b = sorted(rng.choice(n, 2, replace=False).tolist())
        edges.add((a, b))
    return sorted(edges)


NETWORKS = {
    "grid 9x7": lambda rng: (grid_edges(9, 7), 63),
    "tree": lambda rng: ([(int(rng.integers(0, k)), k) for k in range(1, 70)], 70),
    "ladder": lambda rng: ([(k, k + 2) for k in range(0, 58)] + [(2 * k, 2 * k + 1) for k in range(30)], 60),
    "random loops": lambda rng: (random_graph_edges(80, 40, rng), 80),
}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_networks_with_many_junctions_match_dense(name):
    rng = np.random.default_rng(17)
    edges, junctions = NETWORKS[name](rng)
    rows, cols, n = network_pattern(edges, junctions, 2, rng)
    solver = BatchedBlockSolver(rows, cols, n, 2, separators=np.arange(junctions))
    assert solver.block_size == 2  # every chain a band of single unknowns, nothing dense
    assert len(solver.schur.fronts) > 1  # above one leaf: the junctions are dissected
    assert_matches_dense(solver, rows, cols, n, 2, rng)


def test_junction_fronts_stay_small_on_a_grid():
    # nested dissection of a 30 x 30 junction grid: the largest front (top separator and
    # its border) grows like the grid's width, not like the 900 junctions
    from femprox.linalg.multifrontal import MultifrontalSolver

    edges = grid_edges(30, 30)
    rows = np.array([a for a, b in edges] + [b for a, b in edges] + list(range(900)))
    cols = np.array([b for a, b in edges] + [a for a, b in edges] + list(range(900)))
    solver = MultifrontalSolver(rows, cols, 900, 2)
    largest = max(f.own.size + f.border.size for f in solver.fronts)
    assert largest <= 4 * 30
    assert solver.bytes_per_matrix() < 0.1 * (900 * 2) ** 2 * 16  # < 10% of the dense matrix


@pytest.mark.parametrize("separators", ["none", "junctions", "junctions and ends"])
def test_barrier_couplings_match_dense(separators):
    # a grid whose junctions 0, 4 and 10 have all their wire ends behind barriers, and
    # junction 7 one end: end unknowns coupled to a junction only by a point term
    rng = np.random.default_rng(19)
    rows, cols, n = network_pattern(grid_edges(4, 4), 16, 3, rng, barriers=(0, 4, 10))
    extra = network_pattern([(7, 11)], 16, 2, barriers=(7,))  # one more wire, barrier at 7
    offset = n - 16
    shift = lambda v: np.where(v >= 16, v + offset, v)  # noqa: E731
    rows, cols = np.concatenate([rows, shift(extra[0])]), np.concatenate([cols, shift(extra[1])])
    keep = np.unique(rows * (n + 10) + cols, return_index=True)[1]
    rows, cols, n = rows[keep], cols[keep], extra[2] + offset
    degree = np.bincount(rows, minlength=n)
    chosen = {"none": [], "junctions": np.arange(16),
              "junctions and ends": np.concatenate([np.arange(16), np.flatnonzero(degree == 3)])}[separators]
    solver = BatchedBlockSolver(rows, cols, n, 2, separators=chosen)
    assert_matches_dense(solver, rows, cols, n, 2, rng, extra=())


def test_separators_only_and_adjacent_separators():
    # every unknown a separator (no chains left), and separators coupled directly
    rng = np.random.default_rng(23)
    rows, cols, n = network_pattern(grid_edges(5, 6), 30, 1)
    solver = BatchedBlockSolver(rows, cols, n, 1, separators=np.arange(n))
    assert_matches_dense(solver, rows, cols, n, 1, rng)
    solver = BatchedBlockSolver(rows, cols, n, 2, separators=np.arange(0, n, 2))
    assert_matches_dense(solver, rows, cols, n, 2, rng)


def test_unsymmetric_pattern_matches_dense():
    # an entry (i, j) without (j, i): the orderings use the symmetrized pattern
    rng = np.random.default_rng(29)
    rows, cols, n = network_pattern(random_graph_edges(40, 15, rng), 40, 3, rng)
    drop = (rows > cols) & (rng.random(rows.size) < 0.3)
    rows, cols = rows[~drop], cols[~drop]
    solver = BatchedBlockSolver(rows, cols, n, 2, separators=np.arange(40))
    assert_matches_dense(solver, rows, cols, n, 2, rng)


def test_lane_length_trades_padding_against_loop_steps():
    from femprox.linalg.block import _lane_length

    # the T-junction's chains: lanes of 10 need three (30 block steps, 8 of padding), lanes
    # of 12 two (24 block steps)
    assert _lane_length(np.array([10, 6, 6])) == 12
    # equal chains cannot share a lane without doubling the loop: keep the longest
    assert _lane_length(np.full(8, 12)) == 12
    assert _lane_length(np.array([5])) == 5


# -- static condensation ---------------------------------------------------------------------

def element_chain_pattern(elements: list[int], order: int) -> tuple[sp.coo_matrix, int, np.ndarray]:
    """Wires of P``order`` elements meeting at one junction (unknown 0), like a star-shaped
    network: every element couples its two end unknowns and its order - 1 bubbles fully.
    Returns the pattern, the number of unknowns and the bubble unknowns."""
    couplings, bubbles, n = [], [], 1
    for count in elements:
        ends = [0] + list(range(n, n + count))  # the junction, then the wire's vertices
        n += count
        for k in range(count):
            inner = list(range(n, n + order - 1))
            n += order - 1
            bubbles += inner
            dofs = [ends[k], ends[k + 1]] + inner
            couplings += [(i, j) for i in dofs for j in dofs]
    rows, cols = np.array(sorted(set(couplings))).T
    return sp.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n)), n, np.array(bubbles)


def test_condensable_groups_are_the_element_bubbles():
    from femprox.linalg.block import condensable_groups

    pattern, n, bubbles = element_chain_pattern([4, 3], order=3)
    groups = condensable_groups(pattern.row, pattern.col, n, separators=[0])
    condensed = np.sort(np.concatenate([g for g, _ in groups]))
    # the bubbles, and the free end vertices (their element's bubbles share their neighbours)
    assert set(bubbles) <= set(condensed) and 0 not in condensed
    assert condensed.size == bubbles.size + 2
    for group, boundary in groups:
        assert boundary.size in (1, 2)  # an element's end unknowns (one at a free end)
    # P1 chains: no interior unknown can go without fill-in, only the free ends
    pattern, n, _ = element_chain_pattern([5, 5], order=1)
    assert sum(g.size for g, _ in condensable_groups(pattern.row, pattern.col, n, separators=[0])) == 2


@pytest.mark.parametrize("order", [2, 3, 4])
@pytest.mark.parametrize("batch_last", [False, True])
def test_condensed_solver_matches_dense_linear_algebra(order, batch_last):
    from femprox.linalg.block import CondensedBlockSolver, block_solver

    pattern, n, _ = element_chain_pattern([4, 3, 5], order=order)
    solver = block_solver(pattern.row, pattern.col, n, 2, separators=[0])
    assert isinstance(solver, CondensedBlockSolver) and solver.block_size == 2  # vertex chains left
    rng = np.random.default_rng(order)
    batch = 4
    data = rng.normal(size=(batch, pattern.nnz, 2, 2)) + 1j * rng.normal(size=(batch, pattern.nnz, 2, 2))
    data[:, pattern.row == pattern.col] += 8 * np.eye(2)
    lu = solver.factor(np.moveaxis(data, 0, -1) if batch_last else data, batch_last=batch_last)
    rhs = rng.normal(size=(batch, n, 2, 3)) + 1j * rng.normal(size=(batch, n, 2, 3))
    x = lu.solve(rhs)
    for e in range(batch):
        expected = np.linalg.solve(dense_matrix(pattern, data[e], n, 2), rhs[e].reshape(n * 2, 3))
        # well-conditioned random matrices: agreement to a few ulps times the size
        np.testing.assert_allclose(x[e].reshape(n * 2, 3), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lu.solve(rhs[..., 0]), x[..., 0], rtol=1e-13)
    pick = np.array([2, 0])
    np.testing.assert_allclose(lu.subset(pick).solve(rhs[pick]), x[pick], rtol=1e-13)
    assert solver.bytes_per_matrix() > 0


@pytest.mark.parametrize("batch_last", [False, True])
def test_condensation_pads_groups_with_fewer_boundary_unknowns(batch_last):
    # element bubbles next to a Dirichlet end (removed from the system) have one boundary
    # unknown, the others two: one class of groups with the missing boundary padded
    from femprox.linalg.block import CondensedBlockSolver, block_solver

    full, n_full, _ = element_chain_pattern([5, 4], order=4)
    keep = (full.row > 0) & (full.col > 0)   # unknown 0 (where both chains start) is Dirichlet
    pattern = sp.coo_matrix((full.data[keep], (full.row[keep] - 1, full.col[keep] - 1)), shape=(n_full - 1,) * 2)
    n = n_full - 1
    solver = block_solver(pattern.row, pattern.col, n, 2)
    assert isinstance(solver, CondensedBlockSolver)
    padded = [c for c in solver.classes if c["columns"] is not None]
    assert len(padded) == 1 and padded[0]["groups"].shape == (7, 3)  # 2 next to unknown 0, 5 inside
    rng = np.random.default_rng(4)
    batch = 3
    data = rng.normal(size=(batch, pattern.nnz, 2, 2)) + 1j * rng.normal(size=(batch, pattern.nnz, 2, 2))
    data[:, pattern.row == pattern.col] += 8 * np.eye(2)
    rhs = rng.normal(size=(batch, n, 2, 2)) + 1j * rng.normal(size=(batch, n, 2, 2))
    x = solver.factor(np.moveaxis(data, 0, -1) if batch_last else data, batch_last=batch_last).solve(rhs)
    for e in range(batch):
        expected = np.linalg.solve(dense_matrix(pattern, data[e], n, 2), rhs[e].reshape(n * 2, 2))
        np.testing.assert_allclose(x[e].reshape(n * 2, 2), expected, rtol=1e-10, atol=1e-12)


def test_p1_chains_keep_the_plain_solver():
    from femprox.linalg.block import block_solver

    pattern, n, _ = element_chain_pattern([6, 6], order=1)
    assert isinstance(block_solver(pattern.row, pattern.col, n, 2, separators=[0]), BatchedBlockSolver)


def test_condensed_solver_with_a_one_sided_pattern():
    # couplings present in one direction only (a bubble row without one of its vertex columns):
    # the missing entries are zeros of the group blocks, not errors
    from femprox.linalg.block import CondensedBlockSolver, block_solver

    full, n, bubbles = element_chain_pattern([3, 4], order=3)
    keep = ~(np.isin(full.row, bubbles[::3]) & ~np.isin(full.col, bubbles) & (full.col != full.row))
    pattern = sp.coo_matrix((full.data[keep], (full.row[keep], full.col[keep])), shape=full.shape)
    solver = block_solver(pattern.row, pattern.col, n, 2, separators=[0])
    assert isinstance(solver, CondensedBlockSolver) and solver._outside_pattern
    rng = np.random.default_rng(9)
    data = rng.normal(size=(3, pattern.nnz, 2, 2)) + 1j * rng.normal(size=(3, pattern.nnz, 2, 2))
    data[:, pattern.row == pattern.col] += 8 * np.eye(2)
    rhs = rng.normal(size=(3, n, 2)) + 0j
    x = solver.factor(data).solve(rhs)
    for e in range(3):
        expected = np.linalg.solve(dense_matrix(pattern, data[e], n, 2), rhs[e].reshape(-1))
        np.testing.assert_allclose(x[e].reshape(-1), expected, rtol=1e-10, atol=1e-12)


def test_closed_form_inverse_of_2x2_blocks():
    from femprox.linalg.block import _inverse

    rng = np.random.default_rng(4)
    blocks = rng.normal(size=(7, 3, 2, 2)) + 1j * rng.normal(size=(7, 3, 2, 2))
    # the adjugate formula against LAPACK: both exact up to round-off of well-conditioned blocks
    np.testing.assert_allclose(_inverse(blocks), np.linalg.inv(blocks), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(_inverse(blocks.real), np.linalg.inv(blocks.real), rtol=1e-12, atol=1e-14)
    larger = rng.normal(size=(4, 3, 3))
    np.testing.assert_allclose(_inverse(larger), np.linalg.inv(larger), rtol=1e-12)
    with np.errstate(divide="ignore", invalid="ignore"):
        singular = _inverse(np.array([[[1.0, 2.0], [2.0, 4.0]]]))
    assert not np.all(np.isfinite(singular))  # Newton then reports a singular Jacobian


def test_block_solver_reuses_the_analysis_of_a_pattern_with_its_own_buffers():
    # a sweep solves one pattern many times: the analysis is kept, the work buffers are not
    # shared (threads factor on their own copies), and a different pattern of the same size
    # gets its own analysis
    from femprox.linalg.block import _SOLVER_CACHE, block_solver

    pattern, n, _ = element_chain_pattern([4, 3, 5], order=3)
    first = block_solver(pattern.row, pattern.col, n, 2, separators=[0])
    second = block_solver(pattern.row, pattern.col, n, 2, separators=[0])
    assert first is not second and first.classes is second.classes  # one analysis
    assert first.reduced.chains._buffers is not second.reduced.chains._buffers
    rng = np.random.default_rng(11)
    data = [rng.normal(size=(3, pattern.nnz, 2, 2)) + 8 * np.eye(2) * (pattern.row == pattern.col)[None, :, None, None]
            for _ in range(2)]
    rhs = rng.normal(size=(3, n, 2))
    # factor both before solving: factors must not live in a buffer the other copy overwrites
    lus = [first.factor(data[0]), second.factor(data[1])]
    for lu, matrices in zip(lus, data):
        for e in range(3):
            expected = np.linalg.solve(dense_matrix(pattern, matrices[e], n, 2), rhs[e].reshape(-1))
            np.testing.assert_allclose(lu.solve(rhs)[e].reshape(-1), expected, rtol=1e-10, atol=1e-12)
    other = block_solver(pattern.row, pattern.col, n, 2)  # same pattern, no separators
    assert first.separators.tolist() == [0] and other.separators.size == 0
    assert len(_SOLVER_CACHE) >= 2


def test_block_solver_cache_is_bounded_by_unknowns():
    # large patterns are not kept: a process that moves on must not hold their analysis
    from femprox.linalg import block as linalg

    pattern, n, _ = element_chain_pattern([4, 3, 5], order=3)
    old = linalg.SOLVER_CACHE_UNKNOWNS
    try:
        linalg.SOLVER_CACHE_UNKNOWNS = n - 1
        linalg.block_solver(pattern.row, pattern.col, n, 2, separators=[0])
        assert all(solver.n < n for solver in linalg._SOLVER_CACHE.values())
    finally:
        linalg.SOLVER_CACHE_UNKNOWNS = old


@pytest.mark.parametrize("batch_last", [False, True])
def test_small_systems_in_small_batches_are_solved_densely(batch_last, monkeypatch):
    # Two arms of 4 unknowns at a junction, 2 fields: 18 unknowns, as the condensed house of
    # Fig. 4. Up to DENSE_WORK (batch x 18^3 <= 2.5e5: 42 systems) the whole matrices are
    # inverted; the block path (DENSE_WORK = 0) and dense linear algebra give the same
    # solutions to rounding (well-conditioned matrices)
    from femprox.linalg import block

    pattern, n = star_pattern(arms=2, length=4)
    fields, batch = 2, 3
    rng = np.random.default_rng(11)
    data = rng.normal(size=(batch, pattern.nnz, fields, fields)) + 1j * rng.normal(size=(batch, pattern.nnz, fields, fields))
    data[:, pattern.row == pattern.col] += 6 * np.eye(fields)
    solver = BatchedBlockSolver(pattern.row, pattern.col, n, fields, separators=np.array([0]))
    given = np.moveaxis(data, 0, -1) if batch_last else data
    lu = solver.factor(given, batch_last=batch_last)
    assert isinstance(lu, block.DenseLU)
    rhs = rng.normal(size=(batch, n, fields, 2)) + 1j * rng.normal(size=(batch, n, fields, 2))
    x = assert_solves_like_dense(lu, pattern, data, n, fields, rhs, np.array([2, 0]))
    monkeypatch.setattr(block, "DENSE_WORK", 0)
    blocked = solver.factor(given, batch_last=batch_last)
    assert isinstance(blocked, block.BlockLU)
    np.testing.assert_allclose(blocked.solve(rhs), x, rtol=1e-10, atol=1e-12)


def test_large_batches_and_singular_systems_take_the_block_path():
    # beyond DENSE_WORK the chains and Schur steps are cheaper; a singular matrix in the batch
    # (np.linalg.inv would raise for all) goes to the block path, which marks it with inf/NaN
    from femprox.linalg import block

    pattern, n = star_pattern(arms=2, length=4)
    rng = np.random.default_rng(12)
    solver = BatchedBlockSolver(pattern.row, pattern.col, n, 2, separators=np.array([0]))
    many = 1 + block.DENSE_WORK // (2 * n) ** 3
    data = rng.normal(size=(many, pattern.nnz, 2, 2)) + 6 * (pattern.row == pattern.col)[None, :, None, None] * np.eye(2)
    assert isinstance(solver.factor(data), block.BlockLU)
    singular = data[:2].copy()
    singular[1] = 0.0
    with np.errstate(all="ignore"):  # as in Newton, which reports the non-finite step
        lu = solver.factor(singular)
        x = lu.solve(np.ones((2, n, 2)))
    assert isinstance(lu, block.BlockLU)
    assert np.all(np.isfinite(x[0])) and not np.all(np.isfinite(x[1]))
