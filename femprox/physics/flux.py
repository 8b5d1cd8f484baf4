"""Magnetic flux through loops of the network, as vector potentials along wires.

The Usadel equation sees a magnetic field only through the vector potential A, as the
gauge-covariant derivative ``nabla a = a' - i q a`` with q = 2 e A / hbar
(:mod:`femprox.physics.bulk`). A wire's ``flux`` is the line integral of A along it in flux
quanta Phi0 = h/2e, so the phase it winds is 2 pi flux and q = 2 pi flux / L (constant along
the wire). What is physical is the circulation of A around each closed loop, 2 pi Phi / Phi0,
together with the gauge-invariant phase gradients of the pair potentials; how the circulation
is shared among the loop's wires is a choice of gauge that changes no observable (tested).

Rule for a :class:`~femprox.geometry.network.Loop` threaded by a flux Phi: the circulation is put on
the loop's *normal* wires, shared in proportion to their normal-state resistances L/g, and
added to their own ``flux``. Superconducting wires of the loop keep their pair potentials
as given (no gauge-invariant phase gradient is induced in them): the rigid-gap picture in
which the normal parts are the weak links that take the whole phase difference, valid while
the supercurrent they carry is far below the critical current of the S wires. This makes
the house interferometer with a superconducting loop equal, in the limit of short and well
conducting S wires, to its reservoir model with phase difference 2 pi Phi / Phi0. A loop made
only of superconducting wires has no weak link: its screening current would need a
self-consistent pair potential, so such a loop is refused.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

import numpy as np

if TYPE_CHECKING:
    from femprox.geometry.network import Geometry, Loop, Wire


def loop_orientation(loop: "Loop", wires: Mapping[str, "Wire"]) -> list[tuple[str, int]]:
    """(wire name, +1 or -1) around the loop: +1 where the circulation runs from the wire's
    start to its end. Raises GeometryError unless the wires form one closed cycle."""
    from femprox.geometry.network import GeometryError

    owner = f"loop '{loop.name}'"
    if len(set(loop.wires)) != len(loop.wires):
        raise GeometryError(f"{owner}: a wire is listed twice")
    first = wires[loop.wires[0]]
    at = first.end
    oriented = [(first.name, 1)]
    for name in loop.wires[1:]:
        wire = wires[name]
        if wire.start == at:
            oriented.append((name, 1))
            at = wire.end
        elif wire.end == at:
            oriented.append((name, -1))
            at = wire.start
        else:
            raise GeometryError(f"{owner}: wire '{name}' does not continue the loop at node '{at}' "
                                f"(it joins '{wire.start}' and '{wire.end}'); list the wires in order around the loop")
    if at != first.start:
        raise GeometryError(f"{owner}: the wires do not close: the loop ends at node '{at}', "
                            f"not where it started ('{first.start}')")
    normal = [name for name, _ in oriented if not wires[name].is_superconducting]
    if not normal:
        raise GeometryError(f"{owner}: made only of superconducting wires; a rigid pair potential cannot "
                            "describe the screening current of a closed superconducting ring. Include the "
                            "normal wires (weak links) of the loop, or set the wires' 'flux' and phases explicitly")
    return oriented


def effective_fluxes(geometry: "Geometry") -> np.ndarray:
    """(n_wires,) line integral of the vector potential along every wire (Phi0): the wire's
    own ``flux`` plus its share of the loops it belongs to (module docstring)."""
    wires = {w.name: w for w in geometry.wires}
    index = {w.name: k for k, w in enumerate(geometry.wires)}
    flux = np.array([w.flux for w in geometry.wires], dtype=float)
    for loop in geometry.loops:
        if loop.flux == 0.0:
            continue
        oriented = [(name, sign) for name, sign in loop_orientation(loop, wires)
                    if not wires[name].is_superconducting]
        resistances = np.array([wires[name].resistance for name, _ in oriented])
        shares = loop.flux * resistances / resistances.sum()
        for (name, sign), share in zip(oriented, shares):
            flux[index[name]] += sign * share
    return flux
