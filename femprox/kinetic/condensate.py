"""Where the charge converted in S wires goes: its split among the S terminals.

Pipeline position: SpectralConductance (:mod:`femprox.kinetic.solver`) + Matsubara functions ->
**S-terminal charge currents** -> observables (:func:`femprox.observables.conductance.linear_response`).

The kinetic equations convert charge imbalance into supercurrent inside S wires
(j_T' = (c_TL f_L + c_TT f_T)/D); :mod:`femprox.kinetic.solver` books all of it to one node, the
*condensate*. Physically, in a static state, the converted charge flows on as supercurrent
and leaves through the S reservoirs (their phases are fixed: zero voltage). In linear
response about an equilibrium without supercurrent, the supercurrent perturbation is
delta I_S = -kappa(x) delta chi'(x) along S wires, with the phase stiffness

    kappa(x) = -g 2 pi T sum_{n>=0} Re[f_n f~_n](x)   (= g 2 pi T sum_n sin^2 theta_n without phase gradients)

from the Matsubara functions (f = 2a/(1-ab), f~ = 2b/(1-ab) at E = i omega_n), and total
charge conservation d/dx (I_qp + delta I_S) = 0 makes delta chi the solution of a Kirchhoff
problem on the S wires: (kappa delta chi')' = (conversion density), delta chi = 0 at S
reservoirs, no supercurrent through the ends of S wires that meet normal metal. By linearity
a charge converted at x leaves through S terminal s with the probability h_s(x), the
solution of (kappa h_s')' = 0 with h_s = 1 at terminal s and 0 at the other S terminals
(Green's reciprocity); sum_s h_s = 1, so charge is conserved over all terminals exactly.

What is exact and what is not (docs/self_consistency.md, "Where the converted charge goes"):
conservation over all terminals is exact (to the kinetic solver's tolerance) for every
region of S wires connected to an S reservoir; the split among several S terminals of one
region uses the local stiffness (it neglects the nonlocal response of the amplitudes within
a coherence length of NS contacts, exact in uniform S wires and in symmetric devices);
:func:`phase_response_split` computes the exact split from the self-consistent phase
response to the reservoirs' phases (finite differences, 1 + 2 n_S-terminals solves). A
region of S wires without an S reservoir (an island) cannot absorb net charge: its
condensate potential floats. When the island is the network's only superconducting region
this is exactly ``LinearResponse.terminal_state(float_condensate=True)``; an island next to
grounded S regions would need a kinetic solve with the island's potential as one more force
and is refused here.

Units: kappa in g Delta0 (per unit length conductance times Delta0); currents as in
:mod:`femprox.kinetic.solver`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse.csgraph import connected_components

from femprox.geometry.network import NodeKind
from femprox.kinetic.solver import T, SpectralConductance, coefficients_at_quadrature
from femprox.mesh import GraphMesh
from femprox.physics.pair_potential import PairPotentialField
from femprox.spectral.solver import SpectralSolution, solve_spectral

if TYPE_CHECKING:
    from femprox.selfconsistency.gap_equation import SelfConsistentSolution


def phase_stiffness(mesh: GraphMesh, temperature: float, pair_potential: PairPotentialField | None = None,
                    **rule_options) -> np.ndarray:
    """kappa(x) = -g sum_k c_k Re[f_k f~_k] (g Delta0) at the mesh's quadrature points (zero in
    normal wires): delta I_S = -kappa delta chi' for a small phase twist delta chi.

    Matsubara functions at ``temperature`` (Delta0) with ``pair_potential`` (None: the wires'
    rigid gaps), summed by :class:`femprox.selfconsistency.gap_equation.MatsubaraRule` (``rule_options``).
    Bulk BCS: sum_k c_k sin^2 theta_k = 2 pi T sum_n Delta^2/(omega_n^2 + Delta^2), so
    kappa = g (pi/2) Delta tanh(Delta / 2T) (the dirty-limit superfluid stiffness).
    """
    from femprox.selfconsistency.gap_equation import MatsubaraRule

    rule = MatsubaraRule.build(temperature, **rule_options)
    solution = solve_spectral(mesh, 1j * rule.frequencies, pair_potential=pair_potential)
    fields = solution.fields_at_quadrature()
    s = 1 - fields.gamma * fields.gamma_tilde
    product = 4 * fields.gamma * fields.gamma_tilde / s**2  # f f~
    g = mesh.quadrature.wire_parameter(mesh.geometry, "conductance")
    superconducting = np.array([w.is_superconducting for w in mesh.geometry.wires])[mesh.quadrature.wire_index]
    kappa = -g * (rule.weights @ np.real(product))
    return np.where(superconducting, np.maximum(kappa, 0.0), 0.0)


@dataclass(frozen=True)
class CondensateSplit:
    """How charge converted at the quadrature points leaves through the S terminals.

    terminals: names of the S reservoirs that S wires reach (one row each of ``shares``).
    shares: (n_S_terminals, n_points) h_s at every quadrature point: the fraction of the
        charge converted there that leaves through terminal s (columns sum to 1 at points of
        regions with an S terminal, 0 elsewhere).
    islands: per region of S wires without an S reservoir, the names of its wires.
    """

    terminals: tuple[str, ...]
    shares: np.ndarray
    islands: tuple[tuple[str, ...], ...]


def condensate_split(mesh: GraphMesh, stiffness: np.ndarray) -> CondensateSplit:
    """Solve (kappa h_s')' = 0 on the S wires for every S terminal (module docstring).

    ``stiffness``: kappa at the quadrature points (:func:`phase_stiffness`). The finite-element
    space is the mesh's own, restricted to DOFs of S wires; h_s = 1 at terminal s, 0 at the
    other S terminals, natural (no supercurrent) at ends in normal metal.
    """
    geometry, q = mesh.geometry, mesh.quadrature
    stiffness = np.asarray(stiffness, dtype=float)
    if stiffness.shape != q.weights.shape or not np.all(np.isfinite(stiffness)) or np.any(stiffness < 0):
        raise ValueError(f"condensate split: the stiffness must be {q.weights.size} finite values >= 0 (the "
                         "mesh's quadrature points)")
    superconducting = np.array([w.is_superconducting for w in geometry.wires])[q.wire_index]
    # regions from the S wires' connectivity, not from kappa (which vanishes where Delta does);
    # a floor 1e-12 of the largest kappa keeps the problem regular there (no conversion there)
    floor = 1e-12 * max(float(stiffness.max(initial=0.0)), np.finfo(float).tiny)
    kappa = np.maximum(stiffness, floor) * superconducting
    pattern = (q.derivatives.T @ sp.diags(q.weights * superconducting) @ q.derivatives).tocsr()
    K = (q.derivatives.T @ sp.diags(kappa * q.weights) @ q.derivatives).tocsr()
    touched = (q.values[superconducting] != 0).sum(axis=0).A1 > 0  # DOFs of S wires
    dofs = np.flatnonzero(touched)
    s_terminals = [n for n in geometry.terminals
                   if n.kind is NodeKind.SUPERCONDUCTING_RESERVOIR and touched[mesh.node_dof[n.name]]]
    terminal_dofs = np.array([mesh.node_dof[n.name] for n in s_terminals], dtype=int)
    sub = K[dofs][:, dofs]
    n_regions, region = connected_components(pattern[dofs][:, dofs] != 0, directed=False)
    shares_at_dofs = np.zeros((len(s_terminals), mesh.n_dofs))
    fixed = np.isin(dofs, terminal_dofs)
    free = np.flatnonzero(~fixed)
    free_matrix = sub[free][:, free].tocsc()
    has_terminal = np.zeros(n_regions, dtype=bool)
    has_terminal[region[fixed]] = True
    grounded = has_terminal[region[free]]
    if np.any(grounded):
        lu = spla.splu(free_matrix[grounded][:, grounded].tocsc())
        coupling = sub[free[grounded]][:, np.flatnonzero(fixed)]
        fixed_dofs = dofs[fixed]
        for s, dof in enumerate(terminal_dofs):
            boundary = (fixed_dofs == dof).astype(float)
            shares_at_dofs[s, dofs[free[grounded]]] = lu.solve(-(coupling @ boundary))
            shares_at_dofs[s, dof] = 1.0
    # the region of every S point: that of the first S-wire DOF of its element
    point_region = np.full(q.weights.size, -1)
    index_of = np.full(mesh.n_dofs, -1)
    index_of[dofs] = np.arange(dofs.size)
    for p in np.flatnonzero(superconducting):
        point_region[p] = region[index_of[q.values[p].indices[0]]]
    # an island converts charge only where it is superconducting (kappa > 0)
    islands = tuple(tuple(sorted({geometry.wires[k].name for k in q.wire_index[point_region == r]}))
                    for r in range(n_regions) if not has_terminal[r] and np.any(stiffness[point_region == r] > 0))
    points = q.values @ shares_at_dofs.T  # (n_points, n_S_terminals)
    points[~superconducting] = 0.0
    return CondensateSplit(tuple(n.name for n in s_terminals), points.T.copy(), islands)


def converted_charge(conductance: SpectralConductance, solution: SpectralSolution,
                     weights: np.ndarray) -> np.ndarray:
    """sum_p weights[r, p] w_p g (c_TL f_L + c_TT f_T)/D at the quadrature points, for every
    energy and unit terminal data: (n_energies, n_rows, n_terminals, 2).

    ``weights`` (n_rows, n_points); ``conductance`` must keep its distributions and come
    from ``solution`` (same energies and mesh). With weights = 1 in S wires this is the
    charge converted into the condensate (:attr:`SpectralConductance.condensate`).
    """
    if conductance.distributions is None:
        raise ValueError("the converted charge needs the kinetic distributions: "
                         "spectral_conductance(..., keep_distributions=True)")
    if conductance.mesh is not solution.mesh or not np.array_equal(conductance.energies, solution.energies):
        raise ValueError("conductance and spectral solution belong to different meshes or energies")
    mesh = solution.mesh
    q = mesh.quadrature
    c = coefficients_at_quadrature(solution)
    factor = q.weights * q.wire_parameter(mesh.geometry, "conductance") / q.wire_parameter(mesh.geometry, "diffusion")
    rows = np.asarray(weights, dtype=float) * factor[None, :]
    result = np.empty((conductance.energies.size, rows.shape[0], len(conductance.terminals), 2))
    for e in range(conductance.energies.size):
        values = q.values @ conductance.distributions[e].reshape(mesh.n_dofs, -1)
        values = values.reshape(q.weights.size, 2, len(conductance.terminals), 2)
        density = c.c_tl[e][:, None, None] * values[:, 0] + c.c_tt[e][:, None, None] * values[:, 1]
        result[e] = np.einsum("rp,pjn->rjn", rows, density)
    return result


def split_condensate(conductance: SpectralConductance, solution: SpectralSolution,
                     split: CondensateSplit) -> SpectralConductance:
    """``conductance`` with the converted charge added to the T rows of the S terminals
    (each its share h_s, module docstring): the T-mode currents of all terminals then sum to
    zero at every energy and for every unit datum, and ``condensate`` vanishes.

    Refused when a region of S wires without S reservoir (an island) lies next to S
    terminals (its condensate potential would be one more force; not implemented). A network
    whose only superconducting regions are islands has nothing to split: use
    ``LinearResponse.terminal_state(float_condensate=True)`` (exact for one island).
    """
    if split.islands and split.terminals:
        raise ValueError("condensate split: the S wires " + "; ".join(", ".join(i) for i in split.islands)
                         + " reach no S reservoir (an island whose condensate potential floats) while other S "
                         "wires reach S reservoirs; a floating island next to grounded ones is not implemented")
    if not split.terminals:
        return conductance
    shares = converted_charge(conductance, solution, split.shares)  # (e, s, j, n)
    matrix = conductance.matrix.copy()
    for s, name in enumerate(split.terminals):
        # the condensate (= -sum of the T reactions) receives the converted charge; terminal s
        # delivers its share of it as supercurrent
        matrix[:, conductance.terminal_index(name), T] -= shares[:, s]
    return replace(conductance, matrix=matrix)


def phase_response_split(geometry, temperature: float, *, epsilon: float = 1e-3, tol: float = 1e-11,
                         **solve_options) -> tuple[CondensateSplit, "SelfConsistentSolution"]:
    """The split of :func:`condensate_split` without the local-stiffness approximation.

    h_s(x) is the phase change of the self-consistent Delta at x per unit phase change of S
    reservoir s (all other S reservoirs held): by Green's reciprocity for the symmetric
    phase-stiffness kernel (the second variation of the free energy in the phase) this is
    the fraction of the charge converted at x that leaves through s, with the full nonlocal
    response of the amplitudes. Computed by central differences (phase +-``epsilon``,
    radians) of :func:`femprox.selfconsistency.gap_equation.solve_gap` with ``phase="self-consistent"``
    at ``temperature`` (Delta0) on ``geometry`` (zero-temperature gaps, as for solve_gap),
    each started from the equilibrium solution; the error is O(epsilon^2) plus the Newton
    tolerance ``tol`` / epsilon. Returns the split and the equilibrium solution (the mesh of
    both). Costs 1 + 2 n_S-terminals complex self-consistent solves.
    """
    from femprox.selfconsistency.gap_equation import solve_gap

    if not (np.isfinite(epsilon) and 0 < epsilon < 0.1):
        raise ValueError(f"phase_response_split: epsilon must lie in (0, 0.1) radians, got {epsilon!r}")
    equilibrium = solve_gap(geometry, temperature, phase="self-consistent", tol=tol, **solve_options)
    mesh = equilibrium.mesh
    local = condensate_split(mesh, np.where(
        np.array([w.is_superconducting for w in geometry.wires])[mesh.quadrature.wire_index], 1.0, 0.0))
    shares = np.zeros((len(local.terminals), mesh.quadrature.weights.size))
    for s, name in enumerate(local.terminals):
        phases = []
        for sign in (1.0, -1.0):
            shifted = solve_gap(_reservoir_phase_shifted(geometry, name, sign * epsilon), temperature,
                                phase="self-consistent", tol=tol, initial=equilibrium.pair_potential, **solve_options)
            phases.append(shifted.pair_potential.on_mesh(mesh).values)
        ratio = phases[0] / np.where(phases[1] != 0, phases[1], 1.0)
        superconducting = np.abs(equilibrium.pair_potential.values) > 0
        shares[s] = np.where(superconducting, np.angle(ratio) / (2 * epsilon), 0.0)
    return CondensateSplit(local.terminals, shares, local.islands), equilibrium


def _reservoir_phase_shifted(geometry, name: str, shift: float):
    """``geometry`` with S reservoir ``name`` and the ends of the S wires at it (whose phases
    must agree with it) turned by ``shift`` radians: only the starting profile of the wires."""
    nodes = tuple(replace(n, phase=n.phase + shift) if n.name == name else n for n in geometry.nodes)
    wires = []
    for w in geometry.wires:
        if w.is_superconducting and name in (w.start, w.end):
            start = w.phase + (shift if w.start == name else 0.0)
            end = w.end_phase + (shift if w.end == name else 0.0)
            w = replace(w, phase=start, phase_end=end)
        wires.append(w)
    return replace(geometry, nodes=nodes, wires=tuple(wires))
