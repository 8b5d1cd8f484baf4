"""Transport sweeps with a self-consistent pair potential: kappa/kappa_N, G/G_N, T_c, Delta(x).

Pipeline position: Geometry -> **self-consistent Delta(x) per temperature**
(:func:`femprox.selfconsistency.gap_equation.solve_gap`) -> energy grid adapted to its gap edges ->
spectral solve with ``pair_potential=`` -> spectral conductance -> linear response at T ->
two-terminal ratios. The rigid-gap counterpart is :func:`femprox.workflows.sweeps.sweep` (BCS
Delta(T) in every S wire, the paper's approximation); :func:`self_consistent_sweep`
returns the same :class:`~femprox.workflows.sweeps.SweepResult` (same columns) plus the structure's
T_c and the pair potential at every temperature.

Steps per temperature T (ascending):

* T >= T_c of the structure (from the linearized gap equation,
  :func:`femprox.selfconsistency.gap_equation.critical_temperature`): the S wires are normal (Delta = 0);
  these temperatures go to the rigid sweep with the S wires made normal.
* T < T_c: Delta(x) by Newton's method, started from the solution at the previous
  (lower) temperature, which lies above the new one (as :func:`~femprox.selfconsistency.gap_equation.
  gap_curve` does); then the energy grid. Its gap edges are the largest |Delta| of every S
  wire (where the local DOS of a long S wire has its BCS-like edge) and the bulk gaps of S
  reservoirs at T, not the zero-temperature gaps of the geometry; with an adaptive grid
  the panels are refined from there (:func:`femprox.observables.energy_grid.adaptive_transport`).

Networks with S reservoirs have no T_c from the linearized equation (it refuses
them); there every temperature is solved self-consistently and ``critical_temperature`` is
None.

Phase of Delta (``phase=``, :func:`resolve_phase`): "auto" solves for it (the complex gap
equation: supercurrents conserved along S wires) where an equilibrium supercurrent can flow
(:func:`supercurrent_reason`: flux, a rigid phase gradient in an S wire, different phases
among the pair potentials of one connected part), else holds the rigid profile, which is
then exact and cheaper. Charge converted in S wires (the kinetic conversion term) is handed
to the S reservoirs those wires reach (:mod:`femprox.kinetic.condensate`; by the local phase
stiffness when there are several), so that every point's charge and thermoelectric
matrices conserve charge over all terminals; an island of S wires next to grounded ones
keeps it with the condensate, with a note.

Units: temperatures and gaps in Delta0, lengths in xi0, ratios dimensionless.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, replace

import numpy as np

from femprox.observables import energy_grid as _energy_grid
from femprox.observables import conductance as _observables
from femprox.workflows import sweeps
from femprox.kinetic.condensate import condensate_split, phase_stiffness, split_condensate
from femprox.geometry.network import Geometry, NodeKind, connected_parts
from femprox.kinetic.solver import spectral_conductance
from femprox.physics.flux import effective_fluxes
from femprox.physics.pair_potential import Superconductor
from femprox.selfconsistency.gap_equation import (PHASE_MODES, CriticalTemperature, SelfConsistentSolution,
                                                  critical_temperature, materials_of, solve_gap)
from femprox.spectral.solver import SpectralConvergenceError
from femprox.geometry.temperature import at_temperature

log = logging.getLogger(__name__)

__all__ = ["SelfConsistentSweep", "self_consistent_sweep", "gap_edges", "normal_state", "contact_ends",
           "DEFAULT_CONTACT_DISTANCES", "PHASE_CHOICES", "supercurrent_reason", "resolve_phase"]

PHASE_CHOICES = ("auto",) + PHASE_MODES
"""``phase=`` of :func:`self_consistent_sweep`: "auto" picks "self-consistent" where an
equilibrium supercurrent can flow (:func:`supercurrent_reason`), else "rigid"."""

DEFAULT_CONTACT_DISTANCES = (0.1, 1.0)
"""Distances (xi0) from an NS contact where |Delta| is reported. Not at the contact itself:
in the cutoff-free gap equation Delta vanishes at a transparent NS contact (docs/self_consistency.md)."""


# ---------------------------------------------------------------------------------------
# The pieces
# ---------------------------------------------------------------------------------------

def normal_state(geometry: Geometry) -> Geometry:
    """``geometry`` with every S wire normal (gap 0, no material): the structure above its T_c."""
    wires = tuple(replace(w, gap=0.0, critical_temperature=None, debye_frequency=None) if w.is_superconducting
                  else w for w in geometry.wires)
    return replace(geometry, wires=wires)


GAP_EDGE_MERGE = 1e-6
"""Gap edges closer than this (relative) are one edge of the energy grid."""


def gap_edges(solution: SelfConsistentSolution) -> list[float]:
    """Gap edges (Delta0) of the energy grid for a self-consistent solution: the largest
    |Delta| of every S wire and the (bulk BCS) gaps of the S reservoirs at its temperature."""
    mesh = solution.mesh
    edges = set()
    for k, wire in enumerate(mesh.geometry.wires):
        if wire.is_superconducting:
            _, magnitude = solution.pair_potential.magnitude(k)
            if magnitude.size and magnitude.max() > 0:
                edges.add(float(magnitude.max()))
    edges |= {n.gap for n in mesh.geometry.nodes if n.kind is NodeKind.SUPERCONDUCTING_RESERVOIR and n.gap > 0}
    # an S wire ending at an S reservoir has |Delta| = the reservoir's gap there to rounding:
    # one edge for both (the grid's edges must increase strictly)
    merged: list[float] = []
    for edge in sorted(edges):
        if not merged or edge > merged[-1] * (1 + GAP_EDGE_MERGE):
            merged.append(edge)
    return merged


def contact_ends(geometry: Geometry) -> list[tuple[str, str]]:
    """(S wire, "start" or "end") for every end of an S wire at a node it shares with a
    normal wire: the NS contacts where Delta is suppressed."""
    normal_at: dict[str, bool] = {}
    for wire in geometry.wires:
        if not wire.is_superconducting:
            normal_at[wire.start] = normal_at[wire.end] = True
    return [(w.name, side) for w in geometry.wires if w.is_superconducting
            for side, node in (("start", w.start), ("end", w.end)) if normal_at.get(node)]


def supercurrent_reason(geometry: Geometry) -> str | None:
    """Why an equilibrium supercurrent can flow in ``geometry`` (then the phase of Delta must
    be solved for), or None: a vector potential on any wire (wire or loop flux), a rigid phase
    gradient along an S wire, or pair potentials of different phase (S reservoirs, S wire
    ends; modulo 2 pi) in one connected part of the network that has S wires. Without any of
    these the rigid phase is exact: the self-consistent phase solve gives the same Delta."""
    for wire, flux in zip(geometry.wires, effective_fluxes(geometry)):
        if flux != 0.0:
            return f"wire '{wire.name}' carries a vector potential ({flux:g} Phi0)"
    for wire in geometry.wires:
        if wire.is_superconducting and wire.end_phase != wire.phase:
            return f"S wire '{wire.name}' has a phase gradient ({wire.phase:g} to {wire.end_phase:g} rad)"
    part = connected_parts(geometry)
    phases: dict[int, tuple[str, float]] = {}  # part -> (what, phase) of its first pair potential
    sources = [(f"S wire '{w.name}'", w.start, w.phase) for w in geometry.wires if w.is_superconducting]
    sources += [(f"S reservoir '{n.name}'", n.name, n.phase) for n in geometry.nodes
                if n.kind is NodeKind.SUPERCONDUCTING_RESERVOIR]
    with_s_wires = {part[w.start] for w in geometry.wires if w.is_superconducting}
    for what, node, phase in sources:
        if part[node] not in with_s_wires:
            continue
        first = phases.setdefault(part[node], (what, phase))
        if abs(math.remainder(phase - first[1], 2 * math.pi)) > 1e-12:
            return f"{first[0]} and {what} differ in phase ({first[1]:g} and {phase:g} rad)"
    return None


def resolve_phase(geometry: Geometry, phase: str) -> str:
    """The phase mode of :func:`~femprox.selfconsistency.gap_equation.solve_gap` for ``phase`` in
    :data:`PHASE_CHOICES` ("auto": "self-consistent" if :func:`supercurrent_reason`, else "rigid")."""
    if phase not in PHASE_CHOICES:
        raise ValueError(f"phase must be one of {', '.join(map(repr, PHASE_CHOICES))}, got {phase!r}")
    if phase != "auto":
        return phase
    return "self-consistent" if supercurrent_reason(geometry) is not None else "rigid"


# ---------------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SelfConsistentSweep:
    """Linear response with a self-consistent pair potential over temperatures.

    geometry: the network (zero-temperature gaps mark its S wires).
    transport: a :class:`~femprox.workflows.sweeps.SweepResult` (points ordered by temperature; its
        ``gap_factor`` column is the largest |Delta| over S wires divided by their largest
        zero-temperature gap, 0 above T_c).
    critical_temperature: the structure's :class:`~femprox.selfconsistency.gap_equation.CriticalTemperature`,
        or None where the linearized gap equation does not apply (S reservoirs).
    solutions: per temperature, the :class:`~femprox.selfconsistency.gap_equation.SelfConsistentSolution`,
        or None above T_c (S wires normal).
    energies: size of the energy grid per temperature; seconds: wall time per temperature
        (gap equation and transport; the first includes the warm-up, none the T_c search);
        notes: solver notes.
    phase_mode: how the phase of Delta was treated, "rigid" or "self-consistent" (see
        :func:`resolve_phase`).
    condensate_split: True where the charge converted in S wires was handed to the S
        reservoirs (:func:`femprox.kinetic.condensate.split_condensate`): the ``charge`` and
        ``thermoelectric`` matrices then have rows for the S terminals too and every column
        sums to zero over all terminals.
    """

    geometry: Geometry
    transport: sweeps.SweepResult
    critical_temperature: CriticalTemperature | None
    solutions: tuple[SelfConsistentSolution | None, ...]
    energies: tuple[int, ...]
    seconds: tuple[float, ...]
    notes: tuple[str, ...] = ()
    phase_mode: str = "rigid"
    condensate_split: bool = False

    @property
    def temperatures(self) -> np.ndarray:
        return self.transport.column("temperature")

    @property
    def newton_iterations(self) -> tuple[int, ...]:
        """Newton iterations of the gap equation per temperature (0 above T_c)."""
        return tuple(0 if s is None else s.iterations for s in self.solutions)

    def column(self, name: str) -> np.ndarray:
        """A column of the transport result, e.g. ``column("heat_conductance_ratio")``."""
        return self.transport.column(name)

    def gap(self, wire: str, x) -> np.ndarray:
        """|Delta| (Delta0) of S wire ``wire`` at arc lengths ``x`` (xi0), shape (n_T, n_x);
        zero above T_c."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        rows = []
        for solution in self.solutions:
            rows.append(np.zeros(x.size) if solution is None else solution.profile(wire, x)[1])
        return np.array(rows)

    def phase(self, wire: str, x) -> np.ndarray:
        """Phase of Delta (rad) along ``wire`` at ``x`` (xi0), shape (n_T, n_x); NaN above T_c."""
        x = np.atleast_1d(np.asarray(x, dtype=float))
        rows = []
        for solution in self.solutions:
            if solution is None:
                rows.append(np.full(x.size, math.nan))
            else:
                k = solution.mesh.wire_index(wire)
                rows.append(np.angle(solution.pair_potential.at(k, x)))
        return np.array(rows)

    def contact_gap(self, distance: float) -> dict[tuple[str, str], np.ndarray]:
        """|Delta| at ``distance`` (xi0) from every NS contact (:func:`contact_ends`), per
        temperature: {(wire, side): (n_T,) array}."""
        geometry = self.geometry
        result = {}
        for name, side in contact_ends(geometry):
            length = geometry.wire(name).length
            if not 0 <= distance <= length:
                raise ValueError(f"contact distance {distance:g} xi0 is outside S wire '{name}' (length {length:g})")
            x = distance if side == "start" else length - distance
            result[name, side] = self.gap(name, [x])[:, 0]
        return result


# ---------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------

def _transport_at(solution: SelfConsistentSolution, temperature: float, between: tuple[str, str], others: str,
                  grid: sweeps.EnergyGridOptions, reference_gap: float,
                  explicit_cutoff: float) -> tuple[sweeps.TransportPoint, int, str | None]:
    """kappa/kappa_N, G/G_N at one temperature with the self-consistent Delta(x), the
    energy-grid size and a note (None, or why the converted charge stayed with the condensate).
    Where S wires reach S reservoirs, the charge converted in them is split among those
    (:func:`_condensate_split_of`)."""
    edges = gap_edges(solution)
    options = dict(grid.as_kwargs(), gaps=edges)
    split, note = _condensate_split_of(solution, explicit_cutoff)
    keep = split is not None  # the split needs the kinetic distributions
    try:
        if grid.adaptive_tolerance is None:
            energy = _energy_grid.energy_grid(solution.geometry, [temperature], **options)
            spectral = solution.solve_spectral(energy.nodes)
            conductance = spectral_conductance(spectral, keep_distributions=keep)
        else:
            energy, spectral, conductance = _energy_grid.adaptive_transport(
                solution.mesh, [temperature], tol=grid.adaptive_tolerance, keep_distributions=keep,
                pair_potential=solution.pair_potential, **options)
    except SpectralConvergenceError as error:
        raise SpectralConvergenceError(f"self-consistent transport of '{solution.geometry.name}' at "
                                       f"T = {temperature:g}: {error}", error.energies) from None
    if split is not None:
        conductance = split_condensate(conductance, spectral, split)
    response = _observables.linear_response(conductance, energy, temperature, bcs_gaps=False)
    pair = response.two_terminal(*between, others=others)
    factor = max(edges, default=0.0) / reference_gap
    return sweeps.transport_point(response, pair, None, factor), int(energy.nodes.size), note


def _condensate_split_of(solution: SelfConsistentSolution, explicit_cutoff: float):
    """(split, note): how the S reservoirs share the charge converted in S wires
    (:func:`femprox.kinetic.condensate.condensate_split`), or (None, why not).

    None without S wires reaching an S reservoir (the condensate then floats or is the only
    sink: nothing to split) and, with a note, when a region of S wires without S reservoir
    lies next to grounded ones (not implemented). One S reservoir per region takes all of the
    region's converted charge whatever the stiffness; several share it by the local phase
    stiffness at T (one more Matsubara solve)."""
    mesh = solution.mesh
    in_s_wire = np.array([w.is_superconducting for w in mesh.geometry.wires])[mesh.quadrature.wire_index]
    split = condensate_split(mesh, in_s_wire.astype(float))
    if not split.terminals:
        return None, None
    if len(split.terminals) > 1 or split.islands:
        stiffness = phase_stiffness(mesh, solution.temperature, solution.pair_potential,
                                    explicit_cutoff=explicit_cutoff)
        split = condensate_split(mesh, stiffness)
    if split.islands:
        return None, ("the charge converted in S wires stays with the condensate (not split among the S "
                      "reservoirs): the S wires " + "; ".join(", ".join(i) for i in split.islands)
                      + " reach no S reservoir while others do")
    return split, None


def self_consistent_sweep(geometry: Geometry, temperatures: Iterable[float], *,
                          between: tuple[str, str] | None = None, others: str = "floating",
                          grid: sweeps.EnergyGridOptions = sweeps.ADAPTIVE_GRID,
                          mesh: sweeps.MeshSettings = sweeps.MeshSettings(),
                          materials: Mapping[str, Superconductor] | None = None,
                          debye_frequency: float | None = None, explicit_cutoff: float = 20.0,
                          tol: float = 1e-8, phase: str = "auto", executor: Executor | None = None,
                          chains: int = 2,
                          progress: Callable[[int, int], None] | None = None) -> SelfConsistentSweep:
    """kappa/kappa_N and G/G_N over ``temperatures`` (Delta0) with the self-consistent Delta(x).

    ``geometry`` has zero-temperature gaps (as for :func:`femprox.workflows.sweeps.sweep`); its S wires
    get the materials of :func:`femprox.selfconsistency.gap_equation.materials_of` (``materials``,
    ``debye_frequency``). ``between``/``others``: the two terminals and what the others do,
    as in :func:`femprox.workflows.sweeps.sweep`. ``grid``: the energy-grid options (adaptive by
    default), with the gap edges of the self-consistent Delta(x). ``mesh.refine`` refines the
    mesh of both the gap equation and the transport (they share it); a different element
    order is not supported here. ``explicit_cutoff`` (Delta0) and ``tol`` (Delta0) go to
    :func:`~femprox.selfconsistency.gap_equation.solve_gap`. ``phase``: "rigid" (the geometry's phase profile
    held), "self-consistent" (the complex Delta solved for: supercurrents conserved along S
    wires) or "auto" (default: self-consistent where an equilibrium supercurrent can flow,
    see :func:`supercurrent_reason`, else rigid, which is then exact and cheaper).
    Where S wires reach S reservoirs, the charge converted in them is handed to those
    reservoirs (:mod:`femprox.kinetic.condensate`; shared by the local phase stiffness when there are
    several), so that the charge matrices conserve charge over all terminals.
    ``executor`` (e.g. a process pool): the
    temperatures below T_c are cut into ``chains`` contiguous groups of about equal estimated
    cost (the Matsubara sums grow like 1/T), each a warm-started chain of its own, run in
    parallel; the results agree with the serial ones to the Newton tolerance ``tol``.
    ``progress(done, total)`` after each temperature (serial) or chain. Raises ValueError
    for a network without S wires or bad arguments,
    :class:`~femprox.selfconsistency.gap_equation.SelfConsistencyError` if the gap equation fails.
    """
    if not isinstance(geometry, Geometry):
        raise TypeError(f"self_consistent_sweep needs a Geometry, got {type(geometry).__name__}")
    sweeps.check_others(others)
    temps = sorted(sweeps.check_temperatures(temperatures))
    if len(set(temps)) != len(temps):
        raise ValueError("temperatures: every temperature only once")
    pair = sweeps.check_between(geometry, between)
    if mesh.order is not None:
        raise ValueError("self-consistent sweeps use the geometry's element orders (mesh order "
                         f"{mesh.order} requested); refine the mesh with MeshSettings(refine=...) instead")
    materials = materials_of(geometry, materials, debye_frequency)  # raises for a network without S wires
    mode = resolve_phase(geometry, phase)
    reference_gap = max(w.gap for w in geometry.wires if w.is_superconducting)
    notes: list[str] = []
    try:
        tc = critical_temperature(geometry, materials=materials, explicit_cutoff=explicit_cutoff,
                                  refine=mesh.refine)
    except ValueError as error:
        # S reservoirs (no T_c from the linearized equation), or normal down to the
        # search's lowest temperature: then every temperature is solved self-consistently
        tc = None
        notes.append(f"no T_c of the structure: {error}")
        log.info("%s", notes[-1])
    below = [t for t in temps if tc is None or t < tc.temperature]
    above = [t for t in temps if t not in below]

    points: dict[float, sweeps.TransportPoint] = {}
    solutions: dict[float, SelfConsistentSolution | None] = {}
    energies: dict[float, int] = {}
    seconds: dict[float, float] = {}
    total = len(temps)
    if progress is not None:
        progress(0, total)
    settings = _ChainSettings(geometry, materials, tc, pair, others, grid, mesh.refine, explicit_cutoff, tol,
                              reference_gap, mode)
    groups = _split_chains(below, chains if executor is not None else 1)
    if executor is None:
        count = iter(range(1, total + 1))
        step = (lambda: progress(next(count), total)) if progress is not None else None
        outputs = [_run_chain(settings, tuple(below), step)]
    else:
        futures = [executor.submit(_run_chain, settings, tuple(group)) for group in groups]
        outputs = []
        for future in futures:
            outputs.append(future.result())
            if progress is not None:
                progress(sum(len(o) for o in outputs), total)
    split_notes: list[str] = []
    for output in outputs:
        for t, point, solution, size, elapsed, note in output:
            points[t], solutions[t], energies[t], seconds[t] = point, solution, size, elapsed
            if note is not None and note not in split_notes:
                split_notes.append(note)
    notes.extend(split_notes)
    split_applied = bool(below) and not split_notes and _reaches_s_reservoir(geometry)
    if above:
        started = time.perf_counter()
        normal = sweeps.sweep(normal_state(geometry), above, between=pair, others=others, grid=grid, mesh=mesh)
        for point, size in zip(normal.points, _per_point(normal)):
            t = point.temperature
            points[t], solutions[t], energies[t] = replace(point, gap_factor=0.0), None, size
            seconds[t] = (time.perf_counter() - started) / len(above)
        notes.extend(normal.notes)
        if progress is not None:
            progress(total, total)
    ordered = tuple(points[t] for t in temps)
    transport = sweeps.SweepResult(points=ordered, grid=grid, mesh=mesh, others=others, bcs_gaps=False,
                                   gap_tolerance=0.0, spectral_solves=len(below) + (1 if above else 0),
                                   energies_per_solve=tuple(energies[t] for t in below)
                                   + ((max(energies[t] for t in above),) if above else ()),
                                   notes=tuple(notes))
    return SelfConsistentSweep(geometry=geometry, transport=transport, critical_temperature=tc,
                               solutions=tuple(solutions[t] for t in temps),
                               energies=tuple(energies[t] for t in temps),
                               seconds=tuple(seconds[t] for t in temps), notes=tuple(notes), phase_mode=mode,
                               condensate_split=split_applied)


def _reaches_s_reservoir(geometry: Geometry) -> bool:
    """Whether an S wire ends at an S reservoir."""
    s_reservoirs = {n.name for n in geometry.nodes if n.kind is NodeKind.SUPERCONDUCTING_RESERVOIR}
    return any(w.is_superconducting and {w.start, w.end} & s_reservoirs for w in geometry.wires)


@dataclass(frozen=True)
class _ChainSettings:
    """What every chain of temperatures needs (picklable, for process pools)."""

    geometry: Geometry
    materials: Mapping[str, Superconductor]
    tc: CriticalTemperature | None
    between: tuple[str, str]
    others: str
    grid: sweeps.EnergyGridOptions
    refine: float
    explicit_cutoff: float
    tol: float
    reference_gap: float
    phase: str


def _run_chain(settings: _ChainSettings, temperatures: tuple[float, ...],
               step: Callable[[], None] | None = None) -> list[tuple]:
    """Gap equation and transport at ascending ``temperatures``, each Newton iteration
    started from the previous solution (the first from the warm-up or the bulk gap).
    Returns (T, TransportPoint, solution, energies, seconds, note) per temperature; ``step``
    is called after each (serial progress)."""
    s = settings
    started = time.perf_counter()  # the first temperature's time includes the warm-up
    previous = _warm_up(s.geometry, temperatures, s.tc, s.materials, s.explicit_cutoff, s.tol, s.refine, s.phase)
    output = []
    for t in temperatures:
        initial = previous.pair_potential if previous is not None and previous.is_superconducting else None
        solution = solve_gap(s.geometry, t, materials=s.materials, tol=s.tol, explicit_cutoff=s.explicit_cutoff,
                             initial=initial, refine=s.refine, phase=s.phase)
        point, size, note = _transport_at(solution, t, s.between, s.others, s.grid, s.reference_gap,
                                          s.explicit_cutoff)
        output.append((t, point, solution, size, time.perf_counter() - started, note))
        started, previous = time.perf_counter(), solution
        if step is not None:
            step()
    return output


def _chain_cost(temperature: float) -> float:
    """Relative cost of one temperature: the Matsubara frequencies of the default rule
    (explicit ones up to 4 Delta0, at least 20, plus 56-72 tail nodes) and about as much again
    for the transport."""
    return max(20.0, 4.0 / (2 * math.pi * temperature)) + 64.0 + 80.0


def _split_chains(temperatures: Sequence[float], chains: int) -> list[list[float]]:
    """Ascending ``temperatures`` cut into at most ``chains`` contiguous groups of about equal
    :func:`_chain_cost`."""
    if chains < 1:
        raise ValueError(f"chains must be at least 1, got {chains}")
    if not temperatures:
        return []
    cumulative = np.cumsum([_chain_cost(t) for t in temperatures])
    targets = cumulative[-1] * np.arange(1, chains) / chains
    cuts = sorted(set(int(np.searchsorted(cumulative, target)) + 1 for target in targets))
    bounds = [0] + [c for c in cuts if 0 < c < len(temperatures)] + [len(temperatures)]
    return [list(temperatures[a:b]) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]


WARM_UP_FRACTION = 0.1
"""Below this fraction of T_c the first gap equation is started from the solution at
WARM_UP_FRACTION * T_c (cheap: few Matsubara frequencies) instead of the bulk gap."""


def _warm_up(geometry: Geometry, temperatures: Sequence[float], tc: CriticalTemperature | None,
             materials: Mapping[str, Superconductor], explicit_cutoff: float, tol: float,
             refine: float, phase: str = "rigid") -> SelfConsistentSolution | None:
    """A starting solution for the lowest temperature, or None (start from the bulk gap).

    The number of Matsubara frequencies grows like 1/T (200 at T = 0.005 Delta0), and from
    the bulk gap Newton needs 4 iterations there; from the solution at 0.1 T_c (76
    frequencies), which differs from the low-T one by exponentially little, it needs 1-2. That start lies slightly below the
    solution, not above; Newton converges to the same root (it is within its quadratic range).
    """
    if not temperatures or tc is None:
        return None
    warm = WARM_UP_FRACTION * tc.temperature
    if temperatures[0] >= 0.5 * warm:
        return None
    solution = solve_gap(geometry, warm, materials=materials, tol=tol, explicit_cutoff=explicit_cutoff,
                         refine=refine, phase=phase)
    return solution if solution.is_superconducting else None


def _per_point(result: sweeps.SweepResult) -> list[int]:
    """Energy-grid size behind every point of a rigid sweep (all its solves share one grid
    size here: normal networks are solved once)."""
    size = max(result.energies_per_solve, default=0)
    return [size] * len(result.points)
