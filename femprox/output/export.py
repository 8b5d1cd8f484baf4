"""Field export: the graph mesh as line cells in 2D/3D, with point data, through meshio.

The finite-element mesh lives in arc length (see :mod:`femprox.mesh`); for drawing and for
ParaView each wire is laid along the straight segment between its end nodes' positions
(``Node.position``, xi0). Nodes without a position get a deterministic automatic layout.
Points are the mesh vertices plus ``order - 1`` evenly spaced points inside every element
(so that high-order fields are drawn with their curvature; each element becomes ``order``
line cells), glued at the nodes, so every point has one value per field;
a wire end behind a contact (a tunnel barrier) has a point of its own at the node's position,
since the fields jump across the contact. Cell data name each cell's wire and carry its
barrier resistances and vector-potential flux, so that barriers and fluxes show in ParaView;
networks of up to :data:`NAMED_WIRES` wires also get a 0/1 cell array ``wire <name>`` per wire
(ParaView's Threshold on it selects a wire by its name).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from femprox.mesh import GraphMesh

if TYPE_CHECKING:
    import meshio


@dataclass(frozen=True)
class NetworkPoints:
    """Exported points of a graph mesh.

    coordinates: (n_points, 3) positions in xi0.
    cells: (n_elements, 2) point indices of each line cell, in mesh element order.
    wire_index: (n_elements,) wire of each cell.
    samples: per wire, (point indices, arc-length positions) of that wire's vertices, in
        order from the wire's start to its end.
    """

    coordinates: np.ndarray
    cells: np.ndarray
    wire_index: np.ndarray
    samples: tuple[tuple[np.ndarray, np.ndarray], ...]


def node_positions(mesh: GraphMesh) -> dict[str, np.ndarray]:
    """3D position of every node: its own if all nodes have one, else an automatic layout."""
    nodes = mesh.geometry.nodes
    if all(n.position is not None for n in nodes):
        return {n.name: np.pad(np.array(n.position, dtype=float), (0, 3 - len(n.position))) for n in nodes}
    return _spectral_layout(mesh)


def _spectral_layout(mesh: GraphMesh) -> dict[str, np.ndarray]:
    """Nodes placed by the two lowest non-trivial eigenvectors of the wire-length Laplacian."""
    geometry = mesh.geometry
    index = {n.name: k for k, n in enumerate(geometry.nodes)}
    n = len(index)
    laplacian = np.zeros((n, n))
    for w in geometry.wires:
        i, j = index[w.start], index[w.end]
        laplacian[i, j] -= 1 / w.length
        laplacian[j, i] -= 1 / w.length
        laplacian[i, i] += 1 / w.length
        laplacian[j, j] += 1 / w.length
    _, vectors = np.linalg.eigh(laplacian)
    layout = np.zeros((n, 3))
    columns = vectors[:, 1:3] if n > 2 else np.column_stack([np.arange(n), np.zeros(n)])
    layout[:, : columns.shape[1]] = columns
    total = sum(w.length for w in geometry.wires)
    span = max(np.ptp(layout[:, 0]), np.ptp(layout[:, 1]), 1e-12)
    layout *= total / span / 2
    return {name: layout[k] for name, k in index.items()}


NAMED_WIRES = 64
"""Largest network whose wires each get a named 0/1 cell array in exported files."""


def network_points(mesh: GraphMesh, points_per_element: int | None = None) -> NetworkPoints:
    """Points in space along every wire, glued at the nodes: the mesh vertices and
    ``points_per_element - 1`` evenly spaced points inside each element (default: the
    element order, so a P3 field is sampled at 4 points per element)."""
    geometry = mesh.geometry
    positions = node_positions(mesh)
    node_point = {n.name: k for k, n in enumerate(geometry.nodes)}
    coordinates = [positions[n.name] for n in geometry.nodes]
    cells, wire_index, samples = [], [], []
    per_element = mesh.order if points_per_element is None else int(points_per_element)
    if per_element < 1:
        raise ValueError(f"points_per_element must be at least 1, got {points_per_element!r}")
    for k, wire in enumerate(geometry.wires):
        x = _subdivided(mesh.wire_vertices(k), per_element)
        start, end = positions[wire.start], positions[wire.end]
        interior = x[1:-1]
        first = len(coordinates)
        coordinates.extend(start + (end - start) * (interior / wire.length)[:, None])
        ends = []
        for side, position in (("start", start), ("end", end)):
            if wire.contact_at(side) is None:
                ends.append(node_point[getattr(wire, side)])
            else:  # the field jumps across the contact: the wire's end is a point of its own
                ends.append(len(coordinates))
                coordinates.append(position)
        ids = np.concatenate([[ends[0]], first + np.arange(interior.size), [ends[1]]])
        cells.append(np.column_stack([ids[:-1], ids[1:]]))
        wire_index.append(np.full(ids.size - 1, k))
        samples.append((ids, x))
    coordinates, cells = np.array(coordinates), np.vstack(cells)
    # a node whose wires all end behind contacts is no wire's point: leave it out
    used = np.zeros(len(coordinates), dtype=bool)
    used[cells] = True
    if not used.all():
        renumber = np.cumsum(used) - 1
        coordinates, cells = coordinates[used], renumber[cells]
        samples = [(renumber[ids], x) for ids, x in samples]
    return NetworkPoints(coordinates=coordinates, cells=cells,
                         wire_index=np.concatenate(wire_index), samples=tuple(samples))


def _subdivided(vertices: np.ndarray, pieces: int) -> np.ndarray:
    """Vertices with every interval split into ``pieces`` equal parts."""
    if pieces == 1:
        return vertices
    fractions = np.arange(pieces) / pieces
    inner = vertices[:-1, None] + np.diff(vertices)[:, None] * fractions[None, :]
    return np.append(inner.ravel(), vertices[-1])


def sample_field(mesh: GraphMesh, points: NetworkPoints, dof_values: np.ndarray) -> np.ndarray:
    """Values of a finite-element field (global DOF vector) at the exported points."""
    values = np.zeros(points.coordinates.shape[0], dtype=np.result_type(dof_values, float))
    for k, (ids, x) in enumerate(points.samples):
        V, _ = mesh.evaluation_matrices(k, x)
        values[ids] = V @ dof_values
    return values


EXPORT_FORMATS = {".vtu": "VTK XML", ".vtk": "legacy VTK", ".xdmf": "XDMF", ".xmf": "XDMF"}
"""File extensions :func:`write_network` accepts (formats with line cells and point data)."""


def check_export_path(path: str | Path) -> Path:
    """The path, if its extension names a supported format; ValueError otherwise."""
    path = Path(path)
    if path.suffix.lower() not in EXPORT_FORMATS:
        known = ", ".join(f"{ext} ({name})" for ext, name in EXPORT_FORMATS.items())
        raise ValueError(f"{path}: unknown export format '{path.suffix}'; use one of {known}")
    return path


def write_network(path: str | Path, mesh: GraphMesh, point_data: dict[str, np.ndarray] | None = None,
                  *, overwrite: bool = False) -> Path:
    """Write the graph mesh with ``point_data`` (arrays over ``network_points(mesh)``).

    The format follows the file extension (``.vtu``, ``.xdmf``, ... anything meshio
    writes). Complex data is split into ``name_re`` and ``name_im``. An existing file is
    not replaced unless ``overwrite`` is true.
    """
    path = check_export_path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True (or --overwrite) to replace it")
    points = network_points(mesh)
    data: dict[str, np.ndarray] = {}
    for name, values in (point_data or {}).items():
        values = np.asarray(values)
        if values.shape[0] != points.coordinates.shape[0]:
            raise ValueError(f"point data '{name}' has {values.shape[0]} values, "
                             f"the network has {points.coordinates.shape[0]} points")
        if np.iscomplexobj(values):
            data[f"{name}_re"], data[f"{name}_im"] = values.real, values.imag
        else:
            data[name] = values.astype(float)
    cell_data = {"wire": [points.wire_index.astype(np.int64)], **_wire_cell_data(mesh, points)}
    import meshio  # here, not at the top: the figures import this module for node positions only

    meshio.write(path, meshio.Mesh(points.coordinates, [("line", points.cells)],
                                   point_data=data, cell_data=cell_data))
    return path


def _wire_cell_data(mesh: GraphMesh, points: NetworkPoints) -> dict[str, list[np.ndarray]]:
    """Per-cell copies of wire properties: barrier resistances at the wire's ends (0 where
    transparent) and the vector-potential flux along the wire (h/2e, loops included)."""
    from femprox.physics.contacts import TunnelBarrier
    from femprox.physics.flux import effective_fluxes

    def resistance(contact) -> float:
        return contact.resistance if isinstance(contact, TunnelBarrier) else 0.0

    wires = mesh.geometry.wires
    per_wire = {"start_barrier": [resistance(w.start_contact) for w in wires],
                "end_barrier": [resistance(w.end_contact) for w in wires],
                "flux": effective_fluxes(mesh.geometry)}
    data = {name: [np.asarray(values, dtype=float)[points.wire_index]] for name, values in per_wire.items()}
    if len(wires) <= NAMED_WIRES:
        for k, wire in enumerate(wires):
            data[f"wire {wire.name}"] = [(points.wire_index == k).astype(np.int64)]
    return data


def read_network(path: str | Path) -> meshio.Mesh:
    """Read a file written by :func:`write_network` (points, line cells, point/cell data)."""
    import meshio

    return meshio.read(Path(path))


def spectral_point_data(solution, energy_indices, quantities=("dos", "d_l", "d_t")) -> dict[str, np.ndarray]:
    """Point data of spectral quantities at selected energies, named like ``dos_E0.5``.

    ``solution`` is a :class:`femprox.spectral.solver.SpectralSolution`; quantities are ``dos``
    and the kinetic coefficients ``d_l``, ``d_t``, ``t_cal``, ``j_s`` (see
    :mod:`femprox.kinetic.coefficients`).
    """
    mesh = solution.mesh
    points = network_points(mesh)
    n = points.coordinates.shape[0]
    data = {f"{q}_E{solution.energies[i]:.6g}": np.zeros(n) for q in quantities for i in energy_indices}
    for k, (ids, x) in enumerate(points.samples):
        coefficients = solution.kinetic_coefficients(k, x)
        dos = solution.dos(k, x)
        for q in quantities:
            values = dos if q == "dos" else getattr(coefficients, q)
            for i in energy_indices:
                data[f"{q}_E{solution.energies[i]:.6g}"][ids] = values[i]
    return data


def distribution_point_data(solution, conductance, reservoirs) -> dict[str, np.ndarray]:
    """Point data f_L and f_T at every energy of ``solution``, named like ``f_L_E0.5``.

    ``conductance`` is :func:`femprox.kinetic.solver.spectral_conductance` of ``solution`` (with
    distributions kept); ``reservoirs`` maps terminal names to (temperature, potential)
    in Delta0 (see :func:`femprox.observables.conductance.terminal_values`).
    """
    from femprox.observables.conductance import terminal_values

    values = terminal_values(conductance, reservoirs)
    points = network_points(solution.mesh)
    n = points.coordinates.shape[0]
    data = {f"f_{mode}_E{e:.6g}": np.zeros(n) for e in solution.energies for mode in ("L", "T")}
    for k, (ids, x) in enumerate(points.samples):
        f = conductance.distribution(values, k, x)  # (energies, points, mode)
        for i, e in enumerate(solution.energies):
            data[f"f_L_E{e:.6g}"][ids] = f[i, :, 0]
            data[f"f_T_E{e:.6g}"][ids] = f[i, :, 1]
    return data


def pair_potential_point_data(mesh: GraphMesh, pair_potential) -> dict[str, np.ndarray]:
    """Point data ``gap`` (|Delta|, Delta0) and ``gap_phase`` (its phase, radians) of a
    :class:`~femprox.physics.pair_potential.PairPotentialField` on ``mesh`` (e.g. the
    self-consistent one of :func:`femprox.selfconsistency.gap_equation.solve_gap`).

    Between its quadrature points the field is its element polynomial
    (:meth:`~femprox.physics.pair_potential.PairPotentialField.at`). A point shared by wires
    (a node) gets the value of the wire with the largest |Delta| there: at an NS node that of
    the S wire's end, not the N wire's zero. Points where |Delta| = 0 have phase 0.
    """
    pair_potential.check_mesh(mesh)
    points = network_points(mesh)
    n = points.coordinates.shape[0]
    values = np.zeros(n, dtype=complex)
    for k, (ids, x) in enumerate(points.samples):
        here = pair_potential.at(k, x)
        larger = np.abs(here) >= np.abs(values[ids])
        values[ids[larger]] = here[larger]
    magnitude = np.abs(values)
    return {"gap": magnitude, "gap_phase": np.where(magnitude > 0, np.angle(values), 0.0)}


def field_point_data(system, energies, reservoirs=None, pair_potential=None) -> dict[str, np.ndarray]:
    """Solve a network at ``energies`` (Delta0) and return the point data of
    :func:`spectral_point_data` (DOS, D_L, D_T) and, with ``reservoirs``, of
    :func:`distribution_point_data` (f_L, f_T).

    ``system``: a :class:`~femprox.geometry.network.Geometry` (built in Python or loaded from a file)
    or a prepared GraphMesh. ``reservoirs``: terminal name -> (temperature, potential) in
    Delta0; terminals not named keep the temperature and potential of the geometry. None
    gives the geometry's own reservoir state. ``pair_potential``: a pair-potential field on
    ``system``'s mesh to solve with (None: the wires' rigid gaps); pass the mesh it lives on.
    """
    from femprox.kinetic.solver import spectral_conductance
    from femprox.mesh import build_mesh
    from femprox.spectral.solver import solve_spectral

    mesh = system if isinstance(system, GraphMesh) else build_mesh(system)
    energies = list(energies)
    if not energies:
        return {}
    solution = solve_spectral(mesh, energies, pair_potential=pair_potential)
    data = spectral_point_data(solution, range(len(energies)), ("dos", "d_l", "d_t"))
    state = {n.name: (n.temperature, n.potential) for n in mesh.geometry.terminals}
    unknown = set(reservoirs or {}) - set(state)
    if unknown:
        raise KeyError(f"no terminal named {sorted(unknown)[0]!r} (terminals: {', '.join(state)})")
    state.update(reservoirs or {})
    return data | distribution_point_data(solution, spectral_conductance(solution), state)
