"""Graph mesh: every wire of a :class:`~femprox.geometry.network.Geometry` meshed in arc length.

Second stage of the pipeline (Geometry -> **GraphMesh** -> SpectralSolution -> ...).

scikit-fem has no branching 1D meshes, and a ``MeshLine1`` given 2D coordinates silently
assembles wrong matrices. So all wires live in *one* ``MeshLine1`` on disjoint
arc-length intervals (wire k occupies ``[offset_k, offset_k + L_k]``; the intervals are
separated by gaps with no elements). The basis on that mesh has "broken" degrees of freedom:
each wire has its own end values. A sparse prolongation ``P`` (broken x global) glues the end
DOFs of all wires meeting at a node into one global DOF, so that assembling
``sum_w g_w * integral(...)`` and then ``P.T @ (...) @ P`` makes the Kirchhoff node conditions
natural (docs/physics.md section 2). Reservoir DOFs are Dirichlet; free ends need nothing.

A wire end with a contact (a tunnel barrier, :mod:`femprox.physics.contacts`) is not glued:
it keeps a DOF of its own, and :attr:`GraphMesh.contacts` lists the pairs (wire-end DOF, node
DOF) that the solvers couple through the contact's point terms.

The nonlinear solvers never call scikit-fem's ``asm`` inside a Newton loop: the mesh provides
once the values and derivatives of all basis functions at all quadrature points
(:class:`Quadrature`), from which residuals and Jacobians for all energies are sparse products.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, TypeVar

import numpy as np
import scipy.sparse as sp
import skfem

from femprox.geometry.network import Geometry, GeometryError, MeshOptions, NodeKind, Wire
from femprox.physics.contacts import Contact

_GAP_BETWEEN_WIRES = 1.0  # arc-length gap (xi0) separating wires in the broken mesh

_Built = TypeVar("_Built")


def array_digest(*parts: object) -> bytes:
    """A digest of arrays (dtype, shape and bytes) and other values (their repr): equal
    digests mean equal inputs."""
    digest = hashlib.blake2b(digest_size=32)
    for part in parts:
        if isinstance(part, np.ndarray):
            digest.update(repr((part.dtype.str, part.shape)).encode())
            digest.update(np.ascontiguousarray(part).tobytes())
        else:
            digest.update(repr(part).encode())
    return digest.digest()


class AssemblyCache:
    """Read-only objects derived from mesh arrays (scikit-fem bases, quadrature forms),
    shared by the meshes of one process that have equal inputs.

    A sweep meshes the same network at every phase, gap or temperature (a new geometry each
    time, same wires and elements): its bases and forms are equal, and building them cost
    2-3 ms per solve, a twentieth of a small network's solve in ``femprox paper``. Keys are
    digests of every input array (:func:`array_digest`), so a hit is exact. The most recently
    used objects are kept, at most ``size`` of them and built from at most ``max_points``
    quadrature points in all (forms of 50 000 points hold ~60 MB; a network that large is
    solved for seconds, next to which its set-up does not count).
    """

    def __init__(self, size: int = 24, max_points: int = 50_000):
        self.size, self.max_points = size, max_points
        self._objects: OrderedDict[bytes, tuple[object, int]] = OrderedDict()
        self._lock = threading.Lock()  # sweeps may mesh in threads (Dask's thread workers)

    def get(self, key: bytes, points: int, build: Callable[[], _Built]) -> _Built:
        """The object for ``key`` (built from ``points`` quadrature points), built by
        ``build()`` on a miss."""
        with self._lock:
            if key in self._objects:
                self._objects.move_to_end(key)
                return self._objects[key][0]
        built = build()  # outside the lock: two threads may both build it, to equal objects
        if points <= self.max_points:
            with self._lock:
                self._objects[key] = (built, points)
                while (len(self._objects) > self.size
                       or sum(count for _, count in self._objects.values()) > self.max_points):
                    self._objects.popitem(last=False)
        return built

    def clear(self) -> None:
        """Forget every kept object (meshes already built keep theirs)."""
        with self._lock:
            self._objects.clear()


ASSEMBLY_CACHE = AssemblyCache()
"""The process's :class:`AssemblyCache` (used by :class:`GraphMesh`, :func:`pointwise_forms`
and the spectral problem)."""


def _unlock_in_child() -> None:
    # a process pool may fork while another thread holds the lock: the child starts unlocked
    ASSEMBLY_CACHE._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_unlock_in_child)


@dataclass(frozen=True)
class Quadrature:
    """Basis functions at every quadrature point of the graph mesh (global DOFs).

    Attributes
    ----------
    values: sparse (n_points, n_dofs), phi_j(x_q).
    derivatives: sparse (n_points, n_dofs), d phi_j / dx at x_q (x = arc length, xi0).
    weights: (n_points,) quadrature weights times element Jacobian (xi0).
    wire_index: (n_points,) index into ``geometry.wires`` of the wire containing x_q.
    position: (n_points,) arc-length coordinate x_q along its wire, 0 at the wire's start.
    local_values, local_derivatives: (n_basis_functions, n_points) the basis functions of
        the element containing x_q, and their x-derivatives, evaluated at x_q.
    local_dofs: (n_basis_functions, n_points) their global DOFs.
    """

    values: sp.csr_matrix
    derivatives: sp.csr_matrix
    weights: np.ndarray
    wire_index: np.ndarray
    position: np.ndarray
    local_values: np.ndarray
    local_derivatives: np.ndarray
    local_dofs: np.ndarray

    def wire_parameter(self, geometry: Geometry, name: str) -> np.ndarray:
        """A wire attribute (e.g. ``"diffusion"``) at every quadrature point."""
        per_wire = np.array([getattr(w, name) for w in geometry.wires], dtype=float)
        return per_wire[self.wire_index]


@dataclass(frozen=True)
class MeshContact:
    """A contact between a wire end (near DOF) and its node or reservoir (far DOF)."""

    wire_index: int
    end: str
    node: str
    near_dof: int
    far_dof: int
    contact: Contact


class GraphMesh:
    """Finite-element mesh of a wire network with glued node degrees of freedom.

    Attributes
    ----------
    geometry: the network.
    order: polynomial order of the elements (same on every wire).
    skfem_mesh: the broken ``MeshLine1`` (arc length, wires on disjoint intervals).
    basis: scikit-fem ``CellBasis`` on the broken mesh. Both (and the element) are shared
        with the process's other meshes of the same elements (:data:`ASSEMBLY_CACHE`):
        read-only.
    prolongation: sparse (n_broken, n_dofs) gluing matrix P.
    element_wire: (n_elements,) wire index of each element.
    wire_offsets: (n_wires,) start of each wire in the broken mesh coordinate.
    node_dof: {node name: global DOF}.
    element_dofs: (n_basis_functions, n_elements) global DOF of each local basis function.
    dirichlet_dofs / free_dofs: global DOFs at reservoirs / all others.
    junction_dofs: global DOFs of the free nodes where three or more wire ends meet (the
        linear solvers eliminate them last, see :mod:`femprox.linalg.block`).
    end_dofs: (n_wires, 2) global DOF of each wire's start and end value (the node's DOF
        for a transparent end, the wire's own DOF behind a contact).
    contacts: the non-transparent wire ends, see :class:`MeshContact`.
    stage_cache: objects that later stages derive from the mesh alone (assembly maps,
        solver orderings, the normal-state conductance), built on first use and kept here
        so that repeated solves on one mesh (adaptive grids, sweeps) skip the set-up. They
        reuse work buffers: one mesh must not be solved on from several threads at once.
    """

    def __init__(self, geometry: Geometry, *, refine: float = 1.0, order: int | None = None):
        self.geometry = geometry
        self.order = order if order is not None else _common_order(geometry)
        vertices, elements, element_wire, offsets = _broken_mesh(geometry, refine)
        self.skfem_mesh, self.element, self.basis = ASSEMBLY_CACHE.get(
            array_digest("cell basis", self.order, vertices, elements), elements.shape[1],
            lambda: _cell_basis(vertices, elements, self.order))
        self.element_wire = element_wire
        self.wire_offsets = offsets
        self.prolongation, self.node_dof = self._glue()
        self.contacts = self._contacts()
        reservoir_dofs = [self.node_dof[n.name] for n in geometry.nodes if n.kind.is_reservoir]
        self.dirichlet_dofs = np.array(sorted(reservoir_dofs), dtype=int)
        self.free_dofs = np.setdiff1d(np.arange(self.n_dofs), self.dirichlet_dofs)
        ends = Counter(name for wire in geometry.wires for name in (wire.start, wire.end))
        self.junction_dofs = np.array(sorted(self.node_dof[n.name] for n in geometry.nodes
                                             if ends[n.name] >= 3 and not n.kind.is_reservoir), dtype=int)
        self.stage_cache: dict[str, object] = {}

    def __getstate__(self) -> dict:
        # the cache holds work buffers (tens of MB): rebuilt on demand, not pickled
        return {**self.__dict__, "stage_cache": {}}

    # -- sizes --------------------------------------------------------------------
    @property
    def n_dofs(self) -> int:
        """Number of global (glued) degrees of freedom of one scalar field."""
        return self.prolongation.shape[1]

    @property
    def n_elements(self) -> int:
        return self.skfem_mesh.t.shape[1]

    def wire_elements(self, wire_index: int) -> np.ndarray:
        """Element indices of one wire, ordered from its start to its end."""
        return np.flatnonzero(self.element_wire == wire_index)

    def constant_dofs(self, wire_index: int) -> np.ndarray:
        """Global DOFs that take the value c when a field equals c on the wire.

        For P1/P2 all DOFs are point values; the hierarchical ElementLinePp (order > 2)
        represents a constant by its vertex DOFs with all bubble coefficients zero.
        """
        elements = self.wire_elements(wire_index)
        rows = slice(None) if self.order <= 2 else slice(0, 2)
        return np.unique(self.element_dofs[rows, elements])

    def wire_vertices(self, wire_index: int) -> np.ndarray:
        """Arc-length coordinates (0..L) of the mesh vertices of one wire."""
        elements = self.wire_elements(wire_index)
        p = self.skfem_mesh.p[0]
        t = self.skfem_mesh.t[:, elements]
        return np.append(p[t[0]], p[t[1, -1]]) - self.wire_offsets[wire_index]

    # -- gluing -------------------------------------------------------------------
    def _glue(self) -> tuple[sp.csr_matrix, dict[str, int]]:
        """Prolongation P: broken DOFs -> global DOFs, node DOFs numbered first."""
        n_broken = self.basis.N
        node_dof = {node.name: k for k, node in enumerate(self.geometry.nodes)}
        global_of_broken = np.full(n_broken, -1)
        t = self.skfem_mesh.t
        vertex_dof = self.basis.nodal_dofs[0]
        ends = np.empty((len(self.geometry.wires), 2), dtype=int)
        for k, wire in enumerate(self.geometry.wires):
            elements = self.wire_elements(k)
            ends[k] = vertex_dof[t[0, elements[0]]], vertex_dof[t[1, elements[-1]]]
            # an end behind a contact keeps its own DOF (numbered with the interior ones)
            if wire.start_contact is None:
                global_of_broken[ends[k, 0]] = node_dof[wire.start]
            if wire.end_contact is None:
                global_of_broken[ends[k, 1]] = node_dof[wire.end]
        interior = np.flatnonzero(global_of_broken < 0)
        global_of_broken[interior] = len(node_dof) + np.arange(interior.size)
        n_global = len(node_dof) + interior.size
        P = sp.csr_matrix((np.ones(n_broken), (np.arange(n_broken), global_of_broken)),
                          shape=(n_broken, n_global))
        self.element_dofs = global_of_broken[self.basis.element_dofs]
        self.end_dofs = global_of_broken[ends]
        return P, node_dof

    def _contacts(self) -> tuple[MeshContact, ...]:
        contacts = []
        for k, wire in enumerate(self.geometry.wires):
            for side, end in enumerate(("start", "end")):
                contact = wire.contact_at(end)
                if contact is not None:
                    node = getattr(wire, end)
                    contacts.append(MeshContact(k, end, node, int(self.end_dofs[k, side]),
                                                self.node_dof[node], contact))
        return tuple(contacts)

    # -- quadrature ---------------------------------------------------------------
    @cached_property
    def quadrature(self) -> Quadrature:
        """Basis values/derivatives at all quadrature points, in global DOFs."""
        basis = self.basis
        n_elem, n_qp = basis.dx.shape
        rows = np.arange(n_elem * n_qp).reshape(n_elem, n_qp)
        values, derivatives = [], []
        cols_all, rows_all = [], []
        for i in range(basis.Nbfun):
            field = basis.basis[i][0]
            values.append(np.asarray(field).ravel())
            derivatives.append(field.grad[0].ravel())
            cols_all.append(np.repeat(basis.element_dofs[i], n_qp))
            rows_all.append(rows.ravel())
        shape = (n_elem * n_qp, basis.N)
        rows_c, cols_c = np.concatenate(rows_all), np.concatenate(cols_all)
        B0 = sp.csr_matrix((np.concatenate(values), (rows_c, cols_c)), shape=shape) @ self.prolongation
        B1 = sp.csr_matrix((np.concatenate(derivatives), (rows_c, cols_c)), shape=shape) @ self.prolongation
        wire_index = np.repeat(self.element_wire, n_qp)
        x = basis.mapping.F(basis.X)[0].ravel() - self.wire_offsets[wire_index]
        local_dofs = np.repeat(self.element_dofs, n_qp, axis=1)
        return Quadrature(values=B0.tocsr(), derivatives=B1.tocsr(), weights=basis.dx.ravel(),
                          wire_index=wire_index, position=x,
                          local_values=np.array(values), local_derivatives=np.array(derivatives),
                          local_dofs=local_dofs)

    # -- point evaluation -----------------------------------------------------------
    def evaluation_matrices(self, wire: str | int, x: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """Sparse (len(x), n_dofs) matrices giving values and d/dx of a field at points.

        ``x`` is the arc length along ``wire`` (0 at its start, xi0). At an element boundary
        the derivative is taken from the element on the right (left at the wire's end).
        """
        k = self.wire_index(wire)
        length = self.geometry.wires[k].length
        x = np.atleast_1d(np.asarray(x, dtype=float))
        if np.any((x < -1e-12 * length) | (x > length * (1 + 1e-12))) or not np.all(np.isfinite(x)):
            raise ValueError(f"wire '{self.geometry.wires[k].name}': positions must lie in [0, {length}]")
        elements = self.wire_elements(k)
        edges = self.wire_vertices(k)
        local = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, elements.size - 1)
        cells = elements[local]
        h = edges[local + 1] - edges[local]
        X = ((x - edges[local]) / h)[None, :]
        rows = np.arange(x.size)
        vals, ders, cols = [], [], []
        for i in range(self.basis.Nbfun):
            phi, dphi = self.element.lbasis(X, i)
            vals.append(phi)
            ders.append(dphi[0] / h)
            cols.append(self.basis.element_dofs[i, cells])
        shape = (x.size, self.basis.N)
        r = np.tile(rows, self.basis.Nbfun)
        c = np.concatenate(cols)
        V = sp.csr_matrix((np.concatenate(vals), (r, c)), shape=shape) @ self.prolongation
        D = sp.csr_matrix((np.concatenate(ders), (r, c)), shape=shape) @ self.prolongation
        return V.tocsr(), D.tocsr()

    def wire_index(self, wire: str | int) -> int:
        """Index into ``geometry.wires`` of a wire given by name (or already by index)."""
        if isinstance(wire, (int, np.integer)):
            return int(wire)
        for k, w in enumerate(self.geometry.wires):
            if w.name == wire:
                return k
        raise GeometryError(f"no wire named '{wire}'")

    def describe(self) -> str:
        """One line: elements, order, DOFs."""
        return (f"{self.n_elements} elements of order {self.order} on {len(self.geometry.wires)} "
                f"wires, {self.n_dofs} DOFs per field ({self.free_dofs.size} free)")


def build_mesh(geometry: Geometry, *, refine: float = 1.0, order: int | None = None) -> GraphMesh:
    """Mesh every wire of ``geometry``.

    ``refine`` multiplies every wire's element count (h-refinement studies); ``order``
    overrides the element order of all wires (p-refinement studies).
    """
    if not (isinstance(refine, (int, float)) and math.isfinite(refine) and refine > 0):
        raise ValueError(f"refine must be a positive number, got {refine!r}")
    return GraphMesh(geometry, refine=refine, order=order)


def default_element_count(wire: Wire) -> int:
    """Elements for a wire without an explicit count: 2 per coherence length, at least 12.

    The floor matters for short wires where the phase of gamma winds by a finite
    phase difference over the wire (short SNS junctions).
    """
    return max(12, math.ceil(2.0 * wire.length / wire.coherence_length))


def _common_order(geometry: Geometry) -> int:
    orders = {geometry.mesh_options(w).order for w in geometry.wires}
    if len(orders) != 1:
        raise GeometryError(f"all wires must use the same element order, found {sorted(orders)}")
    return orders.pop()


class _PointKeyedElementLinePp(skfem.ElementLinePp):
    """scikit-fem's hierarchical line element with an evaluation cache keyed on the points.

    ``ElementLinePp.lbasis`` in scikit-fem 12 keeps the last evaluation and reuses it
    whenever it is called with the same *number* of points, returning stale values for
    different points (seen as wrong, asymmetric point evaluations of P3/P4 solutions). Here
    the Legendre evaluation is kept per exact point set (its bytes), so that the order + 1
    basis functions of one evaluation share it (building a P6 mesh evaluated it 7 times).
    """

    _CACHED_POINT_SETS = 4

    def lbasis(self, X, i):
        points = np.ascontiguousarray(X[0, :])
        key = points.tobytes()
        cache = self.__dict__.setdefault("_evaluations", {})
        # meshes of equal wires share their element (AssemblyCache), possibly across threads:
        # no step here relies on the cache keeping an entry it just checked
        evaluation = cache.get(key)
        if evaluation is None:
            evaluation = self._reval_legendre(points, self.p)
            if len(cache) >= self._CACHED_POINT_SETS:
                cache.pop(next(iter(cache.copy())), None)
            cache[key] = evaluation
        values, derivatives = evaluation
        return values[i].copy(), derivatives[i].copy()


def _cell_basis(vertices: np.ndarray, elements: np.ndarray, order: int):
    """(scikit-fem mesh, element, basis) of the broken mesh."""
    mesh = skfem.MeshLine1(vertices[None, :], elements)
    element = _line_element(order)
    return mesh, element, skfem.CellBasis(mesh, element, intorder=2 * order + 2)


def _line_element(order: int):
    if order == 1:
        return skfem.ElementLineP1()
    if order == 2:
        return skfem.ElementLineP2()
    return _PointKeyedElementLinePp(order)


def _broken_mesh(geometry: Geometry, refine: float):
    """Vertices, element connectivity, element->wire map and offsets of the broken mesh."""
    vertices, elements, element_wire, offsets = [], [], [], []
    start = 0.0
    n_vertices = 0
    for k, wire in enumerate(geometry.wires):
        options = geometry.mesh_options(wire)
        count = options.elements if options.elements is not None else default_element_count(wire)
        count = max(1, math.ceil(count * refine))
        graded_start, graded_end = _graded_ends(geometry, wire, options)
        local = wire.length * _graded_partition(count, options.grading, graded_start, graded_end)
        vertices.append(start + local)
        idx = n_vertices + np.arange(count)
        elements.append(np.vstack([idx, idx + 1]))
        element_wire.append(np.full(count, k))
        offsets.append(start)
        n_vertices += count + 1
        start += wire.length + _GAP_BETWEEN_WIRES
    return (np.concatenate(vertices), np.hstack(elements), np.concatenate(element_wire),
            np.array(offsets))


def _graded_partition(count: int, grading: float, at_start: bool, at_end: bool) -> np.ndarray:
    """Vertices in [0, 1] with element sizes shrinking geometrically toward graded ends.

    ``grading`` is the ratio of the largest to the smallest element.
    """
    if grading == 1.0 or not (at_start or at_end) or count == 1:
        return np.linspace(0.0, 1.0, count + 1)
    if at_start and at_end:
        half = count // 2
        if half == 0:
            return np.linspace(0.0, 1.0, count + 1)
        ratio = grading ** (1.0 / max(half - 1, 1))
        sizes = ratio ** np.arange(half)
        middle = [sizes[-1]] if count % 2 else []
        sizes = np.concatenate([sizes, middle, sizes[::-1]])
    else:
        ratio = grading ** (1.0 / (count - 1))
        sizes = ratio ** np.arange(count)
        if at_end:
            sizes = sizes[::-1]
    edges = np.concatenate([[0.0], np.cumsum(sizes)])
    return edges / edges[-1]


def _graded_ends(geometry: Geometry, wire: Wire, options: MeshOptions) -> tuple[bool, bool]:
    mode = options.graded_ends
    if mode == "auto":
        return _touches_ns_boundary(geometry, wire.start), _touches_ns_boundary(geometry, wire.end)
    return mode in ("both", "start"), mode in ("both", "end")


def _touches_ns_boundary(geometry: Geometry, node_name: str) -> bool:
    """True where normal metal meets superconductivity (the proximity effect varies on xi).

    A short normal arm (shorter than its coherence length) that leads to a superconductor
    proximitizes its far node almost like a direct contact (the house interferometer's
    centre), so it counts as superconducting there.
    """
    node = geometry.node(node_name)
    superconducting = _has_superconductor(geometry, node_name)
    normal = node.kind is NodeKind.NORMAL_RESERVOIR
    for wire in geometry.wires_at(node_name):
        other = wire.end if wire.start == node_name else wire.start
        short_arm = (not wire.is_superconducting and wire.length < wire.coherence_length
                     and _has_superconductor(geometry, other))
        superconducting |= short_arm
        normal |= not wire.is_superconducting and not short_arm
    return superconducting and normal


def _has_superconductor(geometry: Geometry, node_name: str) -> bool:
    """An S reservoir or an S wire at the node."""
    if geometry.node(node_name).kind is NodeKind.SUPERCONDUCTING_RESERVOIR:
        return True
    return any(w.is_superconducting for w in geometry.wires_at(node_name))


class PointwiseForms:
    """Sparse maps from coefficients at quadrature points to matrix entries.

    For a bilinear form ``sum_q w_q c(x_q) u(x_q) v(x_q)`` (and the variants with
    derivatives) whose coefficient ``c`` changes with energy, the matrix entries for all
    energies at once are ``form @ c`` with ``c`` of shape (n_points, n_energies). The entries
    follow ``rows``/``cols`` (unique pairs of global DOFs coupled by some element).

    Attributes: rows, cols (n_entries,); value_value, value_derivative, derivative_value,
    derivative_derivative: sparse (n_entries, n_points) for test*trial, test*trial',
    test'*trial and test'*trial' (each already multiplied by the quadrature weights).
    """

    def __init__(self, quadrature: Quadrature, n_dofs: int):
        q = quadrature
        n_basis, n_points = q.local_dofs.shape
        test = np.repeat(np.arange(n_basis), n_basis)
        trial = np.tile(np.arange(n_basis), n_basis)
        pair_rows = q.local_dofs[test].ravel()
        pair_cols = q.local_dofs[trial].ravel()
        keys = pair_rows * n_dofs + pair_cols
        unique, entry = np.unique(keys, return_inverse=True)
        self.rows, self.cols = unique // n_dofs, unique % n_dofs
        points = np.tile(np.arange(n_points), test.size)
        shape = (unique.size, n_points)

        def form(test_fn: np.ndarray, trial_fn: np.ndarray) -> sp.csr_matrix:
            vals = (test_fn[test] * trial_fn[trial] * q.weights[None, :]).ravel()
            return sp.csr_matrix((vals, (entry, points)), shape=shape)

        self.value_value = form(q.local_values, q.local_values)
        self.value_derivative = form(q.local_values, q.local_derivatives)
        self.derivative_value = form(q.local_derivatives, q.local_values)
        self.derivative_derivative = form(q.local_derivatives, q.local_derivatives)

    def entries_between(self, row_dofs: np.ndarray, col_dofs: np.ndarray, n_dofs: int):
        """Select the entries coupling ``row_dofs`` to ``col_dofs``.

        Returns (selection, local_rows, local_cols): indices into the entry list and the
        positions of its rows/cols within ``row_dofs``/``col_dofs``.
        """
        row_pos = np.full(n_dofs, -1)
        row_pos[row_dofs] = np.arange(row_dofs.size)
        col_pos = np.full(n_dofs, -1)
        col_pos[col_dofs] = np.arange(col_dofs.size)
        selection = np.flatnonzero((row_pos[self.rows] >= 0) & (col_pos[self.cols] >= 0))
        return selection, row_pos[self.rows[selection]], col_pos[self.cols[selection]]


def pointwise_forms(quadrature: Quadrature, n_dofs: int) -> PointwiseForms:
    """:class:`PointwiseForms` of ``quadrature``, shared with earlier meshes of equal
    quadrature (:data:`ASSEMBLY_CACHE`): treat it as read-only."""
    q = quadrature
    key = array_digest("pointwise forms", n_dofs, q.local_dofs, q.local_values, q.local_derivatives, q.weights)
    return ASSEMBLY_CACHE.get(key, q.weights.size, lambda: PointwiseForms(q, n_dofs))


def extend_pattern(rows: np.ndarray, cols: np.ndarray, new_rows: np.ndarray,
                   new_cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Add entries to a sparsity pattern of unique (row, col) pairs.

    Returns (rows, cols, index): the pattern with the missing pairs appended (existing
    entries keep their positions) and, for every new pair, its position in that pattern.
    Used for the point couplings of contacts, which join DOFs that share no element.
    """
    n = int(max(rows.max(initial=-1), cols.max(initial=-1), np.max(new_rows, initial=-1),
                np.max(new_cols, initial=-1))) + 1
    keys = rows.astype(np.int64) * n + cols
    new_keys = np.asarray(new_rows, dtype=np.int64) * n + np.asarray(new_cols)
    missing = np.setdiff1d(np.unique(new_keys), keys)
    all_keys = np.concatenate([keys, missing])
    order = np.argsort(all_keys, kind="stable")
    index = order[np.searchsorted(all_keys[order], new_keys)]
    return all_keys // n, all_keys % n, index


def contact_pairs(contacts) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the near/far DOF pairs that contacts couple (4 per contact), in the
    order (near, near), (near, far), (far, near), (far, far)."""
    near = np.array([c.near_dof for c in contacts], dtype=int)
    far = np.array([c.far_dof for c in contacts], dtype=int)
    rows = np.stack([near, near, far, far], axis=1).ravel()
    cols = np.stack([near, far, near, far], axis=1).ravel()
    return rows, cols
