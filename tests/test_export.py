"""Mesh export through meshio: geometry, point data and a round trip through a file."""

import numpy as np
import pytest

from femprox.devices import t_junction
from femprox.export import network_points, read_network, sample_field, spectral_point_data, write_network
from femprox.geometry import Geometry, Node, Wire
from femprox.mesh import build_mesh
from femprox.spectral import solve_spectral


def test_points_lie_on_the_wires_between_their_nodes():
    mesh = build_mesh(t_junction())
    points = network_points(mesh)
    # one point per vertex, with the vertices at the nodes shared between wires
    assert points.coordinates.shape[0] == mesh.n_elements + len(mesh.geometry.nodes) - len(mesh.geometry.wires)
    # cell lengths add up to each wire's length (straight wires in the drawing plane)
    lengths = np.linalg.norm(np.diff(points.coordinates[points.cells], axis=1)[:, 0], axis=1)
    for k, wire in enumerate(mesh.geometry.wires):
        assert lengths[points.wire_index == k].sum() == pytest.approx(wire.length, rel=1e-12)


@pytest.mark.parametrize("suffix", [".vtu", ".xdmf"])
def test_round_trip_keeps_points_cells_and_data(tmp_path, suffix):
    solution = solve_spectral(t_junction(), [0.1, 0.5])
    data = spectral_point_data(solution, [0, 1])
    data["gamma"] = sample_field(solution.mesh, network_points(solution.mesh), solution.gamma[1])
    path = write_network(tmp_path / f"t{suffix}", solution.mesh, data)
    back = read_network(path)
    points = network_points(solution.mesh)
    np.testing.assert_allclose(back.points, points.coordinates)
    np.testing.assert_array_equal(back.cells_dict["line"], points.cells)
    np.testing.assert_allclose(back.point_data["dos_E0.5"], data["dos_E0.5"])
    np.testing.assert_allclose(back.point_data["gamma_im"], data["gamma"].imag)
    # DOS at the normal reservoirs is exactly 1; the sampled field is continuous at nodes
    left = 0
    assert back.point_data["dos_E0.1"][left] == pytest.approx(1.0, abs=1e-12)


def test_existing_file_is_not_overwritten(tmp_path):
    mesh = build_mesh(t_junction())
    path = write_network(tmp_path / "m.vtu", mesh)
    with pytest.raises(FileExistsError, match="exists"):
        write_network(path, mesh)
    write_network(path, mesh, overwrite=True)


def test_automatic_layout_without_positions():
    geometry = Geometry(nodes=(Node("N", "normal_reservoir"), Node("C", "clean"),
                               Node("S", "superconducting_reservoir", gap=1.0), Node("E", "free_end")),
                        wires=(Wire("a", "N", "C", 2.0), Wire("b", "C", "S", 1.0), Wire("c", "C", "E", 3.0)))
    points = network_points(build_mesh(geometry))
    assert np.all(np.isfinite(points.coordinates))
    node_xy = points.coordinates[:4]
    assert min(np.linalg.norm(node_xy[i] - node_xy[j]) for i in range(4) for j in range(i)) > 0


def test_unknown_export_format_is_rejected_before_any_work(tmp_path):
    with pytest.raises(ValueError, match=r"unknown export format '\.foo'; use one of \.vtu"):
        write_network(tmp_path / "m.foo", build_mesh(t_junction()))
