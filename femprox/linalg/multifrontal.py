"""Batched sparse LU by nested dissection (multifrontal), for the junctions of a network.

After the wires (chains) of a network are eliminated, the junction unknowns solve a Schur
complement S whose sparsity is that of the junction graph: two junctions are coupled when
a wire joins them. Dense, S costs m^2 memory and m^3 time per energy for m junctions (a
30 x 30 grid: 900 junctions, 5 GB for 100 energies). Nested dissection keeps it near
linear: the graph is split recursively by small separators (a BFS level in the middle of
the graph), the parts are eliminated before their separator, and every elimination is a
small dense "front" handled for all matrices of the batch at once (batched
``numpy.linalg.inv`` / ``matmul``). The ordering and all index maps are computed once per
sparsity pattern; the batch (energies) is the first axis of every numeric array.

Pivoting happens only inside each front's pivot block (as in the chains' block LU); the
systems here are the ones the chains' elimination leaves, which the block LU solves
reliably.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, shortest_path

LEAF_NODES = 24
"""Graphs with at most this many vertices are one dense front (no further dissection).
Below ~25 vertices (50 unknowns with two fields) one batched dense inverse beats several
small fronts, each a few numpy calls."""


@dataclass
class _Front:
    """One elimination step: pivot vertices ``own`` and the later vertices they couple to.

    ``own`` and ``border`` are vertex indices; ``children`` index earlier fronts whose update
    matrices are added into this one.
    """

    own: np.ndarray
    border: np.ndarray
    children: list[int]


def dissection_fronts(adjacency: sp.csr_matrix, leaf_nodes: int = LEAF_NODES) -> list[_Front]:
    """Fronts of a nested-dissection elimination of a symmetric graph, children first.

    Every part of at most ``leaf_nodes`` vertices (or that a BFS level cannot split) is one
    front; larger parts are split by the BFS level that halves them, which is eliminated
    after both halves. Parts are connected components, so no edge joins two fronts unless
    one is an ancestor of the other.
    """
    n = adjacency.shape[0]
    fronts: list[_Front] = []
    order: list[tuple[np.ndarray, list[int]]] = []  # (own vertices, child fronts), children first
    _dissect_all(adjacency, np.arange(n), leaf_nodes, order)
    rank = np.empty(n, dtype=int)
    position = 0
    for own, _ in order:
        rank[own] = np.arange(position, position + own.size)
        position += own.size
    for own, children in order:
        neighbours = np.unique(adjacency[own].indices)
        candidates = np.unique(np.concatenate([neighbours] + [fronts[c].border for c in children]))
        border = candidates[rank[candidates] > rank[own].max()]
        fronts.append(_Front(own=own, border=border[np.argsort(rank[border])], children=children))
    return fronts


def _components(adjacency: sp.csr_matrix, vertices: np.ndarray) -> list[np.ndarray]:
    """Connected components of the subgraph on ``vertices`` (as vertex index arrays)."""
    count, label = connected_components(adjacency[vertices][:, vertices], directed=False)
    return [vertices[label == c] for c in range(count)]


def _dissect_all(adjacency, vertices, leaf_nodes, order) -> list[int]:
    """Append the fronts of every connected part of ``vertices`` to ``order`` (children
    first); return the indices of the top fronts of the parts."""
    tops = []
    for part in _components(adjacency, vertices):
        tops.append(_dissect(adjacency, part, leaf_nodes, order))
    return tops


def _dissect(adjacency, part: np.ndarray, leaf_nodes: int, order) -> int:
    """Fronts of one connected part; returns the index of its top front."""
    separator = _middle_level(adjacency, part) if part.size > leaf_nodes else None
    if separator is None:
        order.append((np.sort(part), []))
        return len(order) - 1
    rest = np.setdiff1d(part, separator)
    children = _dissect_all(adjacency, rest, leaf_nodes, order)
    order.append((np.sort(separator), children))
    return len(order) - 1


def _middle_level(adjacency, part: np.ndarray) -> np.ndarray | None:
    """The BFS level (from a pseudo-peripheral vertex) that splits ``part`` in halves, or None
    if the part is too compact for a level to separate it usefully."""
    local = adjacency[part][:, part].tocsr()
    start = 0
    for _ in range(3):  # a few sweeps toward a vertex far from the others
        levels = _bfs_levels(local, start)
        start = int(np.flatnonzero(levels == levels.max())[0])
    levels = _bfs_levels(local, start)
    depth = int(levels.max())
    if depth < 2:
        return None
    counts = np.bincount(levels)
    below = np.cumsum(counts)
    middle = int(np.clip(np.searchsorted(below, part.size / 2), 1, depth - 1))
    separator = part[levels == middle]
    if separator.size > 0.5 * part.size:
        return None
    return separator


def _bfs_levels(adjacency: sp.csr_matrix, start: int) -> np.ndarray:
    """Distance (in edges) of every vertex from ``start`` in a connected graph."""
    return shortest_path(adjacency, method="D", unweighted=True, directed=False, indices=start).astype(int)


class MultifrontalSolver:
    """Factor and solve a batch of sparse matrices with ``fields x fields`` blocks.

    Parameters
    ----------
    rows, cols: block sparsity pattern (vertex pairs, unique) of an ``n x n`` block matrix;
        entries outside it are zero. The pattern need not be symmetric.
    n: number of vertices (block rows).
    fields: size of each block.
    """

    def __init__(self, rows: np.ndarray, cols: np.ndarray, n: int, fields: int,
                 leaf_nodes: int = LEAF_NODES):
        self.n, self.fields = n, fields
        rows, cols = np.asarray(rows, dtype=int), np.asarray(cols, dtype=int)
        if np.unique(rows * n + cols).size != rows.size:
            raise ValueError("the pattern must list every (row, col) pair once")
        adjacency = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
        adjacency = (adjacency + adjacency.T).tocsr()
        self.fronts = dissection_fronts(adjacency, leaf_nodes)
        self._unknowns = [self._scalar(np.concatenate([f.own, f.border])) for f in self.fronts]
        self._assembly = self._assembly_maps(rows, cols)
        # flat positions (in the parent's front) of every entry of a child's update matrix
        self._extend_add = [[self._flat(self._positions(self.fronts[c].border, t), self._unknowns[t].size)
                             for c in f.children] for t, f in enumerate(self.fronts)]

    @staticmethod
    def _flat(place: np.ndarray, size: int) -> np.ndarray:
        """Flat indices in a (size x size) array of the rows and columns ``place``."""
        return (place[:, None] * size + place[None, :]).reshape(-1)

    def _scalar(self, vertices: np.ndarray) -> np.ndarray:
        """Scalar unknowns (vertex * fields + field) of vertices, vertex-major."""
        return (vertices[:, None] * self.fields + np.arange(self.fields)[None, :]).reshape(-1)

    def _positions(self, vertices: np.ndarray, front: int) -> np.ndarray:
        """Scalar positions of ``vertices`` inside the front ``front`` (own, then border)."""
        f = self.fronts[front]
        members = np.concatenate([f.own, f.border])
        place = np.empty(self.n, dtype=int)
        place[members] = np.arange(members.size)
        return (place[vertices][:, None] * self.fields + np.arange(self.fields)[None, :]).reshape(-1)

    def _assembly_maps(self, rows: np.ndarray, cols: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per front: (pattern entries it receives, flat positions of their f x f blocks).

        An entry (i, j) belongs to the front that eliminates the earlier of i and j; the
        other vertex is then in that front's own or border set.
        """
        f = self.fields
        front_of = np.empty(self.n, dtype=int)
        rank = np.empty(self.n, dtype=int)
        position = 0
        for t, front in enumerate(self.fronts):
            front_of[front.own] = t
            rank[front.own] = np.arange(position, position + front.own.size)
            position += front.own.size
        owner = np.where(rank[rows] <= rank[cols], front_of[rows], front_of[cols])
        fi, fj = np.meshgrid(np.arange(f), np.arange(f), indexing="ij")
        maps = []
        for t in range(len(self.fronts)):
            entries = np.flatnonzero(owner == t)
            size = self._unknowns[t].size
            r = self._positions(rows[entries], t).reshape(-1, f)[:, :, None] + 0 * fj[None]
            c = self._positions(cols[entries], t).reshape(-1, f)[:, None, :] + 0 * fi[None]
            maps.append((entries, (r * size + c).reshape(-1)))
        return maps

    def bytes_per_matrix(self, itemsize: int = 16) -> int:
        """Memory of the factors of one matrix of the batch (the fronts' dense blocks)."""
        return itemsize * sum(u.size**2 for u in self._unknowns)

    def factor(self, entries: np.ndarray) -> "MultifrontalLU":
        """Factor a batch given by its pattern entries, shape (batch, n_entries, fields, fields)."""
        batch = entries.shape[0]
        flat = entries.reshape(batch, -1, self.fields**2)
        updates: list[np.ndarray | None] = [None] * len(self.fronts)
        factors = []
        for t, front in enumerate(self.fronts):
            size = self._unknowns[t].size
            k = front.own.size * self.fields
            dense = np.zeros((batch, size * size), dtype=entries.dtype)
            selected, positions = self._assembly[t]
            dense[:, positions] = flat[:, selected].reshape(batch, -1)
            for child, place in zip(front.children, self._extend_add[t]):
                # children's borders do not overlap within a child: a plain indexed add is exact
                dense[:, place] += updates[child].reshape(batch, -1)
                updates[child] = None
            dense = dense.reshape(batch, size, size)
            pivot_inverse = np.linalg.inv(dense[:, :k, :k])
            upper = pivot_inverse @ dense[:, :k, k:]          # F11^-1 F12
            lower = dense[:, k:, :k].copy()                    # F21
            updates[t] = dense[:, k:, k:] - lower @ upper
            factors.append((pivot_inverse, upper, lower))
        return MultifrontalLU(self, factors)


class MultifrontalLU:
    """Factors of a batch (see :class:`MultifrontalSolver`): per front F11^-1, F11^-1 F12, F21."""

    def __init__(self, solver: MultifrontalSolver, factors: list[tuple[np.ndarray, np.ndarray, np.ndarray]]):
        self.solver, self.factors = solver, factors

    def subset(self, index: np.ndarray) -> "MultifrontalLU":
        """The factors of the matrices ``index`` of the batch."""
        return MultifrontalLU(self.solver, [tuple(a[index] for a in front) for front in self.factors])

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve for right-hand sides (batch, n * fields, columns)."""
        sv = self.solver
        z = rhs.astype(np.result_type(rhs, self.factors[0][0]) if self.factors else rhs.dtype, copy=True)
        for t, (inverse, _, lower) in enumerate(self.factors):   # forward, children first
            unknowns, k = sv._unknowns[t], sv.fronts[t].own.size * sv.fields
            own = inverse @ z[:, unknowns[:k]]
            z[:, unknowns[:k]] = own
            if k < unknowns.size:
                z[:, unknowns[k:]] -= lower @ own
        for t in range(len(self.factors) - 1, -1, -1):              # backward, parents first
            unknowns, k = sv._unknowns[t], sv.fronts[t].own.size * sv.fields
            if k < unknowns.size:
                z[:, unknowns[:k]] -= self.factors[t][1] @ z[:, unknowns[k:]]
        return z
