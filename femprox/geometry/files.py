"""Geometry files: a wire network described in TOML.

Reads and writes the text form of a :class:`~femprox.geometry.network.Geometry` (first stage of the
pipeline). Units are those of :mod:`femprox.geometry.network`: energies in Delta0, lengths in xi0,
diffusion constants in Delta0 xi0^2 (the reference normal metal has D = 2), conductances per
unit length in arbitrary common units. The format::

    name = "T-junction"              # optional; defaults to the file's stem
    description = "free text"        # optional; kept as Geometry.description
    [parameters]                     # optional named numbers, usable in expressions below
    r = 1.0
    g_s = "2 / sqrt(r)"              # a parameter may use parameters declared above it
    [mesh]                           # optional defaults: MeshOptions(elements, order, grading, graded_ends)
    order = 2
    [nodes.left]                     # nodes in file order
    kind = "normal_reservoir"        # clean | normal_reservoir | superconducting_reservoir | free_end
    temperature = 0.1                # optional: temperature, potential, gap, phase, position
    [wires.left_arm]                 # wires in file order
    start = "left"
    end = "center"
    length = "length_n / 2"
    diffusion = 2.0                  # OR coherence_length = 1.0 (then D = 2 xi^2), not both
    end_barrier = 5.0                # optional tunnel barrier at the end (or start_barrier):
                                     # resistance R_B in units of wire resistances length/conductance
                                     # (0: transparent, so that a parameter can switch it off)
    [wires.left_arm.mesh]            # optional per-wire MeshOptions
    elements = 20
    [loops.ring]                     # optional: a closed loop of wires threaded by a flux
    wires = ["left_arm", "s_top", "right_arm"]   # in order around the loop
    flux = 0.25                      # in flux quanta h/2e, along the listed order

A superconducting wire may take ``phase_end`` (its pair potential's phase runs linearly from
``phase`` to it) and any wire ``flux`` (line integral of the vector potential along it, in
flux quanta). For the self-consistent pair potential (:mod:`femprox.selfconsistency.gap_equation`) a
superconducting wire may give its material: ``critical_temperature`` (Delta0; default 0.567
``gap``) and ``debye_frequency`` (Delta0, a smooth cutoff; default none).

Every numeric field takes a number or a string holding an arithmetic expression in the
parameters (see :func:`evaluate_expression`; the text is parsed with :mod:`ast`, never
evaluated). Every error is a :class:`GeometryFileError` whose message starts with the file
name and names the key at fault.
"""

from __future__ import annotations

import ast
import difflib
import keyword
import logging
import math
import numbers
import operator
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import tomllib

from femprox.geometry import limits
from femprox.geometry.network import (
    Geometry,
    GeometryError,
    Loop,
    MeshOptions,
    Node,
    NodeKind,
    Wire,
    diffusion_from_coherence_length,
)
from femprox.physics.contacts import TunnelBarrier

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "GeometryFileError",
    "evaluate_expression",
    "geometry_to_toml",
    "load_geometry",
    "parse_geometry",
]

KeyPath = tuple[str | int, ...]

TOP_LEVEL_KEYS = ("name", "description", "parameters", "mesh", "nodes", "wires", "loops")
NODE_KEYS = ("kind", "temperature", "potential", "gap", "phase", "dynes", "position")
WIRE_KEYS = ("start", "end", "length", "conductance", "diffusion", "coherence_length",
             "gap", "phase", "dynes", "mesh", "phase_end", "flux", "start_barrier", "end_barrier",
             "critical_temperature", "debye_frequency")
LOOP_KEYS = ("wires", "flux")
MESH_KEYS = ("elements", "order", "grading", "graded_ends")
_NODE_NUMBERS = ("temperature", "potential", "gap", "phase", "dynes")
_WIRE_NUMBERS = ("conductance", "gap", "phase", "dynes", "phase_end", "flux", "critical_temperature",
                 "debye_frequency")
_WIRE_BARRIERS = {"start_barrier": "start_contact", "end_barrier": "end_contact"}
"""Keys giving a tunnel-barrier resistance at a wire end (units of wire resistances length /
conductance), and the Wire field that receives the TunnelBarrier."""
_EXCLUSIVE_DIFFUSION = ("diffusion", "coherence_length")

log = logging.getLogger(__name__)


class GeometryFileError(GeometryError):
    """A geometry file (or its overrides) is invalid.

    The message reads ``"<source>: <key>: <problem>"``; ``source`` is the file name (or the
    label given to :func:`parse_geometry`) and ``key`` the dotted key at fault (None when
    the problem is the network as a whole).
    """

    def __init__(self, source: str, message: str, key: str | None = None):
        self.source = source
        self.key = key
        self.problem = message
        text = f"{source}: {key}: {message}" if key else f"{source}: {message}"
        super().__init__(text)

    def __reduce__(self):
        return (type(self), (self.source, self.problem, self.key))


# -- safe arithmetic expressions --------------------------------------------------------

FUNCTIONS: dict[str, Callable[[float], float]] = {
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "abs": abs,
}
"""Functions allowed in expressions (one argument each; log is the natural logarithm)."""

CONSTANTS: dict[str, float] = {"pi": math.pi}
"""Named constants allowed in expressions."""

_BINARY_OPERATORS: dict[type, Callable[[float, float], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow,
}
_UNARY_OPERATORS: dict[type, Callable[[float], float]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_MAX_EXPRESSION_LENGTH = 500
_ALLOWED = ("expressions may only use numbers, parameter names, pi, + - * / **, parentheses "
            "and the functions " + ", ".join(FUNCTIONS))


class _UnknownNameError(ValueError):
    def __init__(self, name: str, message: str):
        self.name = name
        super().__init__(message)


def evaluate_expression(expression: str, names: Mapping[str, float]) -> float:
    """Value of a safe arithmetic expression such as ``"length_n / 2"`` or ``"2/sqrt(r)"``.

    Allowed: numbers, the names in ``names`` (and :data:`CONSTANTS`), + - * / **, unary
    minus and plus, parentheses and one-argument calls of :data:`FUNCTIONS`. All arithmetic
    is in floating point. Raises ValueError with a readable reason for anything else, and
    for results that are not finite real numbers.
    """
    if len(expression) > _MAX_EXPRESSION_LENGTH:
        raise ValueError(f"the expression is longer than {_MAX_EXPRESSION_LENGTH} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise ValueError("not a valid arithmetic expression") from None
    try:
        value = _evaluate(tree.body, names)
    except ZeroDivisionError:
        raise ValueError("division by zero") from None
    except OverflowError:
        raise ValueError("the value overflows") from None
    except RecursionError:
        raise ValueError("the expression is nested too deeply") from None
    if not math.isfinite(value):
        raise ValueError(f"the value is {value}, not a finite number")
    return value


def _evaluate(node: ast.AST, names: Mapping[str, float]) -> float:
    if isinstance(node, ast.Constant):
        return _constant(node.value)
    if isinstance(node, ast.Name):
        return _lookup(node.id, names)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY_OPERATORS:
        return _binary(node.op, _evaluate(node.left, names), _evaluate(node.right, names))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY_OPERATORS:
        return _UNARY_OPERATORS[type(node.op)](_evaluate(node.operand, names))
    if isinstance(node, ast.Call):
        return _call(node, names)
    raise ValueError(f"'{ast.unparse(node)}' is not allowed: {_ALLOWED}")


def _constant(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"the constant {value!r} is not allowed: {_ALLOWED}")
    return float(value)


def _lookup(name: str, names: Mapping[str, float]) -> float:
    if name in names:
        return float(names[name])
    if name in CONSTANTS:
        return CONSTANTS[name]
    if name in FUNCTIONS:
        raise ValueError(f"'{name}' is a function: write {name}(x)")
    if name.lower() in ("nan", "inf", "infinity"):
        raise ValueError(f"'{name}' is not allowed: values must be finite")
    known = list(names) + list(CONSTANTS)
    raise _UnknownNameError(name, f"'{name}' is not a declared parameter{_suggestion(name, known)}")


def _binary(op: ast.operator, left: float, right: float) -> float:
    result = _BINARY_OPERATORS[type(op)](left, right)
    if isinstance(result, complex):
        raise ValueError(f"({left!r}) ** {right!r} is not a real number")
    return result


def _call(node: ast.Call, names: Mapping[str, float]) -> float:
    if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
        raise ValueError(f"calling '{ast.unparse(node.func)}' is not allowed: {_ALLOWED}")
    name = node.func.id
    if len(node.args) != 1 or node.keywords or isinstance(node.args[0], ast.Starred):
        raise ValueError(f"{name}() takes exactly one argument")
    argument = _evaluate(node.args[0], names)
    try:
        return FUNCTIONS[name](argument)
    except ValueError:
        raise ValueError(f"{name}({argument!r}) is undefined") from None


# -- reading --------------------------------------------------------------------------

def load_geometry(path: str | os.PathLike[str],
                  overrides: Mapping[str, object] | None = None) -> Geometry:
    """Read a geometry from a TOML file (format: module docstring).

    ``overrides`` maps dotted keys to raw values applied before interpretation, e.g.
    ``{"parameters.r": 10, "wires.s_arm.length": 20, "nodes.S1.phase": "pi/2"}``.
    Raises :class:`GeometryFileError`, whose message starts with ``path``.
    """
    source = os.fspath(path)
    return parse_geometry(read_geometry_text(source), source=source, overrides=overrides)


def read_geometry_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a geometry file: a regular file of at most ``limits.MAX_TEXT_BYTES``.

    The file is opened without blocking and checked with fstat before reading, so that a
    named pipe, a device such as /dev/zero or a folder gives a GeometryFileError at once
    instead of a hang or an exhausted memory.
    """
    source = os.fspath(path)
    try:
        descriptor = os.open(source, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise GeometryFileError(source, "no such file") from None
    except OSError as exc:
        raise GeometryFileError(source, f"cannot read the file: {exc.strerror or exc}") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        if stat.S_ISDIR(mode):
            raise GeometryFileError(source, "is a folder, not a geometry file")
        raise GeometryFileError(source, "is not a regular file (a pipe, socket or device cannot be a "
                                        "geometry file)")
    with os.fdopen(descriptor, "rb") as handle:
        try:
            data = handle.read(limits.MAX_TEXT_BYTES + 1)
        except OSError as exc:
            raise GeometryFileError(source, f"cannot read the file: {exc.strerror or exc}") from None
    if len(data) > limits.MAX_TEXT_BYTES:
        raise GeometryFileError(source, f"larger than {limits.MAX_TEXT_BYTES} bytes: not a geometry file")
    return data


def read_geometry_text(path: str | os.PathLike[str]) -> str:
    """The text of a geometry file (UTF-8, optional BOM), checked as in :func:`read_geometry_bytes`."""
    source = os.fspath(path)
    data = read_geometry_bytes(source)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise GeometryFileError(source, f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def parse_geometry(text: str, source: str = "<string>",
                   overrides: Mapping[str, object] | None = None) -> Geometry:
    """Geometry from TOML text; ``source`` labels error messages (usually the file name).

    A file without ``name`` gets the stem of ``source`` (or Geometry's default "network"
    when ``source`` is a ``<label>``). See :func:`load_geometry` for ``overrides``.
    """
    document = _parse_toml(text, source)
    _check_override_values(overrides or {}, source)
    overridden = _apply_overrides(document, overrides or {}, source)
    reader = _Reader(source, overridden)
    return _read_geometry(reader, document, _default_name(source))


def load_document(path: str | os.PathLike[str]) -> dict:
    """The raw TOML document of a geometry file, read and parsed with the same checks as
    :func:`load_geometry` (regular file, size, line length, nesting) but not interpreted."""
    source = os.fspath(path)
    return _parse_toml(read_geometry_text(source), source)


def _parse_toml(text: str, source: str) -> dict:
    """The TOML document, with limits on line length and nesting depth checked first
    (tomllib's time grows with the square of a dotted key's depth, and it recurses on
    nested arrays)."""
    for number, line in enumerate(text.splitlines(), 1):
        if len(line) > limits.MAX_LINE_LENGTH:
            raise GeometryFileError(source, f"line {number} is longer than {limits.MAX_LINE_LENGTH} characters")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GeometryFileError(source, f"TOML syntax error: {exc}") from None
    except RecursionError:
        raise GeometryFileError(source, f"nested more than {limits.MAX_DEPTH} levels deep") from None
    if limits.tree_depth(document) > limits.MAX_DEPTH:
        raise GeometryFileError(source, f"tables or arrays nested more than {limits.MAX_DEPTH} levels deep")
    return document


def _check_override_values(overrides: Mapping[str, object], source: str) -> None:
    for key, value in overrides.items():
        if limits.tree_depth(value) > 2:
            raise GeometryFileError(source, "arrays or tables nested too deeply", f"override '{key}'")


def _default_name(source: str) -> str:
    if source.startswith("<"):
        return "network"
    return Path(source).stem or "network"


@dataclass
class _Reader:
    """Where errors point to, and the parameters known so far."""

    source: str
    overridden: frozenset[KeyPath]
    parameters: dict[str, float] = field(default_factory=dict)

    def error(self, path: KeyPath, message: str) -> GeometryFileError:
        key = _format_path(path)
        if path in self.overridden:
            key += " (overridden)"
        return GeometryFileError(self.source, message, key)


@contextmanager
def _located(reader: _Reader, path: KeyPath) -> Iterator[None]:
    """Turn a GeometryError of a dataclass constructor into a located GeometryFileError."""
    try:
        yield
    except GeometryFileError:
        raise
    except GeometryError as exc:
        raise reader.error(path, str(exc)) from None


def _read_geometry(reader: _Reader, document: dict, default_name: str) -> Geometry:
    _check_keys(reader, document, (), TOP_LEVEL_KEYS)
    name = _string(reader, document.get("name", default_name), ("name",))
    description = _string(reader, document.get("description", ""), ("description",))
    _check_texts(reader, name, description)
    _read_parameters(reader, _table(reader, document.get("parameters", {}), ("parameters",)))
    mesh = _read_mesh(reader, document.get("mesh", {}), ("mesh",))
    node_table, wire_table = _required_table(reader, document, "nodes"), _required_table(reader, document, "wires")
    too_large = limits.check_network_size(len(node_table), len(wire_table))
    if too_large is not None:
        raise GeometryFileError(reader.source, too_large)
    nodes = _read_nodes(reader, node_table)
    wires = _read_wires(reader, wire_table, [n.name for n in nodes])
    loops = _read_loops(reader, _table(reader, document.get("loops", {}), ("loops",)))
    try:
        return Geometry(nodes=nodes, wires=wires, name=name, mesh=mesh, description=description, loops=loops)
    except GeometryError as exc:
        raise GeometryFileError(reader.source, str(exc)) from None


def _read_parameters(reader: _Reader, table: dict) -> None:
    """Evaluate the parameters in file order into ``reader.parameters``."""
    for name, value in table.items():
        path = ("parameters", name)
        if not name.isidentifier() or keyword.iskeyword(name):
            raise reader.error(path, "a parameter name must be a Python-style identifier")
        if name in FUNCTIONS or name in CONSTANTS:
            raise reader.error(path, f"'{name}' is reserved (a function or constant in expressions)")
        try:
            reader.parameters[name] = _number(reader, value, path)
        except GeometryFileError:
            _explain_forward_reference(reader, value, path, list(table))
            raise


def _explain_forward_reference(reader: _Reader, value: object, path: KeyPath,
                               declared: list[str]) -> None:
    if not isinstance(value, str):
        return
    try:
        evaluate_expression(value, reader.parameters)
    except _UnknownNameError as exc:
        if exc.name in declared:
            raise reader.error(path, f"'{exc.name}' is used before it is declared (a parameter "
                                     "may only use parameters declared above it)") from None
    except ValueError:
        pass


def _read_mesh(reader: _Reader, table: object, path: KeyPath) -> MeshOptions:
    table = _table(reader, table, path)
    _check_keys(reader, table, path, MESH_KEYS)
    options: dict[str, Any] = {}
    for key in ("elements", "order"):
        if key in table:
            options[key] = _integer(reader, table[key], path + (key,))
    if "grading" in table:
        options["grading"] = _number(reader, table["grading"], path + ("grading",))
    if "graded_ends" in table:
        options["graded_ends"] = _string(reader, table["graded_ends"], path + ("graded_ends",))
    with _located(reader, path):
        return MeshOptions(**options)


def _read_nodes(reader: _Reader, table: dict) -> list[Node]:
    return [_read_node(reader, name, entry) for name, entry in table.items()]


def _read_node(reader: _Reader, name: str, entry: object) -> Node:
    path: KeyPath = ("nodes", name)
    _check_name(reader, path, "node", name)
    entry = _table(reader, entry, path)
    _check_keys(reader, entry, path, NODE_KEYS)
    values: dict[str, Any] = {"kind": _node_kind(reader, _required(reader, entry, path, "kind"),
                                                 path + ("kind",))}
    for key in _NODE_NUMBERS:
        if key in entry:
            values[key] = _number(reader, entry[key], path + (key,))
    if "position" in entry:
        values["position"] = _position(reader, entry["position"], path + ("position",))
    with _located(reader, path):
        return Node(name=name, **values)


def _node_kind(reader: _Reader, value: object, path: KeyPath) -> NodeKind:
    text = _string(reader, value, path)
    kinds = [k.value for k in NodeKind]
    if text not in kinds:
        hint = _suggestion(text, kinds) or f" (expected one of {', '.join(kinds)})"
        raise reader.error(path, f"unknown node kind '{text}'{hint}")
    return NodeKind(text)


def _position(reader: _Reader, value: object, path: KeyPath) -> tuple[float, ...]:
    if not isinstance(value, list):
        raise reader.error(path, f"expected an array of 2 or 3 coordinates, got {_describe(value)}")
    return tuple(_number(reader, c, path + (i,)) for i, c in enumerate(value))


def _read_wires(reader: _Reader, table: dict, node_names: Sequence[str]) -> list[Wire]:
    return [_read_wire(reader, name, entry, node_names) for name, entry in table.items()]


def _read_wire(reader: _Reader, name: str, entry: object, node_names: Sequence[str]) -> Wire:
    path: KeyPath = ("wires", name)
    _check_name(reader, path, "wire", name)
    entry = _table(reader, entry, path)
    _check_keys(reader, entry, path, WIRE_KEYS)
    values: dict[str, Any] = {}
    for key in ("start", "end"):
        values[key] = _node_reference(reader, _required(reader, entry, path, key), path + (key,),
                                      node_names)
    values["length"] = _number(reader, _required(reader, entry, path, "length"), path + ("length",))
    for key in _WIRE_NUMBERS:
        if key in entry:
            values[key] = _number(reader, entry[key], path + (key,))
    diffusion = _diffusion(reader, entry, path)
    if diffusion is not None:
        values["diffusion"] = diffusion
    if "mesh" in entry:
        values["mesh"] = _read_mesh(reader, entry["mesh"], path + ("mesh",))
    for key, field_name in _WIRE_BARRIERS.items():
        if key in entry:
            values[field_name] = _tunnel_barrier(reader, entry[key], path + (key,))
    with _located(reader, path):
        return Wire(name=name, **values)


def _tunnel_barrier(reader: _Reader, value: object, path: KeyPath) -> TunnelBarrier | None:
    """A TunnelBarrier, or None (transparent) for resistance 0, so that a parameter can
    switch a barrier off."""
    resistance = _number(reader, value, path)
    if resistance < 0:
        raise reader.error(path, f"a barrier resistance must not be negative, got {resistance!r}")
    return TunnelBarrier(resistance) if resistance > 0 else None


def _read_loops(reader: _Reader, table: dict) -> list[Loop]:
    loops = []
    for name, entry in table.items():
        path: KeyPath = ("loops", name)
        entry = _table(reader, entry, path)
        _check_keys(reader, entry, path, LOOP_KEYS)
        names = _required(reader, entry, path, "wires")
        if not isinstance(names, list):
            raise reader.error(path + ("wires",), f"expected an array of wire names, got {_describe(names)}")
        wires = tuple(_string(reader, w, path + ("wires", i)) for i, w in enumerate(names))
        flux = _number(reader, entry["flux"], path + ("flux",)) if "flux" in entry else 0.0
        with _located(reader, path):
            loops.append(Loop(name=name, wires=wires, flux=flux))
    return loops


def _node_reference(reader: _Reader, value: object, path: KeyPath, node_names: Sequence[str]) -> str:
    name = _string(reader, value, path)
    if name not in node_names:
        raise reader.error(path, f"unknown node '{name}'{_suggestion(name, node_names)}")
    return name


def _diffusion(reader: _Reader, entry: dict, path: KeyPath) -> float | None:
    """D from 'diffusion' or from 'coherence_length' (D = 2 xi^2); None if neither is given."""
    if all(key in entry for key in _EXCLUSIVE_DIFFUSION):
        raise reader.error(path, "give either 'diffusion' or 'coherence_length', not both")
    if "diffusion" in entry:
        return _number(reader, entry["diffusion"], path + ("diffusion",))
    if "coherence_length" in entry:
        xi_path = path + ("coherence_length",)
        xi = _number(reader, entry["coherence_length"], xi_path)
        if xi <= 0:
            raise reader.error(xi_path, f"must be positive, got {xi!r}")
        return diffusion_from_coherence_length(xi)
    return None


# -- typed values -----------------------------------------------------------------------

def _check_keys(reader: _Reader, table: dict, path: KeyPath, allowed: Sequence[str]) -> None:
    for key in table:
        if key not in allowed:
            hint = _suggestion(key, allowed) or f" (allowed: {', '.join(allowed)})"
            raise reader.error(path + (key,), f"unknown key{hint}")


def _table(reader: _Reader, value: object, path: KeyPath) -> dict:
    if not isinstance(value, dict):
        raise reader.error(path, f"expected a table, got {_describe(value)}")
    return value


def _required_table(reader: _Reader, document: dict, key: str) -> dict:
    if key not in document:
        raise GeometryFileError(reader.source, f"missing the [{key}] table")
    return _table(reader, document[key], (key,))


def _required(reader: _Reader, table: dict, path: KeyPath, key: str) -> object:
    if key not in table:
        raise reader.error(path, f"missing required key '{key}'")
    return table[key]


def _string(reader: _Reader, value: object, path: KeyPath) -> str:
    if not isinstance(value, str):
        raise reader.error(path, f"expected a string, got {_describe(value)}")
    return value


def _number(reader: _Reader, value: object, path: KeyPath) -> float:
    """A finite float from a number or an expression string."""
    if isinstance(value, str):
        try:
            result = evaluate_expression(value, reader.parameters)
        except ValueError as exc:
            raise reader.error(path, f"expected a number, got {value!r}: {exc}") from None
        return _in_range(reader, path, result)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise reader.error(path, f"expected a number, got {_describe(value)}")
    try:
        result = float(value)
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):
        raise reader.error(path, f"expected a finite number, got {value!r}")
    return _in_range(reader, path, result)


def _integer(reader: _Reader, value: object, path: KeyPath) -> int:
    """An int from an integer or an expression string with an integral value."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return int(_in_range(reader, path, value))
    if isinstance(value, str):
        result = _number(reader, value, path)
        if result.is_integer():
            return int(result)
    raise reader.error(path, f"expected an integer, got {_describe(value)}")


def _range_key(path: KeyPath) -> str | None:
    """The key of ``limits.RANGES`` that applies at ``path`` (None for parameters, which are
    checked where they are used)."""
    if not path or path[0] == "parameters":
        return None
    last = path[-1]
    if isinstance(last, int):  # a coordinate of a position array
        return str(path[-2]) if len(path) > 1 else None
    return last


def _in_range(reader: _Reader, path: KeyPath, value: float) -> float:
    """``value`` if it lies in the accepted range of its key; warns if it is unusual."""
    key = _range_key(path)
    spec = limits.RANGES.get(key) if key is not None else None
    if spec is None or (value <= 0 and not spec.signed):
        return value  # signs and zeros: the Node, Wire and MeshOptions checks say what is wrong
    problem = limits.range_problem(key, value)
    if problem is not None:
        raise reader.error(path, problem)
    warning = limits.range_warning(key, value)
    if warning is not None:
        where = _format_path(path) + (" (overridden)" if path in reader.overridden else "")
        log.warning("%s: %s: %s", reader.source, where, warning)
    return value


def _check_name(reader: _Reader, path: KeyPath, kind: str, name: str) -> None:
    problem = limits.check_name(kind, name)
    if problem is not None:
        raise reader.error(path, problem)


def _check_texts(reader: _Reader, name: str, description: str) -> None:
    problem = limits.check_text("name", name, max_length=200)
    if problem is not None:
        raise reader.error(("name",), problem)
    problem = limits.check_text("description", description, multiline=True)
    if problem is not None:
        raise reader.error(("description",), problem)


def _describe(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return repr(value)


def _suggestion(word: str, candidates: Sequence[str]) -> str:
    matches = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _format_path(path: KeyPath) -> str:
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            key = part if _BARE_KEY.fullmatch(part) else _toml_string(part)
            text += f".{key}" if text else key
    return text


# -- overrides --------------------------------------------------------------------------

def _apply_overrides(document: dict, overrides: Mapping[str, object], source: str) -> frozenset[KeyPath]:
    """Set each dotted key of ``overrides`` in the raw document; return the paths set."""
    paths = set()
    for key, value in overrides.items():
        path = _override_path(document, key, source)
        parent = _override_parent(document, path, key, source)
        if path[0] == "wires" and path[-1] in _EXCLUSIVE_DIFFUSION:
            for other in _EXCLUSIVE_DIFFUSION:
                parent.pop(other, None)
        parent[path[-1]] = value
        paths.add(path)
    return frozenset(paths)


def _override_path(document: dict, key: object, source: str) -> tuple[str, ...]:
    """Split a dotted override key along the schema (node and wire names may contain dots)."""
    if not isinstance(key, str):
        raise GeometryFileError(source, f"override keys must be dotted strings, got {key!r}")
    section, _, rest = key.partition(".")
    if key in ("name", "description"):
        return (key,)
    if section == "parameters":
        return ("parameters", _declared(document, "parameters", rest, key, source, "parameter"))
    if section == "mesh":
        return ("mesh", _schema_field(rest, MESH_KEYS, key, source))
    if section in ("nodes", "wires", "loops"):
        return _item_override_path(document, section, rest, key, source)
    hint = _suggestion(section, TOP_LEVEL_KEYS)
    raise GeometryFileError(source, f"unknown key{hint}", f"override '{key}'")


def _item_override_path(document: dict, section: str, rest: str, key: str,
                        source: str) -> tuple[str, ...]:
    declared = _declared_names(document, section)
    owners = [name for name in declared if rest.startswith(name + ".")]
    kind = section[:-1]
    if rest in declared:
        raise GeometryFileError(source, f"name a key of {kind} '{rest}', e.g. '{section}.{rest}."
                                        f"{'kind' if section == 'nodes' else 'length'}'", f"override '{key}'")
    if not owners:
        guess = rest.split(".")[0]
        raise GeometryFileError(source, f"no {kind} named '{guess}' in the file"
                                        f"{_suggestion(guess, declared)}", f"override '{key}'")
    name = max(owners, key=len)
    leaf = rest[len(name) + 1:]
    if section == "wires" and leaf.startswith("mesh."):
        return ("wires", name, "mesh", _schema_field(leaf[len("mesh."):], MESH_KEYS, key, source))
    allowed = {"nodes": NODE_KEYS, "loops": ("flux",)}.get(section, tuple(k for k in WIRE_KEYS if k != "mesh"))
    return (section, name, _schema_field(leaf, allowed, key, source))


def _declared(document: dict, section: str, name: str, key: str, source: str, kind: str) -> str:
    declared = _declared_names(document, section)
    if name not in declared:
        raise GeometryFileError(source, f"no {kind} '{name}' is declared in the file"
                                        f"{_suggestion(name, declared)}", f"override '{key}'")
    return name


def _declared_names(document: dict, section: str) -> list[str]:
    table = document.get(section)
    return list(table) if isinstance(table, dict) else []


def _schema_field(leaf: str, allowed: Sequence[str], key: str, source: str) -> str:
    if leaf not in allowed:
        hint = _suggestion(leaf, allowed) or f" (allowed: {', '.join(allowed)})"
        raise GeometryFileError(source, f"unknown key '{leaf}'{hint}", f"override '{key}'")
    return leaf


def _override_parent(document: dict, path: tuple[str, ...], key: str, source: str) -> dict:
    table = document
    for part in path[:-1]:
        table = table.setdefault(part, {})
        if not isinstance(table, dict):
            raise GeometryFileError(source, f"'{part}' is not a table in the file", f"override '{key}'")
    return table


# -- writing ----------------------------------------------------------------------------

def geometry_to_toml(geometry: Geometry) -> str:
    """TOML text of ``geometry`` with plain numbers; ``parse_geometry`` of it gives it back.

    Floats are written with ``repr`` (shortest round-tripping form), so the round trip is
    exact. Node fields equal to their defaults are left out; wires list every field.
    """
    lines = ["# Written by femprox.geometry.files.geometry_to_toml.",
             "# Energies in Delta0, lengths in xi0, diffusion constants in Delta0 xi0^2.",
             f"name = {_toml_string(geometry.name)}", "", "[mesh]", *_mesh_lines(geometry.mesh)]
    for node in geometry.nodes:
        lines += ["", f"[nodes.{_toml_key(node.name)}]", *_node_lines(node)]
    for wire in geometry.wires:
        lines += ["", f"[wires.{_toml_key(wire.name)}]", *_wire_lines(wire)]
        if wire.mesh is not None:
            lines += [f"[wires.{_toml_key(wire.name)}.mesh]", *_mesh_lines(wire.mesh)]
    for loop in geometry.loops:
        names = ", ".join(_toml_string(w) for w in loop.wires)
        lines += ["", f"[loops.{_toml_key(loop.name)}]", f"wires = [{names}]", f"flux = {_toml_float(loop.flux)}"]
    return "\n".join(lines) + "\n"


def _mesh_lines(mesh: MeshOptions) -> list[str]:
    lines = [] if mesh.elements is None else [f"elements = {int(mesh.elements)}"]
    return lines + [f"order = {int(mesh.order)}", f"grading = {_toml_float(mesh.grading)}",
                    f"graded_ends = {_toml_string(mesh.graded_ends)}"]


def _node_lines(node: Node) -> list[str]:
    defaults = {f.name: f.default for f in fields(Node)}
    lines = [f"kind = {_toml_string(node.kind.value)}"]
    for key in _NODE_NUMBERS:
        value = getattr(node, key)
        if value is not None and value != defaults[key]:
            lines.append(f"{key} = {_toml_float(value)}")
    if node.position is not None:
        lines.append(f"position = [{', '.join(_toml_float(c) for c in node.position)}]")
    return lines


def _wire_lines(wire: Wire) -> list[str]:
    lines = [f"start = {_toml_string(wire.start)}", f"end = {_toml_string(wire.end)}"]
    for key in ("length", "diffusion", "conductance", "gap", "phase", "dynes"):
        lines.append(f"{key} = {_toml_float(getattr(wire, key))}")
    if wire.phase_end is not None:
        lines.append(f"phase_end = {_toml_float(wire.phase_end)}")
    if wire.flux != 0.0:
        lines.append(f"flux = {_toml_float(wire.flux)}")
    for key in ("critical_temperature", "debye_frequency"):
        if getattr(wire, key) is not None:
            lines.append(f"{key} = {_toml_float(getattr(wire, key))}")
    for key, field_name in _WIRE_BARRIERS.items():
        contact = getattr(wire, field_name)
        if contact is not None:
            if not isinstance(contact, TunnelBarrier):
                raise ValueError(f"wire '{wire.name}': a {type(contact).__name__} contact has no TOML form")
            lines.append(f"{key} = {_toml_float(contact.resistance)}")
    return lines


def _toml_float(value: float) -> str:
    return repr(float(value))


def _toml_key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else _toml_string(name)


def _toml_string(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    escaped = []
    for char in text:
        if char in '"\\':
            escaped.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            escaped.append(f"\\u{ord(char):04X}")
        else:
            escaped.append(char)
    return '"' + "".join(escaped) + '"'


def shipped_geometry_path(name: str) -> Path:
    """Path of one of the geometry files shipped with femprox (``geometries/NAME.toml``).

    Installed packages carry them as ``femprox.geometries`` package data; in a source
    checkout (editable install) they are read from the repository's ``geometries/`` folder.
    """
    filename = name if name.endswith(".toml") else f"{name}.toml"
    candidates = [Path(__file__).resolve().parents[2] / "geometries" / filename]
    try:
        from importlib.resources import files

        candidates.insert(0, Path(str(files("femprox.geometries") / filename)))
    except ModuleNotFoundError:
        pass
    for path in candidates:
        if path.is_file():
            return path
    shipped = sorted(p.stem for p in (Path(__file__).resolve().parents[2] / "geometries").glob("*.toml"))
    raise GeometryFileError(filename, f"no shipped geometry of that name (available: {', '.join(shipped)})")
