"""Hostile input: every bad geometry file, command line or signal ends in one clear line.

Each case asserts exit status 2 (130/143 for Ctrl-C/SIGTERM), exactly one line
``femprox: error: ...`` on stderr naming the cause, no traceback, and no file or folder left
behind (the working folder and the output's parent are compared before and after).

The corpus: one defect per geometry file, generated from the shipped geometry files (every
numeric key of the first wires and nodes set to absurd or invalid values, bad names, broken
mesh options, unknown keys), hand-written files in ``tests/data/hostile_geometries`` (each
starts with ``# expect: <fragment of the message>``), synthetic files (deep nesting, huge
files, binary data, a FIFO, /dev/zero), bad command lines, and signals sent to real
processes. Most cases call ``femprox.cli.main`` in-process; only the signal and FIFO cases
start subprocesses.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from femprox import cli
from femprox.geometry import limits

ROOT = Path(__file__).resolve().parent.parent
GEOMETRIES = ROOT / "geometries"
SHIPPED = sorted(GEOMETRIES.glob("*.toml"))
T_JUNCTION = GEOMETRIES / "t_junction.toml"
HOUSE = GEOMETRIES / "house_interferometer.toml"
SNS = GEOMETRIES / "sns_junction.toml"
HAND_WRITTEN = sorted((Path(__file__).resolve().parent / "data" / "hostile_geometries").glob("*.toml"))


# -- helpers --------------------------------------------------------------------------------------

def listing(folder: Path) -> set[str]:
    """Every file and folder below ``folder`` (relative paths), hidden ones included."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def run_main(args: list, capsys) -> tuple[int, str, str]:
    status = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_clean_failure(status: int, err: str, fragments, *, before: set[str], folder: Path) -> None:
    """Exit 2, one line naming the cause, no traceback, nothing left behind in ``folder``."""
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("femprox: error: "), err
    assert "\x1b" not in err  # no terminal escape code reaches the terminal
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert status == 2
    assert listing(folder) == before, "files left behind"


def toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(value)


def to_toml(document: dict, prefix: tuple[str, ...] = ()) -> str:
    """TOML text of a parsed document (tables as [a.b] sections, scalars and arrays inline)."""
    scalars = [f"{toml_key(k)} = {toml_value(v)}" for k, v in document.items() if not isinstance(v, dict)]
    text = ""
    if prefix:
        text += "[" + ".".join(toml_key(p) for p in prefix) + "]\n"
    text += "".join(line + "\n" for line in scalars) + "\n"
    for key, value in document.items():
        if isinstance(value, dict):
            text += to_toml(value, prefix + (key,))
    return text


def test_toml_writer_round_trips_the_shipped_files():
    for path in SHIPPED:
        document = tomllib.loads(path.read_text())
        assert tomllib.loads(to_toml(document)) == document


# -- generated corpus: one defect per file, from the shipped geometries ---------------------------

BAD_WIRE_VALUES = {
    "length": [1e300, 1e-300, 0.0, -1.0, "1/0", "nan", "10**400", True, [1.0], "undeclared * 2", float("nan")],
    "conductance": [1e300, 1e-300, 0.0, -2.0, float("inf")],
    "diffusion": [1e300, 1e-300, 0.0],
    "coherence_length": [1e300, 1e-300],
    "gap": [1e300, 1e-300, -1.0],
    "phase": [1e300, "inf"],
    "dynes": [1e-300, 1e300, -1.0],
    "mesh": [{"elements": 100_000_000}, {"elements": 0}, {"grading": 1e30}, {"order": 11}, {"grading": 0.5},
             {"elements": 1.5}, {"graded_ends": "middle"}],
    "lenght": [1.0],  # unknown key
}
BAD_NODE_VALUES = {
    "temperature": [1e300, 1e-300, -1.0],
    "position": [[1e300, 0.0], [0.0], "abc", [0.0, 0.0, 0.0, 0.0]],
    "kind": ["superconductor", 3],
    "temprature": [0.1],  # unknown key
}
BAD_S_NODE_VALUES = {"gap": [1e300, 1e-300, 0.0], "dynes": [1e-300, 1e300], "phase": [1e300, -1e300]}
BAD_N_NODE_VALUES = {"potential": [1e300], "gap": [1.0], "dynes": [0.1]}
BAD_NAMES = ["$\\alpha$", "a\nb", "\x1b[31mred", "a b", "x" * 100, "-lead", "", "a/b", "quote\"d", "tab\t",
             "\u202eevil"]


def _first(document: dict, section: str, predicate=lambda entry: True) -> str | None:
    return next((name for name, entry in document[section].items() if predicate(entry)), None)


def generated_cases() -> list:
    cases = []
    for path in SHIPPED:
        base = tomllib.loads(path.read_text())
        wires = [_first(base, "wires"), _first(base, "wires", lambda w: "gap" in w)]
        for wire in dict.fromkeys(w for w in wires if w is not None):
            for key, values in BAD_WIRE_VALUES.items():
                for k, value in enumerate(values):
                    document = copy.deepcopy(base)
                    entry = document["wires"][wire]
                    if key == "coherence_length":
                        entry.pop("diffusion", None)
                    entry[key] = value
                    cases.append(pytest.param(path.stem, document, [f"wires.{wire}", key.split(".")[0]],
                                              id=f"{path.stem}-wire-{wire}-{key}-{k}"))
        kinds = {"superconducting_reservoir": BAD_S_NODE_VALUES, "normal_reservoir": BAD_N_NODE_VALUES}
        for kind, extra in kinds.items():
            node = _first(base, "nodes", lambda n, kind=kind: n.get("kind") == kind)
            if node is None:
                continue
            for key, values in {**BAD_NODE_VALUES, **extra}.items():
                for k, value in enumerate(values):
                    document = copy.deepcopy(base)
                    document["nodes"][node][key] = value
                    cases.append(pytest.param(path.stem, document, [f"nodes.{node}", key],
                                              id=f"{path.stem}-node-{node}-{key}-{k}"))
        for k, name in enumerate(BAD_NAMES):
            document = copy.deepcopy(base)
            old = next(iter(document["nodes"]))
            document["nodes"] = {(name if n == old else n): e for n, e in document["nodes"].items()}
            for entry in document["wires"].values():
                for end in ("start", "end"):
                    if entry.get(end) == old:
                        entry[end] = name
            cases.append(pytest.param(path.stem, document, ["nodes", "name"], id=f"{path.stem}-node-name-{k}"))
        for key, value, fragment in [("description", "\x1b[2J cleared", "control character"),
                                     ("name", "$\\frac{1}{0}$", "'$'"), ("name", "x" * 300, "longer"),
                                     ("mesh", {"elements": 10**8}, "elements"), ("mesh", {"grading": 1e30}, "grading"),
                                     ("extra", 1, "unknown key"), ("nodes", [], "table"),
                                     ("parameters", {"p": "1/0"}, "division by zero")]:
            document = copy.deepcopy(base)
            document[key] = value
            cases.append(pytest.param(path.stem, document, [key if key != "extra" else "extra", fragment],
                                      id=f"{path.stem}-top-{key}-{fragment[:10]}"))
        if "parameters" in base and base["parameters"]:
            first = next(iter(base["parameters"]))
            for k, value in enumerate(["1/0", "nan", "10**400", "__import__('os')", [1, 2], "sqrt(-1)"]):
                document = copy.deepcopy(base)
                document["parameters"][first] = value
                cases.append(pytest.param(path.stem, document, [f"parameters.{first}"],
                                          id=f"{path.stem}-parameter-{k}"))
    return cases


GENERATED = generated_cases()


def test_generated_corpus_is_large():
    assert len(GENERATED) >= 300


@pytest.mark.parametrize("stem, document, fragments", GENERATED)
def test_generated_bad_geometry(stem, document, fragments, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / f"{stem}.toml"
    path.write_text(to_toml(document), encoding="utf-8")
    before = listing(tmp_path)
    status, _, err = run_main(["solve", path, "-o", tmp_path / "out", "--no-progress", "--jobs", "1",
                               "--grid", "quick"], capsys)
    assert_clean_failure(status, err, [path.name, *fragments], before=before, folder=tmp_path)


# -- hand-written and synthetic files -----------------------------------------------------------

def expected_fragment(path: Path) -> str:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# expect: "), path.name
    return first[len("# expect: "):]


def test_hand_written_corpus_is_there():
    assert len(HAND_WRITTEN) >= 25


@pytest.mark.parametrize("path", HAND_WRITTEN, ids=lambda p: p.stem)
def test_hand_written_bad_geometry(path, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = listing(tmp_path)
    status, _, err = run_main(["solve", path, "-o", tmp_path / "out", "--no-progress", "--jobs", "1",
                               "--grid", "quick"], capsys)
    assert_clean_failure(status, err, [path.name, expected_fragment(path)], before=before, folder=tmp_path)


def _chain(wires: int) -> str:
    """A chain of ``wires`` wires between two normal reservoirs."""
    text = '[nodes.a]\nkind = "normal_reservoir"\n[nodes.b]\nkind = "normal_reservoir"\n'
    text += "".join(f'[nodes.c{i}]\nkind = "clean"\n' for i in range(wires - 1))
    ends = ["a"] + [f"c{i}" for i in range(wires - 1)] + ["b"]
    return text + "".join(f'[wires.w{i}]\nstart = "{ends[i]}"\nend = "{ends[i + 1]}"\nlength = 1.0\n'
                          for i in range(wires))


SYNTHETIC = {
    "too_many_wires": (_chain(limits.MAX_WIRES + 1), f"{limits.MAX_WIRES + 1} wires, at most {limits.MAX_WIRES}"),
    "chain_with_too_many_elements": ("[mesh]\nelements = 400\n" + _chain(1000), "degrees of freedom"),
    "nested_arrays": ("x = " + "[" * 100_000 + "]" * 100_000 + "\n", "nested"),
    "nested_inline_tables": ("x = " + "{a = " * 2000 + "1" + "}" * 2000 + "\n", "nested"),
    "deep_dotted_key": (".".join(["k"] * 40_000) + " = 1\n", "longer than"),
    "deep_dotted_table": ("[" + ".".join(["k"] * 100) + "]\n", "nested"),
    "huge_file": (("# " + "x" * 80 + "\n") * 60_000, "larger than"),
    "empty": ("", "missing the [nodes] table"),
    "only_comments": ("# nothing here\n", "missing the [nodes] table"),
    "utf16": ("\ufeffname = 'x'\n".encode("utf-16"), "not UTF-8"),
    "binary": (bytes(range(256)) * 4, "not UTF-8"),
    "nul_bytes": (b"name = \"a\x00b\"\n", "TOML syntax error"),
    "long_line": ("name = \"" + "a" * 20_000 + "\"\n", "longer than"),
}


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_bad_geometry(name, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    content, fragment = SYNTHETIC[name]
    path = tmp_path / f"{name}.toml"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    before = listing(tmp_path)
    started = time.perf_counter()
    status, _, err = run_main(["solve", path, "-o", tmp_path / "out"], capsys)
    assert time.perf_counter() - started < 10
    assert_clean_failure(status, err, [fragment], before=before, folder=tmp_path)


@pytest.mark.parametrize("target, fragment", [("/dev/zero", "not a regular file"), ("/dev/null", "not a regular"),
                                              (".", "is a folder"), ("missing.toml", "no such file")])
def test_special_files_as_geometry(target, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = listing(tmp_path)
    status, _, err = run_main(["solve", target, "-o", tmp_path / "out"], capsys)
    assert_clean_failure(status, err, [fragment], before=before, folder=tmp_path)


def test_symlink_to_a_device_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "zero.toml").symlink_to("/dev/zero")
    before = listing(tmp_path)
    status, _, err = run_main(["mesh", "zero.toml", "--draw", "x.png"], capsys)
    assert_clean_failure(status, err, ["not a regular file"], before=before, folder=tmp_path)


def test_fifo_as_geometry_file_does_not_hang(tmp_path):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    before = listing(tmp_path)
    result = subprocess.run([sys.executable, "-m", "femprox", "solve", str(fifo), "-o", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=60, cwd=tmp_path, env=_env())
    assert_clean_failure(result.returncode, result.stderr, ["pipe.toml", "not a regular file"], before=before,
                         folder=tmp_path)


# -- bad command lines --------------------------------------------------------------------------

BAD_COMMAND_LINES = [
    # temperatures
    (["solve", T_JUNCTION, "--temperatures", "1e300"], ["--temperatures", "out of range"]),
    (["solve", T_JUNCTION, "--temperatures", "1e-300"], ["--temperatures", "out of range"]),
    (["solve", T_JUNCTION, "--temperatures", "nan"], ["--temperatures", "nan"]),
    (["solve", T_JUNCTION, "--temperatures", "inf"], ["--temperatures"]),
    (["solve", T_JUNCTION, "--temperatures", "0"], ["--temperatures", "positive"]),
    (["solve", T_JUNCTION, "--temperatures", "0:1:100000000"], ["--temperatures", "at most 10000"]),
    (["solve", T_JUNCTION, "--temperatures", "0.1:1:20000", "0.1"], ["--temperatures", "at most 10000"]),
    (["solve", T_JUNCTION, "--temperatures", "0.1:1:0"], ["--temperatures", "positive integer"]),
    (["solve", T_JUNCTION, "--temperatures", "0.1:1:2.5"], ["--temperatures", "positive integer"]),
    (["solve", T_JUNCTION, "--temperatures", "0.1:1:3:cubic"], ["--temperatures", "bad range"]),
    (["solve", T_JUNCTION, "--temperatures", "-1:1:3:log"], ["--temperatures", "positive"]),
    (["solve", T_JUNCTION, "--temperatures", "__import__('os')"], ["--temperatures", "not a number"]),
    (["solve", T_JUNCTION, "--temperatures", "1" * 600], ["--temperatures", "longer than"]),
    (["solve", T_JUNCTION, "--temperatures", "(" * 400 + "1" + ")" * 400], ["--temperatures"]),
    (["solve", T_JUNCTION, "--temperatures", ""], ["--temperatures", "no values"]),
    (["solve", T_JUNCTION, "--temperatures", "0.1", "\x1b[2J"], ["--temperatures"]),
    # phases
    (["solve", HOUSE, "--phases", "1e300"], ["--phases", "out of range"]),
    (["solve", HOUSE, "--phases", "0:1:1000000"], ["--phases", "at most 10000"]),
    (["solve", HOUSE, "--phases", "nan"], ["--phases"]),
    (["solve", HOUSE, "--phases", "-1e300"], ["--phases", "out of range"]),
    (["solve", T_JUNCTION, "--phases", "-pi:pi:3"], ["--phase-key"]),
    (["solve", HOUSE, "--phases", "0", "--phase-key", "nodes.nowhere.phase"], ["nowhere"]),
    (["solve", HOUSE, "--phases", "0", "--phase-key", "wires.left_arm.length"], ["wires.left_arm", "length"]),
    (["solve", HOUSE, "--phases", "1e-300", "--phase-key", "wires.left_arm.length"], ["length", "out of range"]),
    (["solve", HOUSE, "--phases", "0:1:2000", "--temperatures", "0.1:0.2:1000"], ["at most 10000"]),
    # mesh settings and jobs
    (["solve", T_JUNCTION, "--refine", "1e6"], ["--refine", "out of range"]),
    # (the memory of a solve is planned per chunk of energies, so only a mesh beyond MAX_DOFS is refused up front)
    (["solve", T_JUNCTION, "--refine", "900", "--set", "parameters.length_n=100"],
     ["degrees of freedom", "largest wire"]),
    (["solve", T_JUNCTION, "--refine", "nan"], ["--refine"]),
    (["solve", T_JUNCTION, "--refine", "inf"], ["--refine"]),
    (["solve", T_JUNCTION, "--refine", "-1"], ["--refine"]),
    (["solve", T_JUNCTION, "--refine", "abc"], ["--refine", "invalid float"]),
    (["solve", T_JUNCTION, "--order", "0"], ["--order"]),
    (["solve", T_JUNCTION, "--order", "11"], ["--order"]),
    (["solve", T_JUNCTION, "--jobs", "0"], ["--jobs"]),
    (["solve", T_JUNCTION, "--jobs", "-3"], ["--jobs"]),
    (["solve", T_JUNCTION, "--jobs", "100000"], ["--jobs"]),
    (["solve", T_JUNCTION, "--grid", "finest"], ["invalid choice"]),
    # terminals
    (["solve", SNS], ["undefined", "superconducting reservoirs", "S1", "S2"]),
    (["solve", HOUSE, "--between", "S1", "S2"], ["undefined", "'S1' and 'S2'"]),
    (["solve", HOUSE, "--between", "left", "left"], ["two different"]),
    (["solve", HOUSE, "--between", "left", "center"], ["'center' is not a reservoir"]),
    (["solve", HOUSE, "--between", "left", "\x1b[31mred"], ["not a reservoir", "\\x1b"]),
    (["solve", T_JUNCTION, "--between", "left"], ["--between", "expected 2 arguments"]),
    # --set
    (["solve", T_JUNCTION, "--set", "r=" + "[" * 5000 + "]" * 5000], ["--set", "longer than"]),
    (["solve", T_JUNCTION, "--set", "r=" + "[" * 300 + "]" * 300], ["--set", "nested"]),
    (["solve", T_JUNCTION, "--set", "r=[[[1]]]"], ["--set", "nested"]),
    (["solve", T_JUNCTION, "--set", "r=1e300"], ["conductance", "out of range"]),
    (["solve", T_JUNCTION, "--set", "wires.s_arm.length=1e-300"], ["wires.s_arm.length", "out of range"]),
    (["solve", T_JUNCTION, "--set", "wires.s_arm.length=1e300"], ["wires.s_arm.length", "out of range"]),
    (["solve", T_JUNCTION, "--set", "wires.s_arm.gap=1e-300"], ["wires.s_arm.gap", "out of range"]),
    (["solve", T_JUNCTION, "--set", "wires.s_arm.diffusion=1e-12"], ["wires.s_arm.diffusion", "out of range"]),
    (["solve", T_JUNCTION, "--set", "wires.s_arm.mesh.elements=100000000"], ["elements", "out of range"]),
    (["solve", T_JUNCTION, "--set", "wires.s_arm.mesh.grading=1e30"], ["grading", "out of range"]),
    (["solve", T_JUNCTION, "--set", "mesh.elements=100000"], ["degrees of freedom"]),
    (["solve", HOUSE, "--set", "wires.left_arm.mesh.order=2"], ["house_interferometer.toml", "same element order"]),
    (["solve", T_JUNCTION, "--set", "temperature=1e300"], ["temperature", "out of range"]),
    (["solve", T_JUNCTION, "--set", "nodes.left.temperature=nan"], ["nodes.left.temperature", "finite"]),
    (["solve", HOUSE, "--set", "nodes.S1.dynes=1e-300"], ["nodes.S1.dynes", "out of range"]),
    (["solve", HOUSE, "--set", "nodes.S1.phase=1e300"], ["nodes.S1.phase", "out of range"]),
    (["solve", T_JUNCTION, "--set", "r={a={b=1}}"], ["parameters.r"]),
    (["solve", T_JUNCTION, "--set", "a.b.c.d=1"], ["unknown key"]),
    (["solve", T_JUNCTION, "--set", "wires.s_arm=1"], ["name a key"]),
    (["solve", T_JUNCTION, "--set", "nodes.left.kind=\"\x1b]0;pwned\x07\""], ["unknown node kind", "\\x1b"]),
    (["solve", T_JUNCTION, "--set", "nodes.left.kind=$x$"], ["unknown node kind", "'$x$'"]),
    (["solve", T_JUNCTION, "--set", "__class__=1"], ["__class__"]),
    # output folder
    (["solve", T_JUNCTION, "-o", ""], ["output folder name is empty"]),
    (["solve", T_JUNCTION, "-o", "   "], ["output folder name is empty"]),
    (["paper", "-o", ""], ["output folder name is empty"]),
    (["convergence", T_JUNCTION, "-o", ""], ["output folder name is empty"]),
    # mesh
    (["mesh", T_JUNCTION, "--export", "a.vtu", "--draw", "a.vtu"], ["a.vtu", "cannot write"]),
    (["mesh", T_JUNCTION, "--export", "a.vtu", "--draw", "./a.vtu"], ["a.vtu"]),
    (["mesh", T_JUNCTION, "--draw", "a.vtu"], ["cannot write '.vtu'"]),
    (["mesh", T_JUNCTION, "--export", "a.png"], ["unknown export format"]),
    (["mesh", T_JUNCTION, "--export", ""], ["--export", "empty"]),
    (["mesh", T_JUNCTION, "--draw", ""], ["--draw", "empty"]),
    (["mesh", T_JUNCTION, "--export", "a.vtu", "--energies", "0:1:200000"], ["--energies", "at most 10000"]),
    (["mesh", T_JUNCTION, "--export", "a.vtu", "--energies", "1e300"], ["--energies", "out of range"]),
    (["mesh", T_JUNCTION, "--export", "a.vtu", "--energies", "nan"], ["--energies"]),
    (["mesh", T_JUNCTION, "--export", "a.vtu", "--energies", "0:2:9000", "--refine", "100"],
     ["GB", "energies"]),
    (["mesh", T_JUNCTION, "--draw", "a.png", "--energies", "0.5"], ["--energies needs --export"]),
    (["mesh", T_JUNCTION, "--export", "nofolder/a.vtu"], ["does not exist"]),
    (["mesh", GEOMETRIES / "ns_wire.toml", "--export", "a.vtu", "--energies", "1.0"], ["coincides with the gap"]),
    # convergence
    (["convergence", T_JUNCTION, "--temperature", "1e300"], ["--temperature", "out of range"]),
    (["convergence", T_JUNCTION, "--temperature", "nan"], ["--temperature"]),
    (["convergence", T_JUNCTION, "--energy", "1e300"], ["--energy", "out of range"]),
    (["convergence", T_JUNCTION, "--refinements", "1e6"], ["--refinements", "out of range"]),
    (["convergence", T_JUNCTION, "--refinements", "300", "--set", "parameters.length_n=100"],
     ["degrees of freedom"]),
    (["convergence", T_JUNCTION, "--orders", "0"], ["--orders"]),
    (["convergence", T_JUNCTION, "--orders", "11"], ["--orders"]),
    (["convergence", T_JUNCTION, "--observable", "dos", "--position", "-1"], ["position"]),
    (["convergence", T_JUNCTION, "--observable", "dos", "--wire", "$x$"], ["$x$"]),
    (["convergence", SNS, "--observable", "G"], ["undefined"]),
    # the parser itself
    (["solve"], ["required"]),
    (["solve", T_JUNCTION, "--temperatures"], ["--temperatures", "expected at least one argument"]),
    (["solve", T_JUNCTION, "--no-such-option"], ["unrecognized arguments"]),
    (["\x1b[31msolve"], ["invalid choice", "\\x1b"]),
    (["paper", "--quick", "--jobs", "x"], ["--jobs", "invalid int"]),
]


def _ids(case) -> str:
    args, _ = case
    return " ".join(str(a)[:25] for a in args).encode("ascii", "backslashreplace").decode()


@pytest.mark.parametrize("args, fragments", BAD_COMMAND_LINES, ids=[_ids(c) for c in BAD_COMMAND_LINES])
def test_bad_command_line(args, fragments, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = list(args)
    if args[0] in ("solve", "paper", "convergence") and "-o" not in args and len(args) > 1:
        args += ["-o", "out"]
    if args[0] in ("solve", "convergence") and len(args) > 1:
        args += ["--no-progress"] + ([] if "--jobs" in args else ["--jobs", "1"])
    before = listing(tmp_path)
    status, _, err = run_main(args, capsys)
    assert_clean_failure(status, err, fragments, before=before, folder=tmp_path)


def test_bad_command_line_corpus_is_large():
    assert len(BAD_COMMAND_LINES) >= 80


@pytest.mark.parametrize("existing", ["file", "folder"])
def test_existing_output_is_refused_before_any_work(existing, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    if existing == "file":
        out.write_text("mine")
    else:
        out.mkdir()
        (out / "mine.txt").write_text("mine")
    before = listing(tmp_path)
    status, _, err = run_main(["solve", T_JUNCTION, "-o", out], capsys)
    assert_clean_failure(status, err, ["out"], before=before, folder=tmp_path)


def test_an_internal_error_says_it_is_a_bug_and_where_the_traceback_is(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    crash_folder = tmp_path / "crash"
    crash_folder.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(crash_folder))

    def broken(*args, **kwargs):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(cli.sweeps, "sweep_tasks", broken)
    status, _, err = run_main(["solve", T_JUNCTION, "-o", "out"], capsys)
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert "internal error (a bug in femprox" in lines[0] and "TypeError: unsupported operand" in lines[0]
    logs = list(crash_folder.glob("femprox-crash-*.log"))
    assert len(logs) == 1 and str(logs[0]) in lines[0]
    assert "Traceback" in logs[0].read_text() and "broken" in logs[0].read_text()
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("error, fragment", [(MemoryError(), "out of memory"),
                                             (RecursionError("maximum recursion depth exceeded"), "nested too deeply"),
                                             (BrokenProcessPool("gone"), "worker process died")])
def test_resource_errors_are_one_line(error, fragment, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)

    def exhausted(*args, **kwargs):
        raise error

    monkeypatch.setattr(cli.sweeps, "sweep_tasks", exhausted)
    before = listing(tmp_path)
    status, _, err = run_main(["solve", T_JUNCTION, "-o", "out"], capsys)
    assert_clean_failure(status, err, [fragment], before=before, folder=tmp_path)


def test_a_failing_solve_leaves_nothing_and_a_rerun_works(tmp_path, capsys, monkeypatch):
    """A failure during the solve used to leave a folder holding only femprox.log, and the
    re-run was then refused as 'not empty'."""
    from femprox.spectral.solver import SpectralConvergenceError
    import numpy as np

    monkeypatch.chdir(tmp_path)
    real = cli.sweeps._energy_grid.solve_spectral

    def fail(*args, **kwargs):
        raise SpectralConvergenceError("Usadel solver did not converge for 3 of 40 energies on 't_junction': "
                                       + "E=0.5 (stalled, residual 1e-3), " * 60, np.array([0.5, 0.51, 0.52]))

    monkeypatch.setattr(cli.sweeps._energy_grid, "solve_spectral", fail)
    before = listing(tmp_path)
    args = ["solve", T_JUNCTION, "--grid", "quick", "-o", "out", "--no-progress", "--jobs", "1"]
    status, _, err = run_main(args, capsys)
    assert_clean_failure(status, err, ["did not converge", "E = 0.5, 0.51, 0.52", "t_junction"], before=before,
                         folder=tmp_path)
    assert len(err.strip()) < 300  # one short line, not the solver's list of energies
    monkeypatch.setattr(cli.sweeps._energy_grid, "solve_spectral", real)
    status, _, _ = run_main(args, capsys)
    assert status == 0 and (tmp_path / "out" / "run.json").is_file()


# -- signals (real processes) -------------------------------------------------------------------

def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def _start_long_solve(tmp_path: Path, out: Path, *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "femprox", "solve", str(HOUSE), "--phases", "0:pi:40", "--temperatures", "0.1",
            "0.2", "--jobs", "2", "--no-progress", "-o", str(out), *extra]
    return subprocess.Popen(args, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for_workers(process: subprocess.Popen, count: int = 2, timeout: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        children = _children(process.pid)
        if len(children) >= count:
            time.sleep(1.0)  # let the workers take tasks
            return _children(process.pid)
        assert process.poll() is None, process.communicate()
        time.sleep(0.1)
    raise AssertionError("no worker processes started")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_stops_workers_and_leaves_no_output(signum, status, tmp_path):
    before = listing(tmp_path)
    process = _start_long_solve(tmp_path, tmp_path / "out")
    workers = _wait_for_workers(process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert ("terminated" if signum == signal.SIGTERM else "interrupted") in err
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "orphaned workers"
    assert listing(tmp_path) == before


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_sigterm_during_overwrite_keeps_the_previous_run(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    previous = {"results.csv": "old results\n", "run.json": json.dumps({"files": ["results.csv", "run.json"]}),
                "notes.txt": "mine\n"}
    for name, text in previous.items():
        (out / name).write_text(text)
    before = listing(tmp_path)
    process = _start_long_solve(tmp_path, out, "--overwrite")
    _wait_for_workers(process)
    process.terminate()
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert listing(tmp_path) == before
    assert {p.name: p.read_text() for p in out.iterdir()} == previous


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_workers_die_with_a_killed_main_process(tmp_path):
    process = _start_long_solve(tmp_path, tmp_path / "out")
    workers = _wait_for_workers(process)
    process.kill()
    process.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "orphaned workers after SIGKILL"
    # only a hard kill can leave a staging folder, and its name says it is partial
    assert all(".femprox-partial-" in name for name in listing(tmp_path) if "/" not in name)


# -- what must work: the fixed cases succeed ------------------------------------------------------

def test_negative_expressions_are_values_not_options():
    args = cli.build_parser().parse_args(["solve", "g.toml", "--phases", "-pi:pi:5", "-2*pi", "-sqrt(2)", "-.5",
                                          "-(1)", "-o", "out", "-v"])
    assert args.phases == ["-pi:pi:5", "-2*pi", "-sqrt(2)", "-.5", "-(1)"]
    assert args.output == "out" and args.verbose == 1
    assert cli.parse_values(args.phases, "--phases")[:5] == pytest.approx(
        [-math.pi, -math.pi / 2, 0, math.pi / 2, math.pi])


def test_negative_phase_range_solves(tmp_path, capsys):
    out = tmp_path / "out"
    status, stdout, err = run_main(["solve", HOUSE, "--phases", "-pi:pi:2", "--grid", "quick", "-o", out,
                                    "--no-progress", "--jobs", "1"], capsys)
    assert status == 0, err
    assert "-3.14159" in stdout
    assert (out / "run.json").is_file()


def test_draw_reports_the_file_it_wrote_and_leaves_nothing_else(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, stdout, err = run_main(["mesh", T_JUNCTION, "--draw", "out"], capsys)
    assert status == 0, err
    assert stdout.strip() == "wrote out.png"
    assert listing(tmp_path) == {"out.png"}


def test_export_and_draw_write_exactly_their_files(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, stdout, err = run_main(["mesh", T_JUNCTION, "--export", "a.xdmf", "--energies", "0.5",
                                    "--draw", "a.svg"], capsys)
    assert status == 0, err
    assert listing(tmp_path) == {"a.xdmf", "a.h5", "a.svg"}  # the XDMF's data file came along
    import meshio

    assert "dos_E0.5" in meshio.read(tmp_path / "a.xdmf").point_data


def test_overwrite_replaces_the_previous_run_and_nothing_else(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.csv").write_text("from an older run\n")
    (out / "results.csv").write_text("old\n")
    (out / "femprox.log").write_text("OLD LOG LINE\n")
    (out / "run.json").write_text(json.dumps({"files": ["stale.csv", "results.csv", "femprox.log", "run.json"]}))
    (out / "mine.txt").write_text("unrelated\n")
    args = ["solve", T_JUNCTION, "--grid", "quick", "-o", out, "--no-progress", "--jobs", "1", "--overwrite"]
    status, _, err = run_main(args, capsys)
    assert status == 0, err
    names = {p.name for p in out.iterdir()}
    assert names == {"results.csv", "results.nc", "matrices.csv", "sweep.png", "run.json", "femprox.log", "mine.txt"}
    assert "OLD LOG LINE" not in (out / "femprox.log").read_text()  # a fresh log, not appended
    assert (out / "mine.txt").read_text() == "unrelated\n"
    record = json.loads((out / "run.json").read_text())
    assert record["files"] == sorted(names - {"mine.txt"})
    assert not [p for p in tmp_path.iterdir() if ".femprox-partial-" in p.name]


def test_repeated_log_messages_are_collapsed(tmp_path):
    import logging

    log_file = tmp_path / "femprox.log"
    logger = logging.getLogger("femprox")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    try:
        cli._configure_logging(0, log_file)
        for _ in range(30):
            logging.getLogger("femprox.spectral.solver").info("3 of 7 energies needed smaller Dynes steps between 0.3 and 0.03")
        logging.getLogger("femprox.spectral.solver").info("another note")
        cli._log_repeats(logger)
        cli._close_file_handlers(logger)
    finally:
        logger.handlers[:], logger.level, logger.propagate = saved
    text = log_file.read_text()
    assert text.count("needed smaller Dynes steps") == 2  # the message once, and its repeat count
    assert "repeated 29 more times" in text and "another note" in text


def test_unusual_accepted_values_warn_naming_the_parameter(caplog):
    from femprox.geometry.files import load_geometry

    with caplog.at_level("WARNING", logger="femprox"):
        load_geometry(T_JUNCTION, {"wires.s_arm.conductance": 1e5, "wires.left_arm.mesh.grading": 5e3})
    messages = [r.getMessage() for r in caplog.records]
    assert any("wires.s_arm.conductance (overridden)" in m and "unusual" in m for m in messages), messages
    assert any("wires.left_arm.mesh.grading" in m for m in messages), messages


@pytest.mark.parametrize("temperature", ["1e-6", "50"])
def test_extreme_accepted_temperatures_give_finite_results(temperature, tmp_path, capsys):
    out = tmp_path / "out"
    status, _, err = run_main(["solve", T_JUNCTION, "--temperatures", temperature, "--grid", "quick", "-o", out,
                               "--no-progress", "--jobs", "1"], capsys)
    assert status == 0, err
    rows = [line for line in (out / "results.csv").read_text().splitlines() if not line.startswith("#")]
    kappa = float(rows[1].split(",")[5])
    # T -> 0: kappa/kappa_N saturates at 0.3515 (r = 1, README); far above T_c it is 1
    assert kappa == pytest.approx(0.3515 if temperature == "1e-6" else 1.0, abs=2e-3)


def test_plot_texts_are_shown_literally():
    from matplotlib.figure import Figure

    from femprox.geometry.devices import ns_wire
    from femprox.output.plotting import draw_network, plain_text

    assert plain_text("$\\frac{1}{0}$ \x1b[2J") == "\\$\\frac{1}{0}\\$ \\x1b[2J"
    geometry = ns_wire()
    geometry = type(geometry)(geometry.nodes, geometry.wires, name="$\\frac{1}{$", mesh=geometry.mesh)
    figure = Figure()
    ax = figure.subplots()
    draw_network(geometry, ax)
    figure.canvas.draw()  # a malformed formula would raise here
    assert ax.get_title() == "\\$\\frac{1}{\\$"


def test_output_below_a_file_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    before = listing(tmp_path)
    status, _, err = run_main(["solve", T_JUNCTION, "-o", "afile/out"], capsys)
    assert_clean_failure(status, err, ["afile", "is not a folder"], before=before, folder=tmp_path)
