"""Spectral stage: the retarded Usadel equation on a graph mesh, all energies at once.

Riccati parametrization (PHYSICS.md section 3), with a = gamma, b = gamma~, s = 1 - a b::

    D [a'' + 2 b a'^2 / s] + 2 i E a - i Delta (e^{i phi} + e^{-i phi} a^2) = 0
    D [b'' + 2 a b'^2 / s] + 2 i E b - i Delta (e^{-i phi} + e^{i phi} b^2) = 0

with E -> E + i eta (Dynes rate). Divided by D and multiplied by g_w times a test function,
integration by parts turns the sum over wires into the weak form

    sum_w g_w int [ -a' v' + (2 b a'^2 / s + (2 i E a - i Delta(...)) / D) v ] dx = 0

whose boundary terms cancel at clean nodes by Kirchhoff's rule sum_w g_w a'_out = 0 and
vanish at free ends; reservoirs are Dirichlet values (bulk BCS or zero).

Newton's method with the exact Jacobian runs on every energy of the grid together: the
residual and Jacobian entries for all energies are sparse products with the precomputed
quadrature maps of :mod:`femprox.mesh`, and the linear systems are solved by the batched
block solver of :mod:`femprox.linalg`. Energies that do not converge from the bulk/normal
initial guess are retried from converged neighbouring energies, then by continuation in an
extra Dynes rate that is lowered to zero.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from femprox.geometry import Geometry, NodeKind
from femprox.linalg import BatchedBlockSolver
from femprox.mesh import GraphMesh, PointwiseForms, build_mesh

log = logging.getLogger(__name__)


class SpectralConvergenceError(RuntimeError):
    """Newton's method failed for some energies; the message lists them and why."""

    def __init__(self, message: str, energies: np.ndarray):
        super().__init__(message)
        self.energies = energies


def bulk_riccati(energy: np.ndarray, gap: float, phase: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(gamma, gamma~) of a bulk BCS superconductor, retarded branch (|gamma| <= 1).

    ``energy`` may be complex (E + i eta, eta >= 0). gamma = e^{i phi}(E - s)/Delta with
    s = sqrt(E - Delta) sqrt(E + Delta), the root analytic in the upper half plane.
    For gap = 0 (normal metal) gamma = gamma~ = 0.
    """
    energy = np.asarray(energy, dtype=complex)
    if gap == 0.0:
        zero = np.zeros_like(energy)
        return zero, zero.copy()
    root = np.sqrt(energy - gap) * np.sqrt(energy + gap)
    magnitude = (energy - root) / gap
    return np.exp(1j * phase) * magnitude, np.exp(-1j * phase) * magnitude


@dataclass(frozen=True)
class SpectralFields:
    """Riccati amplitudes and their x-derivatives at a set of points, for every energy.

    Arrays have shape (n_energies, n_points); derivatives are d/dx in 1/xi0.
    """

    gamma: np.ndarray
    gamma_tilde: np.ndarray
    dgamma: np.ndarray
    dgamma_tilde: np.ndarray

    @property
    def green(self) -> np.ndarray:
        """Normal retarded Green's function g = (1 + a b)/(1 - a b) (= cosh theta)."""
        ab = self.gamma * self.gamma_tilde
        return (1 + ab) / (1 - ab)

    @property
    def anomalous(self) -> np.ndarray:
        """Anomalous function f = 2 a / (1 - a b)."""
        return 2 * self.gamma / (1 - self.gamma * self.gamma_tilde)

    @property
    def dos(self) -> np.ndarray:
        """Local density of states N(E, x) / N_0 = Re g."""
        return self.green.real

    @property
    def theta(self) -> np.ndarray:
        """Spectral angle theta = 2 artanh(gamma), where gamma = gamma~ (no phase); NaN elsewhere."""
        a, b = self.gamma, self.gamma_tilde
        defined = np.abs(a - b) <= 1e-9 * np.maximum(1.0, np.abs(a))
        return np.where(defined, 2 * np.arctanh(0.5 * (a + b)), np.nan)


@dataclass
class SpectralSolution:
    """Solution of the retarded Usadel equation on a graph mesh.

    Attributes
    ----------
    mesh: the :class:`~femprox.mesh.GraphMesh` solved on.
    energies: (n_energies,) real energies E in Delta0.
    gamma, gamma_tilde: (n_energies, n_dofs) global DOF values of the Riccati amplitudes.
    iterations: (n_energies,) Newton iterations used (summed over retries).
    residual: (n_energies,) final max-norm of the weak-form residual.
    """

    mesh: GraphMesh
    energies: np.ndarray
    gamma: np.ndarray
    gamma_tilde: np.ndarray
    iterations: np.ndarray
    residual: np.ndarray
    tolerance: float = 1e-10
    notes: list[str] = field(default_factory=list)

    @property
    def geometry(self) -> Geometry:
        return self.mesh.geometry

    def fields(self, wire: str | int, x) -> SpectralFields:
        """gamma, gamma~ and their derivatives at arc-length positions ``x`` (xi0) of ``wire``."""
        V, D = self.mesh.evaluation_matrices(wire, x)
        return SpectralFields(gamma=(V @ self.gamma.T).T, gamma_tilde=(V @ self.gamma_tilde.T).T,
                              dgamma=(D @ self.gamma.T).T, dgamma_tilde=(D @ self.gamma_tilde.T).T)

    def fields_at_quadrature(self) -> SpectralFields:
        """The same at every quadrature point of the mesh (see ``mesh.quadrature``)."""
        q = self.mesh.quadrature
        return SpectralFields(gamma=(q.values @ self.gamma.T).T,
                              gamma_tilde=(q.values @ self.gamma_tilde.T).T,
                              dgamma=(q.derivatives @ self.gamma.T).T,
                              dgamma_tilde=(q.derivatives @ self.gamma_tilde.T).T)

    def dos(self, wire: str | int, x) -> np.ndarray:
        """Density of states N(E, x)/N_0, shape (n_energies, n_points)."""
        return self.fields(wire, x).dos

    def theta(self, wire: str | int, x) -> np.ndarray:
        """Spectral angle (defined without phase gradients), shape (n_energies, n_points)."""
        return self.fields(wire, x).theta

    def kinetic_coefficients(self, wire: str | int, x):
        """D_L, D_T, Tcal, j_S, c_TL, c_TT at points of ``wire`` (see :mod:`femprox.coefficients`)."""
        from femprox.coefficients import kinetic_coefficients

        k = self.mesh._wire_index(wire)
        w = self.geometry.wires[k]
        return kinetic_coefficients(self.fields(k, x), gap=w.gap, phase=w.phase)


# ---------------------------------------------------------------------------------------
# The nonlinear problem
# ---------------------------------------------------------------------------------------

class _UsadelProblem:
    """Residual and Jacobian of the weak Riccati equations, vectorized over energies."""

    def __init__(self, mesh: GraphMesh):
        self.mesh = mesh
        geometry = mesh.geometry
        q = mesh.quadrature
        self.q = q
        g = q.wire_parameter(geometry, "conductance")
        self.diffusion = q.wire_parameter(geometry, "diffusion")
        self.gap = q.wire_parameter(geometry, "gap")
        self.phase_factor = np.exp(1j * q.wire_parameter(geometry, "phase"))
        self.dynes = q.wire_parameter(geometry, "dynes")
        # conductance-weighted test maps: residual = Bv.T @ (g w F0) + Bd.T @ (g w F1)
        self.test_values = (q.values.T @ _diag(g * q.weights)).tocsr()
        self.test_derivatives = (q.derivatives.T @ _diag(g * q.weights)).tocsr()
        weighted = _reweighted(q, g)
        self.forms = PointwiseForms(weighted, mesh.n_dofs)
        free = mesh.free_dofs
        self.selection, rows, cols = self.forms.entries_between(free, free, mesh.n_dofs)
        self.solver = BatchedBlockSolver(rows, cols, free.size, fields=2)
        self.stiffness = -(self.forms.derivative_derivative @ np.ones(q.weights.size))[self.selection]

    def complex_energy(self, energies: np.ndarray, extra_dynes: float) -> np.ndarray:
        """E + i (eta_wire + extra) at every quadrature point, shape (n_energies, n_points)."""
        return energies[:, None] + 1j * (self.dynes[None, :] + extra_dynes)

    def point_values(self, a, b):
        q = self.q
        return (q.values @ a.T).T, (q.values @ b.T).T, (q.derivatives @ a.T).T, (q.derivatives @ b.T).T

    def residual(self, a, b, energies, extra_dynes=0.0):
        """Weak residuals (n_energies, n_free, 2) of both Riccati equations."""
        av, bv, ad, bd = self.point_values(a, b)
        E = self.complex_energy(energies, extra_dynes)
        s = 1 - av * bv
        D, gap, ph = self.diffusion, self.gap, self.phase_factor
        f_a = 2 * bv * ad**2 / s + (2j * E * av - 1j * gap * (ph + av**2 / ph)) / D
        f_b = 2 * av * bd**2 / s + (2j * E * bv - 1j * gap * (1 / ph + ph * bv**2)) / D
        r_a = self.test_values @ f_a.T - self.test_derivatives @ ad.T
        r_b = self.test_values @ f_b.T - self.test_derivatives @ bd.T
        free = self.mesh.free_dofs
        return np.stack([r_a[free].T, r_b[free].T], axis=-1)

    def jacobian(self, a, b, energies, extra_dynes=0.0) -> np.ndarray:
        """Jacobian entries (n_energies, n_entries, 2, 2) on the free-free pattern."""
        av, bv, ad, bd = self.point_values(a, b)
        E = self.complex_energy(energies, extra_dynes)
        s = 1 - av * bv
        D, gap, ph = self.diffusion, self.gap, self.phase_factor
        vv, vd = self.forms.value_value, self.forms.value_derivative
        sel = self.selection

        def entries(form, coefficient):
            return (form @ coefficient.T)[sel].T

        J = np.empty((energies.size, sel.size, 2, 2), dtype=complex)
        J[..., 0, 0] = (self.stiffness
                        + entries(vv, 2 * bv**2 * ad**2 / s**2 + (2j * E - 2j * gap * av / ph) / D)
                        + entries(vd, 4 * bv * ad / s))
        J[..., 0, 1] = entries(vv, 2 * ad**2 / s**2)
        J[..., 1, 0] = entries(vv, 2 * bd**2 / s**2)
        J[..., 1, 1] = (self.stiffness
                        + entries(vv, 2 * av**2 * bd**2 / s**2 + (2j * E - 2j * gap * ph * bv) / D)
                        + entries(vd, 4 * av * bd / s))
        return J

    # -- boundary values and guesses ------------------------------------------------------
    def reservoir_values(self, energies, extra_dynes=0.0):
        """Dirichlet values (n_energies, n_dirichlet) of gamma and gamma~ at reservoirs."""
        geometry, mesh = self.mesh.geometry, self.mesh
        a = np.zeros((energies.size, mesh.dirichlet_dofs.size), dtype=complex)
        b = np.zeros_like(a)
        position = {dof: k for k, dof in enumerate(mesh.dirichlet_dofs)}
        for node in geometry.nodes:
            if node.kind is NodeKind.SUPERCONDUCTING_RESERVOIR:
                k = position[mesh.node_dof[node.name]]
                a[:, k], b[:, k] = bulk_riccati(energies + 1j * extra_dynes, node.gap, node.phase)
        return a, b

    def initial_guess(self, energies, extra_dynes=0.0):
        """Bulk BCS values inside S wires, zero in N wires, exact values at reservoirs."""
        mesh, geometry = self.mesh, self.mesh.geometry
        a = np.zeros((energies.size, mesh.n_dofs), dtype=complex)
        b = np.zeros_like(a)
        for k, wire in enumerate(geometry.wires):
            if wire.is_superconducting:
                dofs = np.unique(mesh.element_dofs[:, mesh.wire_elements(k)])
                ga, gb = bulk_riccati(energies + 1j * (wire.dynes + extra_dynes), wire.gap, wire.phase)
                a[:, dofs], b[:, dofs] = ga[:, None], gb[:, None]
        self.apply_reservoirs(a, b, energies, extra_dynes)
        return a, b

    def apply_reservoirs(self, a, b, energies, extra_dynes=0.0):
        ra, rb = self.reservoir_values(energies, extra_dynes)
        a[:, self.mesh.dirichlet_dofs] = ra
        b[:, self.mesh.dirichlet_dofs] = rb


def _diag(values: np.ndarray):
    import scipy.sparse as sp

    return sp.diags(values)


def _reweighted(q, factor):
    """A copy of the quadrature with weights multiplied by ``factor`` (per point)."""
    from dataclasses import replace

    return replace(q, weights=q.weights * factor)


# ---------------------------------------------------------------------------------------
# Newton's method on a batch of energies
# ---------------------------------------------------------------------------------------

@dataclass
class _NewtonResult:
    a: np.ndarray
    b: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    residual: np.ndarray
    reason: np.ndarray


def _merit(r: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum(np.abs(r) ** 2, axis=(1, 2)))


def _newton(problem: _UsadelProblem, a, b, energies, *, tol, max_iterations, extra_dynes=0.0):
    """Damped Newton for all energies together; converged energies drop out of the batch."""
    n = energies.size
    free = problem.mesh.free_dofs
    iterations = np.zeros(n, dtype=int)
    converged = np.zeros(n, dtype=bool)
    reason = np.array(["iteration limit reached"] * n, dtype=object)
    r = problem.residual(a, b, energies, extra_dynes)
    merit = _merit(r)
    active = np.flatnonzero(np.isfinite(merit))
    reason[~np.isfinite(merit)] = "initial guess gives a non-finite residual"
    for _ in range(max_iterations):
        if active.size == 0:
            break
        J = problem.jacobian(a[active], b[active], energies[active], extra_dynes)
        with np.errstate(all="ignore"):
            step = problem.solver.factor(J).solve(-r[active])
        bad = ~np.all(np.isfinite(step), axis=(1, 2))
        reason[active[bad]] = "singular Jacobian"
        keep = ~bad
        active, step = active[keep], step[keep]
        a_new, b_new, r_new, merit_new = _line_search(problem, a, b, r, merit, active, step,
                                                      energies, extra_dynes)
        iterations[active] += 1
        a[active], b[active], r[active], merit[active] = a_new, b_new, r_new, merit_new
        size = np.max(np.abs(step), axis=(1, 2))
        done = size < tol
        converged[active[done]] = True
        # a retarded solution has |gamma|, |gamma~| <= 1; larger values mean Newton is
        # heading for a spurious root: stop early and let the continuation take over
        modulus = np.maximum(np.abs(a[active]).max(axis=1), np.abs(b[active]).max(axis=1))
        spurious = modulus > 1 + np.where(done, 1e-6, 0.5)
        converged[active[done & spurious]] = False
        reason[active[spurious]] = "not the retarded solution (|gamma| > 1)"
        active = active[~(done | spurious)]
    residual = np.max(np.abs(r), axis=(1, 2))
    return _NewtonResult(a, b, converged, iterations, residual, reason)


def _line_search(problem, a, b, r, merit, active, step, energies, extra_dynes):
    """Backtracking on the residual norm, one step length per energy."""
    free = problem.mesh.free_dofs
    lam = np.ones(active.size)
    a_act, b_act = a[active], b[active]
    pending = np.arange(active.size)
    a_new, b_new = a_act.copy(), b_act.copy()
    r_new = np.empty_like(r[active])
    merit_new = np.empty(active.size)
    for attempt in range(8):
        a_try, b_try = a_act[pending].copy(), b_act[pending].copy()
        a_try[:, free] += lam[pending, None] * step[pending, :, 0]
        b_try[:, free] += lam[pending, None] * step[pending, :, 1]
        with np.errstate(all="ignore"):
            r_try = problem.residual(a_try, b_try, energies[active[pending]], extra_dynes)
        m_try = _merit(r_try)
        ok = np.isfinite(m_try) & (m_try <= (1 - 1e-4 * lam[pending]) * merit[active[pending]])
        if attempt == 7:
            ok = np.isfinite(m_try)
        idx = pending[ok]
        a_new[idx], b_new[idx], r_new[idx], merit_new[idx] = a_try[ok], b_try[ok], r_try[ok], m_try[ok]
        pending = pending[~ok]
        if pending.size == 0:
            break
        lam[pending] *= 0.5
    # energies whose every trial failed keep their old state
    a_new[pending], b_new[pending] = a_act[pending], b_act[pending]
    r_new[pending], merit_new[pending] = r[active[pending]], merit[active[pending]]
    return a_new, b_new, r_new, merit_new


# ---------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------

_DYNES_CONTINUATION = (1.0, 0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 0.0)


def solve_spectral(system: Geometry | GraphMesh, energies, *, tol: float = 1e-10,
                   max_iterations: int = 30) -> SpectralSolution:
    """Solve the retarded Usadel equation at every energy of ``energies`` (Delta0).

    ``system`` is a geometry (meshed with its own mesh options) or a prepared GraphMesh.
    ``tol`` is the Newton step size (max over DOFs of |delta gamma|) that counts as
    converged; Newton converges quadratically, so the final error is far below ``tol``.

    Raises :class:`SpectralConvergenceError` naming the energies that failed.
    """
    mesh = system if isinstance(system, GraphMesh) else build_mesh(system)
    energies = _check_energies(mesh.geometry, energies)
    problem = _UsadelProblem(mesh)
    a, b = problem.initial_guess(energies)
    result = _newton(problem, a, b, energies, tol=tol, max_iterations=max_iterations)
    notes: list[str] = []
    result = _retry_by_dynes_continuation(problem, result, energies, tol, max_iterations, notes)
    result = _retry_from_neighbours(problem, result, energies, tol, max_iterations, notes)
    _raise_if_failed(mesh, result, energies)
    return SpectralSolution(mesh=mesh, energies=energies, gamma=result.a, gamma_tilde=result.b,
                            iterations=result.iterations, residual=result.residual,
                            tolerance=tol, notes=notes)


def _check_energies(geometry: Geometry, energies) -> np.ndarray:
    energies = np.atleast_1d(np.asarray(energies, dtype=float))
    if energies.ndim != 1 or energies.size == 0:
        raise ValueError("energies must be a non-empty 1D array")
    if not np.all(np.isfinite(energies)):
        raise ValueError(f"energies must be finite; got {energies[~np.isfinite(energies)][:5]}")
    for node in geometry.nodes:
        if node.kind is NodeKind.SUPERCONDUCTING_RESERVOIR:
            hit = np.isclose(np.abs(energies), node.gap, rtol=0, atol=1e-12 * node.gap)
            if np.any(hit):
                raise ValueError(f"energy {energies[hit][0]} coincides with the gap of superconducting "
                                 f"reservoir '{node.name}' (Delta = {node.gap}) where the BCS density "
                                 "of states diverges; shift the energy grid slightly")
    return energies


def _retry_from_neighbours(problem, result, energies, tol, max_iterations, notes):
    """Restart failed energies from the solution at the nearest converged energy."""
    for _ in range(6):
        failed = np.flatnonzero(~result.converged)
        good = np.flatnonzero(result.converged)
        if failed.size == 0 or good.size == 0:
            return result
        nearest = good[np.argmin(np.abs(energies[failed, None] - energies[None, good]), axis=1)]
        a, b = result.a[nearest].copy(), result.b[nearest].copy()
        problem.apply_reservoirs(a, b, energies[failed])
        retry = _newton(problem, a, b, energies[failed], tol=tol, max_iterations=max_iterations)
        newly = retry.converged.sum()
        _merge(result, retry, failed)
        notes.append(f"{newly} of {failed.size} energies converged when restarted from a neighbour")
        log.info(notes[-1])
        if newly == 0:
            return result
    return result


def _retry_by_dynes_continuation(problem, result, energies, tol, max_iterations, notes):
    """Solve failed energies with an extra Dynes rate lowered step by step to zero."""
    failed = np.flatnonzero(~result.converged)
    if failed.size == 0:
        return result
    E = energies[failed]
    a, b = problem.initial_guess(E, _DYNES_CONTINUATION[0])
    for extra in _DYNES_CONTINUATION:
        problem.apply_reservoirs(a, b, E, extra)
        stage = _newton(problem, a, b, E, tol=tol, max_iterations=max_iterations, extra_dynes=extra)
        a, b = stage.a, stage.b
    _merge(result, stage, failed)
    notes.append(f"{stage.converged.sum()} of {failed.size} energies converged by Dynes continuation")
    log.info(notes[-1])
    return result


def _merge(result: _NewtonResult, retry: _NewtonResult, index: np.ndarray) -> None:
    ok = retry.converged
    result.a[index[ok]] = retry.a[ok]
    result.b[index[ok]] = retry.b[ok]
    result.converged[index[ok]] = True
    result.iterations[index] += retry.iterations
    result.residual[index[ok]] = retry.residual[ok]
    result.reason[index[~ok]] = retry.reason[~ok]


def _raise_if_failed(mesh: GraphMesh, result: _NewtonResult, energies: np.ndarray) -> None:
    failed = np.flatnonzero(~result.converged)
    if failed.size == 0:
        return
    shown = ", ".join(f"E={energies[k]:.6g} ({result.reason[k]}, residual {result.residual[k]:.2e})"
                      for k in failed[:8])
    more = f" and {failed.size - 8} more" if failed.size > 8 else ""
    raise SpectralConvergenceError(
        f"Usadel solver did not converge for {failed.size} of {energies.size} energies on "
        f"'{mesh.geometry.name}': {shown}{more}. Try a finer mesh, a small Dynes rate, or "
        "avoid energies exactly at a gap edge.", energies[failed])
