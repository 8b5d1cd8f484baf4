"""Temperature dependence of a network: reservoir temperatures and BCS gaps at T.

A transport observable at temperature T needs the spectral solution of the network whose
superconductors have their gap at T (docs/physics.md section 1): near T_c = 0.567 Delta0 the gap
falls to zero and the proximity effect with it. :func:`at_temperature` returns that network.

A temperature sweep therefore needs one spectral solve per distinct gap. Solving each
temperature separately would waste time at low T, where the BCS gap is flat: Delta(T)/Delta0
differs from 1 by less than 1e-4 up to T = 0.113 Delta0 (= 0.20 T_c; the 1e-4 is reached
there, not at 0.3 T_c, where 1 - Delta/Delta0 = 3e-3). :func:`gap_groups` collects
consecutive temperatures whose gaps differ by less than ``tolerance`` (relative to the
zero-temperature gap) into one group served by one spectral solve, done at the gap of the
group's *highest* temperature: that is where the thermal window reaches closest to the gap,
so the temperatures most sensitive to the gap get it exactly. Every other temperature sees a
gap too large by less than ``tolerance`` (relative). Above T_c all gaps vanish and all those
temperatures form one group again.

Precision of the grouping (measured with the paper's energy grid): solving at Delta(0.11)
= 0.999907 Delta0 instead of Delta0 (a gap error of 9e-5, the largest inside the default
group) changes kappa/kappa_N by at most 2.3e-5 and G/G_N by 4e-6 at T = 0.005..0.1 for the
T-junction (r = 0.1, 1, 10, L_N = 10 xi0), and by 4.5e-5 and 1.5e-5 for the house
interferometer (phi = 2.5): below the energy-integration error of the figures (~1e-3).

Units: temperatures and gaps in Delta0 (T_c = 0.567 Delta0).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from femprox.physics import bcs
from femprox.geometry.network import Geometry, Node, NodeKind

__all__ = ["DEFAULT_GAP_TOLERANCE", "TemperatureGroup", "at_temperature", "gap_factor", "gap_groups"]

DEFAULT_GAP_TOLERANCE = 1e-4
"""Relative gap change below which temperatures share one spectral solve."""

SCALINGS = ("common", "own")


def gap_factor(temperature: float, zero_temperature_gap: float = 1.0, scaling: str = "common") -> float:
    """Delta(T) / Delta(0) of a superconductor whose zero-temperature gap is given (Delta0).

    ``scaling="common"``: every superconductor is the reference material (T_c = 0.567
    Delta0), so the factor is ``bcs.gap(T)`` whatever its gap (a gap parameter below 1 then
    stands for a reduced, e.g. geometric, gap of that material). ``"own"``: each has its own
    BCS T_c proportional to its zero-T gap, factor ``bcs.gap(T / Delta(0))``.
    """
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {', '.join(SCALINGS)}, got {scaling!r}")
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be finite and >= 0 (Delta0), got {temperature!r}")
    if scaling == "common":
        return float(bcs.gap(temperature))
    return float(bcs.gap(temperature / zero_temperature_gap))


def at_temperature(geometry: Geometry, temperature: float, *, scaling: str = "common") -> Geometry:
    """A copy of ``geometry`` at ``temperature`` (Delta0); the original is not changed.

    Every reservoir gets ``temperature``; every S wire and S reservoir gets its gap times
    the BCS factor :func:`gap_factor` (the gaps in ``geometry`` are zero-temperature gaps).
    At and above T_c a superconducting wire becomes a normal wire (gap 0, phase kept but
    irrelevant) and a superconducting reservoir becomes a normal reservoir at potential 0.
    """
    wires = tuple(_wire_at(w, temperature, scaling) for w in geometry.wires)
    nodes = tuple(_node_at(n, temperature, scaling) for n in geometry.nodes)
    return replace(geometry, nodes=nodes, wires=wires)


def _wire_at(wire, temperature: float, scaling: str):
    if not wire.is_superconducting:
        return wire
    return replace(wire, gap=wire.gap * gap_factor(temperature, wire.gap, scaling))


def _node_at(node: Node, temperature: float, scaling: str) -> Node:
    if not node.kind.is_reservoir:
        return node
    if node.kind is not NodeKind.SUPERCONDUCTING_RESERVOIR:
        return replace(node, temperature=temperature)
    gap = node.gap * gap_factor(temperature, node.gap, scaling)
    if gap > 0:
        return replace(node, temperature=temperature, gap=gap)
    # Above T_c the reservoir is a normal metal at the condensate's former potential, 0.
    return Node(node.name, NodeKind.NORMAL_RESERVOIR, temperature=temperature, position=node.position)


def _gaps(geometry: Geometry) -> np.ndarray:
    """All gap values of wires and S reservoirs (0 for normal ones), in a fixed order."""
    wire_gaps = [w.gap for w in geometry.wires]
    node_gaps = [n.gap if n.kind is NodeKind.SUPERCONDUCTING_RESERVOIR else 0.0 for n in geometry.nodes]
    return np.array(wire_gaps + node_gaps, dtype=float)


@dataclass(frozen=True)
class TemperatureGroup:
    """Temperatures served by one spectral solve.

    temperatures: ascending (Delta0). representative: the temperature whose gaps the solve
    uses (the highest of the group). max_gap_error: largest relative difference between
    the gaps used and the exact gaps of any member (relative to the zero-T gaps).
    """

    temperatures: tuple[float, ...]
    representative: float
    max_gap_error: float


def gap_groups(geometry: Geometry, temperatures: Iterable[float], *,
               tolerance: float = DEFAULT_GAP_TOLERANCE, scaling: str = "common",
               bcs_gaps: bool = True) -> list[TemperatureGroup]:
    """Split ``temperatures`` into groups sharing one spectral solve (module docstring).

    Consecutive (sorted, de-duplicated) temperatures join a group while every gap of the
    network differs from that at the group's first temperature by less than ``tolerance``
    times its zero-temperature value. ``bcs_gaps=False`` keeps the gaps fixed: one group.
    """
    values = sorted({float(t) for t in temperatures})
    if not values:
        raise ValueError("no temperatures given")
    for t in values:
        if not (math.isfinite(t) and t > 0):
            raise ValueError(f"temperatures must be positive and finite (Delta0), got {t!r}")
    if not bcs_gaps:
        return [TemperatureGroup(tuple(values), values[-1], 0.0)]
    zero = _gaps(geometry)
    scale = np.where(zero > 0, zero, 1.0)
    relative = {t: _gaps(at_temperature(geometry, t, scaling=scaling)) / scale for t in values}
    groups: list[list[float]] = [[values[0]]]
    for t in values[1:]:
        if np.max(np.abs(relative[t] - relative[groups[-1][0]])) < tolerance:
            groups[-1].append(t)
        else:
            groups.append([t])
    return [TemperatureGroup(tuple(g), g[-1],
                             float(max(np.max(np.abs(relative[t] - relative[g[-1]])) for t in g)))
            for g in groups]
