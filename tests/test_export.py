"""Mesh export through meshio: geometry, point data and a round trip through a file."""

import numpy as np
import pytest

from femprox.geometry.devices import t_junction
from femprox.output.export import network_points, read_network, sample_field, spectral_point_data, write_network
from femprox.geometry.network import Geometry, Node, Wire
from femprox.mesh import build_mesh
from femprox.spectral.solver import solve_spectral


def test_points_lie_on_the_wires_between_their_nodes():
    mesh = build_mesh(t_junction())
    points = network_points(mesh)
    # order (3) points per element, with the vertices at the nodes shared between wires
    geometry = mesh.geometry
    assert points.coordinates.shape[0] == mesh.order * mesh.n_elements + len(geometry.nodes) - len(geometry.wires)
    assert network_points(mesh, 1).coordinates.shape[0] == mesh.n_elements + len(geometry.nodes) - len(geometry.wires)
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


def test_distribution_point_data_in_equilibrium_and_with_a_temperature_drop():
    from femprox.geometry.devices import ns_wire
    from femprox.output.export import distribution_point_data
    from femprox.kinetic.solver import spectral_conductance

    # Equilibrium (both reservoirs at T = 0.1): f_L = tanh(E/2T) and f_T = 0 everywhere, also
    # inside the proximity region, up to the kinetic solver's subgap regularization (1e-9).
    solution = solve_spectral(ns_wire(length=3.0, temperature=0.1), [0.05, 0.5, 1.5])
    data = distribution_point_data(solution, spectral_conductance(solution), {"N": (0.1, 0.0), "S": (0.1, 0.0)})
    for e in (0.05, 0.5, 1.5):
        np.testing.assert_allclose(data[f"f_L_E{e:.6g}"], np.tanh(e / 0.2), atol=1e-7)
        np.testing.assert_allclose(data[f"f_T_E{e:.6g}"], 0.0, atol=1e-7)
    # Normal wire with a temperature drop: f_L is linear in x between the reservoir values
    normal = Geometry(nodes=(Node("A", "normal_reservoir"), Node("B", "normal_reservoir")),
                      wires=(Wire("w", "A", "B", 2.0),))
    solution = solve_spectral(normal, [0.3])
    data = distribution_point_data(solution, spectral_conductance(solution), {"A": (0.1, 0.0), "B": (0.3, 0.0)})
    points = network_points(solution.mesh)
    ids, x = points.samples[0]
    f_a, f_b = np.tanh(0.3 / 0.2), np.tanh(0.3 / 0.6)
    np.testing.assert_allclose(data["f_L_E0.3"][ids], f_a + (f_b - f_a) * x / 2.0, atol=1e-12)


def test_high_order_points_resolve_a_p3_field_between_vertices():
    # the exported samples are the finite-element field itself at the extra points: between
    # two vertices the P3 solution bends, which vertex-only export would draw as a chord
    solution = solve_spectral(t_junction(), [0.3])
    mesh = solution.mesh
    points = network_points(mesh)
    ids, x = points.samples[0]
    assert np.allclose(np.diff(x[:mesh.order + 1]), (x[mesh.order] - x[0]) / mesh.order)
    gamma = sample_field(mesh, points, solution.gamma[0])
    exact = solution.fields(0, x).gamma[0]
    np.testing.assert_allclose(gamma[ids], exact, atol=1e-12)


def test_export_with_temperature_bias_and_named_wires_from_a_python_geometry(tmp_path):
    from femprox import api
    from femprox.geometry.devices import nis_thermometer

    path = api.export_mesh(nis_thermometer(), tmp_path / "nis.vtu", energies=[0.5], temperature=0.1,
                           potentials={"left": 0.9, "right": 0.9})
    back = read_network(path)
    # f_T of a reservoir at T = 0.1, V = 0.9: (tanh((E + V)/2T) - tanh((E - V)/2T)) / 2 at E = 0.5
    expected = 0.5 * (np.tanh(1.4 / 0.2) - np.tanh(-0.4 / 0.2))
    assert back.point_data["f_T_E0.5"][0] == pytest.approx(expected, abs=1e-12)
    assert {"wire left_arm", "wire right_arm", "wire probe_arm"} <= set(back.cell_data)
    probe = back.cell_data["wire probe_arm"][0].astype(bool)
    assert np.all(back.cell_data["end_barrier"][0][probe] == 1000.0)
    with pytest.raises(ValueError, match="no terminal named 'lft'"):
        api.export_mesh(nis_thermometer(), tmp_path / "x.vtu", energies=[0.5], potentials={"lft": 1.0})
