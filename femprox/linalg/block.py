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
  independent chains, and the junction unknowns solve a Schur complement. A chain couples
  only to the junctions at its ends, so A_II^-1 A_IS is formed for those columns only
  (sandwich, 16 junctions: 20x faster than forming all columns, a quarter of the memory).
* The Schur complement is as sparse as the junction graph (two junctions are coupled when
  a wire joins them) and is kept so: :mod:`femprox.linalg.multifrontal` factors it by nested
  dissection. Up to ``multifrontal.LEAF_NODES`` junctions that is one dense block, as
  before; a 30 x 30 grid of junctions needs 4 MB per energy instead of 52 MB dense, and
  time and memory of the whole solve grow about linearly with the number of wires.
* The chains are packed side by side into "lanes" of equal length, so that one pass of the
  block loop serves a block of every chain.

* Element-interior unknowns (the bubbles of P2 and higher elements) couple only to their
  element's two end unknowns. :class:`CondensedBlockSolver` eliminates them first, for all
  elements and energies in one batched inverse (static condensation, no fill-in), so that
  the chains carry the element ends only, in blocks of ``fields`` unknowns instead of
  (order) x ``fields``: a P3 factorization costs less than half. :func:`block_solver` picks
  it wherever it removes a good part of the unknowns.

* A small system (at most ``DENSE_UNKNOWNS`` unknowns, e.g. the condensed house of Fig. 4:
  18) in a small batch is simply inverted as a dense matrix, one LAPACK call per matrix
  instead of the ~50 numpy calls of the steps above (``DENSE_WORK``).

Any sparsity pattern is solved correctly (also couplings between unknowns that share no
element, such as tunnel-barrier point terms); the split into chains and separators only
decides the cost. ``BatchedBlockSolver.bytes_per_matrix`` estimates the memory up front.
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, reverse_cuthill_mckee

from femprox.linalg.multifrontal import MultifrontalLU, MultifrontalSolver


class BatchedBlockSolver:
    """Factor and solve ``A_e x_e = b_e`` for a batch e of matrices with a common pattern.

    Parameters
    ----------
    rows, cols: the scalar sparsity pattern (unique entries) of an ``n x n`` matrix.
    n: number of scalar unknowns.
    fields: each scalar entry is a ``fields x fields`` block (coupled unknowns per DOF).
    separators: unknowns eliminated last through a sparse Schur complement (the junctions
        of a wire network, any number); the others should form chains (each connected
        component of the rest becomes one banded block; wide bands cost their width cubed).

    With separators S and chain unknowns I, A_II^-1 A_IS is needed only where it is nonzero:
    a chain touches the one or two junctions at its ends, so it carries one column per
    junction it touches ("slots"), not one per junction of the network. Chains share the
    slot columns: their solutions do not mix, even packed into one lane.
    """

    def __init__(self, rows: np.ndarray, cols: np.ndarray, n: int, fields: int = 1,
                 separators: np.ndarray | None = None):
        rows, cols = np.asarray(rows), np.asarray(cols)
        self.n, self.fields = n, fields
        separators = np.unique(np.asarray([] if separators is None else separators, dtype=int))
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
        if separators.size:
            self._couple(local[rows], local[cols], row_s, col_s)
        self._dense_positions = _dense_positions(rows, cols, n, fields) if n * fields <= DENSE_UNKNOWNS else None

    def _couple(self, rows: np.ndarray, cols: np.ndarray, row_s: np.ndarray, col_s: np.ndarray) -> None:
        """Index maps of the couplings between chains and separators (local numbering)."""
        f, n_sep = self.fields, self.separators.size
        chain_of = self.chains.chain_of_unknown
        n_chains = int(chain_of.max(initial=-1)) + 1
        self._is_entries = np.flatnonzero(~row_s & col_s)
        self._si_entries = np.flatnonzero(row_s & ~col_s)
        self._ss_entries = np.flatnonzero(row_s & col_s)
        # slots: the separators each chain touches, numbered 0, 1, ... within the chain
        touching = np.unique(np.stack([np.concatenate([chain_of[rows[self._is_entries]],
                                                       chain_of[cols[self._si_entries]]]),
                                       np.concatenate([cols[self._is_entries], rows[self._si_entries]])], axis=1), axis=0)
        per_chain = np.bincount(touching[:, 0], minlength=n_chains)
        self.slots = max(int(per_chain.max(initial=0)), 1)
        slot = np.arange(len(touching)) - np.concatenate([[0], np.cumsum(per_chain)[:-1]])[touching[:, 0]]
        slot_of = np.full((n_chains, n_sep), -1)
        slot_of[touching[:, 0], touching[:, 1]] = slot
        slot_separator = np.full((n_chains, self.slots), -1)
        slot_separator[touching[:, 0], slot] = touching[:, 1]
        width = self.slots * f
        fi, fj = np.meshgrid(np.arange(f), np.arange(f), indexing="ij")
        # A_IS in compact columns (interior unknown, field, slot x field)
        i, j = rows[self._is_entries], cols[self._is_entries]
        c = slot_of[chain_of[i], j]
        self._is_positions = (((i[:, None, None] * f + fi) * self.slots + c[:, None, None]) * f + fj).reshape(-1)
        # A_SI: separator rows s_k, interior columns i_k
        self._si_separator, self._si_interior = rows[self._si_entries], cols[self._si_entries]
        self._schur_pattern(rows[self._ss_entries], cols[self._ss_entries], slot_separator)
        rows_of = (self._si_separator[:, None] * f + np.arange(f)[None, :]).reshape(-1)
        self._row_scatter = sp.csr_matrix((np.ones(rows_of.size), (rows_of, np.arange(rows_of.size))),
                                          shape=(n_sep * f, rows_of.size))
        # x_S values each chain's slots refer to (row n_sep f: a zero row for empty slots)
        self._slot_rows = np.where(slot_separator[:, :, None] >= 0,
                                   slot_separator[:, :, None] * f + np.arange(f)[None, None, :],
                                   n_sep * f).reshape(-1, width)

    def _schur_pattern(self, ss_rows: np.ndarray, ss_cols: np.ndarray, slot_separator: np.ndarray) -> None:
        """Sparsity of the Schur complement S = A_SS - A_SI A_II^-1 A_IS and the maps into it.

        S couples two separators when A_SS does or when one chain touches both (the
        products A_SI X of a chain's rows with its slot columns). S is kept sparse, as a
        list of separator pairs with f x f blocks, and factored by nested dissection
        (:mod:`femprox.linalg.multifrontal`): its size grows with the junctions, not their square.
        """
        f, n_sep = self.fields, self.separators.size
        k = self._si_entries.size
        via_chain = slot_separator[self.chains.chain_of_unknown[self._si_interior]]  # (k, slots)
        chain_rows = np.broadcast_to(self._si_separator[:, None], via_chain.shape)
        valid = via_chain >= 0
        keys = np.concatenate([ss_rows * n_sep + ss_cols, (chain_rows * n_sep + via_chain)[valid]])
        pairs, pair_of = np.unique(keys, return_inverse=True)
        self._ss_pairs = pair_of[:ss_rows.size]
        self.schur = MultifrontalSolver(pairs // n_sep, pairs % n_sep, n_sep, f)
        # products (k, fs, slot, fj) -> entry (pair, fs, fj) of S; invalid slots -> a dummy entry
        pair_index = np.full(via_chain.shape, pairs.size)
        pair_index[valid] = pair_of[ss_rows.size:]
        target = (pair_index[:, None, :, None] * f + np.arange(f)[None, :, None, None]) * f \
            + np.arange(f)[None, None, None, :]
        target = np.where(pair_index[:, None, :, None] < pairs.size, target, pairs.size * f * f)
        target = np.broadcast_to(target, (k, f, self.slots, f)).reshape(-1)
        self._schur_scatter = sp.csr_matrix((np.ones(target.size), (target, np.arange(target.size))),
                                            shape=(pairs.size * f * f + 1, target.size))
        self._n_pairs = pairs.size

    @property
    def block_size(self) -> int:
        """Size of the diagonal blocks of the chains (the cost grows as its cube)."""
        return self.chains.block_size

    def bytes_per_matrix(self, itemsize: int = 16) -> int:
        """Working memory of one matrix of a batch during factor() (blocks, factors, Schur
        complement), in bytes; the batch needs this times its size."""
        chains = self.chains
        total = 6 * chains.n_blocks * chains.n_lanes * chains.block_size**2   # input blocks + factors
        if self.separators.size:
            total += 2 * self.interior.size * self.fields * self.slots * self.fields  # A_IS, X
            total += 2 * self._n_pairs * self.fields**2 + self.schur.bytes_per_matrix(1)
        return itemsize * total

    def factor(self, data: np.ndarray, batch_last: bool = False) -> "BlockLU | DenseLU":
        """Factor a batch of matrices given by their pattern entries.

        ``data`` has shape (batch, n_entries, fields, fields), or
        (n_entries, fields, fields, batch) with ``batch_last=True``.
        """
        batch = data.shape[-1] if batch_last else data.shape[0]
        if self._dense_positions is not None and batch * (self.n * self.fields) ** 3 <= DENSE_WORK:
            dense = self._dense_factor(data, batch_last)
            if dense is not None:
                return dense
        if self.separators.size == 0:
            return BlockLU(self, self.chains.factor(data, batch_last))
        entries = data if batch_last else np.moveaxis(data, 0, -1)
        chains = self.chains.factor(entries[self._interior_entries], batch_last=True)
        batch, f = entries.shape[-1], self.fields
        n_i, width = self.interior.size, self.slots * f
        # X = A_II^-1 A_IS in compact columns (one per slot and field)
        a_is = np.zeros((batch, n_i * f * width), dtype=entries.dtype)
        a_is[:, self._is_positions] = entries[self._is_entries].reshape(-1, batch).T
        coupling = chains.solve(a_is.reshape(batch, n_i, f, width))
        del a_is
        a_si = np.moveaxis(entries[self._si_entries], -1, 0)  # (batch, k, f, f)
        products = a_si @ coupling[:, self._si_interior]     # (batch, k, f, slots x f)
        a_si_x = (self._schur_scatter @ products.reshape(batch, -1).T)[:-1].T
        schur = np.zeros((batch, self._n_pairs, f, f), dtype=np.result_type(entries, a_si_x))
        schur[:, self._ss_pairs] = np.moveaxis(entries[self._ss_entries], -1, 0)
        schur -= a_si_x.reshape(batch, self._n_pairs, f, f)
        return BlockLU(self, chains, coupling, a_si, self.schur.factor(schur))

    def _dense_factor(self, data: np.ndarray, batch_last: bool) -> "DenseLU | None":
        """The batch as dense matrices, inverted; None if one of them is singular (the block
        path then reports it as inf/NaN, as Newton expects)."""
        size = self.n * self.fields
        entries = data.reshape(-1, data.shape[-1]).T if batch_last else data.reshape(data.shape[0], -1)
        dense = np.zeros((entries.shape[0], size * size), dtype=entries.dtype)
        dense[:, self._dense_positions] = entries
        try:
            return DenseLU(self, np.linalg.inv(dense.reshape(-1, size, size)))
        except np.linalg.LinAlgError:
            return None


DENSE_UNKNOWNS = 48
"""Systems of at most this many unknowns (DOFs x fields) may be solved as dense matrices ..."""

DENSE_WORK = 250_000
"""... when batch x unknowns^3 is at most this: the inverse of a whole small system costs one
LAPACK call per matrix, the chain and Schur steps of the block solver some 50 numpy calls
whatever the batch. Measured on the condensed systems of the paper's meshes (house: 18
unknowns, T-junction: 40): factor and solve together 0.17 against 0.01 ms for one energy,
0.36 against 0.33 ms at 40 energies of the house, 0.34 against 0.19 ms at 4 energies of the
T-junction (0.47 against 0.74 ms at 16); Newton passes on a few energies are common (the
last iterations of a batch, refinement rounds, path bisections)."""


def _dense_positions(rows: np.ndarray, cols: np.ndarray, n: int, fields: int) -> np.ndarray:
    """Flat index into the (n fields, n fields) matrix of every (entry, field_i, field_j)."""
    fi, fj = np.meshgrid(np.arange(fields), np.arange(fields), indexing="ij")
    size = n * fields
    return ((np.asarray(rows)[:, None, None] * fields + fi) * size
            + np.asarray(cols)[:, None, None] * fields + fj).reshape(-1)


class DenseLU:
    """A batch of small systems (see DENSE_UNKNOWNS) by their inverses, (batch, n f, n f)."""

    def __init__(self, solver: "BatchedBlockSolver", inverse: np.ndarray):
        self.solver, self.inverse = solver, inverse

    def subset(self, index: np.ndarray) -> "DenseLU":
        return DenseLU(self.solver, self.inverse[index])

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve for right-hand sides of shape (batch, n, fields) or (batch, n, fields, m)."""
        batch, extra = rhs.shape[0], rhs.shape[3:]
        columns = int(np.prod(extra, dtype=int))
        x = self.inverse @ rhs.reshape(batch, self.inverse.shape[1], columns)
        return x.reshape(rhs.shape)


class BlockLU:
    """Factors of a batch of matrices (see :class:`BatchedBlockSolver`).

    With the chains' unknowns I and the separators S: ``chains`` factors A_II; ``coupling``
    (batch, n_I, fields, slots x fields) is A_II^-1 A_IS in the compact columns of each
    unknown's chain; ``separator_rows`` (batch, k, fields, fields) the entries of A_SI;
    ``schur`` the factors of S = A_SS - A_SI A_II^-1 A_IS. All None without separators.
    """

    def __init__(self, solver: BatchedBlockSolver, chains: "_ChainLU", coupling=None, separator_rows=None,
                 schur: MultifrontalLU | None = None):
        self.solver, self.chains = solver, chains
        self.coupling, self.separator_rows, self.schur = coupling, separator_rows, schur

    def subset(self, index: np.ndarray) -> "BlockLU":
        """The factors of the matrices ``index`` of the batch (for solves on fewer systems)."""
        if self.schur is None:
            return BlockLU(self.solver, self.chains.subset(index))
        if index.size == self.coupling.shape[0] and np.array_equal(index, np.arange(index.size)):
            return self  # the whole batch: no copies
        return BlockLU(self.solver, self.chains.subset(index), self.coupling[index], self.separator_rows[index],
                       self.schur.subset(index))

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve for right-hand sides of shape (batch, n, fields) or (batch, n, fields, m)."""
        if self.schur is None:
            return self.chains.solve(rhs)
        sv = self.solver
        f, m = sv.fields, sv.separators.size * sv.fields
        batch, extra = rhs.shape[0], rhs.shape[3:]
        y = self.chains.solve(rhs[:, sv.interior])
        columns = int(np.prod(extra, dtype=int))
        y = y.reshape(batch, sv.interior.size, f, columns)
        at_rows = self.separator_rows @ y[:, sv._si_interior]          # (batch, k, f, columns)
        a_si_y = sv._row_scatter @ at_rows.transpose(1, 2, 0, 3).reshape(-1, batch * columns)
        a_si_y = a_si_y.reshape(m, batch, columns).transpose(1, 0, 2)
        r_s = rhs[:, sv.separators].reshape(batch, m, columns)
        x_s = self.schur.solve(r_s - a_si_y)
        padded = np.concatenate([x_s, np.zeros((batch, 1, columns), dtype=x_s.dtype)], axis=1)
        per_chain = padded[:, sv._slot_rows]                              # (batch, chains, slots x f, columns)
        x = np.empty((batch, sv.n, f, columns), dtype=np.result_type(y, x_s))
        interior = y.astype(x.dtype, copy=True)
        chain = sv.chains.chain_of_unknown
        for c in range(per_chain.shape[2]):  # a few slots: elementwise beats tiny matmuls
            interior -= self.coupling[:, :, :, c, None] * per_chain[:, :, c][:, chain, None, :]
        x[:, sv.interior] = interior
        x[:, sv.separators] = x_s.reshape(batch, -1, f, columns)
        return x.reshape((batch, sv.n, f) + extra)


class _BlockTridiagonalSolver:
    """Independent chains of unknowns, each RCM-ordered into a block-tridiagonal matrix, side
    by side in "lanes" so that one batched block LU serves them all.

    The wires between junctions are chains of different lengths. Packed end to end into a few
    lanes of equal length (first fit, longest first: a lane is as long as the longest chain),
    every step of the block loop handles one block of every lane, which cuts the number of
    numpy calls (each with per-call overhead) by the number of lanes. Chains packed into one
    lane are simply not coupled; unused places at lane ends are identity rows.
    """

    def __init__(self, rows: np.ndarray, cols: np.ndarray, n: int, fields: int):
        self.n, self.fields = n, fields
        pattern = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
        pattern = (pattern + pattern.T + sp.eye(n)).tocsr()
        n_chains, chain = connected_components(pattern, directed=False)
        slot = _chain_places(pattern, chain, n_chains)  # place of each unknown within its chain
        bandwidth = int(np.max(np.abs(slot[rows] - slot[cols]), initial=0))
        self.block_dofs = bd = max(bandwidth, 1)
        chain_blocks = -(-np.bincount(chain, minlength=n_chains) // bd)
        self.n_blocks = nb = _lane_length(chain_blocks)
        lane_of_chain, first_block = _pack(chain_blocks, nb)
        self.n_lanes = max(int(lane_of_chain.max(initial=0)) + 1, 1)
        self.block_size = bd * fields
        # flat place of every unknown in the padded, lane-major layout (lane, block, dof in block)
        self.position = lane_of_chain[chain] * (nb * bd) + first_block[chain] * bd + slot
        self.chain_of_unknown = chain
        self._padding = np.setdiff1d(np.arange(self.n_lanes * nb * bd), self.position)
        self._buffers: dict[np.dtype, np.ndarray] = {}
        self._scatter = self._scatter_indices(rows, cols)

    def _split(self, place: np.ndarray):
        """(lane, block, dof within the block) of flat places in the padded layout."""
        lane, rest = np.divmod(place, self.n_blocks * self.block_dofs)
        block, dof = np.divmod(rest, self.block_dofs)
        return lane, block, dof

    def _scatter_indices(self, rows: np.ndarray, cols: np.ndarray):
        """(band-block, lane, flat index in the s x s block) of every (entry, field_i, field_j).

        The blocks are stored as one array (3 n_blocks, batch, lanes, s^2): lower, diagonal
        and upper blocks of every block row.
        """
        f, s, nb = self.fields, self.block_size, self.n_blocks
        lane, block_row, dof_row = self._split(self.position[rows])
        _, block_col, dof_col = self._split(self.position[cols])
        band = block_col - block_row + 1  # 0 lower, 1 diagonal, 2 upper
        fi, fj = np.meshgrid(np.arange(f), np.arange(f), indexing="ij")
        local = (dof_row[:, None, None] * f + fi[None]) * s + dof_col[:, None, None] * f + fj[None]
        band_block = np.broadcast_to((band * nb + block_row)[:, None, None], local.shape)
        lanes = np.broadcast_to(lane[:, None, None], local.shape)
        return band_block.reshape(-1), lanes.reshape(-1), local.reshape(-1)

    def factor(self, data: np.ndarray, batch_last: bool = False) -> "_ChainLU":
        batch = data.shape[-1] if batch_last else data.shape[0]
        entries = data.reshape(-1, batch) if batch_last else data.reshape(batch, -1).T
        nb, s = self.n_blocks, self.block_size
        blocks = self._block_buffer(batch, data.dtype)
        band_block, lane, local = self._scatter
        blocks[band_block, :, lane, local] = entries
        blocks = blocks.reshape(3, nb, batch * self.n_lanes, s, s)
        return _ChainLU(self, blocks[0], blocks[1], blocks[2])

    def _block_buffer(self, batch: int, dtype) -> np.ndarray:
        """Storage (3 n_blocks, batch, lanes, s^2) for the blocks, reused between calls.

        Layout (band, block, batch, lane, s, s): every block of the batch is contiguous for
        matmul. Entries outside the sparsity pattern are never written, so the buffer keeps
        its zeros there (and the identity rows of the padding); allocating and zeroing tens
        of MB for every Newton step was the main cost. A prefix of the batch axis of a larger
        buffer serves smaller batches.
        """
        buffer = self._buffers.get(np.dtype(dtype))
        if buffer is None or buffer.shape[1] < batch:
            buffer = np.zeros((3 * self.n_blocks, batch, self.n_lanes, self.block_size**2), dtype=dtype)
            lane, block, dof = self._split(self._padding)
            for field in range(self.fields):
                diagonal = (dof * self.fields + field) * (self.block_size + 1)
                buffer[self.n_blocks + block, :, lane, diagonal] = 1.0
            self._buffers[np.dtype(dtype)] = buffer
        return buffer[:, :batch]


def _chain_places(pattern: sp.csr_matrix, chain: np.ndarray, n_chains: int) -> np.ndarray:
    """Place of every unknown within its chain in reverse Cuthill-McKee order.

    One RCM of the whole pattern orders each connected component (chain) by itself, one
    after the other (scipy's RCM runs component by component): one call for thousands of
    wires instead of one per wire.
    """
    if pattern.shape[0] == 0:
        return np.zeros(0, dtype=int)
    position = np.empty(pattern.shape[0], dtype=int)
    position[reverse_cuthill_mckee(pattern, symmetric_mode=True)] = np.arange(pattern.shape[0])
    first = np.full(n_chains, pattern.shape[0])
    np.minimum.at(first, chain, position)
    places = position - first[chain]
    if np.any(places >= np.bincount(chain, minlength=n_chains)[chain]):  # components not contiguous
        for c in range(n_chains):
            dofs = np.flatnonzero(chain == c)
            places[dofs[reverse_cuthill_mckee(pattern[dofs][:, dofs], symmetric_mode=True)]] = np.arange(dofs.size)
    return places


_STEP_OVERHEAD_LANES = 0.5
"""Fixed cost of one step of the block loop (a few numpy calls), in units of the work of one
lane's block at a typical batch (~100 energies: ~150 us per lane of 6 x 6 blocks, ~20 us per
step)."""


def _lane_length(chain_blocks: np.ndarray) -> int:
    """Blocks per lane that make the block loop cheapest.

    Lanes as long as the longest chain leave padding where shorter chains do not pair up
    (the T-junction's chains of 10, 6 and 6 blocks: three lanes of 10, 30 block steps of
    which 8 are identity padding); slightly longer lanes can hold two short chains (two lanes
    of 12: 24 block steps, 2 more loop steps). The cost of a lane length L is modelled as
    L (lanes(L) + _STEP_OVERHEAD_LANES). Small networks only (at most 64 chains): large ones
    fill their lanes anyway, and the search would cost set-up time.
    """
    longest = max(int(chain_blocks.max(initial=1)), 1)
    if chain_blocks.size < 2 or chain_blocks.size > 64:
        return longest
    candidates = range(longest, min(2 * longest, int(chain_blocks.sum())) + 1)
    cost = [length * (int(_pack(chain_blocks, length)[0].max()) + 1 + _STEP_OVERHEAD_LANES) for length in candidates]
    return candidates[int(np.argmin(cost))]


def _pack(chain_blocks: np.ndarray, lane_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """First-fit decreasing packing of chains into lanes of ``lane_blocks`` blocks.

    Returns the lane of every chain and its first block within the lane. Lanes with less
    room than the shortest chain are no longer searched (a network of equal wires fills one
    lane per wire: without this the search would grow as the square of the wires).
    """
    lane_of_chain = np.zeros(chain_blocks.size, dtype=int)
    first_block = np.zeros(chain_blocks.size, dtype=int)
    shortest = int(chain_blocks.min(initial=0))
    open_lanes: list[list[int]] = []  # [lane, blocks used], in order of creation
    n_lanes = 0
    for c in np.argsort(-chain_blocks, kind="stable"):
        size = int(chain_blocks[c])
        entry = next((e for e in open_lanes if e[1] + size <= lane_blocks), None)
        if entry is None:
            entry = [n_lanes, 0]
            open_lanes.append(entry)
            n_lanes += 1
        lane_of_chain[c], first_block[c] = entry
        entry[1] += size
        if entry[1] + shortest > lane_blocks:
            open_lanes.remove(entry)
    return lane_of_chain, first_block


def _inverse(blocks: np.ndarray) -> np.ndarray:
    """Inverses of a stack of square blocks (..., s, s).

    2 x 2 blocks (one DOF with two fields: the chains of P1 and of condensed meshes) by the
    closed form, a handful of elementwise operations instead of one LAPACK call per block
    (4-5x faster for a few hundred blocks); a singular block gives inf/NaN, which Newton
    reports as a singular Jacobian. Larger blocks: numpy (LU with partial pivoting).
    """
    if blocks.shape[-2:] != (2, 2):
        return np.linalg.inv(blocks)
    a, b, c, d = blocks[..., 0, 0], blocks[..., 0, 1], blocks[..., 1, 0], blocks[..., 1, 1]
    inverse_det = 1 / (a * d - b * c)
    result = np.empty_like(blocks, dtype=np.result_type(blocks, inverse_det))
    result[..., 0, 0], result[..., 0, 1] = d * inverse_det, -b * inverse_det
    result[..., 1, 0], result[..., 1, 1] = -c * inverse_det, a * inverse_det
    return result


class _ChainLU:
    """Block-tridiagonal LU factors (block Thomas algorithm) of a batch of matrices.

    With diagonal blocks D_k, lower L_k (row block k, column block k-1) and upper U_k, the
    Schur complements are S_0 = D_0, S_k = D_k - L_k S_{k-1}^-1 U_{k-1}; stored are S_k^-1,
    S_k^-1 U_k and a copy of L_k (the input blocks live in a reused buffer). Arrays are
    (n_blocks, batch x lanes, s, s).
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
            self.inverse[k] = _inverse(schur)
            self.backward[k] = self.inverse[k] @ upper[k]

    def subset(self, index: np.ndarray) -> "_ChainLU":
        lanes = self.solver.n_lanes
        if index.size * lanes == self.inverse.shape[1] and np.array_equal(index, np.arange(index.size)):
            return self
        part = object.__new__(_ChainLU)
        part.solver = self.solver

        def pick(array: np.ndarray) -> np.ndarray:
            nb, _, s, _ = array.shape
            return array.reshape(nb, -1, lanes, s, s)[:, index].reshape(nb, index.size * lanes, s, s)

        part.inverse, part.backward, part.lower = pick(self.inverse), pick(self.backward), pick(self.lower)
        return part

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve for right-hand sides of shape (batch, n, fields) or (batch, n, fields, m)."""
        sv = self.solver
        extra = rhs.shape[3:]
        batch, lanes, nb, s = rhs.shape[0], sv.n_lanes, sv.n_blocks, sv.block_size
        padded = np.zeros((batch, lanes * nb * sv.block_dofs, sv.fields) + extra,
                          dtype=np.result_type(rhs, self.inverse))
        padded[:, sv.position] = rhs
        z = padded.reshape(batch, lanes, nb, s, -1).transpose(2, 0, 1, 3, 4)
        z = np.ascontiguousarray(z).reshape(nb, batch * lanes, s, -1)
        z[0] = self.inverse[0] @ z[0]
        for k in range(1, nb):
            z[k] = self.inverse[k] @ (z[k] - self.lower[k] @ z[k - 1])
        for k in range(nb - 2, -1, -1):
            z[k] -= self.backward[k] @ z[k + 1]
        x = z.reshape(nb, batch, lanes, s, -1).transpose(1, 2, 0, 3, 4)
        x = x.reshape((batch, lanes * nb * sv.block_dofs, sv.fields) + extra)
        return x[:, sv.position]


# ---------------------------------------------------------------------------------------
# Static condensation: element-interior unknowns eliminated first
# ---------------------------------------------------------------------------------------

def block_solver(rows: np.ndarray, cols: np.ndarray, n: int, fields: int = 1,
                 separators: np.ndarray | None = None) -> "BatchedBlockSolver | CondensedBlockSolver":
    """The solver for a pattern: :class:`CondensedBlockSolver` when the pattern has unknowns
    that static condensation removes (element bubbles of P2+ meshes), else a plain
    :class:`BatchedBlockSolver`. Same arguments and interface.

    The analysis of a pattern (chains, lanes, condensation groups, Schur pattern) is kept for
    the last :data:`SOLVER_CACHE_SIZE` patterns of this process: a sweep over phases,
    temperatures or reservoir gaps solves networks that differ in their parameters only, and
    the analysis cost a tenth of a paper task. Every call returns its own object (own work
    buffers, see :func:`_with_own_buffers`), so callers in different threads never share
    buffers.
    """
    separators = np.unique(np.asarray([] if separators is None else separators, dtype=int))
    key = _pattern_key(rows, cols, n, fields, separators)
    solver = _SOLVER_CACHE.pop(key, None)
    if solver is None:
        solver = _analysed_solver(np.asarray(rows), np.asarray(cols), n, fields, separators)
    if n <= SOLVER_CACHE_UNKNOWNS:  # a larger one would only push the others out
        _SOLVER_CACHE[key] = solver  # most recently used last
    while len(_SOLVER_CACHE) > SOLVER_CACHE_SIZE or sum(s.n for s in _SOLVER_CACHE.values()) > SOLVER_CACHE_UNKNOWNS:
        _SOLVER_CACHE.pop(next(iter(_SOLVER_CACHE)))
    return _with_own_buffers(solver)


SOLVER_CACHE_SIZE = 8
"""Patterns whose solver analysis :func:`block_solver` keeps (per process)."""

SOLVER_CACHE_UNKNOWNS = 100_000
"""... and at most this many unknowns in all: the analysis of a 30 x 30 grid network (64 000
unknowns) holds about 80 MB, which a process that has moved on to other networks should not
keep. A larger pattern is analysed for each call (its set-up is a small part of its solve)."""

_SOLVER_CACHE: "OrderedDict[bytes, BatchedBlockSolver | CondensedBlockSolver]" = OrderedDict()


def _pattern_key(rows, cols, n: int, fields: int, separators: np.ndarray) -> bytes:
    """A digest of everything the analysis depends on (exact: any change gives a new key)."""
    digest = hashlib.blake2b(digest_size=32)
    digest.update(np.array([n, fields, np.size(rows), separators.size], dtype=np.int64).tobytes())
    for array in (rows, cols, separators):
        digest.update(np.ascontiguousarray(array, dtype=np.int64).tobytes())
    return digest.digest()


def _with_own_buffers(solver: "BatchedBlockSolver | CondensedBlockSolver"):
    """A shallow copy of ``solver`` sharing its (read-only) analysis but not the work
    buffers that :class:`_BlockTridiagonalSolver` reuses between factorizations."""
    if isinstance(solver, CondensedBlockSolver):
        copied = copy.copy(solver)
        copied.reduced = _with_own_buffers(solver.reduced)
        return copied
    copied = copy.copy(solver)
    copied.chains = copy.copy(solver.chains)
    copied.chains._buffers = {}
    return copied


def _analysed_solver(rows: np.ndarray, cols: np.ndarray, n: int, fields: int, separators: np.ndarray):
    groups = condensable_groups(rows, cols, n, separators)
    # worth its extra steps when it removes a good part of the unknowns (P2: a half, P3: two
    # thirds); P1 chains offer only their free ends
    if sum(group.size for group, _ in groups) < 0.25 * n:
        return BatchedBlockSolver(rows, cols, n, fields, separators)
    return CondensedBlockSolver(rows, cols, n, fields, separators, groups)


def condensable_groups(rows: np.ndarray, cols: np.ndarray, n: int,
                       separators: np.ndarray | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Groups of unknowns that can be eliminated before everything else without fill-in.

    A group is a set of unknowns with the same closed neighbourhood in the pattern (the
    interior "bubble" DOFs of one P3 element, say), whose other neighbours (its boundary:
    the element's two end DOFs) are all coupled to each other already: eliminating the group
    only changes existing entries among its boundary. Groups that touch each other would
    not be independent; they are taken greedily, larger ones first. Separators are never
    condensed. Returns (group unknowns, boundary unknowns) pairs; empty for chains of P1
    elements, where every interior unknown has uncoupled neighbours on both sides.
    """
    rows, cols = np.asarray(rows, dtype=int), np.asarray(cols, dtype=int)
    pattern = sp.csr_matrix((np.ones(rows.size), (rows, cols)), shape=(n, n))
    pattern = (pattern + pattern.T + sp.eye(n)).tocsr()
    pattern.sort_indices()
    excluded = np.zeros(n, dtype=bool)
    if separators is not None:
        excluded[np.asarray(separators, dtype=int)] = True
    neighbourhoods: dict[bytes, list[int]] = {}
    for u in np.flatnonzero(~excluded):
        neighbourhoods.setdefault(pattern.indices[pattern.indptr[u]:pattern.indptr[u + 1]].tobytes(), []).append(u)
    taken = np.zeros(n, dtype=bool)       # unknowns of chosen groups
    touched = np.zeros(n, dtype=bool)     # ... and their boundaries
    groups = []
    for members in sorted(neighbourhoods.values(), key=len, reverse=True):
        group = np.array(members)
        closed = pattern.indices[pattern.indptr[group[0]]:pattern.indptr[group[0] + 1]]
        boundary = np.array([u for u in closed.tolist() if u not in members], dtype=int)
        # independent of the groups taken: none of its unknowns next to one of theirs
        if boundary.size == 0 or np.any(touched[group]) or np.any(taken[boundary]):
            continue
        if not _is_clique(pattern, boundary):  # eliminating the group would fill in
            continue
        taken[group] = True
        touched[closed] = True
        groups.append((group, boundary))
    return groups


def _is_clique(pattern: sp.csr_matrix, vertices: np.ndarray) -> bool:
    """Whether every pair of ``vertices`` is coupled in ``pattern`` (sorted CSR indices)."""
    for i in vertices:
        row = pattern.indices[pattern.indptr[i]:pattern.indptr[i + 1]]
        place = np.searchsorted(row, vertices).clip(0, row.size - 1)
        if not np.all(row[place] == vertices):
            return False
    return True


class CondensedBlockSolver:
    """:class:`BatchedBlockSolver` after static condensation of independent groups of
    unknowns (see :func:`condensable_groups`).

    With the groups G (their matrices A_GG block-diagonal, one small block per group) and the
    rest R: A_GG is inverted group by group in one batched call, the rest solves the reduced
    system A_RR - A_RG A_GG^-1 A_GR, whose pattern is A_RR's (no fill-in), with a
    BatchedBlockSolver. For P3 elements the chains then carry the element end DOFs only, in
    blocks of ``fields`` instead of 3 ``fields`` unknowns: a factorization of the T-junction
    costs less than half (measured 2.3x with the condensation included).
    """

    def __init__(self, rows: np.ndarray, cols: np.ndarray, n: int, fields: int,
                 separators: np.ndarray | None, groups: list[tuple[np.ndarray, np.ndarray]]):
        rows, cols = np.asarray(rows, dtype=int), np.asarray(cols, dtype=int)
        self.n, self.fields = n, fields
        lookup = _EntryLookup(rows, cols, n)
        condensed = np.zeros(n, dtype=bool)
        for group, _ in groups:
            condensed[group] = True
        self.kept = np.flatnonzero(~condensed)
        local = np.full(n + 1, -1)
        local[self.kept] = np.arange(self.kept.size)
        kept_entries = np.flatnonzero(~condensed[rows] & ~condensed[cols])
        self._kept_entries = kept_entries
        reduced_lookup = _EntryLookup(local[rows[kept_entries]], local[cols[kept_entries]], self.kept.size)
        self.classes = [self._group_class(g, b, lookup, reduced_lookup, local)
                        for g, b in _by_size(groups)]
        reduced_separators = None if separators is None else local[np.asarray(separators, dtype=int)]
        self.reduced = BatchedBlockSolver(local[rows[kept_entries]], local[cols[kept_entries]], self.kept.size,
                                          fields, reduced_separators)
        self._outside_pattern = any(np.any(c[key] < 0) for c in self.classes for key in ("gg", "gb", "bg"))
        self.separators = self.reduced.separators

    def _group_class(self, groups: np.ndarray, boundaries: np.ndarray, lookup, reduced_lookup, local) -> dict:
        """Index maps of groups of equal size: groups (k, m) and boundaries (k, nb), -1 where
        a group has fewer than nb boundary unknowns (see :func:`_by_size`)."""
        f = self.fields
        present = boundaries >= 0
        # a padding boundary gathers entry 0 (any entry): its columns of A_GR are zeroed in
        # factor (mask "columns"), its rows of A_RG only reach updates the scatters leave out
        gg = lookup(groups[:, :, None], groups[:, None, :])
        gb = np.where(present[:, None, :], lookup(groups[:, :, None], boundaries[:, None, :]), 0)
        bg = np.where(present[:, :, None], lookup(boundaries[:, :, None], groups[:, None, :]), 0)
        kept = local[boundaries]  # local[-1] is -1: padding stays -1
        pairs = present[:, :, None] & present[:, None, :]
        bb = reduced_lookup(kept[:, :, None], kept[:, None, :])
        if np.any(bb[pairs] < 0):
            raise ValueError("a condensed group's boundary is not coupled within the pattern")
        # A_RG A_GG^-1 A_GR, entry (group, boundary i, field, boundary j, field) -> reduced entry
        fi, fj = np.meshgrid(np.arange(f), np.arange(f), indexing="ij")
        target = ((bb[:, :, None, :, None] * f + fi[None, None, :, None, :]) * f + fj[None, None, :, None, :])
        used = np.broadcast_to(pairs[:, :, None, :, None], target.shape).ravel()
        scatter = sp.csr_matrix((np.ones(used.sum()), (target.ravel()[used], np.flatnonzero(used))),
                                shape=(reduced_lookup.size * f * f, target.size))
        rhs_rows = (kept[:, :, None] * f + np.arange(f)).ravel()
        used_rows = np.repeat(present.ravel(), f)
        rhs_scatter = sp.csr_matrix((np.ones(used_rows.sum()), (rhs_rows[used_rows], np.flatnonzero(used_rows))),
                                    shape=(self.kept.size * f, rhs_rows.size))
        columns = None if present.all() else np.repeat(present, f, axis=1)[:, None, :].astype(float)
        # solve gathers the padding's value from reduced unknown 0: it meets only zero columns
        return {"groups": groups, "boundary": np.where(present, kept, 0), "gg": gg, "gb": gb, "bg": bg,
                "scatter": scatter, "rhs_scatter": rhs_scatter, "columns": columns}

    @property
    def block_size(self) -> int:
        return self.reduced.block_size

    def bytes_per_matrix(self, itemsize: int = 16) -> int:
        """Working memory of one matrix (the reduced solver's plus the groups' blocks)."""
        f = self.fields
        groups = sum(c["groups"].shape[0] * (c["groups"].shape[1] * f) * (c["groups"].shape[1] + 2 * c["boundary"].shape[1]) * f
                     for c in self.classes)
        return self.reduced.bytes_per_matrix(itemsize) + 2 * itemsize * groups

    def factor(self, data: np.ndarray, batch_last: bool = False) -> "CondensedLU":
        """Factor a batch: ``data`` (batch, n_entries, fields, fields), or (n_entries, fields,
        fields, batch) with ``batch_last=True``."""
        entries = data if batch_last else np.moveaxis(data, 0, -1)
        batch, f = entries.shape[-1], self.fields
        # a zero entry for pairs outside the pattern (index -1); element groups have none
        padded = np.concatenate([entries, np.zeros((1,) + entries.shape[1:], dtype=entries.dtype)]) \
            if self._outside_pattern else entries
        reduced = np.ascontiguousarray(entries[self._kept_entries])      # (n_kept_entries, f, f, batch)
        factors = []
        for c in self.classes:
            inverse = _inverse(_dense_blocks(padded, c["gg"], batch))  # (batch, k, m f, m f)
            rows_gb = _dense_blocks(padded, c["gb"], batch)                  # A_GR
            if c["columns"] is not None:
                rows_gb *= c["columns"]  # no coupling to padding boundaries
            x = inverse @ rows_gb                                            # A_GG^-1 A_GR
            rows_bg = _dense_blocks(padded, c["bg"], batch)                  # A_RG
            update = (rows_bg @ x).reshape(batch, -1).T                      # (k nb f nb f, batch)
            reduced -= _real_product(c["scatter"], update).reshape(reduced.shape)
            factors.append((inverse, x, rows_bg))
        return CondensedLU(self, factors, self.reduced.factor(reduced, batch_last=True))


class _EntryLookup:
    """Entry index of (row, col) pairs in a pattern given as unique (rows, cols); -1 outside."""

    def __init__(self, rows: np.ndarray, cols: np.ndarray, n: int):
        self.n, self.size = n, rows.size
        keys = rows.astype(np.int64) * n + cols
        self.order = np.argsort(keys)
        self.keys = keys[self.order]

    def __call__(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        keys = np.broadcast_to(rows.astype(np.int64) * self.n + cols, np.broadcast_shapes(rows.shape, cols.shape))
        place = np.searchsorted(self.keys, keys).clip(0, max(self.size - 1, 0))
        return np.where(self.keys[place] == keys, self.order[place], -1)


def _by_size(groups: list[tuple[np.ndarray, np.ndarray]]):
    """Groups stacked by size: (groups (k, m), boundaries (k, nb)) per distinct m, boundaries
    padded with -1 to the longest of them (the element next to a reservoir, whose DOF is no
    unknown, has one boundary unknown, the others two): one class per size, each class
    costing its steps of numpy calls in every factorization and solve (house of Fig. 4:
    factor and solve 15-30 us less at 1-4 energies, the same at 20-90)."""
    sizes: dict[int, list] = {}
    for group, boundary in groups:
        sizes.setdefault(group.size, []).append((group, boundary))
    stacked = []
    for members in sizes.values():
        boundaries = np.full((len(members), max(b.size for _, b in members)), -1)
        for k, (_, b) in enumerate(members):
            boundaries[k, :b.size] = b
        stacked.append((np.stack([g for g, _ in members]), boundaries))
    return stacked


def _dense_blocks(padded: np.ndarray, index: np.ndarray, batch: int) -> np.ndarray:
    """Dense blocks (batch, k, p f, q f) of the entries ``index`` (k, p, q) of ``padded``
    (n_entries (+ 1), f, f, batch; with -1 indices the last entry must be zero)."""
    k, p, q = index.shape
    f = padded.shape[1]
    blocks = padded[index]                                   # (k, p, q, f, f, batch)
    return np.ascontiguousarray(blocks.transpose(5, 0, 1, 3, 2, 4)).reshape(batch, k, p * f, q * f)


def _real_product(real_sparse: sp.csr_matrix, values: np.ndarray) -> np.ndarray:
    """``real_sparse @ values`` for complex 2D ``values``, on the float view (as in spectral)."""
    if np.isrealobj(values):
        return real_sparse @ values
    values = np.ascontiguousarray(values, dtype=np.complex128)
    return (real_sparse @ values.view(np.float64)).view(np.complex128)


class CondensedLU:
    """Factors of a batch (see :class:`CondensedBlockSolver`): per class of groups A_GG^-1,
    A_GG^-1 A_GR and A_RG, and the reduced system's factors."""

    def __init__(self, solver: CondensedBlockSolver, factors: list, reduced):
        self.solver, self.factors, self.reduced = solver, factors, reduced

    def subset(self, index: np.ndarray) -> "CondensedLU":
        """The factors of the matrices ``index`` of the batch."""
        return CondensedLU(self.solver, [tuple(a[index] for a in c) for c in self.factors],
                           self.reduced.subset(index))

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve for right-hand sides of shape (batch, n, fields) or (batch, n, fields, m)."""
        sv = self.solver
        f, batch, extra = sv.fields, rhs.shape[0], rhs.shape[3:]
        columns = int(np.prod(extra, dtype=int))
        rhs = rhs.reshape(batch, sv.n, f, columns)
        dtype = np.result_type(rhs, *(c[0] for c in self.factors))
        reduced = rhs[:, sv.kept].astype(dtype, copy=True)                  # (batch, n_kept, f, columns)
        partial = []
        for c, (inverse, _, rows_bg) in zip(sv.classes, self.factors):
            k, m = c["groups"].shape
            y = inverse @ rhs[:, c["groups"]].reshape(batch, k, m * f, columns)  # A_GG^-1 r_G
            correction = (rows_bg @ y).transpose(1, 2, 0, 3).reshape(-1, batch * columns)
            reduced -= _real_product(c["rhs_scatter"], correction).reshape(-1, f, batch, columns).transpose(2, 0, 1, 3)
            partial.append(y)
        x_kept = self.reduced.solve(reduced)
        x = np.empty((batch, sv.n, f, columns), dtype=np.result_type(dtype, x_kept))
        x[:, sv.kept] = x_kept
        for c, (_, coupling, _), y in zip(sv.classes, self.factors, partial):
            k, nb = c["boundary"].shape
            x_boundary = x_kept[:, c["boundary"]].reshape(batch, k, nb * f, columns)
            x[:, c["groups"]] = (y - coupling @ x_boundary).reshape(batch, k, -1, f, columns)
        return x.reshape((batch, sv.n, f) + extra)
