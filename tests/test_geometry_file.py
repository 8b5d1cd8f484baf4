"""Geometry files (femprox.geometry.files) and the device builders (femprox.geometry.devices)."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import pytest

from femprox.geometry import devices
from femprox.physics.contacts import TunnelBarrier
from femprox.geometry.network import Geometry, GeometryError, MeshOptions, Node, NodeKind, Wire
from femprox.geometry.files import (
    GeometryFileError,
    evaluate_expression,
    geometry_to_toml,
    load_geometry,
    parse_geometry,
)

ROOT = Path(__file__).resolve().parent.parent
GEOMETRIES = ROOT / "geometries"
BAD_GEOMETRIES = Path(__file__).resolve().parent / "data" / "bad_geometries"

BUILDERS = {
    "t_junction": devices.t_junction,
    "ns_wire": devices.ns_wire,
    "sns_junction": devices.sns_junction,
    "inset": devices.inset,
    "sandwich": devices.sandwich,
    "house_interferometer": devices.house_interferometer,
    "house_s_loop": devices.house_s_loop,
    "nis_thermometer": devices.nis_thermometer,
}

MINIMAL = """
[nodes.a]
kind = "normal_reservoir"
[nodes.b]
kind = "normal_reservoir"
[wires.w]
start = "a"
end = "b"
length = {length}
"""


def minimal(length: str = "1.0", parameters: str = "") -> str:
    return parameters + MINIMAL.format(length=length)


# -- the shipped geometry files ---------------------------------------------------------------

def test_every_geometry_file_has_a_builder():
    assert {p.stem for p in GEOMETRIES.glob("*.toml")} == set(BUILDERS)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_geometry_file_equals_builder(name):
    path = GEOMETRIES / f"{name}.toml"
    assert path.read_text(encoding="utf-8").startswith("#")
    assert load_geometry(path) == BUILDERS[name]()


@pytest.mark.parametrize("name, overrides, arguments", [
    ("t_junction", {"parameters.r": 4, "parameters.length_s": 20.0}, {"r": 4.0, "length_s": 20.0}),
    ("t_junction", {"parameters.temperature": "0.05"}, {"temperature": 0.05}),
    ("house_interferometer", {"parameters.phi": "pi / 2"}, {"phase": math.pi / 2}),
    ("house_interferometer", {"parameters.arm_length": 0.2, "parameters.arm_conductance": 50},
     {"arm_length": 0.2, "arm_conductance": 50.0}),
    ("sns_junction", {"parameters.phi": 3.0, "parameters.length": 1.0}, {"phase": 3.0, "length": 1.0}),
    ("ns_wire", {"parameters.gap": 100.0}, {"gap": 100.0}),
    ("inset", {"parameters.width": 0.4}, {"width": 0.4}),
    ("sandwich", {"parameters.thickness": 0.05, "parameters.width": 2.0},
     {"thickness": 0.05, "width": 2.0}),
    ("t_junction", {"parameters.barrier": 10.0}, {"barrier": 10.0}),
    ("house_s_loop", {"parameters.flux": 0.3, "parameters.loop_length": 1.0}, {"flux": 0.3, "loop_length": 1.0}),
    ("house_s_loop", {"loops.flux.flux": 0.25}, {"flux": 0.25}),
    ("nis_thermometer", {"parameters.barrier": 20.0, "parameters.temperature": 0.1},
     {"barrier": 20.0, "temperature": 0.1}),
])
def test_parameter_overrides_match_builder(name, overrides, arguments):
    assert load_geometry(GEOMETRIES / f"{name}.toml", overrides) == BUILDERS[name](**arguments)


def test_file_order_is_kept():
    g = load_geometry(GEOMETRIES / "t_junction.toml")
    assert [n.name for n in g.nodes] == ["left", "center", "right", "s_end"]
    assert [w.name for w in g.wires] == ["left_arm", "right_arm", "s_arm"]


# -- the corpus of bad files ------------------------------------------------------------------

def bad_files() -> list[Path]:
    return sorted(BAD_GEOMETRIES.glob("*.toml"))


def expected_message(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} lacks its '# expect:' line"
    return first[len("# expect: "):]


def test_bad_corpus_is_large_enough():
    assert len(bad_files()) >= 15


@pytest.mark.parametrize("path", bad_files(), ids=lambda p: p.stem)
def test_bad_geometry_file(path):
    with pytest.raises(GeometryFileError) as info:
        load_geometry(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert path.name in message
    assert expected_message(path) in message


# -- reading ----------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.toml"
    with pytest.raises(GeometryFileError, match=r"nowhere\.toml: no such file"):
        load_geometry(path)


def test_source_label_prefixes_errors():
    with pytest.raises(GeometryFileError, match=r"^mine\.toml: wires\.w\.length"):
        parse_geometry(minimal('"x"'), source="mine.toml")


def test_error_is_a_geometry_error_and_pickles():
    with pytest.raises(GeometryError) as info:
        parse_geometry(minimal("-1.0"), source="f.toml")
    error = info.value
    assert isinstance(error, GeometryFileError) and isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) and copy.key == error.key == "wires.w"


def test_name_defaults_to_file_stem(tmp_path):
    path = tmp_path / "my_device.toml"
    path.write_text(minimal(), encoding="utf-8")
    assert load_geometry(path).name == "my_device"
    assert parse_geometry(minimal()).name == "network"


def test_defaults_and_number_types():
    g = parse_geometry(minimal("3"))
    wire = g.wire("w")
    assert wire == Wire("w", "a", "b", 3.0)
    assert type(wire.length) is float
    assert g.mesh == MeshOptions()


def test_coherence_length_sets_diffusion():
    text = minimal().replace("length = 1.0", "length = 1.0\ncoherence_length = 0.5")
    assert parse_geometry(text).wire("w").diffusion == 0.5


def test_mesh_tables():
    text = "[mesh]\norder = 3\nelements = \"2 * 5\"\n" + minimal() + "[wires.w.mesh]\ngrading = 1\n"
    g = parse_geometry(text)
    assert g.mesh == MeshOptions(elements=10, order=3)
    assert g.wire("w").mesh == MeshOptions(grading=1.0)


def test_parameters_may_use_earlier_parameters():
    params = '[parameters]\nr = 4.0\ng = "2 / sqrt(r)"\n'
    text = minimal('"g * 3"', params)
    assert parse_geometry(text).wire("w").length == 3.0


# -- expressions ----------------------------------------------------------------------------------

@pytest.mark.parametrize("expression, value", [
    ("1", 1.0), ("-2.5", -2.5), ("+3", 3.0), ("1 + 2 * 3", 7.0), ("(1 + 2) * 3", 9.0),
    ("2 ** 3 ** 2", 512.0), ("-2 ** 2", -4.0), ("7 / 2", 3.5), ("1e-3 * 4", 4e-3),
    ("pi / 2", math.pi / 2), ("sqrt(16)", 4.0), ("exp(0)", 1.0), ("log(exp(2))", 2.0),
    ("sin(0) + cos(0) + tan(0)", 1.0), ("abs(-3)", 3.0), ("length_n / 2", 5.0),
    ("2 / sqrt(r)", 1.0), ("  r * 2  ", 8.0),
])
def test_expression_values(expression, value):
    names = {"length_n": 10.0, "r": 4.0}
    assert evaluate_expression(expression, names) == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize("expression, reason", [
    ("__import__('os')", "calling '__import__' is not allowed"),
    ("open('/etc/passwd')", "calling 'open' is not allowed"),
    ("(1).__class__", "is not allowed"),
    ("[x for x in ()]", "is not allowed"),
    ("lambda: 1", "is not allowed"),
    ("r if r else 1", "is not allowed"),
    ("7 % 2", "is not allowed"),
    ("7 // 2", "is not allowed"),
    ("1 < 2", "is not allowed"),
    ("'a'", "constant 'a' is not allowed"),
    ("True", "constant True is not allowed"),
    ("1j", "is not allowed"),
    ("sqrt(1, 2)", "exactly one argument"),
    ("sqrt(x=1)", "exactly one argument"),
    ("sqrt", "is a function"),
    ("ten", "'ten' is not a declared parameter"),
    ("rr", "(did you mean 'r'?)"),
    ("inf", "values must be finite"),
    ("1 / 0", "division by zero"),
    ("10 ** 400", "overflows"),
    ("exp(1000)", "overflows"),
    ("1e308 * 10 - 1e308 * 10", "not a finite number"),
    ("(-8) ** 0.5", "not a real number"),
    ("sqrt(-1)", "sqrt(-1.0) is undefined"),
    ("log(0)", "undefined"),
    ("1 +", "not a valid arithmetic expression"),
    ("", "not a valid arithmetic expression"),
    ("x = 1", "not a valid arithmetic expression"),
    ("1" * 600, "longer than"),
])
def test_bad_expressions(expression, reason):
    with pytest.raises(ValueError) as info:
        evaluate_expression(expression, {"r": 4.0})
    assert reason in str(info.value)


def test_expressions_never_run_code(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("eval/exec must not be used")
    monkeypatch.setattr("builtins.eval", forbidden)
    monkeypatch.setattr("builtins.exec", forbidden)
    assert evaluate_expression("2 * pi", {}) == 2 * math.pi


# -- overrides --------------------------------------------------------------------------------

def test_overrides_of_fields():
    path = GEOMETRIES / "sns_junction.toml"
    g = load_geometry(path, {"wires.wire.length": 20, "nodes.S1.phase": "pi/2",
                             "wires.wire.mesh.elements": 40, "mesh.order": 3, "name": "x"})
    assert g.wire("wire").length == 20.0
    assert g.node("S1").phase == math.pi / 2
    assert g.wire("wire").mesh == MeshOptions(elements=40)
    assert g.mesh.order == 3 and g.name == "x"


def test_override_of_diffusion_replaces_coherence_length():
    text = minimal().replace("length = 1.0", "length = 1.0\ncoherence_length = 0.5")
    assert parse_geometry(text, overrides={"wires.w.diffusion": 3.0}).wire("w").diffusion == 3.0
    back = parse_geometry(text, overrides={"wires.w.coherence_length": 2.0})
    assert back.wire("w").diffusion == 8.0


def test_override_handles_names_with_dots():
    text = minimal().replace("[wires.w]", '[wires."w.1"]')
    g = parse_geometry(text, overrides={"wires.w.1.length": 4.0})
    assert g.wire("w.1").length == 4.0


@pytest.mark.parametrize("key, message", [
    ("parameters.q", "override 'parameters.q': no parameter 'q' is declared in the file"),
    ("parameters.lenght", "(did you mean 'length'?)"),
    ("wires.ww.length", "override 'wires.ww.length': no wire named 'ww' in the file (did you mean 'w'?)"),
    ("nodes.c.kind", "no node named 'c'"),
    ("wires.w.lenght", "unknown key 'lenght' (did you mean 'length'?)"),
    ("wires.w.mesh.elemnts", "unknown key 'elemnts' (did you mean 'elements'?)"),
    ("nodes.a.length", "unknown key 'length'"),
    ("mesh.size", "unknown key 'size'"),
    ("wire.w.length", "unknown key (did you mean 'wires'?)"),
    ("wires.w", "name a key of wire 'w', e.g. 'wires.w.length'"),
])
def test_bad_override_keys(key, message):
    text = minimal(parameters="[parameters]\nlength = 1.0\n")
    with pytest.raises(GeometryFileError) as info:
        parse_geometry(text, source="f.toml", overrides={key: 1.0})
    assert str(info.value).startswith("f.toml: ")
    assert message in str(info.value)


def test_bad_override_value_is_marked():
    with pytest.raises(GeometryFileError, match=r"wires\.w\.length \(overridden\): expected a number"):
        parse_geometry(minimal(), source="f.toml", overrides={"wires.w.length": "ten"})


# -- writing and the round trip ---------------------------------------------------------------

def unusual_geometry() -> Geometry:
    # names are restricted to letters (any script), digits, '_', '.', '+', '-' (femprox.geometry.limits);
    # the geometry's name is free text and exercises the TOML string escapes
    nodes = (
        Node("N-1", NodeKind.NORMAL_RESERVOIR, temperature=0.1, potential=-0.25,
             position=(1e-7, -0.0, 3.0)),
        Node("odd+name_", NodeKind.CLEAN),
        Node("S.1", NodeKind.SUPERCONDUCTING_RESERVOIR, gap=0.8, phase=-1.234567890123, temperature=2),
        Node("ünïcode", NodeKind.FREE_END, position=(1e5, 1 / 3)),
    )
    wires = (
        Wire("w-1", "N-1", "odd+name_", 0.1 + 0.2, diffusion=2.42, conductance=1e-5,
             mesh=MeshOptions(elements=7, order=4, grading=1.5, graded_ends="start")),
        Wire("w.2", "odd+name_", "S.1", 3.0, gap=0.0, phase=0.5, dynes=1e-3),
        Wire("w3", "odd+name_", "ünïcode", 2.0, gap=1.0),
    )
    return Geometry(nodes, wires, name='a "quoted" \\name\\', mesh=MeshOptions(order=1, graded_ends="none"))


@pytest.mark.parametrize("geometry", [
    pytest.param(unusual_geometry(), id="unusual"),
    *[pytest.param(builder(), id=name) for name, builder in BUILDERS.items()],
    pytest.param(devices.t_junction(r=0.3, temperature=0.07, mesh=MeshOptions(elements=3)), id="t-mesh"),
    pytest.param(devices.sandwich(rungs=3, width=0.7), id="sandwich-3"),
    pytest.param(devices.house_interferometer(phase=2.0), id="house-2"),
    pytest.param(devices.t_junction(barrier=3.5), id="t-barrier"),
    pytest.param(devices.house_s_loop(flux=0.3).with_wire("loop", phase=0.2, phase_end=1.1, flux=0.7)
                 .with_wire("s2_arm", end_contact=TunnelBarrier(0.5)), id="s-loop-winding"),
])
def test_round_trip(geometry):
    text = geometry_to_toml(geometry)
    assert parse_geometry(text) == geometry
    assert geometry_to_toml(parse_geometry(text)) == text


def test_written_file_loads_from_disk(tmp_path):
    geometry = devices.inset(width=0.4)
    path = tmp_path / "copy.toml"
    path.write_text(geometry_to_toml(geometry), encoding="utf-8")
    assert load_geometry(path) == geometry


# -- builders -----------------------------------------------------------------------------------

@pytest.mark.parametrize("builder, arguments, culprit", [
    (devices.t_junction, {"r": 0.0}, "'r'"),
    (devices.t_junction, {"length_n": -1.0}, "'length_n'"),
    (devices.t_junction, {"length_s": math.nan}, "'length_s'"),
    (devices.t_junction, {"temperature": -0.1}, "'temperature'"),
    (devices.ns_wire, {"gap": 0.0}, "'gap'"),
    (devices.ns_wire, {"length": "10"}, "'length'"),
    (devices.sns_junction, {"phase": math.inf}, "'phase'"),
    (devices.inset, {"width": 10.0}, "'width'"),
    (devices.inset, {"conductance_s": 0.0}, "'conductance_s'"),
    (devices.sandwich, {"rungs": 0}, "'rungs'"),
    (devices.sandwich, {"rungs": 2.5}, "'rungs'"),
    (devices.sandwich, {"rungs": True}, "'rungs'"),
    (devices.sandwich, {"thickness": 0.0}, "'thickness'"),
    (devices.sandwich, {"width": 12.0}, "'width'"),
    (devices.house_interferometer, {"arm_length": 0.0}, "'arm_length'"),
    (devices.house_interferometer, {"arm_conductance": -1.0}, "'arm_conductance'"),
])
def test_builder_rejects_nonsense(builder, arguments, culprit):
    with pytest.raises(GeometryError) as info:
        builder(**arguments)
    assert str(info.value).startswith(builder.__name__ + ": ")
    assert culprit in str(info.value)


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_builders_place_every_node(name):
    assert all(node.position is not None and len(node.position) == 2
               for node in BUILDERS[name]().nodes)


def test_t_junction_proximity_parameter():
    for r in (0.25, 1.0, 9.0):
        g = devices.t_junction(r=r)
        s, n = g.wire("s_arm"), g.wire("left_arm")
        assert 4 * (s.diffusion / n.diffusion) * (n.conductance / s.conductance) ** 2 == pytest.approx(r)
    assert g.wire("left_arm").length + g.wire("right_arm").length == 10.0
    assert g.node("s_end").kind is NodeKind.FREE_END


def test_phases_of_the_superconducting_reservoirs():
    sns = devices.sns_junction(phase=1.0)
    house = devices.house_interferometer(phase=1.0)
    for g in (sns, house):
        assert (g.node("S1").phase, g.node("S2").phase) == (0.5, -0.5)


def path_length(geometry: Geometry, names: list[str]) -> float:
    return sum(geometry.wire(name).length for name in names)


@pytest.mark.parametrize("rungs", [1, 2, 8, 33])
def test_sandwich_ladder(rungs):
    width, thickness, g_s = 1.5, 0.2, 3.0
    g = devices.sandwich(length_n=10.0, width=width, thickness=thickness, rungs=rungs,
                         conductance_s=g_s)
    n_chain = ["left_n1"] + [f"n{k}_n{k + 1}" for k in range(1, rungs)] + [f"n{rungs}_right"]
    s_chain = ["s_left_s1"] + [f"s{k}_s{k + 1}" for k in range(1, rungs)] + [f"s{rungs}_s_right"]
    assert path_length(g, n_chain) == pytest.approx(10.0)
    assert path_length(g, s_chain) == pytest.approx(width)
    rung_wires = [g.wire(f"rung{k}") for k in range(1, rungs + 1)]
    transverse = sum(w.conductance / w.length for w in rung_wires)
    assert transverse == pytest.approx(g_s * width / thickness**2)
    assert all(w.is_superconducting and w.length == thickness for w in rung_wires)
    assert {g.node("s_left").kind, g.node("s_right").kind} == {NodeKind.FREE_END}


def test_inset_segments():
    g = devices.inset(length_n=10.0, width=0.4)
    assert path_length(g, ["left_arm", "s_segment", "right_arm"]) == pytest.approx(10.0)
    assert g.wire("s_segment").is_superconducting and g.wire("s_segment").length == 0.4


def test_shipped_geometries_are_found_by_name():
    from femprox.geometry.files import shipped_geometry_path

    assert shipped_geometry_path("t_junction").name == "t_junction.toml"
    with pytest.raises(GeometryFileError, match="no shipped geometry"):
        shipped_geometry_path("no_such_device")
