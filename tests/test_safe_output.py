"""Atomic output folders and files (femprox.output.safe_output) and the value limits (femprox.geometry.limits)."""

from __future__ import annotations

import json
import math

import pytest

from femprox.geometry import limits
from femprox.output import safe_output
from femprox.output.safe_output import OutputExistsError, atomic_file, previous_run_files, staged


def names(folder):
    return sorted(p.name for p in folder.iterdir())


# -- staged folders -----------------------------------------------------------------------------

def test_a_new_folder_appears_complete_with_its_file_list(tmp_path):
    target = tmp_path / "a" / "b" / "run"
    with staged(target) as folder:
        assert not target.exists()  # nothing visible while writing
        (folder / "results.csv").write_text("x\n")
        (folder / "run.json").write_text(json.dumps({"command": "solve"}))
    assert names(target) == ["results.csv", "run.json"]
    assert json.loads((target / "run.json").read_text()) == {"command": "solve", "files": ["results.csv", "run.json"]}
    assert names(tmp_path / "a" / "b") == ["run"]  # no staging folder left


@pytest.mark.parametrize("error", [RuntimeError("failed while writing"), KeyboardInterrupt()])
def test_a_failure_while_writing_leaves_the_previous_state(error, tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    (target / "results.csv").write_text("previous\n")
    (target / "run.json").write_text(json.dumps({"files": ["results.csv", "run.json"]}))
    with pytest.raises(type(error)):
        with staged(target, overwrite=True) as folder:
            (folder / "results.csv").write_text("half\n")
            raise error
    assert names(target) == ["results.csv", "run.json"]
    assert (target / "results.csv").read_text() == "previous\n"
    assert names(tmp_path) == ["run"]


def test_overwrite_removes_exactly_the_listed_files_of_the_previous_run(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    for name in ("old.csv", "results.csv", "notes.txt"):
        (target / name).write_text(name)
    (target / "run.json").write_text(json.dumps({"files": ["old.csv", "results.csv", "run.json"]}))
    with staged(target, overwrite=True) as folder:
        (folder / "results.csv").write_text("new")
        (folder / "run.json").write_text("{}")
    assert names(target) == ["notes.txt", "results.csv", "run.json"]
    assert (target / "results.csv").read_text() == "new"


def test_a_run_record_cannot_make_overwrite_delete_outside_the_folder(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    (tmp_path / "precious.txt").write_text("keep")
    (target / "run.json").write_text(json.dumps({"files": ["../precious.txt", "/etc/passwd", "", ".."]}))
    assert previous_run_files(target) == [target / "run.json"]


def test_without_a_file_list_the_known_outputs_are_replaced(tmp_path):
    target = tmp_path / "run"
    target.mkdir()
    for name in ("results.csv", "sweep.png", "data.csv"):
        (target / name).write_text(name)
    (target / "run.json").write_text("not json")
    assert [p.name for p in previous_run_files(target)] == ["results.csv", "run.json", "sweep.png"]


@pytest.mark.parametrize("target, fragment", [("", "empty"), ("  ", "empty")])
def test_bad_targets_are_refused(target, fragment):
    with pytest.raises(OutputExistsError, match=fragment):
        safe_output.check_target(target)


def test_a_non_empty_folder_needs_overwrite_and_a_file_is_no_folder(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="not empty"):
        safe_output.check_target(tmp_path / "full")
    with pytest.raises(OutputExistsError, match="not a folder"):
        safe_output.check_target(tmp_path / "file")
    with pytest.raises(OutputExistsError, match="is not a folder"):
        safe_output.check_target(tmp_path / "file" / "below")
    assert safe_output.check_target(tmp_path / "full", overwrite=True) == tmp_path / "full"


# -- single files -------------------------------------------------------------------------------

def test_atomic_file_moves_companion_files_and_cleans_up(tmp_path):
    with atomic_file(tmp_path / "a.xdmf") as temporary:
        temporary.write_text("xml")
        temporary.with_suffix(".h5").write_text("data")
        assert not (tmp_path / "a.xdmf").exists()
    assert names(tmp_path) == ["a.h5", "a.xdmf"]
    with pytest.raises(ValueError):
        with atomic_file(tmp_path / "b.vtu") as temporary:
            temporary.write_text("half")
            raise ValueError("failed")
    assert names(tmp_path) == ["a.h5", "a.xdmf"]


def test_atomic_file_refuses_existing_files_and_missing_folders(tmp_path):
    (tmp_path / "a.png").write_text("x")
    with pytest.raises(OutputExistsError, match="exists"):
        with atomic_file(tmp_path / "a.png"):
            pass
    with pytest.raises(OutputExistsError, match="does not exist"):
        with atomic_file(tmp_path / "none" / "a.png"):
            pass
    assert names(tmp_path) == ["a.png"]


# -- limits -------------------------------------------------------------------------------------

@pytest.mark.parametrize("key, value, accepted", [
    ("length", 10.0, True), ("length", 1e300, False), ("length", 1e-300, False), ("length", 1e-4, True),
    ("gap", 0.0, True), ("gap", 1e-300, False), ("dynes", 0.0, True), ("dynes", 1e-300, False),
    ("dynes", 1e-6, True), ("phase", -1e3, True), ("phase", 1e300, False), ("temperature", 1e300, False),
    ("temperature", 50.0, True), ("conductance", -1.0, False), ("position", -5.0, True),
    ("length", math.nan, False), ("unknown_key", 1e300, True),
])
def test_range_table(key, value, accepted):
    problem = limits.range_problem(key, value)
    assert (problem is None) == accepted, problem
    if problem is not None and key in limits.RANGES and math.isfinite(value) and value > 0:
        assert limits.RANGES[key].reason in problem  # the reason is part of the message


@pytest.mark.parametrize("name, safe", [("left_arm", True), ("S.1", True), ("ünïcode", True), ("w-1+2", True),
                                        ("a b", False), ("$x$", False), ("a\nb", False), ("\x1b[31m", False),
                                        ("-lead", False), ("", False), ("x" * 65, False), ("a/b", False),
                                        ("\u202eevil", False)])
def test_names(name, safe):
    assert (limits.check_name("node", name) is None) == safe


def test_printable_and_depth():
    assert limits.printable("a\x1b[2Jb\u202e\n") == "a\\x1b[2Jb\\u202e\n"
    assert limits.tree_depth({"a": [[1]]}) == 3 and limits.tree_depth(1.0) == 0
    deep: list = []
    cursor = deep
    for _ in range(100_000):  # iterative: no recursion limit
        cursor.append([])
        cursor = cursor[0]
    assert limits.tree_depth(deep) == limits.MAX_DEPTH + 1


def test_memory_estimate_names_the_largest_wire():
    from femprox.geometry.devices import t_junction

    geometry = t_junction()
    dofs, order, wire = limits.estimated_dofs(geometry)
    from femprox.mesh import build_mesh

    glued = build_mesh(geometry).n_dofs
    # the estimate counts both end values of every wire (before gluing at the nodes)
    assert glued < dofs <= glued + 2 * len(geometry.wires) and order == 3
    with pytest.raises(limits.LimitError, match="largest wire"):
        limits.check_solve_size(geometry, refine=1e4)
