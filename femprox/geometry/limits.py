"""Sensible ranges of input values and size limits, checked before any work is done.

Every magnitude that femprox reads (from a geometry file, a ``--set`` override, the command
line or the Python API) is checked against one table, :data:`RANGES`: one :class:`Range`
per key, with the reason for its bounds. Values outside the hard bounds are refused with
that reason; values inside the hard bounds but outside the ``typical`` ones are accepted
with a warning naming the parameter. New keys (e.g. tunnel barriers) need one table entry.

Sizes (mesh elements, energies, temperatures, phases, refinements) are limited from a
memory estimate made before anything is allocated (:func:`check_solve_size`), so that a
typo such as ``--refine 1e6`` or ``[mesh] elements = 100000000`` gives one clear line
instead of a MemoryError or a machine that swaps for an hour.

Names of nodes and wires end up in CSV headers, plot labels (matplotlib reads ``$...$`` as
mathematics) and terminal output; :func:`check_name` restricts them to a safe set.

Units: as everywhere in femprox, energies, temperatures, gaps and Dynes rates in Delta0,
lengths in xi0, diffusion constants in Delta0 xi0^2, phases in radians.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["LimitError", "MAX_VALUES", "RANGES", "Range", "check_name", "check_solve_size", "check_text",
           "check_value", "check_values", "estimated_dofs", "memory_budget", "range_problem", "range_warning",
           "tree_depth"]


class LimitError(ValueError):
    """A value or a problem size is outside what femprox accepts (one-line message)."""


@dataclass(frozen=True)
class Range:
    """Accepted values of one key: ``low <= |value| <= high`` (or exactly 0 if ``zero``).

    ``signed``: the bounds apply to the magnitude and negative values are allowed (phases,
    potentials); otherwise negative values are refused. ``typical``: (low, high) of the
    magnitude outside which an accepted value draws a warning. ``reason``: why the bounds
    are where they are (quoted in the error message).
    """

    low: float
    high: float
    unit: str
    reason: str
    zero: bool = False
    signed: bool = False
    typical: tuple[float, float] | None = None


RANGES: dict[str, Range] = {
    "length": Range(1e-4, 1e4, "xi0", "below 1e-4 xi0 the Thouless energy exceeds 1e8 Delta0 and the wire is a "
                    "point contact; above 1e4 xi0 the wire needs more than 2e4 elements",
                    typical=(1e-2, 1e3)),
    "diffusion": Range(1e-6, 2e6, "Delta0 xi0^2", "the reference metal has D = 2; D outside [1e-6, 2e6] makes "
                       "the coherence length (and the element size) 1000 times off the reference",
                       typical=(1e-3, 1e3)),
    "coherence_length": Range(1e-3, 1e3, "xi0", "the coherence length sets the element size; outside "
                              "[1e-3, 1e3] xi0 meshes become absurdly fine or coarse", typical=(3e-2, 30)),
    "conductance": Range(1e-6, 1e6, "(common units)", "only ratios of conductances matter; ratios beyond "
                         "1e12 make the linear systems singular in double precision", typical=(1e-3, 1e3)),
    "gap": Range(1e-4, 1e3, "Delta0", "gaps are in units of the reference gap Delta0; below 1e-4 the gap "
                 "edges cannot be resolved by the energy grid, above 1e3 it is outside the model",
                 zero=True, typical=(1e-2, 1e2)),
    "temperature": Range(1e-6, 1e2, "Delta0", "below 1e-6 Delta0 all results have reached their T -> 0 "
                         "limit, above 1e2 Delta0 (170 T_c) everything is normal and the thermal window "
                         "overflows", zero=True, typical=(1e-4, 10)),
    "dynes": Range(1e-6, 10, "Delta0", "a Dynes rate below 1e-6 Delta0 is numerically zero but disables the "
                   "gap-edge checks (write 0 instead); above 10 Delta0 it washes out every gap",
                   zero=True, typical=(1e-5, 1)),
    "phase": Range(0, 1e3, "rad", "phases beyond 1000 rad lose their precision in cos and sin (reduce them "
                   "modulo 2 pi)", zero=True, signed=True),
    "potential": Range(0, 1e3, "Delta0/e", "potentials beyond 1000 Delta0/e are outside the model",
                       zero=True, signed=True),
    "position": Range(0, 1e6, "xi0", "positions (for drawing only) beyond 1e6 xi0 overflow the drawing",
                      zero=True, signed=True),
    "grading": Range(1, 1e4, "", "the ratio of the largest to the smallest element; above 1e4 the "
                     "smallest elements fall below rounding error", typical=(1, 1e3)),
    "elements": Range(1, 1e5, "", "more than 1e5 elements on one wire exhaust memory (use --refine for "
                      "convergence studies)"),
    "energy": Range(0, 1e3, "Delta0", "energies beyond 1000 Delta0 are outside the model", zero=True,
                    signed=True),
    "refine": Range(1e-3, 1e3, "", "refine multiplies every wire's element count"),
    "phase_end": Range(0, 1e3, "rad", "phases beyond 1000 rad lose their precision in cos and sin (reduce them "
                       "modulo 2 pi)", zero=True, signed=True),
    "flux": Range(0, 1e3, "h/2e", "fluxes beyond 1000 flux quanta wind the phase faster than any mesh resolves",
                  zero=True, signed=True, typical=(1e-4, 10)),
    "critical_temperature": Range(1e-4, 1e2, "Delta0", "an S wire's bulk T_c for the self-consistent pair "
                                  "potential, in the units of gaps (T_c0 = 0.567 Delta0)", typical=(1e-2, 10)),
    "debye_frequency": Range(1e-3, 1e6, "Delta0", "the Debye frequency of the smooth cutoff of the gap "
                             "equation; above 1e6 Delta0 it is the cutoff-free limit (leave it out)",
                             typical=(1, 1e3)),
    "start_barrier": Range(1e-8, 1e12, "(wire resistances L/g)", "a barrier below 1e-8 is a transparent contact "
                           "(leave it out or write 0); above 1e12 it decouples the wire in double precision",
                           zero=True),
    "end_barrier": Range(1e-8, 1e12, "(wire resistances L/g)", "a barrier below 1e-8 is a transparent contact "
                         "(leave it out or write 0); above 1e12 it decouples the wire in double precision",
                         zero=True),
}
"""The accepted range of every magnitude, by key (the last part of a dotted key)."""

MAX_VALUES = 10_000
"""Most values in one list (temperatures, phases, energies, refinements): each costs a solve
or a row, and 1e4 is far beyond any useful sweep."""

MAX_TEXT_BYTES = 4_000_000
"""Largest geometry file (hand-written files are a few kB; a generated network of MAX_WIRES
wires takes about 1.5 MB)."""

MAX_LINE_LENGTH = 10_000
"""Longest line of a geometry file: TOML parsing time grows with the square of a dotted key's depth."""

MAX_DEPTH = 16
"""Deepest nesting of tables and arrays in a geometry file or a ``--set`` value (femprox uses 4)."""

MAX_OVERRIDE_LENGTH = 1_000
"""Longest ``--set`` value."""

ENERGIES_PER_SOLVE = 400
"""Energies assumed per spectral solve of a sweep when estimating memory (adaptive grids use
100-400 per solve, each refinement round being a separate smaller solve)."""

MAX_DOFS = 500_000
"""Most degrees of freedom per field of one mesh, whatever the memory."""

MAX_WIRES = 20_000
"""Most wires in a network (a 30 x 30 grid has about 1800; drawing 1000 wires takes 10 s)."""

MAX_NODES = 2 * MAX_WIRES
"""Most nodes (every node ends at least one wire)."""


def check_network_size(n_nodes: int, n_wires: int) -> str | None:
    """Why a network of this size is refused (None if it is accepted)."""
    if n_wires > MAX_WIRES:
        return f"{n_wires} wires, at most {MAX_WIRES} are supported"
    if n_nodes > MAX_NODES:
        return f"{n_nodes} nodes, at most {MAX_NODES} are supported"
    return None


def range_problem(key: str, value: float) -> str | None:
    """Why ``value`` is not accepted for ``key`` (None if it is, or if the key has no range)."""
    spec = RANGES.get(key)
    if spec is None:
        return None
    if not math.isfinite(value):
        return f"must be a finite number, got {value!r}"
    if value < 0 and not spec.signed:
        return f"must not be negative, got {value!r}"
    magnitude = abs(value)
    if magnitude == 0 and spec.zero:
        return None
    unit = f" {spec.unit}" if spec.unit else ""
    if magnitude < spec.low and not (spec.signed and spec.low == 0):
        bound = f"0 or at least {spec.low:g}" if spec.zero else f"at least {spec.low:g}"
        return f"{value!r} is out of range: must be {bound}{unit} ({spec.reason})"
    if magnitude > spec.high:
        bound = f"|value| <= {spec.high:g}" if spec.signed else f"at most {spec.high:g}"
        return f"{value!r} is out of range: must be {bound}{unit} ({spec.reason})"
    return None


def range_warning(key: str, value: float) -> str | None:
    """A warning for an accepted but unusual value (outside the typical range), else None."""
    spec = RANGES.get(key)
    if spec is None or spec.typical is None or value == 0 or not math.isfinite(value):
        return None
    low, high = spec.typical
    if low <= abs(value) <= high:
        return None
    unit = f" {spec.unit}" if spec.unit else ""
    return f"{value:g}{unit} is unusual (typical: {low:g} to {high:g}); check the value"


def check_value(what: str, key: str, value: float) -> float:
    """``value`` if it lies in the range of ``key``, else LimitError naming ``what``."""
    problem = range_problem(key, value)
    if problem is not None:
        raise LimitError(f"{what}: {problem}")
    return value


def check_values(what: str, key: str, values: Iterable[float]) -> list[float]:
    """Every value in range and at most :data:`MAX_VALUES` of them."""
    values = list(values)
    if len(values) > MAX_VALUES:
        raise LimitError(f"{what}: {len(values)} values, at most {MAX_VALUES} are accepted")
    for value in values:
        check_value(what, key, value)
    return values


def check_count(what: str, count: float) -> int:
    """A count of values (as in a range a:b:count) that is at most :data:`MAX_VALUES`."""
    if count > MAX_VALUES:
        raise LimitError(f"{what}: {count:g} values, at most {MAX_VALUES} are accepted")
    return int(count)


# ---------------------------------------------------------------------------------------
# Names and text
# ---------------------------------------------------------------------------------------

MAX_NAME_LENGTH = 64
_NAME = re.compile(r"\w[\w.+-]*")


def check_name(kind: str, name: str) -> str | None:
    """Why ``name`` is not a safe node or wire name (None if it is).

    Safe: letters, digits and ``_`` (any script), then also ``.``, ``+``, ``-``; at most
    :data:`MAX_NAME_LENGTH` characters. Names appear in CSV headers, plot labels, file
    names of exports and on the terminal, where quotes, ``$`` (matplotlib mathematics),
    spaces, newlines and control characters (terminal escape codes) would do harm.
    """
    if not isinstance(name, str) or not name:
        return f"a {kind} name must be a non-empty string"
    if len(name) > MAX_NAME_LENGTH:
        return f"the {kind} name is longer than {MAX_NAME_LENGTH} characters"
    if not _NAME.fullmatch(name):
        return (f"the {kind} name {printable(name)!r} may only contain letters, digits, '_', '.', '+' and '-' "
                "and must start with a letter, digit or '_'")
    return None


def check_text(what: str, text: str, *, multiline: bool = False, max_length: int = 10_000) -> str | None:
    """Why ``text`` (a title or description) is unsafe to print or plot (None if it is not).

    Control and format characters (terminal escape codes, bidirectional overrides) are
    refused everywhere, newlines and tabs unless ``multiline``; ``$`` is refused in
    single-line texts, which become plot titles (matplotlib reads ``$...$`` as mathematics).
    """
    if len(text) > max_length:
        return f"the {what} is longer than {max_length} characters"
    for char in text:
        if multiline and char in "\n\t":
            continue
        if unicodedata.category(char).startswith("C"):
            return f"the {what} contains the control character {char!r}"
        if char == "$" and not multiline:
            return f"the {what} contains '$' (plot labels would read it as mathematics)"
    return None


def printable(text: str) -> str:
    """``text`` with control and format characters replaced by escapes (safe on a terminal)."""
    out = []
    for char in text:
        if unicodedata.category(char).startswith("C") and char != "\n":
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)


def tree_depth(value: object, limit: int = MAX_DEPTH) -> int:
    """Nesting depth of dicts and lists in ``value`` (iterative; stops counting past ``limit``)."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth + 1)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


# ---------------------------------------------------------------------------------------
# Problem sizes
# ---------------------------------------------------------------------------------------

CHUNK_ENERGIES = 8
"""Fewest energies a spectral solve is planned to hold at once: below that, batching stops
paying and the solve would only crawl."""


def bytes_per_dof_energy(order: int) -> float:
    """Memory of a spectral solve per DOF and energy (bytes).

    Peak measured with tracemalloc (T-junction, 400-800 energies): 1.5 kB for P1, 2.1 kB for
    P2, 2.9 kB for P3; the block matrices grow with the element order: 0.72 kB (order + 1).
    """
    return 720.0 * (order + 1)


def memory_budget() -> float:
    """Bytes one run may plan to use: 80% of the available memory (8 GB if unknown)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return 0.8 * float(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 8e9


def estimated_dofs(geometry, refine: float = 1.0, order: int | None = None) -> tuple[int, int, str]:
    """(DOFs per field, element order, largest wire) of ``build_mesh(geometry, refine, order)``,
    computed from the element counts alone (nothing is allocated)."""
    from femprox.mesh import default_element_count

    orders = {geometry.mesh_options(w).order for w in geometry.wires}
    if order is None and len(orders) > 1:  # what build_mesh would refuse, said before any work
        raise LimitError(f"all wires must use the same element order, found {sorted(orders)} (set [mesh] order "
                         "or --order)")
    p = order if order is not None else max(orders)
    total, largest, largest_count = 0, "", -1.0
    for wire in geometry.wires:
        options = geometry.mesh_options(wire)
        base = options.elements if options.elements is not None else default_element_count(wire)
        count = max(1.0, math.ceil(base * refine))
        total += count * p + 1
        if count > largest_count:
            largest, largest_count = wire.name, count
    return int(min(total, 1e18)), p, largest


SOLUTION_BYTES_PER_DOF_ENERGY = 32.0
"""What a spectral solution keeps for every energy after the solve: gamma and gamma~ (complex)."""

EXPORT_BYTES_PER_DOF_ENERGY = 200.0
"""What a field export keeps per DOF and energy: the solution (32 bytes), the kinetic
distributions of every terminal's response (complex f_L, f_T; ~100 bytes for a few
terminals) and the exported point data (DOS, D_L, D_T, f_L, f_T as float64: 40 bytes), rounded up."""


def check_solve_size(geometry, *, refine: float = 1.0, order: int | None = None, energies: int = ENERGIES_PER_SOLVE,
                     parallel: int = 1, what: str = "",
                     kept_per_dof_energy: float = SOLUTION_BYTES_PER_DOF_ENERGY) -> int:
    """Refuse a spectral solve whose estimated memory exceeds :func:`memory_budget`.

    ``energies`` per solve, ``parallel`` solves at once (worker processes). The working memory
    is planned for CHUNK_ENERGIES energies at a time (the solver chunks them), plus
    ``kept_per_dof_energy`` bytes per DOF and energy of results kept for all energies.
    Returns the estimated DOFs per field. The message names the largest wire and what to
    reduce.
    """
    where = f"{what}: " if what else ""
    try:
        dofs, p, wire = estimated_dofs(geometry, refine, order)
    except LimitError as error:
        raise LimitError(f"{where}{error}") from None
    if dofs > MAX_DOFS:
        raise LimitError(f"{where}the mesh would have about {dofs:.3g} degrees of freedom (largest wire "
                         f"'{wire}'), at most {MAX_DOFS:g} are supported; lower --refine or [mesh] elements, "
                         "or check lengths and coherence lengths")
    # The spectral stage solves energies in chunks that fit the memory it finds (and the
    # junction unknowns are factorized sparsely by nested dissection), so what must fit is one
    # chunk of CHUNK_ENERGIES per process, not all energies at once.
    chunk = min(max(1, energies), CHUNK_ENERGIES)
    need = (bytes_per_dof_energy(p) * chunk + kept_per_dof_energy * max(1, energies)) * dofs * max(1, parallel)
    budget = memory_budget()
    if need > budget:
        raise LimitError(f"{where}the solve would need about {need / 1e9:.3g} GB ({dofs} degrees of freedom of "
                         f"order {p}, {chunk} of {max(1, energies)} energies at a time, {max(1, parallel)} process(es); largest wire "
                         f"'{wire}'), more than the {budget / 1e9:.3g} GB available; use a coarser mesh, a lower "
                         "order or fewer --jobs")
    return dofs


def describe_sequence(values: Sequence[float], limit: int = 3) -> str:
    """The first few values of a sequence as text ('0.1, 0.2, 0.3, ...')."""
    shown = ", ".join(f"{v:.6g}" for v in list(values)[:limit])
    return shown + (", ..." if len(values) > limit else "")
