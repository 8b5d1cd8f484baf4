"""Validation of the geometry dataclasses (femprox.geometry.network): every error names its culprit."""

from __future__ import annotations

import math

import pytest

from femprox.geometry.network import (
    Geometry,
    GeometryError,
    MeshOptions,
    Node,
    NodeKind,
    Wire,
    diffusion_from_coherence_length,
)


def n_reservoir(name: str) -> Node:
    return Node(name, NodeKind.NORMAL_RESERVOIR)


def clean(name: str) -> Node:
    return Node(name, NodeKind.CLEAN)


def t_network() -> tuple[list[Node], list[Wire]]:
    """left -- center -- right, with a free-ended arm center -- end."""
    nodes = [n_reservoir("left"), clean("center"), n_reservoir("right"),
             Node("end", NodeKind.FREE_END)]
    wires = [Wire("a", "left", "center", 1.0), Wire("b", "center", "right", 1.0),
             Wire("c", "center", "end", 2.0, gap=1.0)]
    return nodes, wires


def test_valid_network_and_lookups():
    nodes, wires = t_network()
    g = Geometry(nodes, wires, name="t")
    assert g.nodes == tuple(nodes) and g.wires == tuple(wires)
    assert [n.name for n in g.terminals] == ["left", "right"]
    assert {w.name for w in g.wires_at("center")} == {"a", "b", "c"}
    assert g.wire("c").is_superconducting and not g.wire("a").is_superconducting
    assert g.mesh_options(g.wire("a")) == MeshOptions()


def test_kind_given_as_string_becomes_enum():
    assert Node("x", "free_end").kind is NodeKind.FREE_END


def test_wire_derived_quantities():
    wire = Wire("w", "a", "b", length=2.0, diffusion=diffusion_from_coherence_length(0.5),
                conductance=4.0)
    assert wire.diffusion == 0.5
    assert math.isclose(wire.coherence_length, 0.5)
    assert wire.resistance == 0.5
    assert wire.thouless_energy == 0.125


def test_with_node_and_with_wire_copy():
    nodes, wires = t_network()
    g = Geometry(nodes, wires)
    hot = g.with_node("left", temperature=0.3).with_wire("c", length=5.0)
    assert hot.node("left").temperature == 0.3 and hot.wire("c").length == 5.0
    assert g.node("left").temperature == 0.0 and g.wire("c").length == 2.0


# -- node and wire fields -------------------------------------------------------------------

@pytest.mark.parametrize("key, value", [
    ("length", 0.0), ("length", -1.0), ("length", math.nan), ("length", math.inf),
    ("conductance", 0.0), ("conductance", -2.0), ("conductance", math.nan),
    ("diffusion", 0.0), ("gap", -1.0), ("dynes", -0.1), ("phase", math.nan),
    ("length", "ten"), ("length", True),
])
def test_bad_wire_value_names_wire_and_key(key, value):
    fields = {"length": 1.0, key: value}
    with pytest.raises(GeometryError, match=rf"wire 'w'.*'{key}'"):
        Wire("w", "a", "b", **fields)


def test_wire_loop_to_same_node():
    with pytest.raises(GeometryError, match="wire 'loop'.*same node 'a'"):
        Wire("loop", "a", "a", 1.0)


@pytest.mark.parametrize("name", ["", None])
def test_wire_needs_a_name(name):
    with pytest.raises(GeometryError, match="wire name"):
        Wire(name, "a", "b", 1.0)


def test_wire_end_must_be_a_node_name():
    with pytest.raises(GeometryError, match="wire 'w'.*'end'"):
        Wire("w", "a", 3, 1.0)


def test_unknown_node_kind():
    with pytest.raises(GeometryError, match="node 'x': unknown kind 'reservoir'"):
        Node("x", "reservoir")


def test_superconducting_reservoir_without_gap():
    with pytest.raises(GeometryError, match="node 'S'.*needs a 'gap'"):
        Node("S", NodeKind.SUPERCONDUCTING_RESERVOIR)


@pytest.mark.parametrize("gap", [0.0, -1.0, math.nan])
def test_superconducting_reservoir_with_bad_gap(gap):
    with pytest.raises(GeometryError, match="node 'S'.*'gap'"):
        Node("S", NodeKind.SUPERCONDUCTING_RESERVOIR, gap=gap)


def test_gap_on_a_normal_reservoir():
    with pytest.raises(GeometryError, match="node 'N'.*'gap'"):
        Node("N", NodeKind.NORMAL_RESERVOIR, gap=1.0)


def test_potential_on_a_superconducting_reservoir():
    with pytest.raises(GeometryError, match="node 'S'.*'potential'"):
        Node("S", NodeKind.SUPERCONDUCTING_RESERVOIR, gap=1.0, potential=0.1)


def test_negative_temperature():
    with pytest.raises(GeometryError, match="node 'N'.*'temperature'"):
        Node("N", NodeKind.NORMAL_RESERVOIR, temperature=-0.1)


@pytest.mark.parametrize("position", [(1.0,), (1.0, 2.0, 3.0, 4.0), (0.0, math.nan)])
def test_bad_position(position):
    with pytest.raises(GeometryError, match="node 'N'.*'position'"):
        Node("N", NodeKind.NORMAL_RESERVOIR, position=position)


@pytest.mark.parametrize("changes, key", [
    ({"elements": 0}, "elements"), ({"elements": 2.5}, "elements"), ({"order": 0}, "order"),
    ({"order": 11}, "order"), ({"grading": 0.5}, "grading"), ({"graded_ends": "middle"}, "graded_ends"),
])
def test_bad_mesh_options(changes, key):
    with pytest.raises(GeometryError, match=f"mesh: '{key}'"):
        MeshOptions(**changes)


# -- the network --------------------------------------------------------------------------

def test_wire_to_unknown_node():
    nodes, wires = t_network()
    wires[1] = Wire("b", "center", "rigth", 1.0)
    with pytest.raises(GeometryError, match="wire 'b': 'end' names unknown node 'rigth'"):
        Geometry(nodes, wires)


def test_duplicate_node_name():
    nodes, wires = t_network()
    with pytest.raises(GeometryError, match="duplicate node name 'left'"):
        Geometry(nodes + [n_reservoir("left")], wires)


def test_duplicate_wire_name():
    nodes, wires = t_network()
    with pytest.raises(GeometryError, match="duplicate wire name 'a'"):
        Geometry(nodes, wires + [Wire("a", "left", "right", 3.0)])


def test_no_wires():
    with pytest.raises(GeometryError, match="no wires"):
        Geometry([n_reservoir("left")], [])


def test_dangling_node():
    nodes, wires = t_network()
    with pytest.raises(GeometryError, match="node 'lonely' is dangling"):
        Geometry(nodes + [clean("lonely")], wires)


def test_clean_node_with_one_wire():
    nodes, wires = t_network()
    nodes[3] = clean("end")
    with pytest.raises(GeometryError, match="node 'end' is a clean node with only one wire"):
        Geometry(nodes, wires)


def test_free_end_with_two_wires():
    nodes, wires = t_network()
    nodes[1] = Node("center", NodeKind.FREE_END)
    with pytest.raises(GeometryError, match="node 'center' is a free end but 3 wires"):
        Geometry(nodes, wires)


def test_component_without_reservoir():
    nodes, wires = t_network()
    nodes += [Node("p", NodeKind.FREE_END), Node("q", NodeKind.FREE_END)]
    wires += [Wire("island", "p", "q", 1.0)]
    with pytest.raises(GeometryError, match="nodes p, q touches no reservoir"):
        Geometry(nodes, wires)


def test_network_without_any_reservoir():
    nodes = [Node("p", NodeKind.FREE_END), Node("q", NodeKind.FREE_END)]
    with pytest.raises(GeometryError, match="nodes p, q touches no reservoir"):
        Geometry(nodes, [Wire("w", "p", "q", 1.0)])


def test_disconnected_network():
    nodes, wires = t_network()
    nodes += [n_reservoir("p"), Node("q", NodeKind.FREE_END)]
    wires += [Wire("other", "p", "q", 1.0)]
    with pytest.raises(GeometryError, match="disconnected.*p, q"):
        Geometry(nodes, wires)


def test_non_node_in_nodes():
    nodes, wires = t_network()
    with pytest.raises(GeometryError, match="expected a Node"):
        Geometry(nodes + ["extra"], wires)


def test_unknown_lookup_names_the_missing_item():
    g = Geometry(*t_network())
    with pytest.raises(GeometryError, match="no node named 'nowhere'"):
        g.node("nowhere")
    with pytest.raises(GeometryError, match="no wire named 'z'"):
        g.with_wire("z", length=1.0)
