"""Batched direct solver for many sparse systems that share one sparsity pattern.

The spectral and kinetic equations give one sparse system per energy, all with the
pattern of the graph mesh. Handing scipy one block-diagonal matrix for 400 energies costs
~0.3 s per factorization; a Python loop over energies is slow too. Instead the loops run
over blocks of unknowns, and every operation inside is vectorized over the energies
(batched ``numpy.linalg.inv`` / ``matmul``):

* A wire is a chain of elements, so its unknowns, ordered by reverse Cuthill-McKee, form
  a block-tridiagonal matrix with blocks as small as one element's DOFs (block LU,
  pivoting inside the diagonal blocks).
* Junctions, where three or more wires meet, would widen the band of the whole network
  (every wire leaving a junction runs side by side in the RCM order: the house
  interferometer's blocks grow from 6 x 6 to 18 x 18, ten times the work). Their unknowns
  (``separators``) are therefore eliminated last: the wires without their junctions are
  independent chains, and the junction unknowns solve a small dense Schur complement.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import reverse_cuthill_mckee

MAX_SEPARATORS = 24
"""More separator unknowns than this are not split off (the dense Schur complement would
cost more than the band it saves); the whole matrix is then one banded system."""


class BatchedBlockSolver:
    """Factor and solve ``A_e x_e = b_e`` for a batch e of matrices with a common pattern.

    Parameters
    ----------
    rows, cols: the scalar sparsity pattern (unique entries) of an ``n x n`` matrix.
    n: number of scalar unknowns.
    fields: each scalar entry is a ``fields x fields`` block (coupled unknowns per DOF).
    separators: unknowns eliminated last through a dense Schur complement (the junctions
        of a wire network); the others should form chains. At most MAX_SEPARATORS are used.
    """

    def __init__(self, rows: np.ndarray, cols: np.ndarray, n: int, fields: int = 1,
                 separators: np.ndarray | None = None):
        rows, cols = np.asarray(rows), np.asarray(cols)
        self.n, self.fields = n, fields
        separators = np.unique(np.asarray([] if separators is None else separators, dtype=int))
        if separators.size > MAX_SEPARATORS:
            separators = separators[:0]
        self.separators = separators
        self.interior = np.setdiff1d(np.arange(n), separators)
        is_separator = np.zeros(n, dtype=bool)
        is_separator[separators] = True
        row_s, col_s = is_separator[rows], is_separator[cols]
        self._interior_entries = np.flatnonzero(~row_s & ~col_s)
        local = np.empty(n, dtype=int)
        local[self.interior] = np.arange(self.interior.size)
        local[separators] = np.arange(separators.size)
        self.chains = _BlockTridiagonalSolver(local[rows[self._interior_entries]],
                                              local[cols[self._interior_entries]], self.interior.size, fields)
        # couplings with the separators, as (entry, flat position) in dense per-energy arrays
        self._coupling = {}
        for name, select, shape in (("interior_separator", ~row_s & col_s, (self.interior.size, separators.size)),
                                    ("separator_interior", row_s & ~col_s, (separators.size, self.interior.size)),
                                    ("separator_separator", row_s & col_s, (separators.size, separators.size))):
            entries = np.flatnonzero(select)
            self._coupling[name] = (entries, _dense_positions(local[rows[entries]], local[cols[entries]],
                                                              shape, fields))

    @property
    def block_size(self) -> int:
        """Size of the diagonal blocks of the chains (the cost grows as its cube)."""
        return self.chains.block_size

    def factor(self, data: np.ndarray, batch_last: bool = False) -> "BlockLU":
        """Factor a batch of matrices given by their pattern entries.

        ``data`` has shape (batch, n_entries, fields, fields), or
        (n_entries, fields, fields, batch) with ``batch_last=True``.
        """
        if self.separators.size == 0:
            return BlockLU(self, self.chains.factor(data, batch_last))
        entries = data if batch_last else np.moveaxis(data, 0, -1)
        chains = self.chains.factor(entries[self._interior_entries], batch_last=True)
        batch, f = entries.shape[-1], self.fields
        n_i, m = self.interior.size * f, self.separators.size * f
        a_is = self._dense("interior_separator", entries, (batch, n_i, m))
        a_si = self._dense("separator_interior", entries, (batch, m, n_i))
        a_ss = self._dense("separator_separator", entries, (batch, m, m))
        # X = A_II^-1 A_IS, one right-hand side per separator unknown
        x = chains.solve(a_is.reshape(batch, self.interior.size, f, m)).reshape(batch, n_i, m)
        schur_inverse = np.linalg.inv(a_ss - a_si @ x)
        return BlockLU(self, chains, x, a_si, schur_inverse)

    def _dense(self, name: str, entries: np.ndarray, shape: tuple[int, int, int]) -> np.ndarray:
        which, positions = self._coupling[name]
        dense = np.zeros((shape[0], shape[1] * shape[2]), dtype=entries.dtype)
        dense[:, positions] = entries[which].reshape(-1, shape[0]).T
        return dense.reshape(shape)


def _dense_positions(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], fields: int) -> np.ndarray:
    """Flat index of every (entry, field_i, field_j) in a dense (shape * fields) matrix."""
    fi, fj = np.meshgrid(np.arange(fields), np.arange(fields), indexing="ij")
    r = rows[:, None, None] * fields + fi[None]
    c = cols[:, None, None] * fields + fj[None]
    return (r * shape[1] * fields + c).reshape(-1)


class BlockLU:
    """Factors of a batch of matrices (see :class:`BatchedBlockSolver`).

    With the chains' unknowns I and the separators S: ``chains`` factors A_II,
    ``coupling`` = A_II^-1 A_IS, ``separator_rows`` = A_SI and ``schur_inverse`` =
    (A_SS - A_SI A_II^-1 A_IS)^-1, all per matrix of the batch (None without separators).
    """

    def __init__(self, solver: BatchedBlockSolver, chains: "_ChainLU", coupling=None, separator_rows=None,
                 schur_inverse=None):
        self.solver, self.chains = solver, chains
        self.coupling, self.separator_rows, self.schur_inverse = coupling, separator_rows, schur_inverse

    def subset(self, index: np.ndarray) -> "BlockLU":
        """The factors of the matrices ``index`` of the batch (for solves on fewer systems)."""
        if self.schur_inverse is None:
            return BlockLU(self.solver, self.chains.subset(index))
        return BlockLU(self.solver, self.chains.subset(index), self.coupling[index], self.separator_rows[index],
                       self.schur_inverse[index])

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve for right-hand sides of shape (batch, n, fields) or (batch, n, fields, m)."""
        if self.schur_inverse is None:
            return self.chains.solve(rhs)
        sv = self.solver
        batch, extra = rhs.shape[0], rhs.shape[3:]
        y = self.chains.solve(rhs[:, sv.interior])
        y_flat = y.reshape(batch, -1, int(np.prod(extra, dtype=int)))
        r_s = rhs[:, sv.separators].reshape(batch, -1, y_flat.shape[-1])
        x_s = self.schur_inverse @ (r_s - self.separator_rows @ y_flat)
        x = np.empty((batch, sv.n, sv.fields) + extra, dtype=np.result_type(y, x_s))
        x[:, sv.interior] = (y_flat - self.coupling @ x_s).reshape(y.shape)
        x[:, sv.separators] = x_s.reshape((batch, sv.separators.size, sv.fields) + extra)
        return x


class _BlockTridiagonalSolver:
    """RCM ordering into a block-tridiagonal matrix and its batched block LU."""

    def __init__(self, rows: np.ndarray, cols: np.ndarray, n: int, fields: int):
        self.n, self.fields = n, fields
        pattern = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
        pattern = (pattern + pattern.T + sp.eye(n)).tocsr()
        order = reverse_cuthill_mckee(pattern, symmetric_mode=True)
        position = np.empty(n, dtype=int)
        position[order] = np.arange(n)
        self.position = position
        bandwidth = int(np.max(np.abs(position[rows] - position[cols]), initial=0))
        self.block_dofs = max(bandwidth, 1)
        self.n_blocks = max(-(-n // self.block_dofs), 1)
        self.block_size = self.block_dofs * fields
        self._buffers: dict[np.dtype, np.ndarray] = {}
        flat = self._scatter_indices(rows, cols)
        self._scatter_block, self._scatter_local = np.divmod(flat, self.block_size**2)

    def _scatter_indices(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Flat index of every (entry, field_i, field_j) in the stacked block arrays.

        The blocks are stored as one array (3, n_blocks, s, s): lower, diagonal, upper.
        """
        bd, f, s, nb = self.block_dofs, self.fields, self.block_size, self.n_blocks
        pr, pc = self.position[rows], self.position[cols]
        block_row, block_col = pr // bd, pc // bd
        band = block_col - block_row + 1  # 0 lower, 1 diagonal, 2 upper
        fi, fj = np.meshgrid(np.arange(f), np.arange(f), indexing="ij")
        local_row = (pr % bd)[:, None, None] * f + fi[None]
        local_col = (pc % bd)[:, None, None] * f + fj[None]
        flat = ((band[:, None, None] * nb + block_row[:, None, None]) * s + local_row) * s + local_col
        return flat.reshape(-1)

    def factor(self, data: np.ndarray, batch_last: bool = False) -> "_ChainLU":
        batch = data.shape[-1] if batch_last else data.shape[0]
        entries = data.reshape(-1, batch) if batch_last else data.reshape(batch, -1).T
        nb, s = self.n_blocks, self.block_size
        blocks = self._block_buffer(batch, data.dtype)
        blocks[self._scatter_block, :, self._scatter_local] = entries
        blocks = blocks.reshape(3, nb, batch, s, s)
        padding = nb * self.block_dofs - self.n
        if padding:
            pad = np.arange(s - padding * self.fields, s)
            blocks[1, -1][:, pad, pad] = 1.0
        return _ChainLU(self, blocks[0], blocks[1], blocks[2])

    def _block_buffer(self, batch: int, dtype) -> np.ndarray:
        """Zeroed storage (3 n_blocks, batch, s^2) for the blocks, reused between calls.

        Layout (band, block, batch, s, s): every block of the batch is contiguous for matmul.
        Entries outside the sparsity pattern are never written, so the buffer stays zero
        there; allocating and zeroing tens of MB for every Newton step was the main cost.
        A prefix of the batch axis of a larger buffer serves smaller batches.
        """
        buffer = self._buffers.get(np.dtype(dtype))
        if buffer is None or buffer.shape[1] < batch:
            buffer = np.zeros((3 * self.n_blocks, batch, self.block_size**2), dtype=dtype)
            self._buffers[np.dtype(dtype)] = buffer
        return buffer[:, :batch]


class _ChainLU:
    """Block-tridiagonal LU factors (block Thomas algorithm) of a batch of matrices.

    With diagonal blocks D_k, lower L_k (row block k, column block k-1) and upper U_k, the
    Schur complements are S_0 = D_0, S_k = D_k - L_k S_{k-1}^-1 U_{k-1}; stored are S_k^-1,
    S_k^-1 U_k and a copy of L_k (the input blocks live in a reused buffer).
    """

    def __init__(self, solver: _BlockTridiagonalSolver, lower, diagonal, upper):
        self.solver = solver
        self.inverse = np.empty(diagonal.shape, dtype=diagonal.dtype)
        self.backward = np.empty(upper.shape, dtype=upper.dtype)   # S_k^-1 U_k
        self.lower = lower.copy()
        schur = diagonal[0]
        for k in range(solver.n_blocks):
            if k > 0:
                schur = diagonal[k] - lower[k] @ self.backward[k - 1]
            self.inverse[k] = np.linalg.inv(schur)
            self.backward[k] = self.inverse[k] @ upper[k]

    def subset(self, index: np.ndarray) -> "_ChainLU":
        if index.size == self.inverse.shape[1] and np.array_equal(index, np.arange(index.size)):
            return self
        part = object.__new__(_ChainLU)
        part.solver = self.solver
        part.inverse = self.inverse[:, index]
        part.backward = self.backward[:, index]
        part.lower = self.lower[:, index]
        return part

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve for right-hand sides of shape (batch, n, fields) or (batch, n, fields, m)."""
        sv = self.solver
        extra = rhs.shape[3:]
        batch = rhs.shape[0]
        padded = np.zeros((batch, sv.n_blocks * sv.block_dofs, sv.fields) + extra,
                          dtype=np.result_type(rhs, self.inverse))
        padded[:, sv.position] = rhs
        z = np.ascontiguousarray(padded.reshape((batch, sv.n_blocks, sv.block_size, -1)).swapaxes(0, 1))
        z[0] = self.inverse[0] @ z[0]
        for k in range(1, sv.n_blocks):
            z[k] = self.inverse[k] @ (z[k] - self.lower[k] @ z[k - 1])
        for k in range(sv.n_blocks - 2, -1, -1):
            z[k] -= self.backward[k] @ z[k + 1]
        x = z.swapaxes(0, 1).reshape((batch, sv.n_blocks * sv.block_dofs, sv.fields) + extra)
        return x[:, sv.position]
