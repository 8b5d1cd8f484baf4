"""Observables: conductance matrices and currents from spectral conductances.

Pipeline position: SpectralConductance (:mod:`femprox.kinetic.solver`) -> **observables**.

Units: hbar = k_B = e = 1; energies, temperatures and potentials in Delta0; conductances in
the units of the wires' ``conductance`` (per unit length) times 1/xi0, so a normal wire has
G_N = g/L. Heat conductances are in G_N * Delta0 (kappa_N = pi^2 T G_N / 3).

Sign conventions (see :mod:`femprox.kinetic.solver`): every current flows *from terminal i into the
network*; electric current ``I_i = (1/2) int sum Gamma_T f dE``, energy current
``J_E,i = -(1/2) int E sum Gamma_L f dE``, heat current ``Q_i = J_E,i - V_i I_i`` (electrons sit
at chemical potential -V_i). Potentials are measured from the superconducting condensate
(all S reservoirs are at V = 0).

Energy integrals use :mod:`femprox.observables.energy_grid`; supercurrents are in
:mod:`femprox.spectral.supercurrent`.

Linear response and floating terminals
--------------------------------------
At temperature T (all V = 0, all T_i = T) the forces are the potentials of the normal
terminals and the temperatures of all terminals; the fluxes are the charge and heat currents
into the network. Charge that is converted inside S wires (non-self-consistent pair
potential) and the currents of S reservoirs flow into one node, the *condensate*, whose
potential is the reference. Two-terminal quantities between terminals a and b hold a and b,
and either hold every other terminal and the condensate at b's potential and temperature
("grounded") or let them float: zero charge and heat current, by eliminating them from the
linear equations. The two-terminal heat conductance is the standard one, at zero charge
current: ``kappa = K - M L / G`` where the 2x2 response of terminal a is
[[G, L], [M, K]] (I = G dV + L dT, Q = M dV + K dT). The normal state (every gap zero, every
reservoir a normal one) normalizes G/G_N, and kappa_N = pi^2 T G_N / 3 exactly.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from femprox.physics import bcs
from femprox.kinetic.coefficients import kinetic_coefficients
from femprox.observables.energy_grid import EnergyGrid, check_on_grid, check_temperature, reservoir_distributions
from femprox.geometry.network import Geometry
from femprox.kinetic.solver import L, T, SpectralConductance
from femprox.spectral.solver import SpectralFields, SpectralSolution

log = logging.getLogger(__name__)

THERMAL_CUTOFF = 40.0
"""Thermal windows end at E = 40 T: sech^2(20) ~ 1.7e-17 times E^2 keeps the tail < 1e-13."""


# ---------------------------------------------------------------------------------------
# Linear response
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TwoTerminal:
    """Two-terminal response between terminals ``a`` and ``b`` at temperature T.

    conductance: G = dI_a/d(V_a - V_b) at equal temperatures; normal_conductance: G_N.
    heat_conductance: kappa = dQ_a/d(T_a - T_b) at zero charge current through a;
    normal_heat_conductance: kappa_N = pi^2 T G_N / 3.
    seebeck: open-circuit thermovoltage V_a - V_b = -seebeck (T_a - T_b) (NaN if G = 0).
    *_error: estimates (difference from the half energy grid, see module docstring).
    others: "floating" or "grounded". G is NaN when a and b are both superconducting (both
    sit at the condensate potential).
    """

    a: str
    b: str
    temperature: float
    others: str
    conductance: float
    heat_conductance: float
    seebeck: float
    normal_conductance: float
    normal_heat_conductance: float
    conductance_error: float
    heat_conductance_error: float

    @property
    def conductance_ratio(self) -> float:
        """G/G_N."""
        return self.conductance / self.normal_conductance

    @property
    def heat_conductance_ratio(self) -> float:
        """kappa/kappa_N."""
        return self.heat_conductance / self.normal_heat_conductance


@dataclass(frozen=True)
class LinearResponse:
    """Multi-terminal linear response at temperature T around equilibrium (V = 0, T_i = T).

    Matrices are (n_terminals, n_terminals), rows: currents from terminal i into the
    network; columns: forces at terminal j.

    charge[i, j] = dI_i/dV_j; thermoelectric[i, j] = dI_i/dT_j; peltier[i, j] = dQ_i/dV_j;
    heat[i, j] = dQ_i/dT_j. Columns dV_j of superconducting terminals are zero (their
    potential is the reference). Onsager: peltier(phi) = T thermoelectric(-phi)^T.
    errors: same keys, estimated absolute errors (half-grid difference, signed as fine - coarse).
    normal: normal-state conductance matrix G_N (kappa_N = pi^2 T G_N / 3).
    geometry: the network (for path resistances; None if not known).
    """

    temperature: float
    terminals: tuple[str, ...]
    superconducting: np.ndarray
    charge: np.ndarray
    thermoelectric: np.ndarray
    peltier: np.ndarray
    heat: np.ndarray
    normal: np.ndarray
    differences: dict[str, np.ndarray]
    has_condensate: bool
    geometry: Geometry | None = field(default=None, repr=False, compare=False)

    @property
    def errors(self) -> dict[str, np.ndarray]:
        """Absolute error estimates of each matrix."""
        return {k: np.abs(v) for k, v in self.differences.items()}

    @property
    def normal_heat(self) -> np.ndarray:
        """kappa_N matrix = pi^2 T G_N / 3 (Wiedemann-Franz, exact in the normal state)."""
        return math.pi**2 * self.temperature / 3.0 * self.normal

    def index(self, name: str) -> int:
        try:
            return self.terminals.index(name)
        except ValueError:
            raise KeyError(f"no terminal named '{name}' (terminals: {', '.join(self.terminals)})") from None

    def coarse(self) -> "LinearResponse":
        """The same response evaluated on the half grid."""
        d = self.differences
        return replace(self, charge=self.charge - d["charge"], thermoelectric=self.thermoelectric - d["thermoelectric"],
                       peltier=self.peltier - d["peltier"], heat=self.heat - d["heat"],
                       differences={k: np.zeros_like(v) for k, v in d.items()})

    def two_terminal(self, a: str, b: str, *, others: str = "floating",
                     path: Sequence[str] | None = None) -> TwoTerminal:
        """G, kappa (at zero current) and thermopower between terminals ``a`` and ``b``.

        ``others="floating"``: all other terminals and the condensate carry no charge and no
        heat current; ``"grounded"``: they are held at the potential and temperature of b.
        ``"transmitted"``: what arrives in b when a is driven and every other terminal, b
        and the condensate included, is held at equilibrium (they absorb what reaches them):
        G = -dI_b/dV_a, kappa = -dQ_b/dT_a (all potentials and other temperatures fixed,
        so no thermoelectric correction; seebeck is NaN). It is normalized by the normal
        conductance of the ``path`` of wires from a to b, 1 / sum_w (L_w / g_w + barriers)
        (default: the path of least normal resistance), so the ratios are 1 for a bare normal wire
        and measure how much of the path's conductance survives the absorbing terminals.
        """
        if others == "transmitted":
            return self._transmitted(a, b, path)
        if others not in ("floating", "grounded"):
            raise ValueError(f"others must be 'floating', 'grounded' or 'transmitted', got {others!r}")
        if a == b:
            raise ValueError("a two-terminal response needs two different terminals")
        G, kappa, seebeck = _two_terminal(self, self.index(a), self.index(b), others)
        Gc, kappac, _ = _two_terminal(self.coarse(), self.index(a), self.index(b), others)
        G_N = _two_terminal_normal(self.normal, self.index(a), self.index(b), others)
        return TwoTerminal(a=a, b=b, temperature=self.temperature, others=others, conductance=G,
                           heat_conductance=kappa, seebeck=seebeck, normal_conductance=G_N,
                           normal_heat_conductance=math.pi**2 * self.temperature / 3.0 * G_N,
                           conductance_error=abs(G - Gc), heat_conductance_error=abs(kappa - kappac))

    def _transmitted(self, a: str, b: str, path: Sequence[str] | None) -> TwoTerminal:
        if a == b:
            raise ValueError("a two-terminal response needs two different terminals")
        i, j = self.index(a), self.index(b)
        if self.geometry is None:
            raise ValueError("the transmitted mode needs the network (LinearResponse.geometry) for its path")
        wires = tuple(path) if path is not None else least_resistance_path(self.geometry, a, b)
        path_conductance = 1.0 / sum(_series_resistance(self.geometry.wire(w)) for w in wires)
        d = self.differences
        # columns dV of S terminals are zero by construction: G is undefined there
        conductance = -self.charge[j, i] if not self.superconducting[i] else math.nan
        error = abs(d["charge"][j, i]) if not self.superconducting[i] else math.nan
        return TwoTerminal(a=a, b=b, temperature=self.temperature, others="transmitted", conductance=conductance,
                           heat_conductance=-self.heat[j, i], seebeck=math.nan,
                           normal_conductance=path_conductance,
                           normal_heat_conductance=math.pi**2 * self.temperature / 3.0 * path_conductance,
                           conductance_error=error, heat_conductance_error=abs(d["heat"][j, i]))

    def terminal_state(self, potentials: Mapping[str, float] | None = None,
                       temperatures: Mapping[str, float] | None = None, *,
                       float_charge: Sequence[str] = (), float_heat: Sequence[str] = (),
                       float_condensate: bool = False) -> "TerminalState":
        """Linear response with some terminals floating: their potentials and temperatures.

        Held terminals are at the potential increments ``potentials`` and temperature
        increments ``temperatures`` (Delta0; default 0, i.e. at equilibrium). Terminals in
        ``float_charge`` carry no charge current (an ideal voltmeter: their potential is
        solved for), those in ``float_heat`` no heat current (thermally isolated: their
        temperature is solved for); a terminal may be in both. The condensate is the
        potential reference and carries whatever charge S wires convert. S terminals sit
        at the condensate's potential, so they can only float thermally.
        ``float_condensate``: the condensate (with every S terminal) carries no net charge
        current, its potential is solved for and reported as ``condensate_potential``
        (all potentials stay measured from the same zero; default: it is held at 0).

        Example, the thermovoltage of probe P while terminal H is heated by dT and C is cold:
        ``terminal_state(temperatures={"H": dT}, float_charge=["P"]).potentials["P"]``.
        """
        potentials, temperatures = dict(potentials or {}), dict(temperatures or {})
        for name in list(potentials) + list(temperatures) + list(float_charge) + list(float_heat):
            self.index(name)
        for name in float_charge:
            if self.superconducting[self.index(name)]:
                raise ValueError(f"'{name}' is superconducting: its potential is the condensate's, it cannot float")
        for name, value in potentials.items():
            if self.superconducting[self.index(name)] and value != 0:
                raise ValueError(f"'{name}' is superconducting: its potential is the reference (0)")
        clash = (set(potentials) & set(float_charge)) | (set(temperatures) & set(float_heat))
        if clash:
            raise ValueError(f"terminals both held and floating: {sorted(clash)}")
        M, charge_node, heat_node = _onsager_matrix(self)
        forces = np.zeros(M.shape[0])
        free: list[int] = []
        for k, name in enumerate(self.terminals):
            if charge_node[k] >= 0 and not self.superconducting[k]:
                if name in float_charge:
                    free.append(charge_node[k])
                else:
                    forces[charge_node[k]] = potentials.get(name, 0.0)
            if name in float_heat:
                free.append(heat_node[k])
            else:
                forces[heat_node[k]] = temperatures.get(name, 0.0)
        condensate = int((~self.superconducting).sum())  # its charge node follows the normal terminals
        if float_condensate and self.has_condensate:
            free.append(condensate)
        held = [k for k in range(M.shape[0]) if k not in free]
        if free:
            # zero flux at the free nodes: M_ff x_f = -M_fh x_h (pinv: a free node coupled
            # to nothing, e.g. an isolated region, keeps zero)
            forces[free] = -np.linalg.pinv(M[np.ix_(free, free)], rcond=1e-12) @ (M[np.ix_(free, held)] @ forces[held])
        fluxes = M @ forces
        names = self.terminals
        return TerminalState(
            potentials={n: float(forces[charge_node[k]]) if charge_node[k] >= 0 else 0.0
                        for k, n in enumerate(names)},
            temperatures={n: float(forces[heat_node[k]]) for k, n in enumerate(names)},
            charge_currents={n: (float(fluxes[charge_node[k]]) if not self.superconducting[k] else math.nan)
                             for k, n in enumerate(names)},
            heat_currents={n: float(fluxes[heat_node[k]]) for k, n in enumerate(names)},
            condensate_current=float(fluxes[condensate]) if self.has_condensate else 0.0,
            condensate_potential=float(forces[condensate]) if self.has_condensate else 0.0)


@dataclass(frozen=True)
class TerminalState:
    """A solved linear-response state (increments over equilibrium at temperature T).

    potentials: V_i (Delta0/e; 0 for S terminals, the reference); temperatures: dT_i
    (Delta0); charge_currents, heat_currents: I_i and Q_i from terminal i into the network
    (NaN charge for S terminals: their charge goes to the condensate); condensate_current:
    the charge current into the condensate (all S terminals and S wires together);
    condensate_potential: its potential (0 unless it floats), shared by the S terminals.
    """

    potentials: dict[str, float]
    temperatures: dict[str, float]
    charge_currents: dict[str, float]
    heat_currents: dict[str, float]
    condensate_current: float
    condensate_potential: float = 0.0


def _series_resistance(wire) -> float:
    """Normal resistance of a wire with the tunnel barriers at its ends (a barrier between
    normal metals is a series resistor R_B)."""
    contacts = (getattr(wire, "start_contact", None), getattr(wire, "end_contact", None))
    return wire.resistance + sum(float(getattr(c, "resistance", 0.0)) for c in contacts if c is not None)


def least_resistance_path(geometry: Geometry, a: str, b: str) -> tuple[str, ...]:
    """Wires of the path of least normal resistance (sum of L_w/g_w and of the tunnel barriers'
    R_B at their ends) from node a to node b."""
    import heapq

    adjacency: dict[str, list[tuple[str, str, float]]] = {n.name: [] for n in geometry.nodes}
    for w in geometry.wires:
        adjacency[w.start].append((w.end, w.name, _series_resistance(w)))
        adjacency[w.end].append((w.start, w.name, _series_resistance(w)))
    best = {a: 0.0}
    previous: dict[str, tuple[str, str]] = {}
    queue = [(0.0, a)]
    while queue:
        distance, node = heapq.heappop(queue)
        if node == b:
            break
        if distance > best.get(node, math.inf):
            continue
        for other, wire, resistance in adjacency[node]:
            if distance + resistance < best.get(other, math.inf):
                best[other] = distance + resistance
                previous[other] = (node, wire)
                heapq.heappush(queue, (best[other], other))
    if b not in best:
        raise ValueError(f"no path of wires from '{a}' to '{b}'")
    wires, node = [], b
    while node != a:
        node, wire = previous[node]
        wires.append(wire)
    return tuple(reversed(wires))


def normal_resistance(geometry: Geometry, a: str, b: str) -> float:
    """R_N between reservoirs a and b in the normal state (all gaps zero, every reservoir a
    normal one, the others floating): the resistance that makes e I R_N of a Josephson
    junction (units: 1/(conductance unit / xi0))."""
    from femprox.kinetic.solver import normal_state_conductance
    from femprox.mesh import build_mesh

    mesh = build_mesh(geometry, order=1)  # the normal state is piecewise linear: P1 is exact
    matrix = normal_state_conductance(mesh)
    names = [n.name for n in geometry.terminals]
    i, j = names.index(a), names.index(b)
    rest = [k for k in range(len(names)) if k not in (i, j)]
    return 1.0 / float(_eliminate(matrix, [i], rest)[0, 0])


def _onsager_matrix(r: LinearResponse) -> tuple[np.ndarray, list[int], list[int]]:
    """Full matrix (fluxes x forces) over charge nodes (normal terminals [+ condensate]) and
    heat nodes (all terminals). Returns the matrix and, per terminal, its charge-node and
    heat-node index (charge node -1 = condensate for S terminals)."""
    n = len(r.terminals)
    normal = np.flatnonzero(~r.superconducting)
    n_charge = normal.size + (1 if r.has_condensate else 0)
    size = n_charge + n
    M = np.zeros((size, size))
    c = slice(0, normal.size)
    h = slice(n_charge, size)
    M[c, c] = r.charge[np.ix_(normal, normal)]
    M[c, h] = r.thermoelectric[normal]
    M[h, c] = r.peltier[:, normal]
    M[h, h] = r.heat
    if r.has_condensate:
        g = normal.size
        # gauge invariance: shifting every potential (condensate included) changes nothing
        M[:, g] = -M[:, c].sum(axis=1)
        # charge conservation: the condensate receives what no terminal does
        M[g, :] = -M[c, :].sum(axis=0)
    charge_node = np.full(n, n_charge - 1 if r.has_condensate else -1)
    charge_node[normal] = np.arange(normal.size)
    heat_node = n_charge + np.arange(n)
    return M, list(charge_node), list(heat_node)


def _eliminate(M: np.ndarray, active: list[int], floating: list[int]) -> np.ndarray:
    """Response among ``active`` forces/fluxes when the ``floating`` fluxes vanish."""
    A = M[np.ix_(active, active)]
    if not floating:
        return A
    F = M[np.ix_(floating, floating)]
    # pinv: a floating node that couples to nothing (e.g. a condensate that never receives
    # charge) has a zero row and must simply drop out
    return A - M[np.ix_(active, floating)] @ np.linalg.pinv(F, rcond=1e-12) @ M[np.ix_(floating, active)]


def _two_terminal(r: LinearResponse, a: int, b: int, others: str) -> tuple[float, float, float]:
    M, charge_node, heat_node = _onsager_matrix(r)
    va, vb = charge_node[a], charge_node[b]
    has_voltage = va >= 0 and va != vb
    active = ([va] if has_voltage else []) + [heat_node[a]]
    reference = {heat_node[b]} | ({vb} if vb >= 0 else set())
    rest = [k for k in range(M.shape[0]) if k not in active and k not in reference]
    floating = rest if others == "floating" else []
    R = _eliminate(M, active, floating)
    if not has_voltage:
        return math.nan, float(R[0, 0]), math.nan
    G, Lc, Mc, K = R[0, 0], R[0, 1], R[1, 0], R[1, 1]
    kappa = K - Mc * Lc / G if G != 0 else K
    seebeck = Lc / G if G != 0 else math.nan
    return float(G), float(kappa), float(seebeck)


def _two_terminal_normal(normal: np.ndarray, a: int, b: int, others: str) -> float:
    rest = [k for k in range(normal.shape[0]) if k not in (a, b)]
    R = _eliminate(normal, [a], rest if others == "floating" else [])
    return float(R[0, 0])


GAP_CONSISTENCY_TOLERANCE = 1e-4
"""Relative difference between BCS Delta at the reservoirs' temperature and at the response's
temperature above which :func:`linear_response` reports gaps that were not brought to T
(the tolerance of :func:`femprox.geometry.temperature.gap_groups`)."""


def _gaps_not_at(geometry: Geometry, temperature: float) -> float | None:
    """The largest reservoir temperature whose BCS gap differs from Delta(temperature) by more
    than the tolerance, in a network with superconductors; None if consistent.
    :func:`femprox.geometry.temperature.at_temperature` puts every reservoir at T, so a network brought
    to T passes; one solved with its zero-temperature gaps has reservoirs elsewhere."""
    if not any(w.is_superconducting for w in geometry.wires) and not any(
            n.kind.value == "superconducting_reservoir" for n in geometry.nodes):
        return None
    target = float(bcs.gap(temperature))
    off = [n.temperature for n in geometry.terminals
           if abs(float(bcs.gap(n.temperature)) - target) > GAP_CONSISTENCY_TOLERANCE]
    return max(off) if off else None


def linear_response(conductance: SpectralConductance, grid: EnergyGrid, temperature: float, *,
                    bcs_gaps: bool | None = None) -> LinearResponse:
    """Linear-response matrices at ``temperature`` from spectral conductances on ``grid``.

    ``bcs_gaps`` states whether the spectral solve had the BCS gaps Delta(T) of this
    temperature (femprox's default everywhere: the network passed through
    :func:`femprox.geometry.temperature.at_temperature`, as ``sweep()`` and the command line do).
    True: a ValueError if the network's reservoirs sit at a temperature whose BCS gap differs
    from Delta(temperature) by more than 1e-4 (the sign that it was solved at other gaps);
    None (default): the same check, reported as a logged warning; False: no check (gaps
    deliberately kept as given).

    With Gamma the spectral conductance and h = (1/2T) sech^2(E/2T) (E > 0 after symmetry)::

        charge         =  int Gamma_TT h dE           thermoelectric = -int Gamma_TL (E/T) h dE
        peltier        = -int Gamma_LT E h dE         heat           =  int Gamma_LL (E^2/T) h dE

    :func:`linear_responses` does the same for many temperatures at once (faster).
    """
    return linear_responses(conductance, grid, [temperature], bcs_gaps=bcs_gaps)[0]


def _check_gaps_at(geometry: Geometry, temperature: float, bcs_gaps: bool | None) -> None:
    """The consistency check of :func:`linear_response` (``bcs_gaps``) at one temperature."""
    if bcs_gaps is False:
        return
    off = _gaps_not_at(geometry, temperature)
    if off is None:
        return
    message = (f"linear response at T = {temperature:g} from a network whose reservoirs are at T = {off:g}: "
               f"its gaps are not BCS Delta({temperature:g}) = {float(bcs.gap(temperature)):.6g}; "
               "solve femprox.geometry.temperature.at_temperature(geometry, T), or pass bcs_gaps=False to keep "
               "the gaps as given")
    if bcs_gaps:
        raise ValueError(message)
    log.warning(message)


def linear_responses(conductance: SpectralConductance, grid: EnergyGrid, temperatures: Sequence[float], *,
                     bcs_gaps: bool | None = None) -> list[LinearResponse]:
    """:func:`linear_response` at each of ``temperatures`` (Delta0): the thermal weights and
    the energy integrals of all temperatures in one vectorized pass (no loop over energies
    per temperature)."""
    check_on_grid(conductance.energies, grid)
    temps = [float(t) for t in np.atleast_1d(np.asarray(temperatures, dtype=float))]
    for t in temps:
        check_temperature(grid, t)
        _check_gaps_at(conductance.mesh.geometry, t, bcs_gaps)
    W, dW = grid.thermal_weights_and_difference(temps)  # (n_T, n_energies, 3)
    G = conductance.matrix
    t = np.array(temps)[:, None, None]

    def integrate(weights: np.ndarray) -> dict[str, np.ndarray]:  # each (n_T, n_terminals, n_terminals)
        return {"charge": np.einsum("ke,eij->kij", weights[:, :, 0], G[:, :, T, :, T]),
                "thermoelectric": -np.einsum("ke,eij->kij", weights[:, :, 1], G[:, :, T, :, L]) / t,
                "peltier": -np.einsum("ke,eij->kij", weights[:, :, 1], G[:, :, L, :, T]),
                "heat": np.einsum("ke,eij->kij", weights[:, :, 2], G[:, :, L, :, L]) / t}

    values, differences = integrate(W), integrate(dW)
    superconducting = conductance.superconducting
    for key in ("charge", "peltier"):  # V of an S terminal is the reference, never a force
        values[key][:, :, superconducting] = 0.0
        differences[key][:, :, superconducting] = 0.0
    geometry = conductance.mesh.geometry
    has_condensate = bool(superconducting.any() or any(w.is_superconducting for w in geometry.wires))
    return [LinearResponse(temperature=temperature, terminals=conductance.terminals,
                           superconducting=superconducting, normal=conductance.normal,
                           differences={name: v[k] for name, v in differences.items()},
                           has_condensate=has_condensate, geometry=geometry,
                           **{name: v[k] for name, v in values.items()})
            for k, temperature in enumerate(temps)]


# ---------------------------------------------------------------------------------------
# The paper's Eqs. 4 and 6
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PathResistances:
    """Energy-resolved resistances of a path of wires, normalized by its normal resistance.

    r_q = <1/D_L>, r_i = <1/D_T> (paper's R_Q, R_I): sum_w int dx / (g_w D) / sum_w L_w/g_w.
    Arrays (n_energies,); ``wires`` the path.
    """

    energies: np.ndarray
    r_q: np.ndarray
    r_i: np.ndarray
    wires: tuple[str, ...]


def path_resistances(solution: SpectralSolution, wires: Sequence[str]) -> PathResistances:
    """R_Q(E) and R_I(E) along ``wires`` from the spectral solution (cheap: no kinetic solve)."""
    mesh = solution.mesh
    q = mesh.quadrature
    geometry = mesh.geometry
    indices = [mesh.wire_index(name) for name in wires]
    points = np.flatnonzero(np.isin(q.wire_index, indices))
    fields = solution.fields_at_quadrature()
    c = kinetic_coefficients(SpectralFields(gamma=fields.gamma[:, points], gamma_tilde=fields.gamma_tilde[:, points],
                                            dgamma=fields.dgamma[:, points], dgamma_tilde=fields.dgamma_tilde[:, points]))
    weight = q.weights[points] / q.wire_parameter(geometry, "conductance")[points]
    resistance = sum(geometry.wires[k].resistance for k in indices)
    return PathResistances(energies=solution.energies.copy(), r_q=(weight / c.d_l).sum(axis=1) / resistance,
                           r_i=(weight / c.d_t).sum(axis=1) / resistance, wires=tuple(wires))


@dataclass(frozen=True)
class PaperRatios:
    """kappa/kappa_N (Eq. 4) and G/G_N (Eq. 6) at one temperature, with error estimates."""

    temperature: float
    heat_conductance_ratio: float
    conductance_ratio: float
    heat_conductance_error: float
    conductance_error: float


def paper_ratios(path: PathResistances, grid: EnergyGrid, temperature: float) -> PaperRatios:
    """Eq. 4: kappa/kappa_N = 3/(2 pi^2 T^3) int_0^inf E^2/(R_Q cosh^2(E/2T)) dE;
    Eq. 6: G/G_N = 1/(2T) int_0^inf 1/(R_I cosh^2(E/2T)) dE."""
    return paper_ratios_at(path, grid, [temperature])[0]


def paper_ratios_at(path: PathResistances, grid: EnergyGrid, temperatures: Sequence[float]) -> list[PaperRatios]:
    """:func:`paper_ratios` at each of ``temperatures`` (Delta0), all in one vectorized pass."""
    check_on_grid(path.energies, grid)
    temps = np.atleast_1d(np.asarray(temperatures, dtype=float))
    for t in temps:
        check_temperature(grid, float(t))
    W, dW = grid.thermal_weights_and_difference(temps)  # (n_T, n_energies, 3)
    kappa_factor = 3.0 / (math.pi**2 * temps**2)  # 3/(2 pi^2 T^3) * 2T (sech^2 = 2T h)
    heat, heat_difference = kappa_factor * (W[:, :, 2] @ (1 / path.r_q)), kappa_factor * (dW[:, :, 2] @ (1 / path.r_q))
    charge, charge_difference = W[:, :, 0] @ (1 / path.r_i), dW[:, :, 0] @ (1 / path.r_i)
    return [PaperRatios(temperature=float(t), heat_conductance_ratio=float(heat[k]),
                        conductance_ratio=float(charge[k]), heat_conductance_error=float(abs(heat_difference[k])),
                        conductance_error=float(abs(charge_difference[k])))
            for k, t in enumerate(temps)]


# ---------------------------------------------------------------------------------------
# Nonlinear bias
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NonlinearCurrents:
    """Currents from every terminal into the network at finite bias.

    charge: I_i; energy: J_E,i; heat: Q_i = J_E,i - V_i I_i (arrays over ``terminals``);
    *_error: half-grid error estimates. temperatures/potentials: the reservoirs' state.
    """

    terminals: tuple[str, ...]
    temperatures: np.ndarray
    potentials: np.ndarray
    charge: np.ndarray
    energy: np.ndarray
    heat: np.ndarray
    charge_error: np.ndarray
    energy_error: np.ndarray


def nonlinear_currents(conductance: SpectralConductance, grid: EnergyGrid,
                       reservoirs: Mapping[str, tuple[float, float]]) -> NonlinearCurrents:
    """Currents for reservoirs at arbitrary (temperature, potential), integrating the
    kinetic solution against the full reservoir distributions.

    ``reservoirs`` maps every terminal name to (T_i, V_i) in Delta0; S reservoirs must have
    V = 0. The spectral functions do not depend on the bias (non-self-consistent model), so
    one ``conductance`` serves every bias. The grid must reach 40 max(T_i) + max|V_i| and,
    when supercurrents flow, the energies where j_S has decayed (that can be > 20 Delta in
    short junctions, see :func:`supercurrent`). The steps of the distributions at +-V_i need
    no breakpoints: the weights are integrated on sub-panels no wider than min(T_i).
    """
    check_on_grid(conductance.energies, grid)
    temps, volts = _bias_state(conductance, reservoirs)
    reach = THERMAL_CUTOFF * temps.max() + np.abs(volts).max()
    if reach > grid.e_max * (1 + 1e-9):
        raise ValueError(f"the bias needs energies up to {reach:.3g}; the grid stops at {grid.e_max:.3g}")

    def weight(e: np.ndarray) -> np.ndarray:  # columns (terminal, plain/E-weighted, mode)
        columns = []
        for t, v in zip(temps, volts):
            f_l, f_t = reservoir_distributions(e, t, v)
            columns += [f_l, f_t, e * f_l, e * f_t]
        return np.stack(columns, axis=-1)

    positive = temps[temps > 0]
    W, dW = grid.weights_and_difference(weight, positive.min() if positive.size else grid.e_max / 256)
    charge, energy = _bias_currents(conductance, W)
    d_charge, d_energy = _bias_currents(conductance, dW)
    return NonlinearCurrents(terminals=conductance.terminals, temperatures=temps, potentials=volts,
                             charge=charge, energy=energy, heat=energy - volts * charge,
                             charge_error=np.abs(d_charge), energy_error=np.abs(d_energy))


def terminal_values(conductance: SpectralConductance,
                    reservoirs: Mapping[str, tuple[float, float]]) -> np.ndarray:
    """Terminal data (n_energies, n_terminals, 2) = (f_L, f_T) of reservoirs at (T_i, V_i),
    at the energies of ``conductance``; feed it to
    :meth:`~femprox.kinetic.solver.SpectralConductance.distribution` for f_L, f_T along wires."""
    temps, volts = _bias_state(conductance, reservoirs)
    values = np.empty((conductance.energies.size, temps.size, 2))
    for k, (t, v) in enumerate(zip(temps, volts)):
        values[:, k, L], values[:, k, T] = reservoir_distributions(conductance.energies, t, v)
    return values


def _bias_state(conductance: SpectralConductance,
                reservoirs: Mapping[str, tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    names = conductance.terminals
    missing = set(names) - set(reservoirs)
    if missing:
        raise KeyError(f"no (temperature, potential) given for terminals {sorted(missing)}")
    temps = np.array([float(reservoirs[n][0]) for n in names])
    volts = np.array([float(reservoirs[n][1]) for n in names])
    if np.any(temps < 0):
        raise ValueError("reservoir temperatures must not be negative")
    if np.any(volts[conductance.superconducting] != 0):
        raise ValueError("superconducting reservoirs are the potential reference: their V must be 0")
    return temps, volts


def _bias_currents(conductance: SpectralConductance, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """I_i and J_E,i from weights W (n_nodes, 4 n_terminals) of (f_L, f_T, E f_L, E f_T):
    (1/2) int_{-inf}^{inf} = int_0^inf by parity."""
    w = W.reshape(-1, len(conductance.terminals), 2, 2)  # (energy, terminal j, plain/E, mode n)
    charge = np.einsum("ejn,eijn->i", w[:, :, 0, :], conductance.matrix[:, :, T])
    energy = -np.einsum("ejn,eijn->i", w[:, :, 1, :], conductance.matrix[:, :, L])
    return charge, energy
