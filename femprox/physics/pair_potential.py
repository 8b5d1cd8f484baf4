"""A pair potential that varies along the wires: Delta(x) e^{i chi(x)} as a field.

Without self-consistency every S wire carries a rigid pair potential (its ``gap``, with a
phase running linearly from ``phase`` to ``phase_end``; :class:`~femprox.physics.bulk.PointParameters`).
:class:`PairPotentialField` replaces that by complex values at the quadrature points of a
graph mesh, which is where the solvers evaluate the pair potential anyway:

* ``solve_spectral(mesh, energies, pair_potential=field)`` assembles the Usadel equation with
  it (and keeps it in ``SpectralSolution.pair_potential``);
* the kinetic stage (:func:`femprox.kinetic.coefficients_at_quadrature`) takes c_TL and c_TT
  from it through the solution.

Units: Delta0 (the zero-temperature gap of the reference superconductor); positions are arc
lengths along each wire (xi0), 0 at the wire's start. In normal wires the field is zero.

Between quadrature points the field is the polynomial through the Gauss points of the
element (degree n_points_per_element - 1, one degree above the element order): this is what
:meth:`PairPotentialField.at` returns, e.g. for profiles, and what moves a field to another
mesh of the same network (:meth:`PairPotentialField.on_mesh`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from femprox.physics.bulk import PointParameters


@dataclass(frozen=True)
class PairPotentialField:
    """Delta e^{i chi} (Delta0) at the quadrature points of a graph mesh.

    Attributes
    ----------
    values: (n_points,) complex pair potential at the points, in the order of
        ``mesh.quadrature`` (element by element, ``points_per_element`` each).
    wire_index, position: (n_points,) the wire and arc length (xi0) of every point; a field
        applies to any mesh whose quadrature has exactly these points.
    element_edges: per wire, the arc lengths (xi0) of its element boundaries, to interpolate
        between points.
    """

    values: np.ndarray
    wire_index: np.ndarray
    position: np.ndarray
    element_edges: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=complex)
        if values.ndim != 1 or values.shape != np.shape(self.position) or values.shape != np.shape(self.wire_index):
            raise ValueError(f"pair potential: values {values.shape}, positions {np.shape(self.position)} and "
                             f"wire indices {np.shape(self.wire_index)} must be equal 1D shapes")
        if not np.all(np.isfinite(values)):
            raise ValueError("pair potential: values must be finite")
        object.__setattr__(self, "values", values)

    # -- construction -----------------------------------------------------------------
    @classmethod
    def from_values(cls, mesh, values) -> "PairPotentialField":
        """A field with ``values`` (n_points,) at the quadrature points of ``mesh``
        (a :class:`~femprox.mesh.GraphMesh`). Values in normal wires must be zero."""
        q = mesh.quadrature
        values = np.asarray(values, dtype=complex)
        if values.shape != q.position.shape:
            raise ValueError(f"pair potential: expected {q.position.size} values (the quadrature points of the "
                             f"mesh), got shape {values.shape}")
        normal = ~np.array([w.is_superconducting for w in mesh.geometry.wires])[q.wire_index]
        if np.any(values[normal] != 0):
            raise ValueError("pair potential: normal wires have no pair potential (values there must be 0)")
        edges = tuple(mesh.wire_vertices(k) for k in range(len(mesh.geometry.wires)))
        return cls(values, q.wire_index.copy(), q.position.copy(), edges)

    @classmethod
    def rigid(cls, mesh) -> "PairPotentialField":
        """The geometry's own rigid pair potential (wire gaps and phases) as a field."""
        q = mesh.quadrature
        p = PointParameters.at_points(mesh.geometry, q.wire_index, q.position)
        return cls.from_values(mesh, (p.gap * p.phase_factor)[:, 0])

    @classmethod
    def from_function(cls, mesh, function) -> "PairPotentialField":
        """Values ``function(wire_index, x)`` (complex or real arrays) at the mesh's points,
        set to zero in normal wires."""
        q = mesh.quadrature
        values = np.asarray(function(q.wire_index, q.position), dtype=complex) * np.ones(q.position.size)
        normal = ~np.array([w.is_superconducting for w in mesh.geometry.wires])[q.wire_index]
        values[normal] = 0.0
        return cls.from_values(mesh, values)

    # -- use by the solvers -------------------------------------------------------------
    def matches(self, mesh) -> bool:
        """True if ``mesh`` has exactly this field's quadrature points."""
        q = mesh.quadrature
        return (q.position.shape == self.position.shape and np.array_equal(q.wire_index, self.wire_index)
                and np.allclose(q.position, self.position, rtol=0, atol=1e-12 * (1 + np.abs(self.position))))

    def check_mesh(self, mesh) -> None:
        """Raise ValueError if the field does not belong to ``mesh``'s quadrature points."""
        if not self.matches(mesh):
            raise ValueError("pair potential field was made on another mesh (its quadrature points differ); "
                             "move it with field.on_mesh(mesh)")

    def applied_to(self, parameters: PointParameters) -> PointParameters:
        """``parameters`` (at this field's points) with gap and phase factor from the field.

        Where the field vanishes the phase factor is 1 (it multiplies a zero gap)."""
        magnitude = np.abs(self.values)
        phase_factor = np.where(magnitude > 0, self.values / np.where(magnitude > 0, magnitude, 1.0), 1.0)
        return replace(parameters, gap=magnitude[:, None], phase_factor=phase_factor[:, None])

    # -- evaluation -----------------------------------------------------------------------
    @property
    def points_per_element(self) -> int:
        n_elements = sum(e.size - 1 for e in self.element_edges)
        return self.values.size // n_elements

    def at(self, wire: int, x) -> np.ndarray:
        """Field (complex, Delta0) at arc lengths ``x`` (xi0) of wire number ``wire``, by the
        polynomial through the Gauss points of the element containing each x."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        edges = self.element_edges[wire]
        if np.any((x < edges[0] - 1e-12 * edges[-1]) | (x > edges[-1] * (1 + 1e-12))):
            raise ValueError(f"positions must lie in [0, {edges[-1]}] on wire {wire}")
        mine = np.flatnonzero(self.wire_index == wire)
        n = self.points_per_element
        nodes = self.position[mine].reshape(-1, n)
        values = self.values[mine].reshape(-1, n)
        element = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, edges.size - 2)
        result = np.zeros(x.size, dtype=complex)
        for j in range(n):
            basis = np.ones(x.size)
            for m in range(n):
                if m != j:
                    basis *= (x - nodes[element, m]) / (nodes[element, j] - nodes[element, m])
            result += basis * values[element, j]
        return result

    def on_mesh(self, mesh) -> "PairPotentialField":
        """This field interpolated to the quadrature points of another mesh of the same network."""
        if self.matches(mesh):
            return self
        q = mesh.quadrature
        values = np.zeros(q.position.size, dtype=complex)
        for k in np.unique(q.wire_index):
            mine = q.wire_index == k
            values[mine] = self.at(int(k), q.position[mine])
        return PairPotentialField.from_function(mesh, lambda wire_index, x: values)

    def magnitude(self, wire: int) -> tuple[np.ndarray, np.ndarray]:
        """(x, |Delta|) at the quadrature points of wire number ``wire``."""
        mine = self.wire_index == wire
        return self.position[mine].copy(), np.abs(self.values[mine])
