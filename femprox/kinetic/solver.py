"""Kinetic stage: the linear kinetic equations for f_L and f_T on the graph mesh.

Pipeline position: SpectralSolution -> kinetic coefficients -> **SpectralConductance** ->
observables (:mod:`femprox.observables.conductance`).

Equations (docs/physics.md section 4), per energy E and wire::

    j_L = D_L f_L' - Tcal f_T' + j_S f_T,        j_L' = 0
    j_T = D_T f_T' + Tcal f_L' + j_S f_L,        j_T' = (c_TL f_L + c_TT f_T) / D

Multiplied by ``g_w`` and a test function v and integrated by parts, the sum over wires gives
the weak form (boundary terms cancel at clean nodes by Kirchhoff's rule, vanish at free ends)::

    sum_w g_w int [ j_L v' ] dx = 0
    sum_w g_w int [ j_T v' + (c_TL f_L + c_TT f_T) v / D ] dx = 0

Both modes share one set of nodal DOFs, so the matrix is a 2x2 block per DOF pair and all
energies are factored at once by :func:`~femprox.linalg.block.block_solver` (``fields=2``; element
bubbles of P2+ meshes condensed first, as in the spectral stage).
One factorization per energy serves all ``2 n_terminals`` unit boundary data (the right-hand
sides), which is what a spectral conductance matrix needs.

Conventions
-----------
* **Terminal currents** are the reactions: the weak-form residual of a terminal's row,
  evaluated with the solution. For a terminal at the end x = L of a wire this is exactly
  ``g j(L) = g j . n_out``; since j = D f' + ... is gradient-like, this is the spectral
  current flowing from the terminal into the network.
  Summed over all terminals the L reactions vanish to rounding (``j_L`` has no source),
  and the T reactions add up to the charge converted into the condensate inside S wires
  (see :attr:`SpectralConductance.condensate`). This is why reactions, not derivatives of the
  FE solution, are used: they are exactly conservative.
* **Physical currents** (docs/physics.md section 5), all flowing *from terminal i into the
  network*, with ``Gamma = SpectralConductance.matrix`` and terminal data f_{j,n}::

      I_i   = (1/2) int_{-inf}^{inf}  sum_{j,n} Gamma[E, i, T, j, n] f_{j,n}(E) dE   (electric)
      J_E,i = -(1/2) int_{-inf}^{inf} E sum_{j,n} Gamma[E, i, L, j, n] f_{j,n}(E) dE (energy)

  The opposite signs are not a typo. With the reservoir distributions of docs/physics.md
  section 4 the electron distribution is n(E) = (1 - f_L - f_T)/2 = n_F(E + V): electrons sit
  at chemical potential -eV, so ``j_T`` runs against the electric current. The often
  printed ``I = (g/2) int j_T dE`` does not fix the direction; the check
  ``I = G_N (V_1 - V_2)`` for a normal wire needs the sign used here (see the tests).
* **Supercurrent density** ``j_S = -Re[2 (a b' - b a') / (1 - a b)^2]`` (see
  :mod:`femprox.kinetic.coefficients` for why this differs from an often printed form; docs/physics.md
  section 10).

Degenerate subgap regions (how they are handled)
------------------------------------------------
* Below the gap of a superconductor ``D_L`` vanishes: exactly at an S reservoir node (bulk
  values, |gamma| = 1), exponentially small deep in long S wires, and the discretization
  error (|gamma| leaves the unit circle by ~1e-4 on coarse meshes) can make it slightly
  *negative*. A negative or zero energy-mode diffusion makes the problem ill-posed, so the
  assembled ``D_L`` is ``max(D_L, SUBGAP_DIFFUSION_FLOOR)``: a spurious energy conductance
  below 1e-9 of a normal wire, far below any tolerance we check. ``D_T = (1+|a|^2)(1+|b|^2)/
  |1 - a b|^2 >= 1`` never degenerates (it is sometimes said to vanish with D_L; it does
  not: deep in a superconductor the charge mode is damped by c_TT instead; docs/physics.md section 10).
* An S reservoir below its gap (|E| < Delta_res) Andreev-reflects: no energy current, so its
  f_L condition is *natural* (zero flux), not Dirichlet. Imposing f_L there as a Dirichlet
  value would leak energy through the first element (D_L ~ x^2 near the contact, discrete
  flux ~ h): an O(h) error. A region connected to S reservoirs only (an SNS junction) would
  then have f_L undetermined, so the reservoir is linked to the node through a conductance
  ``RESERVOIR_LINK * sum_w g_w`` (that of 1e-9 xi0 of the attached wires); it fixes f_L in
  such regions to the (link-weighted) reservoir value, i.e. equilibrium, and carries at most
  1e-9 of a normal current. Its flux is the reaction reported for that terminal, so the
  L reactions stay exactly conservative.
* f_T = 0 at S reservoirs at every energy (their potential is the reference); above the gap
  f_L is fixed by the reservoir temperature.

Symmetry E -> -E: with a(-E) = -conj(b(E)), b(-E) = -conj(a(E)) (exact symmetry of the
Riccati equations and the bulk values), D_L, D_T, c_TT are even and Tcal, j_S, c_TL odd, so the
solution at -E for data (f_L, f_T) is the solution at E for (-f_L, f_T), and
``Gamma(-E)[i, m, j, n] = s_m s_n Gamma(E)[i, m, j, n]`` with s_L = -1, s_T = +1
(:meth:`SpectralConductance.at_negative_energies`, checked in the tests).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from femprox.kinetic.coefficients import KineticCoefficients, kinetic_coefficients
from femprox.linalg.block import block_solver
from femprox.mesh import GraphMesh, contact_pairs, extend_pattern, pointwise_forms
from femprox.physics.bulk import PointParameters
from femprox.physics.contacts import FAR, NEAR
from femprox.physics.reservoirs import fixed_modes, reservoir_gap
from femprox.spectral.solver import SpectralSolution

log = logging.getLogger(__name__)

L, T = 0, 1
"""Mode indices: energy mode f_L and charge mode f_T."""

MODE_SIGN = np.array([-1.0, 1.0])
"""Parity of each mode under E -> -E (f_L odd, f_T even)."""

SUBGAP_DIFFUSION_FLOOR = 1e-9
"""Lower bound of the assembled D_L (normal value 1); see the module docstring."""

RESERVOIR_LINK = 1e-9
"""Energy-mode link of an S reservoir below its gap, in units of sum_w g_w * xi0."""


def coefficients_at_quadrature(solution: SpectralSolution) -> KineticCoefficients:
    """All kinetic coefficients at the mesh quadrature points, arrays (n_energies, n_points)."""
    mesh = solution.mesh
    q = mesh.quadrature
    fields = solution.fields_at_quadrature()
    parameters = PointParameters.at_points(mesh.geometry, q.wire_index, q.position)
    if solution.pair_potential is not None:  # a pair-potential field, e.g. self-consistent
        parameters = solution.pair_potential.applied_to(parameters)
    return kinetic_coefficients(fields, gap=parameters.gap.T, phase=np.angle(parameters.phase_factor).T)


def contact_currents(solution: SpectralSolution) -> list[np.ndarray]:
    """For every contact of the mesh: (n_energies, 2, 2, 2) coefficients C[e, m, side, n] of
    ``g j_m . n_out`` at the wire end (see :meth:`femprox.physics.contacts.Contact.kinetic_currents`)."""
    a, b = solution.gamma, solution.gamma_tilde
    return [c.contact.kinetic_currents(a[:, c.near_dof], b[:, c.near_dof], a[:, c.far_dof], b[:, c.far_dof])
            for c in solution.mesh.contacts]


def normal_contact_currents(mesh: GraphMesh) -> list[np.ndarray]:
    """The same in the normal state (one energy, all amplitudes zero)."""
    zero = np.zeros(1, dtype=complex)
    return [c.contact.kinetic_currents(zero, zero, zero, zero) for c in mesh.contacts]


def normal_coefficients(n_points: int) -> KineticCoefficients:
    """Coefficients of the normal state (one energy): D_L = D_T = 1, all others 0."""
    one, zero = np.ones((1, n_points)), np.zeros((1, n_points))
    return KineticCoefficients(d_l=one, d_t=one, t_cal=zero, j_s=zero, c_tl=zero, c_tt=zero)


# ---------------------------------------------------------------------------------------
# Terminals and boundary conditions
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Terminal:
    """A reservoir as the kinetic problem sees it.

    name: node name; dof: its global DOF; gap: Delta of an S reservoir (0 for normal);
    link: conductance of the subgap energy-mode link (see module docstring);
    reflecting: some wire meets it transparently (an S reservoir then Andreev-reflects below
    its gap, see :func:`femprox.physics.reservoirs.fixed_modes`).
    """

    name: str
    dof: int
    gap: float
    link: float
    reflecting: bool = True

    @property
    def superconducting(self) -> bool:
        return self.gap > 0.0


def _terminals(mesh: GraphMesh) -> tuple[Terminal, ...]:
    geometry = mesh.geometry
    terminals = []
    for node in geometry.terminals:
        gap = reservoir_gap(node)
        conductance = sum(w.conductance for w in geometry.wires_at(node.name))
        reflecting = any(w.contact_at(end) is None for w in geometry.wires_at(node.name)
                         for end in ("start", "end") if getattr(w, end) == node.name)
        terminals.append(Terminal(node.name, mesh.node_dof[node.name], float(gap),
                                  RESERVOIR_LINK * conductance, reflecting))
    return tuple(terminals)


def dirichlet_modes(terminals: tuple[Terminal, ...], energies: np.ndarray) -> np.ndarray:
    """(n_energies, n_terminals, 2) bool: True where the terminal fixes that mode's value.

    Normal reservoirs fix both modes; S reservoirs fix f_T always and f_L above their gap
    (at every energy when reached only through contacts).
    """
    fixed = np.ones((energies.size, len(terminals), 2), dtype=bool)
    for k, terminal in enumerate(terminals):
        fixed[:, k] = fixed_modes(terminal.gap, energies, reflecting=terminal.reflecting)
    return fixed


# ---------------------------------------------------------------------------------------
# The linear problem
# ---------------------------------------------------------------------------------------

class KineticProblem:
    """Weak form of the kinetic equations on one mesh, for a batch of energies.

    The matrix for all energies is ``(n_energies, n_entries, 2, 2)`` on the scalar pattern
    ``forms.rows/cols`` of the mesh (all DOFs, terminals included). Terminal rows are then
    replaced by their boundary conditions (identity rows for fixed values; the weak row plus
    a link conductance for the natural subgap condition at S reservoirs).
    """

    def __init__(self, mesh: GraphMesh):
        self.mesh = mesh
        geometry = mesh.geometry
        q = mesh.quadrature
        conductance = q.wire_parameter(geometry, "conductance")
        self.forms = pointwise_forms(replace(q, weights=q.weights * conductance), mesh.n_dofs)
        self.inverse_diffusion = 1.0 / q.wire_parameter(geometry, "diffusion")
        self.terminals = _terminals(mesh)
        pair_rows, pair_cols = contact_pairs(mesh.contacts)
        rows, cols, self.contact_entries = extend_pattern(self.forms.rows, self.forms.cols, pair_rows, pair_cols)
        self.rows, self.cols = rows, cols
        self.solver = block_solver(rows, cols, mesh.n_dofs, fields=2, separators=mesh.junction_dofs)
        self.diagonal_entry = np.array([np.flatnonzero((rows == t.dof) & (cols == t.dof))[0]
                                        for t in self.terminals], dtype=int)
        self.row_entries = [np.flatnonzero(rows == t.dof) for t in self.terminals]
        terminal_dofs = np.array([t.dof for t in self.terminals], dtype=int)
        position = np.full(mesh.n_dofs, -1)
        position[terminal_dofs] = np.arange(terminal_dofs.size)
        self.reaction_entries = np.flatnonzero(position[rows] >= 0)
        self.reaction_rows = position[rows[self.reaction_entries]]

    @property
    def n_terminals(self) -> int:
        return len(self.terminals)

    def weak_form(self, c: KineticCoefficients, contacts: list[np.ndarray]) -> np.ndarray:
        """Matrix entries (n_energies, n_entries, 2, 2) of the weak form (rows: test mode).

        ``contacts``: per mesh contact, (n_energies, 2, 2, 2) current coefficients
        (:func:`contact_currents`). Integrating g j v' by parts leaves ``g j . n_out v`` at
        every end: the wire-end row gets minus the contact's ``g j . n_out``, the far row the
        same with the opposite sign (its outward normal points the other way).
        """
        dd, dv, vv = self.forms.derivative_derivative, self.forms.derivative_value, self.forms.value_value
        d_l = np.maximum(c.d_l, SUBGAP_DIFFUSION_FLOOR)
        conversion_l = c.c_tl * self.inverse_diffusion
        conversion_t = c.c_tt * self.inverse_diffusion
        n_energies = d_l.shape[0]
        A = np.zeros((n_energies, self.rows.size, 2, 2))
        n = self.forms.rows.size
        A[:, :n, L, L] = (dd @ d_l.T).T
        A[:, :n, L, T] = (dd @ (-c.t_cal).T + dv @ c.j_s.T).T
        A[:, :n, T, L] = (dd @ c.t_cal.T + dv @ c.j_s.T + vv @ conversion_l.T).T
        A[:, :n, T, T] = (dd @ c.d_t.T + vv @ conversion_t.T).T
        for k, currents in enumerate(contacts):
            for pair, (sign, side) in enumerate(((-1, NEAR), (-1, FAR), (1, NEAR), (1, FAR))):
                A[:, self.contact_entries[4 * k + pair]] += sign * currents[:, :, side, :]
        return A

    def apply_boundary_rows(self, A: np.ndarray, fixed: np.ndarray) -> np.ndarray:
        """A copy of ``A`` whose terminal rows express the boundary conditions."""
        B = A.copy()
        for k, terminal in enumerate(self.terminals):
            entries, diagonal = self.row_entries[k], self.diagonal_entry[k]
            for mode in (L, T):
                held = np.flatnonzero(fixed[:, k, mode])
                linked = np.flatnonzero(~fixed[:, k, mode])
                B[held[:, None], entries[None, :], mode, :] = 0.0
                B[held, diagonal, mode, mode] = 1.0
                B[linked, diagonal, mode, mode] += terminal.link
        return B

    def unit_right_hand_sides(self, fixed: np.ndarray) -> np.ndarray:
        """(n_energies, n_dofs, 2, 2 n_terminals): unit value of terminal k, mode n in column 2k+n.

        A fixed mode gets the value itself; a linked (subgap) mode gets link * value.
        """
        n_energies = fixed.shape[0]
        rhs = np.zeros((n_energies, self.mesh.n_dofs, 2, 2 * self.n_terminals))
        for k, terminal in enumerate(self.terminals):
            for mode in (L, T):
                rhs[:, terminal.dof, mode, 2 * k + mode] = np.where(fixed[:, k, mode], 1.0, terminal.link)
        return rhs

    def reactions(self, A: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Weak-form residuals at terminal rows: (n_energies, n_terminals, 2, n_rhs)."""
        entries = self.reaction_entries
        cols = self.cols[entries]
        per_entry = _entry_products(A[:, entries], u[:, cols])
        gather = sp.csr_matrix((np.ones(entries.size), (self.reaction_rows, np.arange(entries.size))),
                               shape=(self.n_terminals, entries.size))
        n_energies, _, _, n_rhs = per_entry.shape
        flat = per_entry.transpose(1, 0, 2, 3).reshape(entries.size, -1)
        return (gather @ flat).reshape(self.n_terminals, n_energies, 2, n_rhs).transpose(1, 0, 2, 3)

    def residual(self, B: np.ndarray, u: np.ndarray, rhs: np.ndarray, chunk: int = 64) -> np.ndarray:
        """Max-norm residual of ``B u = rhs`` per energy, relative to ``|B| |u|``.

        Energies are taken ``chunk`` at a time, which bounds the (chunk, n_entries, 2, n_rhs)
        temporaries to a few MB.
        """
        rows, cols = self.rows, self.cols
        n_energies, n_dofs = B.shape[0], self.mesh.n_dofs
        residual = np.empty(n_energies)
        scatter = sp.csr_matrix((np.ones(rows.size), (rows, np.arange(rows.size))), shape=(n_dofs, rows.size))

        def summed_over_entries(per_entry: np.ndarray) -> np.ndarray:
            flat = per_entry.transpose(1, 0, 2, 3).reshape(rows.size, -1)
            return (scatter @ flat).reshape((n_dofs,) + per_entry.shape[:1] + per_entry.shape[2:]).swapaxes(0, 1)

        for start in range(0, n_energies, chunk):
            part = slice(start, start + chunk)
            u_entries = u[part][:, cols]
            Bu = summed_over_entries(_entry_products(B[part], u_entries))
            magnitude = summed_over_entries(_entry_products(np.abs(B[part]), np.abs(u_entries)))
            scale = magnitude.max(axis=(1, 2, 3)) + np.abs(rhs[part]).max(axis=(1, 2, 3))
            residual[part] = np.abs(Bu - rhs[part]).max(axis=(1, 2, 3)) / scale
        return residual

    def solve(self, c: KineticCoefficients, contacts: list[np.ndarray], energies: np.ndarray,
              fixed: np.ndarray | None = None, check: bool = True):
        """Unit-data solutions and reactions for every energy (``contacts`` as in :meth:`weak_form`).

        Returns (u, reactions, residual): u (n_energies, n_dofs, 2, 2 n_terminals),
        reactions (n_energies, n_terminals, 2, n_terminals, 2), residual (n_energies,) or None.
        """
        if fixed is None:
            fixed = dirichlet_modes(self.terminals, energies)
        A = self.weak_form(c, contacts)
        B = self.apply_boundary_rows(A, fixed)
        rhs = self.unit_right_hand_sides(fixed)
        u = self.solver.factor(B).solve(rhs)
        residual = self.residual(B, u, rhs) if check else None
        R = self.reactions(A, u).reshape(energies.size, self.n_terminals, 2, self.n_terminals, 2)
        return u, R, residual


def _entry_products(B: np.ndarray, u: np.ndarray) -> np.ndarray:
    """B[e, s] @ u[e, s] for 2 x 2 blocks B (e, s, 2, 2) and u (e, s, 2, k), written out:
    einsum over such small blocks is several times slower."""
    return B[..., :, 0, None] * u[:, :, None, 0, :] + B[..., :, 1, None] * u[:, :, None, 1, :]


# ---------------------------------------------------------------------------------------
# Result object
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SpectralConductance:
    """Spectral conductance matrices of a wire network, one per energy.

    Attributes
    ----------
    energies: (n_energies,) E in Delta0.
    terminals: names of the reservoirs, in geometry order.
    terminal_gaps: (n_terminals,) Delta of each S reservoir, 0 for normal reservoirs.
    matrix: (n_energies, n_terminals, 2, n_terminals, 2). ``matrix[e, i, m, j, n]`` is the
        spectral current of mode m (0 = L, 1 = T) that flows from terminal i into the network
        for f_n = 1 at terminal j and zero data at every other terminal/mode: ``g j_m . n_out``
        at the terminal, with j_m = D_m f_m' + ... the gradient-like current of the kinetic
        equations and n_out pointing out of the network, so positive when the distribution
        flows out of the terminal (a normal wire of conductance G between A and B has
        matrix[e, A, m, A, m] = +G). Units of a conductance; physical currents follow from the
        formulas in the module docstring.
    normal: (n_terminals, n_terminals) normal-state conductance matrix G_N (all gaps zero,
        every reservoir normal): I_i = sum_j G_N[i, j] V_j, energy independent.
    distributions: (n_energies, n_dofs, 2, n_terminals, 2) the unit-data solutions f_m at every
        DOF, or None when not kept.
    solve_residual: (n_energies,) relative residual of the batched linear solves.
    mesh: the graph mesh.
    """

    energies: np.ndarray
    terminals: tuple[str, ...]
    terminal_gaps: np.ndarray
    matrix: np.ndarray
    normal: np.ndarray
    distributions: np.ndarray | None
    solve_residual: np.ndarray | None
    mesh: GraphMesh

    @property
    def superconducting(self) -> np.ndarray:
        """(n_terminals,) bool, True for S reservoirs."""
        return self.terminal_gaps > 0

    def terminal_index(self, name: str) -> int:
        try:
            return self.terminals.index(name)
        except ValueError:
            raise KeyError(f"no terminal named '{name}' (terminals: {', '.join(self.terminals)})") from None

    @property
    def condensate(self) -> np.ndarray:
        """(n_energies, n_terminals, 2): charge-mode current into the condensate.

        Minus the sum of the T-mode reactions over terminals, i.e. ``int g (c_TL f_L + c_TT
        f_T)/D dx``: the charge converted into supercurrent that no terminal receives (a
        non-self-consistent pair potential does not conserve charge). Zero without S wires.
        """
        return -self.matrix[:, :, T].sum(axis=1)

    def spectral_charge_current(self, values: np.ndarray) -> np.ndarray:
        """(n_energies, n_terminals): sum_{j,n} Gamma[e, i, T, j, n] values[e, j, n].

        ``values`` (n_energies, n_terminals, 2) are the terminal (f_L, f_T). The electric
        current from terminal i into the network is (1/2) int of this over all E.
        """
        return np.einsum("ejn,eijn->ei", values, self.matrix[:, :, T])

    def spectral_energy_current(self, values: np.ndarray) -> np.ndarray:
        """(n_energies, n_terminals): -E sum_{j,n} Gamma[e, i, L, j, n] values[e, j, n].

        The energy current from terminal i into the network is (1/2) int of this over all E.
        """
        return -self.energies[:, None] * np.einsum("ejn,eijn->ei", values, self.matrix[:, :, L])

    def distribution(self, values: np.ndarray, wire: str | int, x) -> np.ndarray:
        """f_L and f_T along a wire for given terminal data: (n_energies, len(x), 2).

        ``values`` (n_energies, n_terminals, 2) as in :meth:`spectral_charge_current`; ``x``
        arc length along ``wire`` (xi0). Needs ``distributions`` (kept by default).
        """
        if self.distributions is None:
            raise ValueError("distributions were not kept; call spectral_conductance(..., keep_distributions=True)")
        V, _ = self.mesh.evaluation_matrices(wire, x)
        u = np.einsum("edmjn,ejn->edm", self.distributions, values)
        return np.einsum("pd,edm->epm", V.toarray(), u)

    def at_negative_energies(self) -> "SpectralConductance":
        """The same network at energies -E, from the E -> -E symmetry (module docstring)."""
        sign = MODE_SIGN[:, None, None] * MODE_SIGN[None, None, :]  # (m, j, n)
        matrix = self.matrix[::-1] * sign[None, None]
        distributions = None
        if self.distributions is not None:
            distributions = self.distributions[::-1] * sign[None, None]
        residual = None if self.solve_residual is None else self.solve_residual[::-1]
        return replace(self, energies=-self.energies[::-1], matrix=matrix,
                       distributions=distributions, solve_residual=residual)


def normal_state_conductance(mesh: GraphMesh) -> np.ndarray:
    """Normal-state conductance matrix (n_terminals, n_terminals): all gaps zero.

    Every reservoir is treated as normal with its own potential; ``I_i = sum_j G[i, j] V_j``
    with I_i flowing from terminal i into the network. Rows and columns sum to zero.
    """
    if "normal_conductance" not in mesh.stage_cache:
        problem = kinetic_problem(mesh)
        energies = np.zeros(1)
        fixed = np.ones((1, problem.n_terminals, 2), dtype=bool)
        _, R, _ = problem.solve(normal_coefficients(mesh.quadrature.weights.size), normal_contact_currents(mesh),
                                energies, fixed, check=False)
        mesh.stage_cache["normal_conductance"] = R[0, :, T, :, T]
    return mesh.stage_cache["normal_conductance"].copy()


def kinetic_problem(mesh: GraphMesh) -> KineticProblem:
    """The mesh's :class:`KineticProblem`, built once and kept in ``mesh.stage_cache``."""
    if "kinetic_problem" not in mesh.stage_cache:
        mesh.stage_cache["kinetic_problem"] = KineticProblem(mesh)
    return mesh.stage_cache["kinetic_problem"]


KINETIC_MEMORY_BUDGET = 512 * 2**20
"""Working memory (bytes) of one batch of kinetic solves; more energies are solved in
consecutive chunks (same results). Kept distributions come on top of it."""


def spectral_conductance(solution: SpectralSolution, *, keep_distributions: bool = True,
                         check: bool = True, memory_budget: float = KINETIC_MEMORY_BUDGET) -> SpectralConductance:
    """Solve the kinetic equations at every energy of ``solution``.

    ``keep_distributions`` stores the unit-data solutions (needed for
    :meth:`SpectralConductance.distribution`; memory n_energies x n_dofs x 8 x n_terminals^2
    x 8 bytes; refused with a clear error when that exceeds the available memory). ``check``
    computes the relative residual of each linear solve (cheap) and logs a warning above
    1e-8, which would signal an ill-conditioned subgap system. Energies are solved in chunks
    whose working memory stays within ``memory_budget`` (bytes).
    """
    mesh = solution.mesh
    problem = kinetic_problem(mesh)
    energies = solution.energies
    if keep_distributions:
        _check_distribution_memory(problem, energies.size)
    parts = [problem.solve(coefficients_at_quadrature(sub), contact_currents(sub), sub.energies, check=check)
             for sub in _energy_subsets(solution, _chunk_size(problem, memory_budget))]
    R = np.concatenate([part[1] for part in parts])
    residual = None if parts[0][2] is None else np.concatenate([part[2] for part in parts])
    u = np.concatenate([part[0] for part in parts]) if keep_distributions else None
    if residual is not None and np.max(residual) > 1e-8:
        worst = int(np.argmax(residual))
        log.warning("kinetic solve residual %.2e at E = %.6g", residual[worst], energies[worst])
    terminals = problem.terminals
    return SpectralConductance(
        energies=energies.copy(),
        terminals=tuple(t.name for t in terminals),
        terminal_gaps=np.array([t.gap for t in terminals]),
        matrix=R,
        normal=normal_state_conductance(mesh),
        distributions=u.reshape(u.shape[:3] + (problem.n_terminals, 2)) if keep_distributions else None,
        solve_residual=residual,
        mesh=mesh,
    )


def _bytes_per_energy(problem: KineticProblem) -> int:
    """Working memory of one energy in a kinetic batch: the weak form and its boundary-row
    copy, the right-hand sides and solutions of all unit data, the coefficients at the
    quadrature points and the block factors (float64)."""
    n_dofs, n_rhs = problem.mesh.n_dofs, 2 * problem.n_terminals
    matrices = 3 * problem.rows.size * 4 * 8
    unit_data = 3 * n_dofs * 2 * n_rhs * 8
    coefficients = 16 * problem.mesh.quadrature.weights.size * 8
    return matrices + unit_data + coefficients + problem.solver.bytes_per_matrix(8)


def _chunk_size(problem: KineticProblem, budget: float) -> int:
    return int(max(1, budget // _bytes_per_energy(problem)))


def _energy_subsets(solution: SpectralSolution, size: int):
    """The solution restricted to consecutive groups of at most ``size`` energies."""
    if solution.energies.size <= size:
        yield solution
        return
    for start in range(0, solution.energies.size, size):
        part = slice(start, start + size)
        yield replace(solution, energies=solution.energies[part], gamma=solution.gamma[part],
                      gamma_tilde=solution.gamma_tilde[part], iterations=solution.iterations[part],
                      residual=solution.residual[part])


def _check_distribution_memory(problem: KineticProblem, n_energies: int) -> None:
    from femprox.spectral.solver import ProblemTooLargeError, _available_memory

    needed = n_energies * problem.mesh.n_dofs * 2 * 2 * problem.n_terminals * 8
    if needed > 0.8 * _available_memory():
        raise ProblemTooLargeError(
            f"keeping the distribution functions of {n_energies} energies needs {needed / 2**30:.1f} GB "
            f"({problem.mesh.n_dofs} DOFs, {problem.n_terminals} terminals); pass keep_distributions=False "
            "(terminal currents and conductances do not need them) or solve fewer energies")
