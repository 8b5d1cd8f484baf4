"""Equilibrium supercurrent through a wire: Matsubara sums, and a real-axis cross-check.

Pipeline position: SpectralSolution (:mod:`femprox.spectral.solver`) -> **supercurrent**.

I_S = -(g/2) int j_S tanh(E/2T) dE is the electric current along the wire (start -> end);
the formula is often printed without the minus sign (docs/physics.md sections 5 and 10,
:mod:`femprox.kinetic.solver`). Units: currents in g * Delta0 (e = hbar = 1).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np

from femprox.observables.energy_grid import EnergyGrid, check_on_grid, gauss_rule, gaps_of, tanh_half
from femprox.geometry.network import Geometry
from femprox.mesh import GraphMesh, build_mesh
from femprox.physics.bulk import PointParameters, riccati_densities
from femprox.spectral.solver import SpectralSolution, solve_spectral

log = logging.getLogger(__name__)

THERMAL_CUTOFF = 40.0
"""Thermal windows end at E = 40 T: sech^2(20) ~ 1.7e-17 times E^2 keeps the tail < 1e-13."""


# ---------------------------------------------------------------------------------------
# Equilibrium supercurrent
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Supercurrent:
    """Equilibrium supercurrent through a wire, flowing from its start node to its end node.

    current: I_S (conductance units times Delta0: ``current * R_N`` is e I R_N in Delta0),
        the mean of the values at the two ends of the wire (equal in a normal wire; in an S
        wire they differ by the charge converted inside it).
    current_at_start, current_at_end: the same evaluated at each end.
    error: half-grid error estimate of ``current``.
    spectral: (n_energies,) j_S (1/xi0) at the two ends averaged, on the grid nodes.
    """

    wire: str
    temperature: float
    current: float
    current_at_start: float
    current_at_end: float
    error: float
    spectral: np.ndarray


def _end_spectral_currents(mesh: GraphMesh, wire: str | int, gamma: np.ndarray, gamma_tilde: np.ndarray,
                           energy: np.ndarray, pair_potential=None) -> np.ndarray:
    """Complex spectral current 2 (a b' - b a') / (1 - a b)^2 at both ends of a wire.

    ``energy`` (n,) complex (E + i0 on the real axis, i omega on the imaginary one); returns
    (n, 2): start, end. The end derivatives are the variationally consistent fluxes of the
    Riccati weak form restricted to the wire: with a'' + F_a = 0 (the equation divided by D),
    r_a = int_wire [F_a phi - a' phi'] dx gives a'(start) = +r_a, a'(end) = -r_a for the
    basis function phi of that end node. They converge much faster than pointwise FE
    derivatives (which next to a reservoir at a minigap edge were seen off by a factor 10)
    and the current they give is exactly conserved in a normal wire. ``pair_potential``: the
    :class:`~femprox.physics.pair_potential.PairPotentialField` the amplitudes were solved
    with (None: the wires' rigid gaps and phases); the end fluxes contain the pair-potential
    source, so they must use the same one.
    """
    k = mesh.wire_index(wire)
    w = mesh.geometry.wires[k]
    q = mesh.quadrature
    points = np.flatnonzero(q.wire_index == k)
    start, end = mesh.end_dofs[k]
    V = q.values[points][:, [start, end]].toarray()
    Dv = q.derivatives[points][:, [start, end]].toarray()
    a, b = q.values[points] @ gamma.T, q.values[points] @ gamma_tilde.T
    da, db = q.derivatives[points] @ gamma.T, q.derivatives[points] @ gamma_tilde.T
    parameters = PointParameters.at_points(mesh.geometry, q.wire_index[points], q.position[points])
    if pair_potential is not None:
        pair_potential.check_mesh(mesh)
        magnitude = np.abs(pair_potential.values[points])
        parameters = replace(parameters, gap=magnitude[:, None], phase_factor=np.where(
            magnitude > 0, pair_potential.values[points] / np.where(magnitude > 0, magnitude, 1.0), 1.0)[:, None])
    density = riccati_densities(a, b, da, db, energy[None, :] + 1j * w.dynes, parameters)
    weights = q.weights[points]
    orientation = np.array([1.0, -1.0])
    da_end = orientation * (V.T @ (density.value[0] * weights[:, None]) - Dv.T @ (density.flux[0] * weights[:, None])).T
    db_end = orientation * (V.T @ (density.value[1] * weights[:, None]) - Dv.T @ (density.flux[1] * weights[:, None])).T
    node_a, node_b = gamma[:, [start, end]], gamma_tilde[:, [start, end]]
    return 2 * (node_a * db_end - node_b * da_end) / (1 - node_a * node_b) ** 2


def wire_end_supercurrent_densities(solution: SpectralSolution, wire: str | int) -> tuple[np.ndarray, np.ndarray]:
    """Spectral supercurrent j_S = -Re[2 (a b' - b a')/(1 - a b)^2] (1/xi0) at the start and
    the end of a wire, (n_energies,) each, from end fluxes (see :func:`_end_spectral_currents`)."""
    j = -np.real(_end_spectral_currents(solution.mesh, wire, solution.gamma, solution.gamma_tilde,
                                        solution.energies.astype(complex), solution.pair_potential))
    return j[:, 0], j[:, 1]


def supercurrent(solution: SpectralSolution, grid: EnergyGrid, wire: str, temperature: float) -> Supercurrent:
    """I_S = -(g/2) int j_S tanh(E/2T) dE = -g int_0^inf j_S tanh(E/2T) dE through ``wire``.

    The minus sign makes I_S the electric current along the wire (start -> end), the same
    convention as the transport currents (module docstring; docs/physics.md section 5). j_S
    comes from :func:`wire_end_supercurrent_densities`.
    ``temperature`` may be 0. The grid must reach energies where j_S has decayed: above the
    gap it falls slowly in short junctions (in an SNS junction of L = 3 xi0, stopping at 6
    Delta loses 0.4% of I_S; 20 Delta is enough). Minigap edges are inverse-square-root
    singularities of j_S at positions not known in advance, so this real-axis integral
    converges slowly unless they are given as breakpoints: prefer
    :func:`matsubara_supercurrent`, which has neither problem (the two agree to 1e-5).
    """
    check_on_grid(solution.energies, grid)
    j_start, j_end = wire_end_supercurrent_densities(solution, wire)
    scale = temperature if temperature > 0 else grid.e_max
    W, dW = grid.weights_and_difference(lambda e: tanh_half(e, temperature)[..., None], scale)
    g = solution.mesh.geometry.wire(wire).conductance
    at_start, at_end = -g * (W[:, 0] @ j_start), -g * (W[:, 0] @ j_end)
    spectral = 0.5 * (j_start + j_end)
    return Supercurrent(wire=wire, temperature=float(temperature), current=float(0.5 * (at_start + at_end)),
                        current_at_start=float(at_start), current_at_end=float(at_end),
                        error=float(abs(g * (dW[:, 0] @ spectral))), spectral=spectral)


# ---------------------------------------------------------------------------------------
# Equilibrium supercurrent from Matsubara frequencies
# ---------------------------------------------------------------------------------------
#
# On the real axis j_S has inverse-square-root edges at every minigap, and the spectral
# Newton solver fails right next to them on fine meshes. The retarded functions are analytic
# in the upper half plane and tanh(E/2T) has poles at E = i omega_n = i pi T (2n + 1) with
# residue 2T, so closing the contour there (X ~ 1/E^2 at large |E|) gives, with
# X = (a b' - b a')/(1 - a b)^2 and j_S = -Re 2X,
#
#     I_S = -(g/2) int j_S tanh(E/2T) dE = -2 g (2 pi T) sum_{n >= 0} Im X(i omega_n),
#
# and for T -> 0 the sum becomes -2 g int_0^inf Im X(i omega) d omega. On the imaginary axis
# the Riccati amplitudes are smooth and bounded away from the unit circle: no edges, Newton
# converges from the bulk/normal guess. femprox.spectral.solver solves real energies only, so the
# imaginary-axis problem is the same weak form, solved by femprox.spectral.solver at E = i omega.

@dataclass(frozen=True)
class MatsubaraSum:
    """Frequencies omega_k > 0 and weights c_k with sum_k c_k F(omega_k) ~= 2 pi T sum_n F(omega_n)
    (for T > 0) or int_0^inf F d omega (for T = 0), plus the same rule with half the tail nodes
    for an error estimate."""

    temperature: float
    frequencies: np.ndarray
    weights: np.ndarray
    weights_difference: np.ndarray


def matsubara_sum(temperature: float, scale: float, *, explicit: int = 256, order: int = 8) -> MatsubaraSum:
    """Rule for 2 pi T sum_{n >= 0} F(omega_n) (F smooth, decaying at least like omega^-2).

    The first ``explicit`` frequencies omega_n = pi T (2n + 1) are summed term by term; the
    rest is the midpoint-rule integral from omega_N - pi T (error (2 pi T)^2 F'/24, below 1e-6
    relative once 2 pi T N exceeds the scale of F). Integrals (and T = 0) use Gauss panels
    graded geometrically from ``scale`` * 1e-3 to 1e3 * ``scale`` (``scale`` ~ the smallest
    of gap and Thouless energy) plus a tail in t = omega_c / omega.
    """
    if temperature > 0:
        count = explicit
        n = np.arange(count)
        omega = np.pi * temperature * (2 * n + 1)
        start = 2 * np.pi * temperature * count
        explicit_weights = np.full(count, 2 * np.pi * temperature)
    else:
        omega, explicit_weights, start = np.empty(0), np.empty(0), 0.0
    tail_nodes, tail_weights, tail_difference = _tail_rule(start, scale, order)
    weights = np.concatenate([explicit_weights, tail_weights])
    difference = np.concatenate([np.zeros(omega.size), tail_difference])
    return MatsubaraSum(float(temperature), np.concatenate([omega, tail_nodes]), weights, difference)


def _tail_rule(start: float, scale: float, order: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """int_start^inf F d omega by Gauss panels: geometric (ratio 2) up to 1e3 scale, then t = w_c/w."""
    low = max(start, 1e-3 * scale)
    top = max(1e3 * scale, 4 * low)
    doublings = low * 2.0 ** np.arange(0, np.log2(top / low) + 1)
    # the panels must end exactly at top, where the t = top / omega tail takes over
    edges = np.unique(np.concatenate([[start], doublings[doublings < top], [top]]))
    grid = EnergyGrid(edges - start, np.zeros(edges.size - 1, dtype=int), order)
    W, dW = grid.weights_and_difference(lambda e: np.ones(e.shape + (1,)), np.inf)
    nodes = grid.nodes + start
    # tail beyond top: omega = top / t, d omega = top dt / t^2, t in (0, 1]; F ~ C/omega^2 makes
    # the integrand smooth at t -> 0
    x, w = gauss_rule(order)
    t = 0.5 * (x + 1)
    tail_nodes = top / t
    tail_weights = 0.5 * w * top / t**2
    return (np.concatenate([nodes, tail_nodes]), np.concatenate([W[:, 0], tail_weights]),
            np.concatenate([dW[:, 0], np.zeros(order)]))


def matsubara_supercurrent(system: Geometry | GraphMesh, wire: str, temperature: float, *,
                           explicit: int = 256, pair_potential=None) -> Supercurrent:
    """Equilibrium supercurrent through ``wire`` (start -> end) from a Matsubara sum.

    I_S = -2 g sum_k c_k Im X(i omega_k), with X the complex spectral current at the wire's
    ends (end fluxes, see :func:`_end_spectral_currents`); exponentially convergent in the
    energy resolution and free of minigap edges. ``temperature`` may be 0 (then an integral
    over omega). ``spectral`` in the result holds -Im 2X at the frequencies.
    ``pair_potential``: a :class:`~femprox.physics.pair_potential.PairPotentialField` on
    ``system`` (a GraphMesh then; e.g. a self-consistent one) instead of the wires' rigid
    gaps and phases. With a rigid pair potential the currents at the two ends of an S wire
    differ by the charge converted inside it; with a self-consistent one they are equal.
    """
    if pair_potential is not None and not isinstance(system, GraphMesh):
        raise ValueError("matsubara_supercurrent: a pair_potential field belongs to a mesh; pass that GraphMesh")
    mesh = system if isinstance(system, GraphMesh) else build_mesh(system)
    geometry = mesh.geometry
    scale = min(min(gaps_of(geometry), default=1.0), min(w.thouless_energy for w in geometry.wires))
    rule = matsubara_sum(temperature, scale, explicit=explicit)
    solution = solve_spectral(mesh, 1j * rule.frequencies, pair_potential=pair_potential)
    x = _end_spectral_currents(mesh, wire, solution.gamma, solution.gamma_tilde,
                               1j * rule.frequencies, pair_potential)  # 2X at (start, end)
    g = geometry.wire(wire).conductance
    per_end = -g * (rule.weights @ np.imag(x))  # -2 g sum c Im X = -g sum c Im 2X
    spectral = -np.imag(x).mean(axis=1)
    error = abs(g * (rule.weights_difference @ np.imag(x).mean(axis=1)))
    return Supercurrent(wire=wire, temperature=float(temperature), current=float(per_end.mean()),
                        current_at_start=float(per_end[0]), current_at_end=float(per_end[1]),
                        error=float(error), spectral=spectral)
