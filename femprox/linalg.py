"""Batched direct solver for many sparse systems that share one sparsity pattern.

The spectral and kinetic equations give one sparse system per energy, all with the
pattern of the graph mesh. Handing scipy one block-diagonal matrix for 400 energies costs
~0.3 s per factorization; a Python loop over energies is slow too. Instead the DOFs are
reordered by reverse Cuthill-McKee (a wire network is nearly a chain, so the bandwidth is
small) and grouped into blocks of ``bandwidth`` DOFs, which makes every matrix block
tridiagonal. Block LU then runs a Python loop over the *blocks* while every operation is
vectorized over the energies (batched ``numpy.linalg.inv`` / ``matmul``); pivoting happens
inside the diagonal blocks.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import reverse_cuthill_mckee


class BatchedBlockSolver:
    """Factor and solve ``A_e x_e = b_e`` for a batch e of matrices with a common pattern.

    Parameters
    ----------
    rows, cols: the scalar sparsity pattern (unique entries) of an ``n x n`` matrix.
    n: number of scalar unknowns.
    fields: each scalar entry is a ``fields x fields`` block (coupled unknowns per DOF).
    """

    def __init__(self, rows: np.ndarray, cols: np.ndarray, n: int, fields: int = 1):
        self.n, self.fields = n, fields
        pattern = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
        pattern = (pattern + pattern.T + sp.eye(n)).tocsr()
        order = reverse_cuthill_mckee(pattern, symmetric_mode=True)
        position = np.empty(n, dtype=int)
        position[order] = np.arange(n)
        self.position = position
        bandwidth = int(np.max(np.abs(position[rows] - position[cols]), initial=0))
        self.block_dofs = max(bandwidth, 1)
        self.n_blocks = -(-n // self.block_dofs)
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

    def factor(self, data: np.ndarray, batch_last: bool = False) -> "BlockLU":
        """Factor a batch of matrices given by their pattern entries.

        ``data`` has shape (batch, n_entries, fields, fields), or
        (n_entries, fields, fields, batch) with ``batch_last=True``.
        """
        batch = data.shape[-1] if batch_last else data.shape[0]
        entries = data.reshape(-1, batch) if batch_last else data.reshape(batch, -1).T
        nb, s = self.n_blocks, self.block_size
        blocks = self._block_buffer(batch, data.dtype)
        blocks[self._scatter_block, :, self._scatter_local] = entries
        blocks = blocks.reshape(3, nb, batch, s, s)
        lower, diagonal, upper = blocks[0], blocks[1], blocks[2]
        padding = nb * self.block_dofs - self.n
        if padding:
            pad = np.arange(s - padding * self.fields, s)
            diagonal[-1][:, pad, pad] = 1.0
        return BlockLU(self, lower, diagonal, upper)

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


class BlockLU:
    """Block-tridiagonal LU factors of a batch of matrices (see :class:`BatchedBlockSolver`).

    With diagonal blocks D_k, lower L_k (row block k, column block k-1) and upper U_k, the
    Schur complements are S_0 = D_0, S_k = D_k - L_k S_{k-1}^-1 U_{k-1}; stored are S_k^-1,
    L_k S_{k-1}^-1 and S_k^-1 U_k (new arrays: the input blocks live in a reused buffer).
    """

    def __init__(self, solver: BatchedBlockSolver, lower, diagonal, upper):
        self.solver = solver
        self.inverse = np.empty(diagonal.shape, dtype=diagonal.dtype)
        self.forward = np.empty(lower.shape, dtype=lower.dtype)    # L_k S_{k-1}^-1
        self.backward = np.empty(upper.shape, dtype=upper.dtype)   # S_k^-1 U_k
        schur = diagonal[0]
        for k in range(solver.n_blocks):
            if k > 0:
                self.forward[k] = lower[k] @ self.inverse[k - 1]
                schur = diagonal[k] - self.forward[k] @ upper[k - 1]
            self.inverse[k] = np.linalg.inv(schur)
            self.backward[k] = self.inverse[k] @ upper[k]

    def subset(self, index: np.ndarray) -> "BlockLU":
        """The factors of the matrices ``index`` of the batch (for solves on fewer systems)."""
        if index.size == self.inverse.shape[1] and np.array_equal(index, np.arange(index.size)):
            return self
        part = object.__new__(BlockLU)
        part.solver = self.solver
        part.inverse = self.inverse[:, index]
        part.forward = self.forward[:, index]
        part.backward = self.backward[:, index]
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
        for k in range(1, sv.n_blocks):
            z[k] -= self.forward[k] @ z[k - 1]
        x = np.empty_like(z)
        x[-1] = self.inverse[-1] @ z[-1]
        for k in range(sv.n_blocks - 2, -1, -1):
            x[k] = self.inverse[k] @ z[k] - self.backward[k] @ x[k + 1]
        x = x.swapaxes(0, 1).reshape((batch, sv.n_blocks * sv.block_dofs, sv.fields) + extra)
        return x[:, sv.position]
