"""Builders for the structures of the paper (docs/physics.md section 7) as :class:`Geometry` objects.

Units are the paper's: energies (gap, temperature) in Delta0, lengths in xi0. The normal
metal is the reference, D_N = 2 (so xi0 = sqrt(D_N / (2 Delta0)) = 1) with conductance per
unit length g_N = 1; superconducting wires have D_S = D_N unless stated. Every builder checks
its arguments (GeometryError naming the builder and the argument) and gives every node a 2D
position in xi0 for drawing. The files in ``geometries/`` describe the same structures with
the same default parameters; a test checks that each loads equal to its builder.

Node and wire names:

=========================  ===============================================================
builder                    nodes / wires
=========================  ===============================================================
t_junction                 left, center, right, s_end / left_arm, right_arm, s_arm
ns_wire                    N, S / wire
sns_junction               S1, S2 / wire
inset                      left, s_start, s_stop, right / left_arm, s_segment, right_arm
sandwich                   left, n1..nR, right, s_left, s1..sR, s_right /
                           left_n1, n1_n2, ..., nR_right, s_left_s1, s1_s2, ..., sR_s_right,
                           rung1..rungR
house_interferometer       left, center, right, S1, S2 / left_arm, right_arm, s1_arm, s2_arm
house_s_loop               left, center, right, c1, c2 / left_arm, right_arm, s1_arm, s2_arm,
                           loop; loop "flux" = (s2_arm, loop, s1_arm)
nis_thermometer            left, center, right, probe / left_arm, right_arm, probe_arm
                           (tunnel barrier at the end of probe_arm)
=========================  ===============================================================
"""

from __future__ import annotations

import math
import numbers

from femprox.geometry.network import Geometry, GeometryError, Loop, MeshOptions, Node, NodeKind, Wire
from femprox.physics.contacts import TunnelBarrier

__all__ = ["D_N", "G_N", "house_interferometer", "house_s_loop", "inset", "nis_thermometer", "ns_wire",
           "sandwich", "sns_junction", "t_junction"]

D_N = 2.0
"""Diffusion constant of the reference normal metal (Delta0 xi0^2)."""
G_N = 1.0
"""Conductance per unit length of the normal wires (the unit of conductance)."""

_N_RES = NodeKind.NORMAL_RESERVOIR
_S_RES = NodeKind.SUPERCONDUCTING_RESERVOIR


# -- argument checks ----------------------------------------------------------------------

def _finite(builder: str, name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise GeometryError(f"{builder}: '{name}' must be a finite number, got {value!r}")
    return float(value)


def _positive(builder: str, name: str, value: object) -> float:
    result = _finite(builder, name, value)
    if result <= 0:
        raise GeometryError(f"{builder}: '{name}' must be positive, got {value!r}")
    return result


def _nonnegative(builder: str, name: str, value: object) -> float:
    result = _finite(builder, name, value)
    if result < 0:
        raise GeometryError(f"{builder}: '{name}' must not be negative, got {value!r}")
    return result


def _count(builder: str, name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise GeometryError(f"{builder}: '{name}' must be a positive integer, got {value!r}")
    return int(value)


def _shorter(builder: str, inner: tuple[str, float], outer: tuple[str, float]) -> None:
    if inner[1] >= outer[1]:
        raise GeometryError(f"{builder}: '{inner[0]}' ({inner[1]!r}) must be smaller than "
                            f"'{outer[0]}' ({outer[1]!r})")


def _geometry(name: str, nodes: list[Node], wires: list[Wire], mesh: MeshOptions | None,
              loops: tuple[Loop, ...] = ()) -> Geometry:
    return Geometry(nodes=tuple(nodes), wires=tuple(wires), name=name,
                    mesh=mesh if mesh is not None else MeshOptions(), loops=loops)


def _barrier(builder: str, name: str, value: object) -> TunnelBarrier | None:
    """A tunnel barrier of resistance ``value``, or None (transparent) for 0."""
    resistance = _nonnegative(builder, name, value)
    return TunnelBarrier(resistance) if resistance > 0 else None


def _n_wire_with_centre(length_n: float, temperature: float) -> list[Node]:
    """Normal reservoirs "left"/"right" at -+length_n/2 and the clean node "center" between."""
    return [
        Node("left", _N_RES, temperature=temperature, position=(-length_n / 2, 0.0)),
        Node("center", NodeKind.CLEAN, position=(0.0, 0.0)),
        Node("right", _N_RES, temperature=temperature, position=(length_n / 2, 0.0)),
    ]


# -- builders -------------------------------------------------------------------------------

def t_junction(r: float = 1.0, length_n: float = 10.0, length_s: float = 10.0,
               temperature: float = 0.0, *, gap: float = 1.0, barrier: float = 0.0,
               mesh: MeshOptions | None = None) -> Geometry:
    """The paper's T-junction (Fig. 2a): an S wire ending free, attached to an N wire's middle.

    The N wire of length ``length_n`` (xi0) joins normal reservoirs "left" (x = -L_N/2) and
    "right" (x = +L_N/2), both at ``temperature`` (Delta0); it is split at its middle, the
    clean node "center", into "left_arm" and "right_arm". The S wire "s_arm" (pair
    potential ``gap`` in Delta0, D_S = D_N) runs from "center" to the free end "s_end" over
    ``length_s`` (xi0). The proximity parameter r = 4 (D_S/D_N) (g_N/g_S)^2 fixes the S
    wire's conductance per unit length, g_S = 2 g_N / sqrt(r). ``barrier`` > 0 puts a tunnel
    barrier of that resistance (units of wire resistances, the N wire's is L_N / g_N) between
    "center" and the S wire (0: a transparent NS contact, the paper's model).
    """
    name = "t_junction"
    r = _positive(name, "r", r)
    length_n = _positive(name, "length_n", length_n)
    length_s = _positive(name, "length_s", length_s)
    temperature = _nonnegative(name, "temperature", temperature)
    gap = _positive(name, "gap", gap)
    nodes = [
        *_n_wire_with_centre(length_n, temperature),
        Node("s_end", NodeKind.FREE_END, position=(0.0, length_s)),
    ]
    wires = [
        Wire("left_arm", "left", "center", length_n / 2, diffusion=D_N, conductance=G_N),
        Wire("right_arm", "center", "right", length_n / 2, diffusion=D_N, conductance=G_N),
        Wire("s_arm", "center", "s_end", length_s, diffusion=D_N,
             conductance=2.0 * G_N / math.sqrt(r), gap=gap, start_contact=_barrier(name, "barrier", barrier)),
    ]
    return _geometry(name, nodes, wires, mesh)


def ns_wire(length: float = 10.0, gap: float = 1.0, temperature: float = 0.0, *,
            mesh: MeshOptions | None = None) -> Geometry:
    """A normal wire "wire" of ``length`` (xi0) from normal reservoir "N" to S reservoir "S".

    The S reservoir has pair potential ``gap`` (Delta0) and phase 0; both reservoirs are at
    ``temperature`` (Delta0). A validation case of docs/physics.md section 8 (reentrant G(E)).
    """
    name = "ns_wire"
    length = _positive(name, "length", length)
    gap = _positive(name, "gap", gap)
    temperature = _nonnegative(name, "temperature", temperature)
    nodes = [
        Node("N", _N_RES, temperature=temperature, position=(0.0, 0.0)),
        Node("S", _S_RES, temperature=temperature, gap=gap, position=(length, 0.0)),
    ]
    wires = [Wire("wire", "N", "S", length, diffusion=D_N, conductance=G_N)]
    return _geometry(name, nodes, wires, mesh)


def sns_junction(length: float = 10.0, gap: float = 1.0, phase: float = 0.0,
                 temperature: float = 0.0, *, mesh: MeshOptions | None = None) -> Geometry:
    """S reservoirs "S1" (phase +phase/2) and "S2" (phase -phase/2) joined by a normal "wire".

    ``length`` in xi0 (E_Th = D_N / length^2 in Delta0), ``gap`` and ``temperature`` in
    Delta0, ``phase`` (the phase difference phi) in radians. Validation cases 3 and 4.
    """
    name = "sns_junction"
    length = _positive(name, "length", length)
    gap = _positive(name, "gap", gap)
    phase = _finite(name, "phase", phase)
    temperature = _nonnegative(name, "temperature", temperature)
    nodes = [
        Node("S1", _S_RES, temperature=temperature, gap=gap, phase=phase / 2, position=(0.0, 0.0)),
        Node("S2", _S_RES, temperature=temperature, gap=gap, phase=-phase / 2,
             position=(length, 0.0)),
    ]
    wires = [Wire("wire", "S1", "S2", length, diffusion=D_N, conductance=G_N)]
    return _geometry(name, nodes, wires, mesh)


def _contact_parameters(name: str, length_n, width, temperature, gap, conductance_s, diffusion_s) -> tuple:
    """The checked parameters shared by the inset and sandwich contacts (Fig. 1): an S
    part of ``width`` inside an N wire of ``length_n``."""
    length_n = _positive(name, "length_n", length_n)
    width = _positive(name, "width", width)
    _shorter(name, ("width", width), ("length_n", length_n))
    return (length_n, width, _nonnegative(name, "temperature", temperature), _positive(name, "gap", gap),
            _positive(name, "conductance_s", conductance_s), _positive(name, "diffusion_s", diffusion_s))


def inset(length_n: float = 10.0, width: float = 1.0, temperature: float = 0.0, *,
          gap: float = 1.0, conductance_s: float = G_N, diffusion_s: float = D_N,
          mesh: MeshOptions | None = None) -> Geometry:
    """The inset model of the NS contact (Fig. 1b): an S segment in series in the N wire.

    Normal reservoirs "left" (x = -L_N/2) and "right" (x = +L_N/2) at ``temperature``
    (Delta0) are ``length_n`` (xi0) apart; the middle ``width`` (xi0) of that distance is the
    S wire "s_segment" (pair potential ``gap`` in Delta0, conductance per unit length
    ``conductance_s``, diffusion constant ``diffusion_s`` in Delta0 xi0^2) between the clean
    nodes "s_start" and "s_stop"; the normal "left_arm" and "right_arm" have length
    (L_N - width)/2 each.
    """
    name = "inset"
    length_n, width, temperature, gap, conductance_s, diffusion_s = _contact_parameters(
        name, length_n, width, temperature, gap, conductance_s, diffusion_s)
    arm = (length_n - width) / 2
    nodes = [
        Node("left", _N_RES, temperature=temperature, position=(-length_n / 2, 0.0)),
        Node("s_start", NodeKind.CLEAN, position=(-width / 2, 0.0)),
        Node("s_stop", NodeKind.CLEAN, position=(width / 2, 0.0)),
        Node("right", _N_RES, temperature=temperature, position=(length_n / 2, 0.0)),
    ]
    wires = [
        Wire("left_arm", "left", "s_start", arm, diffusion=D_N, conductance=G_N),
        Wire("s_segment", "s_start", "s_stop", width, diffusion=diffusion_s,
             conductance=conductance_s, gap=gap),
        Wire("right_arm", "s_stop", "right", arm, diffusion=D_N, conductance=G_N),
    ]
    return _geometry(name, nodes, wires, mesh)


def sandwich(length_n: float = 10.0, width: float = 1.0, thickness: float = 0.1,
             rungs: int = 8, temperature: float = 0.0, *, gap: float = 1.0,
             conductance_s: float = G_N, diffusion_s: float = D_N,
             mesh: MeshOptions | None = None) -> Geometry:
    """The sandwich NS contact (Fig. 1a) as a ladder: an S strip on top of the N wire.

    The N wire joins normal reservoirs "left" (x = -L_N/2) and "right" (x = +L_N/2) at
    ``temperature`` (Delta0). An S strip (pair potential ``gap`` in Delta0, conductance per
    unit length ``conductance_s``, diffusion constant ``diffusion_s``) covers the middle
    ``width`` (xi0) of the wire, from free end "s_left" (x = -width/2) to free end "s_right"
    (x = +width/2). The overlap is cut into ``rungs`` cells of length c = width / rungs; at
    each cell's centre x_k = -width/2 + (k - 1/2) c a transverse S wire "rung<k>" of length
    ``thickness`` (xi0) joins the clean node "n<k>" on the N wire to the clean node "s<k>"
    on the strip (midpoint rule: each rung carries the contact of one cell).

    Rung conductance: a rung is the path across the S film's thickness t under its cell.
    If the strip's lateral conductance per unit length is g_S = sigma_S A (cross-section
    A = film width x t), the transverse conductance under a cell of length c is
    sigma_S (film width) c / t = g_S c / t^2, so each rung, a wire of length t, gets
    g_rung = g_S c / t = g_S width / (rungs t). The total transverse conductance
    rungs * g_rung / t = g_S width / t^2 is independent of ``rungs``, which is therefore a
    discretisation parameter to converge (like a mesh size).
    """
    name = "sandwich"
    length_n, width, temperature, gap, conductance_s, diffusion_s = _contact_parameters(
        name, length_n, width, temperature, gap, conductance_s, diffusion_s)
    thickness = _positive(name, "thickness", thickness)
    rungs = _count(name, "rungs", rungs)
    cell = width / rungs
    centres = [-width / 2 + (k - 0.5) * cell for k in range(1, rungs + 1)]
    nodes = _sandwich_nodes(length_n, width, thickness, centres, temperature)
    wires = (_sandwich_n_wires(length_n, width, cell, rungs)
             + _sandwich_s_wires(cell, rungs, gap, conductance_s, diffusion_s)
             + _sandwich_rungs(width, thickness, rungs, gap, conductance_s, diffusion_s))
    return _geometry(name, nodes, wires, mesh)


def _sandwich_nodes(length_n: float, width: float, thickness: float, centres: list[float],
                    temperature: float) -> list[Node]:
    nodes = [Node("left", _N_RES, temperature=temperature, position=(-length_n / 2, 0.0))]
    nodes += [Node(f"n{k}", NodeKind.CLEAN, position=(x, 0.0)) for k, x in enumerate(centres, 1)]
    nodes.append(Node("right", _N_RES, temperature=temperature, position=(length_n / 2, 0.0)))
    nodes.append(Node("s_left", NodeKind.FREE_END, position=(-width / 2, thickness)))
    nodes += [Node(f"s{k}", NodeKind.CLEAN, position=(x, thickness)) for k, x in enumerate(centres, 1)]
    nodes.append(Node("s_right", NodeKind.FREE_END, position=(width / 2, thickness)))
    return nodes


def _chain(names: list[str], lengths: list[float], **material: float) -> list[Wire]:
    """Wires "a_b" joining consecutive names."""
    return [Wire(f"{a}_{b}", a, b, length, **material)
            for a, b, length in zip(names[:-1], names[1:], lengths)]


def _sandwich_n_wires(length_n: float, width: float, cell: float, rungs: int) -> list[Wire]:
    names = ["left"] + [f"n{k}" for k in range(1, rungs + 1)] + ["right"]
    outer = (length_n - width) / 2 + cell / 2
    lengths = [outer] + [cell] * (rungs - 1) + [outer]
    return _chain(names, lengths, diffusion=D_N, conductance=G_N)


def _sandwich_s_wires(cell: float, rungs: int, gap: float, conductance_s: float,
                      diffusion_s: float) -> list[Wire]:
    names = ["s_left"] + [f"s{k}" for k in range(1, rungs + 1)] + ["s_right"]
    lengths = [cell / 2] + [cell] * (rungs - 1) + [cell / 2]
    return _chain(names, lengths, diffusion=diffusion_s, conductance=conductance_s, gap=gap)


def _sandwich_rungs(width: float, thickness: float, rungs: int, gap: float,
                    conductance_s: float, diffusion_s: float) -> list[Wire]:
    g_rung = conductance_s * width / (rungs * thickness)
    return [Wire(f"rung{k}", f"n{k}", f"s{k}", thickness, diffusion=diffusion_s,
                 conductance=g_rung, gap=gap) for k in range(1, rungs + 1)]


def house_interferometer(phase: float = 0.0, length_n: float = 10.0, arm_length: float = 0.5,
                         arm_conductance: float = 10.0, gap: float = 1.0,
                         temperature: float = 0.0, *,
                         mesh: MeshOptions | None = None) -> Geometry:
    """The house Andreev interferometer (Fig. 2b) in its simplest graph form.

    The N wire of length ``length_n`` (xi0) joins normal reservoirs "left" and "right" at
    ``temperature`` (Delta0) through "left_arm" and "right_arm", meeting at the clean node
    "center". From "center", two short normal arms "s1_arm" and "s2_arm" (length
    ``arm_length`` < xi0, conductance per unit length ``arm_conductance`` >> g_N = 1) lead to
    S reservoirs "S1" (phase +phase/2) and "S2" (phase -phase/2), pair potential ``gap``
    (Delta0), at ``temperature``. The reservoirs stand for the two contact points of the
    superconducting loop whose flux sets the phase difference ``phase`` (radians): a loop
    conductance much larger than the N wire's makes the loop a rigid phase source, and
    S1-arms-S2 form the short SNS junction with minigap ~ gap |cos(phase/2)| of the paper.
    """
    name = "house_interferometer"
    phase = _finite(name, "phase", phase)
    length_n, arm_length, arm_conductance, gap, temperature = _house_parameters(
        name, length_n, arm_length, arm_conductance, gap, temperature)
    nodes = [
        *_n_wire_with_centre(length_n, temperature),
        Node("S1", _S_RES, temperature=temperature, gap=gap, phase=phase / 2,
             position=(-0.6 * arm_length, 0.8 * arm_length)),
        Node("S2", _S_RES, temperature=temperature, gap=gap, phase=-phase / 2,
             position=(0.6 * arm_length, 0.8 * arm_length)),
    ]
    wires = _house_wires(length_n, arm_length, arm_conductance, ("S1", "S2"), mesh)
    return _geometry(name, nodes, wires, mesh)


def _house_parameters(name: str, length_n, arm_length, arm_conductance, gap, temperature) -> tuple:
    """The checked parameters shared by the house interferometer's two models."""
    return (_positive(name, "length_n", length_n), _positive(name, "arm_length", arm_length),
            _positive(name, "arm_conductance", arm_conductance), _positive(name, "gap", gap),
            _nonnegative(name, "temperature", temperature))


def _house_wires(length_n: float, arm_length: float, arm_conductance: float, arm_ends: tuple[str, str],
                 mesh: MeshOptions | None) -> list[Wire]:
    """The N wire (left_arm, right_arm) and the short arms s1_arm, s2_arm of a house.

    Without a mesh of the caller's, the N wire is graded steeply toward the proximitized
    centre (D_L ~ E (x + x0)^2 there, x0 ~ 0.1 xi0; see geometries/house_interferometer.toml).
    """
    left_mesh = right_mesh = arm_mesh = None
    if mesh is None:
        left_mesh = MeshOptions(elements=16, order=3, grading=50.0, graded_ends="end")
        right_mesh = MeshOptions(elements=16, order=3, grading=50.0, graded_ends="start")
        arm_mesh = MeshOptions(elements=6, order=3)
    return [
        Wire("left_arm", "left", "center", length_n / 2, diffusion=D_N, conductance=G_N, mesh=left_mesh),
        Wire("right_arm", "center", "right", length_n / 2, diffusion=D_N, conductance=G_N, mesh=right_mesh),
        Wire("s1_arm", "center", arm_ends[0], arm_length, diffusion=D_N, conductance=arm_conductance, mesh=arm_mesh),
        Wire("s2_arm", "center", arm_ends[1], arm_length, diffusion=D_N, conductance=arm_conductance, mesh=arm_mesh),
    ]


def house_s_loop(flux: float = 0.0, length_n: float = 10.0, arm_length: float = 0.5,
                 arm_conductance: float = 10.0, loop_length: float = 2.0, loop_conductance: float = 100.0,
                 gap: float = 1.0, temperature: float = 0.0, *,
                 mesh: MeshOptions | None = None) -> Geometry:
    """The house interferometer with its superconducting loop made of an S wire.

    As :func:`house_interferometer`, but the arms end at the clean nodes "c1" and "c2",
    joined by the S wire "loop" (``loop_length`` xi0, conductance per length
    ``loop_conductance``, pair potential ``gap``, phase 0). The loop "flux" (s2_arm, loop,
    s1_arm) is threaded by ``flux`` flux quanta h/2e; its vector potential sits on the two
    normal arms (:mod:`femprox.physics.flux`), so that the structure tends to the reservoir
    model with phase difference phi = 2 pi flux as the S wire gets short and well conducting.
    The S wire is a floating island: no S terminal.
    """
    name = "house_s_loop"
    flux = _finite(name, "flux", flux)
    length_n, arm_length, arm_conductance, gap, temperature = _house_parameters(
        name, length_n, arm_length, arm_conductance, gap, temperature)
    loop_length = _positive(name, "loop_length", loop_length)
    loop_conductance = _positive(name, "loop_conductance", loop_conductance)
    nodes = [
        *_n_wire_with_centre(length_n, temperature),
        Node("c1", NodeKind.CLEAN, position=(-0.5 * loop_length, 0.5 * loop_length)),
        Node("c2", NodeKind.CLEAN, position=(0.5 * loop_length, 0.5 * loop_length)),
    ]
    loop_mesh = None if mesh is not None else MeshOptions(elements=8, order=3, grading=4.0, graded_ends="both")
    wires = [
        *_house_wires(length_n, arm_length, arm_conductance, ("c1", "c2"), mesh),
        Wire("loop", "c1", "c2", loop_length, diffusion=D_N, conductance=loop_conductance, gap=gap,
             mesh=loop_mesh),
    ]
    return _geometry(name, nodes, wires, mesh, loops=(Loop("flux", ("s2_arm", "loop", "s1_arm"), flux),))


def nis_thermometer(length_n: float = 10.0, probe_length: float = 1.0, barrier: float = 1000.0,
                    gap: float = 1.0, temperature: float = 0.0, *,
                    mesh: MeshOptions | None = None) -> Geometry:
    """A normal wire probed by an NIS tunnel junction (the thermometer and cooler of experiments).

    The N wire of length ``length_n`` (xi0) joins normal reservoirs "left" and "right"
    through the clean node "center"; the normal wire "probe_arm" (``probe_length``) leads
    from "center" to the S reservoir "probe" (pair potential ``gap``, phase 0) through a
    tunnel barrier of resistance ``barrier`` (units of wire resistances; the N wire's is
    L_N / g_N). All reservoirs at ``temperature``.
    """
    name = "nis_thermometer"
    length_n = _positive(name, "length_n", length_n)
    probe_length = _positive(name, "probe_length", probe_length)
    gap = _positive(name, "gap", gap)
    temperature = _nonnegative(name, "temperature", temperature)
    nodes = [
        *_n_wire_with_centre(length_n, temperature),
        Node("probe", _S_RES, temperature=temperature, gap=gap, position=(0.0, probe_length)),
    ]
    wires = [
        Wire("left_arm", "left", "center", length_n / 2, diffusion=D_N, conductance=G_N),
        Wire("right_arm", "center", "right", length_n / 2, diffusion=D_N, conductance=G_N),
        Wire("probe_arm", "center", "probe", probe_length, diffusion=D_N, conductance=G_N,
             end_contact=_barrier(name, "barrier", barrier)),
    ]
    return _geometry(name, nodes, wires, mesh)
