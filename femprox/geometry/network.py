"""Geometry description: a network of nodes joined by quasi-1D diffusive wires.

This is the first stage of the femprox pipeline::

    Geometry -> GraphMesh -> SpectralSolution -> kinetic coefficients -> observables

Units (docs/physics.md section 1): hbar = k_B = e = 1; energies (gap, temperature, potential,
Dynes rate) in units of Delta0, the zero-temperature gap of the reference superconductor;
lengths in units of xi0 = sqrt(D_N / (2 Delta0)) of the reference normal metal. A wire's
diffusion constant is then given in units of Delta0 xi0^2, so the reference metal has
D = 2 and a wire whose own coherence length is xi has D = 2 xi^2. Conductances per unit
length are in arbitrary but common units (only ratios enter G/G_N and kappa/kappa_N).

Objects here are frozen dataclasses validated on construction; any inconsistency raises
:class:`GeometryError` naming the offending node, wire or key.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum

from femprox.physics.contacts import Contact


class GeometryError(ValueError):
    """A geometry is inconsistent; the message names the node, wire or key at fault."""


class NodeKind(str, Enum):
    """What sits at a node of the wire network (docs/physics.md section 2)."""

    CLEAN = "clean"
    """Transparent junction of two or more wires (Kirchhoff conditions)."""
    NORMAL_RESERVOIR = "normal_reservoir"
    """Bulk normal-metal terminal with a temperature and an electric potential."""
    SUPERCONDUCTING_RESERVOIR = "superconducting_reservoir"
    """Bulk BCS terminal with a gap, a phase and a temperature; potential is the reference 0."""
    FREE_END = "free_end"
    """A wire ending in vacuum or an insulator (zero spectral and kinetic currents)."""

    @property
    def is_reservoir(self) -> bool:
        return self in (NodeKind.NORMAL_RESERVOIR, NodeKind.SUPERCONDUCTING_RESERVOIR)


def _check_finite(owner: str, key: str, value: float, *, positive: bool = False,
                  nonnegative: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise GeometryError(f"{owner}: '{key}' must be a number, got {value!r}")
    if not math.isfinite(value):
        raise GeometryError(f"{owner}: '{key}' must be finite, got {value!r}")
    if positive and value <= 0:
        raise GeometryError(f"{owner}: '{key}' must be positive, got {value!r}")
    if nonnegative and value < 0:
        raise GeometryError(f"{owner}: '{key}' must not be negative, got {value!r}")


@dataclass(frozen=True)
class Node:
    """A node of the network.

    Attributes
    ----------
    name: unique identifier.
    kind: see :class:`NodeKind`.
    temperature: reservoir temperature in Delta0 (reservoirs only; default 0).
    potential: electric potential of a normal reservoir in Delta0/e (default 0).
    gap: pair potential magnitude of a superconducting reservoir in Delta0 (required there).
    phase: superconducting phase of an S reservoir in radians.
    dynes: Dynes rate eta of an S reservoir's bulk BCS functions (E -> E + i eta), Delta0.
    position: optional 2D/3D coordinates in xi0, used only for drawing and export.
    """

    name: str
    kind: NodeKind
    temperature: float = 0.0
    potential: float = 0.0
    gap: float | None = None
    phase: float = 0.0
    dynes: float = 0.0
    position: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise GeometryError(f"node name must be a non-empty string, got {self.name!r}")
        owner = f"node '{self.name}'"
        try:
            object.__setattr__(self, "kind", NodeKind(self.kind))
        except ValueError:
            kinds = ", ".join(k.value for k in NodeKind)
            raise GeometryError(f"{owner}: unknown kind {self.kind!r} (expected one of {kinds})") from None
        _check_finite(owner, "temperature", self.temperature, nonnegative=True)
        _check_finite(owner, "potential", self.potential)
        _check_finite(owner, "phase", self.phase)
        _check_finite(owner, "dynes", self.dynes, nonnegative=True)
        if self.kind is not NodeKind.SUPERCONDUCTING_RESERVOIR and self.dynes != 0.0:
            raise GeometryError(f"{owner}: 'dynes' is only meaningful for a superconducting reservoir")
        if self.kind is NodeKind.SUPERCONDUCTING_RESERVOIR:
            if self.gap is None:
                raise GeometryError(f"{owner}: a superconducting reservoir needs a 'gap'")
            _check_finite(owner, "gap", self.gap, positive=True)
        elif self.gap is not None:
            raise GeometryError(f"{owner}: 'gap' is only meaningful for a superconducting reservoir")
        if self.kind is not NodeKind.NORMAL_RESERVOIR and self.potential != 0.0:
            raise GeometryError(f"{owner}: 'potential' is only meaningful for a normal reservoir")
        if self.position is not None:
            position = tuple(self.position)
            if len(position) not in (2, 3):
                raise GeometryError(f"{owner}: 'position' must have 2 or 3 coordinates, got {position!r}")
            for c in position:
                _check_finite(owner, "position", c)
            object.__setattr__(self, "position", tuple(float(c) for c in position))


@dataclass(frozen=True)
class MeshOptions:
    """How one wire is meshed.

    elements: number of finite elements along the wire (None: chosen from length and
        coherence length by :func:`femprox.mesh.build_mesh`).
    order: polynomial order of the elements (1 = P1, 2 = P2, >2 hierarchical ElementLinePp).
        The default 3 gave the best accuracy per second in benchmarks/bench_spectral.py.
    grading: ratio of the largest to the smallest element (1 = uniform). Elements shrink
        geometrically toward the graded ends.
    graded_ends: "auto" (toward ends where normal metal meets superconductivity), "both",
        "start", "end" or "none".
    """

    elements: int | None = None
    order: int = 3
    grading: float = 4.0
    graded_ends: str = "auto"

    def __post_init__(self) -> None:
        if self.elements is not None and (isinstance(self.elements, bool)
                                          or not isinstance(self.elements, numbers.Integral)
                                          or self.elements < 1):
            raise GeometryError(f"mesh: 'elements' must be a positive integer, got {self.elements!r}")
        if isinstance(self.order, bool) or not isinstance(self.order, numbers.Integral) or not 1 <= self.order <= 10:
            raise GeometryError(f"mesh: 'order' must be an integer from 1 to 10, got {self.order!r}")
        _check_finite("mesh", "grading", self.grading)
        if self.grading < 1:
            raise GeometryError(f"mesh: 'grading' must be >= 1, got {self.grading!r}")
        if self.graded_ends not in ("auto", "both", "start", "end", "none"):
            raise GeometryError("mesh: 'graded_ends' must be one of auto, both, start, end, none; "
                                f"got {self.graded_ends!r}")


@dataclass(frozen=True)
class Wire:
    """A quasi-one-dimensional diffusive wire between two nodes.

    Attributes
    ----------
    name: unique identifier.
    start, end: names of its end nodes; the arc-length coordinate x runs from 0 at
        ``start`` to ``length`` at ``end``.
    length: in xi0.
    diffusion: diffusion constant D in Delta0 xi0^2 (the reference metal has D = 2).
    conductance: normal-state conductance per unit length g (its resistance is length/g).
    gap: pair potential magnitude Delta in Delta0 (0 for a normal wire).
    phase: phase of the pair potential in radians.
    dynes: Dynes / inelastic rate eta in Delta0 (E -> E + i eta inside the wire).
    mesh: per-wire mesh options (None: the network's defaults).
    phase_end: phase of the pair potential at the wire's end (radians); the phase runs
        linearly from ``phase`` at the start (None: constant ``phase``).
    flux: line integral of the vector potential along the wire, start -> end, in flux quanta
        Phi0 = h/2e (the phase 2 pi flux; flux through loops is usually given per loop, see
        :class:`Loop`).
    start_contact, end_contact: the contact at each end (None: transparent), e.g.
        ``TunnelBarrier(resistance=5.0)``; resistances are in units of wire resistances
        length / conductance.
    critical_temperature, debye_frequency: material of an S wire for the self-consistent
        pair potential (:mod:`femprox.selfconsistency.gap_equation`, Delta0): its bulk T_c (None: the
        weak-coupling value 0.567 ``gap``) and the Debye frequency of a smooth cutoff (None:
        cutoff-free). The rigid-gap solvers do not use them.
    """

    name: str
    start: str
    end: str
    length: float
    diffusion: float = 2.0
    conductance: float = 1.0
    gap: float = 0.0
    phase: float = 0.0
    dynes: float = 0.0
    mesh: MeshOptions | None = None
    phase_end: float | None = None
    flux: float = 0.0
    start_contact: Contact | None = None
    end_contact: Contact | None = None
    critical_temperature: float | None = None
    debye_frequency: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise GeometryError(f"wire name must be a non-empty string, got {self.name!r}")
        owner = f"wire '{self.name}'"
        for key in ("start", "end"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value:
                raise GeometryError(f"{owner}: '{key}' must be a node name, got {value!r}")
        if self.start == self.end:
            raise GeometryError(f"{owner}: starts and ends at the same node '{self.start}' "
                                "(split a loop into at least two wires)")
        _check_finite(owner, "length", self.length, positive=True)
        _check_finite(owner, "diffusion", self.diffusion, positive=True)
        _check_finite(owner, "conductance", self.conductance, positive=True)
        _check_finite(owner, "gap", self.gap, nonnegative=True)
        _check_finite(owner, "phase", self.phase)
        _check_finite(owner, "dynes", self.dynes, nonnegative=True)
        _check_finite(owner, "flux", self.flux)
        self._check_material(owner)
        if self.phase_end is not None:
            _check_finite(owner, "phase_end", self.phase_end)
            if self.gap == 0.0 and self.phase_end != self.phase:
                raise GeometryError(f"{owner}: 'phase_end' is only meaningful for a superconducting wire")
        for key in ("start_contact", "end_contact"):
            contact = getattr(self, key)
            if contact is not None and not isinstance(contact, Contact):
                raise GeometryError(f"{owner}: '{key}' must be a contact such as TunnelBarrier(resistance=...), "
                                    f"got {contact!r}")
            if contact is not None:
                try:
                    contact.check(self.resistance)
                except ValueError as exc:
                    raise GeometryError(f"{owner}: {key}: {exc}") from None

    def _check_material(self, owner: str) -> None:
        """critical_temperature and debye_frequency: positive, S wires only, omega_D > 2 pi T_c."""
        for key in ("critical_temperature", "debye_frequency"):
            value = getattr(self, key)
            if value is None:
                continue
            _check_finite(owner, key, value, positive=True)
            if self.gap == 0.0:
                raise GeometryError(f"{owner}: '{key}' is only meaningful for a superconducting wire (give it "
                                    "its zero-temperature 'gap')")
        if self.debye_frequency is not None:
            weak_coupling = math.exp(0.5772156649015329) / math.pi * self.gap  # T_c = e^gamma / pi Delta(0)
            tc = self.critical_temperature if self.critical_temperature is not None else weak_coupling
            if self.debye_frequency <= 2 * math.pi * tc:
                raise GeometryError(f"{owner}: 'debye_frequency' {self.debye_frequency!r} must exceed 2 pi T_c = "
                                    f"{2 * math.pi * tc:.4g} (weak coupling needs omega_D >> T_c)")

    @property
    def end_phase(self) -> float:
        """Phase of the pair potential at the wire's end (radians)."""
        return self.phase if self.phase_end is None else self.phase_end

    def contact_at(self, end: str) -> Contact | None:
        """The contact at ``end`` ("start" or "end"); None for a transparent one."""
        return self.start_contact if end == "start" else self.end_contact

    def phase_at(self, end: str) -> float:
        """Phase of the pair potential at ``end`` ("start" or "end")."""
        return self.phase if end == "start" else self.end_phase

    @property
    def coherence_length(self) -> float:
        """sqrt(D / (2 Delta0)) in xi0."""
        return math.sqrt(self.diffusion / 2.0)

    @property
    def is_superconducting(self) -> bool:
        return self.gap > 0.0

    @property
    def thouless_energy(self) -> float:
        """E_Th = D / L^2 in Delta0."""
        return self.diffusion / self.length**2

    @property
    def resistance(self) -> float:
        """Normal-state resistance L / g."""
        return self.length / self.conductance


@dataclass(frozen=True)
class Loop:
    """A closed loop of wires threaded by a magnetic flux.

    Attributes
    ----------
    name: unique identifier.
    wires: names of the wires around the loop, in order; consecutive wires share a node and
        the last one returns to the first. The circulation runs along this order, the first
        wire traversed from its start to its end.
    flux: flux through the loop in flux quanta Phi0 = h/2e (counted along the circulation:
        the vector potential's line integral around the loop is 2 pi flux in phase units).

    How the flux enters the equations is a gauge choice (:mod:`femprox.physics.flux`); the
    loop needs at least one normal wire, whose vector potential carries it.
    """

    name: str
    wires: tuple[str, ...]
    flux: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise GeometryError(f"loop name must be a non-empty string, got {self.name!r}")
        owner = f"loop '{self.name}'"
        if isinstance(self.wires, str) or not all(isinstance(w, str) for w in self.wires):
            raise GeometryError(f"{owner}: 'wires' must be a list of wire names, got {self.wires!r}")
        object.__setattr__(self, "wires", tuple(self.wires))
        if len(self.wires) < 2:
            raise GeometryError(f"{owner}: a loop needs at least two wires, got {list(self.wires)}")
        _check_finite(owner, "flux", self.flux)


def diffusion_from_coherence_length(xi: float) -> float:
    """D = 2 xi^2 (Delta0 xi0^2) for a metal whose coherence length is xi (xi0)."""
    return 2.0 * xi**2


@dataclass(frozen=True)
class Geometry:
    """A validated wire network.

    ``mesh`` holds the default mesh options applied to wires that have none of their own.
    Physical parameters that a sweep changes (temperatures, phases, potentials) can be
    replaced with :meth:`with_node` / :meth:`with_wire` without touching the original.
    """

    nodes: tuple[Node, ...]
    wires: tuple[Wire, ...]
    name: str = "network"
    mesh: MeshOptions = field(default_factory=MeshOptions)
    description: str = field(default="", compare=False)
    loops: tuple[Loop, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str):
            raise GeometryError(f"geometry name must be a string, got {self.name!r}")
        if not isinstance(self.mesh, MeshOptions):
            raise GeometryError(f"geometry mesh must be MeshOptions, got {self.mesh!r}")
        object.__setattr__(self, "nodes", tuple(self.nodes))
        object.__setattr__(self, "wires", tuple(self.wires))
        object.__setattr__(self, "loops", tuple(self.loops))
        _validate_network(self.nodes, self.wires)
        _validate_contacts(self.nodes, self.wires)
        _validate_loops(self.loops, self.wires)

    # -- lookup -------------------------------------------------------------------
    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise GeometryError(f"no node named '{name}' (nodes: {', '.join(n.name for n in self.nodes)})")

    def wire(self, name: str) -> Wire:
        for wire in self.wires:
            if wire.name == name:
                return wire
        raise GeometryError(f"no wire named '{name}' (wires: {', '.join(w.name for w in self.wires)})")

    def wires_at(self, node_name: str) -> list[Wire]:
        """Wires having ``node_name`` as one of their ends."""
        return [w for w in self.wires if node_name in (w.start, w.end)]

    @property
    def terminals(self) -> tuple[Node, ...]:
        """Reservoir nodes, in declaration order."""
        return tuple(n for n in self.nodes if n.kind.is_reservoir)

    def mesh_options(self, wire: Wire) -> MeshOptions:
        return wire.mesh if wire.mesh is not None else self.mesh

    # -- modified copies ------------------------------------------------------------
    def with_node(self, name: str, **changes) -> "Geometry":
        """A copy with node ``name`` changed, e.g. ``g.with_node("S1", phase=0.5)``."""
        self.node(name)
        nodes = tuple(replace(n, **changes) if n.name == name else n for n in self.nodes)
        return replace(self, nodes=nodes)

    def loop(self, name: str) -> Loop:
        for loop in self.loops:
            if loop.name == name:
                return loop
        raise GeometryError(f"no loop named '{name}' (loops: {', '.join(l.name for l in self.loops) or 'none'})")

    def with_loop(self, name: str, **changes) -> "Geometry":
        """A copy with loop ``name`` changed, e.g. ``g.with_loop("ring", flux=0.25)``."""
        self.loop(name)
        loops = tuple(replace(l, **changes) if l.name == name else l for l in self.loops)
        return replace(self, loops=loops)

    def with_wire(self, name: str, **changes) -> "Geometry":
        """A copy with wire ``name`` changed, e.g. ``g.with_wire("arm", length=3.0)``."""
        self.wire(name)
        wires = tuple(replace(w, **changes) if w.name == name else w for w in self.wires)
        return replace(self, wires=wires)


def _unique_names(kind: str, names: Iterable[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise GeometryError(f"duplicate {kind} name '{name}'")
        seen.add(name)


def _validate_network(nodes: Sequence[Node], wires: Sequence[Wire]) -> None:
    for obj, cls in [(n, Node) for n in nodes] + [(w, Wire) for w in wires]:
        if not isinstance(obj, cls):
            raise GeometryError(f"expected a {cls.__name__}, got {obj!r}")
    if not wires:
        raise GeometryError("the network has no wires")
    _unique_names("node", (n.name for n in nodes))
    _unique_names("wire", (w.name for w in wires))
    _check_names_and_magnitudes(nodes, wires)
    by_name = {n.name: n for n in nodes}
    degree = {n.name: 0 for n in nodes}
    for w in wires:
        for key in ("start", "end"):
            node_name = getattr(w, key)
            if node_name not in by_name:
                raise GeometryError(f"wire '{w.name}': '{key}' names unknown node '{node_name}'")
            degree[node_name] += 1
    for n in nodes:
        _validate_degree(n, degree[n.name])
    components = _components(nodes, wires)
    for component in components:
        if not any(by_name[name].kind.is_reservoir for name in component):
            listed = ", ".join(sorted(component))
            raise GeometryError(f"the part of the network made of nodes {listed} touches no reservoir "
                                "(every connected part needs at least one reservoir)")
    if len(components) > 1:
        parts = "; ".join(", ".join(sorted(c)) for c in components)
        raise GeometryError(f"the network is disconnected: separate parts are {{{parts}}}")


def _validate_degree(node: Node, degree: int) -> None:
    owner = f"node '{node.name}'"
    if degree == 0:
        raise GeometryError(f"{owner} is dangling: no wire ends at it")
    if node.kind is NodeKind.CLEAN and degree < 2:
        raise GeometryError(f"{owner} is a clean node with only one wire; "
                            "make it a 'free_end' or attach another wire")
    if node.kind is NodeKind.FREE_END and degree != 1:
        raise GeometryError(f"{owner} is a free end but {degree} wires meet there; make it 'clean'")


def gaps_of(geometry: "Geometry") -> list[float]:
    """Distinct gaps of S wires and S reservoirs, ascending (Delta0)."""
    gaps = {w.gap for w in geometry.wires if w.gap > 0}
    gaps |= {n.gap for n in geometry.nodes if n.kind is NodeKind.SUPERCONDUCTING_RESERVOIR}
    return sorted(gaps)


def connected_parts(geometry: "Geometry") -> dict[str, int]:
    """Node name -> index of its connected part of the wire graph (wires joined at every node,
    reservoirs included). A validated Geometry is one part; the gauge and supercurrent rules
    of the self-consistent solvers are written per part all the same."""
    return {name: k for k, part in enumerate(_components(geometry.nodes, geometry.wires)) for name in part}


def _components(nodes: Sequence[Node], wires: Sequence[Wire]) -> list[set[str]]:
    neighbours: dict[str, set[str]] = {n.name: set() for n in nodes}
    for w in wires:
        neighbours[w.start].add(w.end)
        neighbours[w.end].add(w.start)
    components: list[set[str]] = []
    unvisited = set(neighbours)
    while unvisited:
        stack = [min(unvisited)]
        component: set[str] = set()
        while stack:
            name = stack.pop()
            if name in component:
                continue
            component.add(name)
            stack.extend(neighbours[name] - component)
        components.append(component)
        unvisited -= component
    return components


_PHASE_TOLERANCE = 1e-9


def _validate_contacts(nodes: Sequence[Node], wires: Sequence[Wire]) -> None:
    """Contacts only where two sides exist; superconductors joined transparently agree in phase.

    Rule for transparent contacts between superconductors (S wires and S reservoirs): the
    pair potentials must have the same phase at the node (modulo 2 pi); a jump would carry
    an unbounded supercurrent. Their gaps may differ (an S' wire on an S reservoir: the
    reservoir imposes its bulk functions, the wire keeps its own rigid gap). Superconductors
    at different phases can meet through a tunnel barrier (a Josephson contact).
    """
    by_name = {n.name: n for n in nodes}
    phases: dict[str, list[tuple[str, float]]] = {}
    for node in nodes:
        if node.kind is NodeKind.SUPERCONDUCTING_RESERVOIR:
            phases.setdefault(node.name, []).append((f"reservoir '{node.name}'", node.phase))
    for wire in wires:
        for end in ("start", "end"):
            node = by_name[getattr(wire, end)]
            contact = wire.contact_at(end)
            if contact is not None and node.kind is NodeKind.FREE_END:
                raise GeometryError(f"wire '{wire.name}': a contact at its {end} needs something on the other "
                                    f"side, but node '{node.name}' is a free end")
            if contact is None and wire.is_superconducting:
                phases.setdefault(node.name, []).append((f"wire '{wire.name}' ({end})", wire.phase_at(end)))
    for node_name, entries in phases.items():
        reference_owner, reference = entries[0]
        for owner, phase in entries[1:]:
            jump = (phase - reference + math.pi) % (2 * math.pi) - math.pi
            if abs(jump) > _PHASE_TOLERANCE:
                raise GeometryError(
                    f"node '{node_name}': {owner} has pair-potential phase {phase:.6g} but {reference_owner} has "
                    f"{reference:.6g}; superconductors joined by a transparent contact must have equal phases "
                    "(set 'phase'/'phase_end' to agree, or join them through a tunnel barrier)")


def _validate_loops(loops: Sequence[Loop], wires: Sequence[Wire]) -> None:
    from femprox.physics.flux import loop_orientation

    _unique_names("loop", (l.name for l in loops))
    by_name = {w.name: w for w in wires}
    for loop in loops:
        for name in loop.wires:
            if name not in by_name:
                raise GeometryError(f"loop '{loop.name}': no wire named '{name}'")
        loop_orientation(loop, by_name)


# Keys of Node, Wire and MeshOptions whose magnitudes femprox.geometry.limits.RANGES bounds (new keys:
# add them here and a Range there).
_NODE_MAGNITUDES = ("temperature", "potential", "gap", "phase", "dynes")
_WIRE_MAGNITUDES = ("length", "diffusion", "conductance", "gap", "phase", "dynes", "phase_end", "flux",
                    "critical_temperature", "debye_frequency")
_MESH_MAGNITUDES = ("grading", "elements")


def _check_names_and_magnitudes(nodes: Sequence[Node], wires: Sequence[Wire]) -> None:
    """Safe names and values inside femprox.geometry.limits.RANGES (the geometry-file reader checks the
    same with file locations; this covers geometries built in Python)."""
    from femprox.geometry import limits

    too_large = limits.check_network_size(len(nodes), len(wires))
    if too_large is not None:
        raise GeometryError(too_large)
    for kind, items, keys in (("node", nodes, _NODE_MAGNITUDES), ("wire", wires, _WIRE_MAGNITUDES)):
        for item in items:
            problem = limits.check_name(kind, item.name)
            if problem is not None:
                raise GeometryError(problem)
            values = [(key, getattr(item, key)) for key in keys if getattr(item, key, None) is not None]
            values += [("position", c) for c in (getattr(item, "position", None) or ())]
            mesh = getattr(item, "mesh", None)
            if mesh is not None:
                values += [(key, getattr(mesh, key)) for key in _MESH_MAGNITUDES if getattr(mesh, key) is not None]
            for key, value in values:
                if value > 0 or limits.RANGES[key].signed:
                    problem = limits.range_problem(key, value)
                    if problem is not None:
                        raise GeometryError(f"{kind} '{item.name}': '{key}' {problem}")
