"""Spectral stage: the retarded Usadel equation on a graph mesh, all energies at once.

Riccati parametrization (docs/physics.md section 3), with a = gamma, b = gamma~, s = 1 - a b::

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
block solver of :mod:`femprox.linalg.block`. Every real energy is reached by path-following in an
extra Dynes rate lowered to zero (``_DYNES_PATH``, with a shorter last step next to small
gaps: :func:`_dynes_path`; why: see there), with smaller steps for energies that fail;
complex energies in the upper half plane are solved directly. Each stage of the path starts
from the analytic continuation of the previous one (the extra rate enters only through
E + i eta, so d/d eta = i d/dE: :func:`_continuation`), which cuts Newton's iterations by a
third. Energies added between solved ones (the refinement rounds of an
adaptive energy grid) are first tried directly at the final rate from the interpolation of
their solved neighbours, with a branch check (``neighbours`` of :func:`solve_spectral`,
:func:`_warm_start`); only those that fail it take the Dynes path.
"""

from __future__ import annotations

import copy
import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp

from femprox.geometry.network import Geometry, NodeKind, gaps_of
from femprox.interpolation import InterpolatingSpline
from femprox.linalg.block import block_solver
from femprox.mesh import (ASSEMBLY_CACHE, GraphMesh, array_digest, build_mesh, contact_pairs, extend_pattern,
                           pointwise_forms)
from femprox.physics.bulk import (PointParameters, constant_derivative_terms, covariant_derivatives,
                                  riccati_densities, riccati_jacobian_densities)
from femprox.physics.contacts import FAR, NEAR
from femprox.physics.pair_potential import PairPotentialField
from femprox.physics.reservoirs import bulk_riccati, reservoir_riccati

log = logging.getLogger(__name__)


class SpectralConvergenceError(RuntimeError):
    """Newton's method failed for some energies; the message lists them and why."""

    def __init__(self, message: str, energies: np.ndarray):
        super().__init__(message)
        self.energies = energies

    def __reduce__(self):
        # picklable, so that the error crosses process pools (parallel sweeps)
        return type(self), (str(self), self.energies)


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
    pair_potential: "PairPotentialField | None" = None
    """The pair-potential field solved with (None: the wires' rigid gaps and phases)."""

    @property
    def geometry(self) -> Geometry:
        return self.mesh.geometry

    def fields(self, wire: str | int, x) -> SpectralFields:
        """gamma, gamma~ and their gauge-covariant derivatives (``dgamma`` = gamma' - i q
        gamma, ``dgamma_tilde`` = gamma~' + i q gamma~, q the vector potential) at arc-length
        positions ``x`` (xi0) of ``wire``."""
        k = self.mesh.wire_index(wire)
        V, D = self.mesh.evaluation_matrices(k, x)
        x = np.atleast_1d(np.asarray(x, dtype=float))
        parameters = PointParameters.at_points(self.geometry, np.full(x.size, k), x)
        return _covariant_fields(V, D, self.gamma, self.gamma_tilde, parameters)

    def fields_at_quadrature(self) -> SpectralFields:
        """The same at every quadrature point of the mesh (see ``mesh.quadrature``)."""
        q = self.mesh.quadrature
        parameters = PointParameters.at_points(self.geometry, q.wire_index, q.position)
        return _covariant_fields(q.values, q.derivatives, self.gamma, self.gamma_tilde, parameters)

    def dos(self, wire: str | int, x) -> np.ndarray:
        """Density of states N(E, x)/N_0, shape (n_energies, n_points)."""
        return self.fields(wire, x).dos

    def theta(self, wire: str | int, x) -> np.ndarray:
        """Spectral angle (defined without phase gradients), shape (n_energies, n_points)."""
        return self.fields(wire, x).theta

    def kinetic_coefficients(self, wire: str | int, x):
        """D_L, D_T, Tcal, j_S, c_TL, c_TT at points of ``wire`` (see :mod:`femprox.kinetic.coefficients`)."""
        from femprox.kinetic.coefficients import kinetic_coefficients

        k = self.mesh.wire_index(wire)
        x = np.atleast_1d(np.asarray(x, dtype=float))
        parameters = PointParameters.at_points(self.geometry, np.full(x.size, k), x)
        if self.pair_potential is not None:
            delta = self.pair_potential.at(k, x)
            parameters = replace(parameters, gap=np.abs(delta)[:, None],
                                 phase_factor=np.exp(1j * np.angle(delta))[:, None])
        return kinetic_coefficients(self.fields(k, x), gap=parameters.gap.T,
                                    phase=np.angle(parameters.phase_factor).T)


def _covariant_fields(values, derivatives, gamma, gamma_tilde, parameters: PointParameters) -> SpectralFields:
    """Point values and covariant derivatives from DOF values (n_energies, n_dofs)."""
    a, b = (values @ gamma.T), (values @ gamma_tilde.T)
    da, db = covariant_derivatives(a, b, derivatives @ gamma.T, derivatives @ gamma_tilde.T, parameters)
    return SpectralFields(gamma=a.T, gamma_tilde=b.T, dgamma=da.T, dgamma_tilde=db.T)


# ---------------------------------------------------------------------------------------
# The nonlinear problem
# ---------------------------------------------------------------------------------------

def _times_complex(real_sparse: sp.csr_matrix, values: np.ndarray) -> np.ndarray:
    """``real_sparse @ values`` for a complex C-ordered 2D array, done on its float view
    (real and imaginary parts as neighbouring columns): 2.5x faster than scipy's complex
    product, and exactly the same numbers."""
    values = np.ascontiguousarray(values, dtype=np.complex128)
    return (real_sparse @ values.view(np.float64)).view(np.complex128)


class _FreeRowForms:
    """The parts of the weak Riccati forms that depend on the mesh and the wires'
    conductances only (shared through ``ASSEMBLY_CACHE`` by the solves of a sweep):
    conductance-weighted test maps restricted to the free rows (residual = Bv.T @ (g w value
    density) - Bd.T @ (g w flux density)), the free-free entries (rows, cols) of the
    pointwise forms and their stiffness term."""

    def __init__(self, q, g: np.ndarray, free: np.ndarray, n_dofs: int):
        weights = sp.diags(g * q.weights)
        self.test_values = (q.values.T @ weights).tocsr()[free]
        self.test_derivatives = (q.derivatives.T @ weights).tocsr()[free]
        forms = pointwise_forms(replace(q, weights=q.weights * g), n_dofs)  # the kinetic stage's too
        selection, self.rows, self.cols = forms.entries_between(free, free, n_dofs)
        self.value_value = forms.value_value[selection]
        self.value_derivative = forms.value_derivative[selection]
        self.derivative_value = forms.derivative_value[selection]
        self.stiffness = -(forms.derivative_derivative[selection] @ np.ones(q.weights.size))


class _UsadelProblem:
    """Residual and Jacobian of the weak Riccati equations, vectorized over energies.

    Pure finite-element assembly: the pointwise physics (bulk terms, covariant derivatives)
    comes from :mod:`femprox.physics.bulk`, boundary values from
    :mod:`femprox.physics.reservoirs`, and the point terms of contacts from the contact
    objects (:mod:`femprox.physics.contacts`). Arrays keep the energy as their *last* axis
    (DOFs x energies), so that every sparse product with the quadrature maps handles all
    energies in one call.
    """

    def __init__(self, mesh: GraphMesh):
        self.mesh = mesh
        geometry = mesh.geometry
        q = mesh.quadrature
        self.q = q
        g = q.wire_parameter(geometry, "conductance")
        self.parameters = PointParameters.at_points(geometry, q.wire_index, q.position)
        free = mesh.free_dofs
        forms = ASSEMBLY_CACHE.get(array_digest("free-row forms", mesh.n_dofs, free, g, q.weights, q.local_dofs,
                                                q.local_values, q.local_derivatives),
                                   q.weights.size, lambda: _FreeRowForms(q, g, free, mesh.n_dofs))
        self.test_values, self.test_derivatives = forms.test_values, forms.test_derivatives
        self.value_value, self.value_derivative = forms.value_value, forms.value_derivative
        shift_a, shift_b = constant_derivative_terms(self.parameters)
        self.constant_a = (forms.stiffness + forms.derivative_value @ shift_a)[:, None]
        self.constant_b = (forms.stiffness + forms.derivative_value @ shift_b)[:, None]
        rows, cols = forms.rows, forms.cols
        self.n_element_entries = rows.size
        rows, cols = self._add_contact_entries(rows, cols)
        self.n_entries = rows.size
        self.solver = block_solver(rows, cols, free.size, fields=2, separators=np.searchsorted(free, mesh.junction_dofs))

    def _add_contact_entries(self, rows, cols):
        """Extend the free-free pattern by the contacts' couplings; remember where they go."""
        mesh = self.mesh
        self.contacts = mesh.contacts
        position = np.full(mesh.n_dofs, -1)
        position[mesh.free_dofs] = np.arange(mesh.free_dofs.size)
        pair_rows, pair_cols = contact_pairs(self.contacts)
        pr, pc = position[pair_rows], position[pair_cols]
        inside = (pr >= 0) & (pc >= 0)
        rows, cols, index = extend_pattern(rows, cols, pr[inside], pc[inside])
        self.contact_entries = np.full(pair_rows.size, -1)
        self.contact_entries[inside] = index
        self.contact_rows = position[np.stack([[c.near_dof, c.far_dof] for c in self.contacts])] \
            if self.contacts else np.empty((0, 2), dtype=int)
        self.contact_groups = self._contact_groups()
        return rows, cols

    def _contact_groups(self) -> list[tuple[type, list, np.ndarray, np.ndarray]]:
        """Contacts grouped by class, evaluated one group per call (``riccati_fluxes_of``):
        (class, contact objects, their indices into ``self.contacts``, (near, far) DOFs)."""
        groups: dict[type, list[int]] = {}
        for k, c in enumerate(self.contacts):
            groups.setdefault(type(c.contact), []).append(k)
        return [(kind, [self.contacts[k].contact for k in members], np.array(members),
                 np.array([[self.contacts[k].near_dof, self.contacts[k].far_dof] for k in members]))
                for kind, members in groups.items()]

    def _contact_fluxes(self, a, b, derivatives: bool):
        """Per contact group: (indices into ``self.contacts``, flux (k, side, field, n_energies),
        jacobian (k, side, field, other side, other field, n_energies) or None)."""
        for kind, contacts, members, dofs in self.contact_groups:
            near, far = dofs[:, NEAR], dofs[:, FAR]
            flux, jacobian = kind.riccati_fluxes_of(contacts, a[near], b[near], a[far], b[far], derivatives)
            yield members, flux, jacobian

    def complex_energy(self, energies: np.ndarray, extra_dynes: float) -> np.ndarray:
        """E + i (eta_wire + extra) at every quadrature point, shape (n_points, n_energies)."""
        return energies[None, :] + 1j * (self.parameters.dynes + extra_dynes)

    def point_values(self, a, b):
        """a, b, a', b' at the quadrature points, each (n_points, n_energies)."""
        n = a.shape[1]
        both = np.concatenate([a, b], axis=1)
        values, derivatives = _times_complex(self.q.values, both), _times_complex(self.q.derivatives, both)
        return values[:, :n], values[:, n:], derivatives[:, :n], derivatives[:, n:]

    def residual(self, a, b, energies, extra_dynes=0.0):
        """Weak residuals (n_free, 2, n_energies) of both Riccati equations."""
        av, bv, ad, bd = self.point_values(a, b)
        density = riccati_densities(av, bv, ad, bd, self.complex_energy(energies, extra_dynes), self.parameters)
        r = (_times_complex(self.test_values, np.concatenate(list(density.value), axis=1))
             - _times_complex(self.test_derivatives, np.concatenate(list(density.flux), axis=1)))
        r = r.reshape(r.shape[0], 2, -1)
        for members, flux, _ in self._contact_fluxes(a, b, derivatives=False):
            for side in (NEAR, FAR):
                rows = self.contact_rows[members, side]
                inside = rows >= 0
                np.add.at(r, rows[inside], flux[inside, side])  # contacts may share a far DOF
        return r

    def jacobian(self, a, b, energies, extra_dynes=0.0) -> np.ndarray:
        """Jacobian entries (n_entries, 2, 2, n_energies) on the free-free pattern."""
        av, bv, ad, bd = self.point_values(a, b)
        density = riccati_jacobian_densities(av, bv, ad, bd, self.complex_energy(energies, extra_dynes),
                                             self.parameters)
        n = energies.size
        value_terms = np.concatenate(list(density.value_value.reshape((4,) + density.value_value.shape[2:])), axis=1)
        J = _times_complex(self.value_value, value_terms).reshape(-1, 2, 2, n)
        slope = _times_complex(self.value_derivative, np.concatenate(list(density.value_derivative), axis=1))
        slope = slope.reshape(-1, 2, n)
        J[:, 0, 0] += self.constant_a + slope[:, 0]
        J[:, 1, 1] += self.constant_b + slope[:, 1]
        if self.contacts:
            J = np.concatenate([J, np.zeros((self.n_entries - J.shape[0], 2, 2, n), dtype=complex)])
            self._add_contact_jacobian(J, a, b)
        return J

    def _add_contact_jacobian(self, J, a, b) -> None:
        for members, _, jacobian in self._contact_fluxes(a, b, derivatives=True):
            for pair, (side, other) in enumerate(((NEAR, NEAR), (NEAR, FAR), (FAR, NEAR), (FAR, FAR))):
                entries = self.contact_entries[4 * members + pair]
                inside = entries >= 0
                np.add.at(J, entries[inside], jacobian[inside, side, :, other])

    # -- boundary values and guesses ------------------------------------------------------
    def reservoir_values(self, energies, extra_dynes=0.0):
        """Dirichlet values (n_dirichlet, n_energies) of gamma and gamma~ at reservoirs."""
        geometry, mesh = self.mesh.geometry, self.mesh
        a = np.zeros((mesh.dirichlet_dofs.size, energies.size), dtype=complex)
        b = np.zeros_like(a)
        position = {dof: k for k, dof in enumerate(mesh.dirichlet_dofs)}
        for node in geometry.terminals:
            k = position[mesh.node_dof[node.name]]
            a[k], b[k] = reservoir_riccati(node, energies, extra_dynes)
        return a, b

    def initial_guess(self, energies, extra_dynes=0.0):
        """Bulk BCS values inside S wires, zero in N wires, exact values at reservoirs."""
        mesh, geometry = self.mesh, self.mesh.geometry
        a = np.zeros((mesh.n_dofs, energies.size), dtype=complex)
        b = np.zeros_like(a)
        for k, wire in enumerate(geometry.wires):
            if wire.is_superconducting:
                dofs = mesh.constant_dofs(k)
                phase = 0.5 * (wire.phase + wire.end_phase)
                ga, gb = bulk_riccati(energies + 1j * (wire.dynes + extra_dynes), wire.gap, phase)
                a[dofs], b[dofs] = ga[None, :], gb[None, :]
        self.apply_reservoirs(a, b, energies, extra_dynes)
        return a, b

    def apply_reservoirs(self, a, b, energies, extra_dynes=0.0):
        ra, rb = self.reservoir_values(energies, extra_dynes)
        a[self.mesh.dirichlet_dofs] = ra
        b[self.mesh.dirichlet_dofs] = rb


# ---------------------------------------------------------------------------------------
# Newton's method on a batch of energies
# ---------------------------------------------------------------------------------------

@dataclass
class _NewtonResult:
    """State of a batch: a, b are (n_dofs, n_energies); the rest per energy."""

    a: np.ndarray
    b: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    residual: np.ndarray
    reason: np.ndarray


def _remaining_error(size: np.ndarray, earlier: np.ndarray, chord: np.ndarray) -> np.ndarray:
    """Estimated error left after a step of ``size`` that followed one of ``earlier``.

    Newton, deep in the quadratic regime (step < _QUADRATIC_STEP and shrinking fast):
    step_k ~ C step_{k-1}^2, so about step_k^3 / step_{k-1}^2 remains. Chord iterations
    (``chord``, per energy) converge linearly with rate q = step_k / step_{k-1}: about
    step_k q / (1 - q) remains. Stopping on the estimate saves the iteration that would only
    confirm convergence.
    """
    with np.errstate(all="ignore"):
        rate = np.where(np.isfinite(earlier), size / earlier, np.inf)
        linear = np.where(rate < _CHORD_RATE, size * rate / (1 - rate), np.inf)
        quadratic = np.where((rate < 0.1) & (size < _QUADRATIC_STEP), size * rate**2, np.inf)
        # a Newton step converges at least as fast as the linear model says
        return np.where(chord, linear, np.minimum(linear, quadratic))


def _merit(r: np.ndarray) -> np.ndarray:
    return np.sqrt(np.sum(np.abs(r) ** 2, axis=(0, 1)))


class _Factorizations:
    """Jacobian factorizations of a Newton batch; each energy uses the latest one made for it."""

    def __init__(self, problem: _UsadelProblem, n: int):
        self.problem = problem
        self.groups: list = []           # (BlockLU, sorted energy indices) or None when unused
        self.owner = np.full(n, -1)

    def refactor(self, a, b, energies, extra_dynes, which: np.ndarray) -> None:
        J = self.problem.jacobian(a[:, which], b[:, which], energies[which], extra_dynes)
        self.groups.append((self.problem.solver.factor(J, batch_last=True), which.copy()))
        self.owner[which] = len(self.groups) - 1

    def solve(self, r: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Newton steps (n_free, 2, n_active) for the residuals r of the ``active`` energies."""
        step = np.empty(r.shape[:2] + (active.size,), dtype=complex)
        owners = self.owner[active]
        for g in np.unique(owners):
            lu, members = self.groups[g]
            mine = np.flatnonzero(owners == g)
            place = np.searchsorted(members, active[mine])
            rhs = -np.moveaxis(r[:, :, active[mine]], -1, 0)
            if 2 * mine.size >= members.size:
                # most of the group is still active: solve for all of it (zero right-hand sides
                # for the rest) rather than copy the factors of the active part
                padded = np.zeros((members.size,) + rhs.shape[1:], dtype=rhs.dtype)
                padded[place] = rhs
                step[:, :, mine] = np.moveaxis(lu.solve(padded)[place], 0, -1)
            else:
                step[:, :, mine] = np.moveaxis(lu.subset(place).solve(rhs), 0, -1)
        for g in set(range(len(self.groups))) - set(owners.tolist()):
            self.groups[g] = None  # release factors no energy uses any more
        return step


def _newton(problem: _UsadelProblem, a, b, energies, *, tol, max_iterations, extra_dynes=0.0,
            reuse_jacobian=False):
    """Damped Newton for all energies together; converged energies drop out of the batch.

    With ``reuse_jacobian`` (a good starting point, as on the later stages of the Dynes
    path) an energy keeps its factorization while its step still shrinks by _CHORD_RATE per
    iteration (chord iterations, linear convergence, a fraction of the cost); only the
    energies that slow down are refactored.
    """
    n = energies.size
    iterations = np.zeros(n, dtype=int)
    converged = np.zeros(n, dtype=bool)
    reason = np.array(["iteration limit reached"] * n, dtype=object)
    with np.errstate(all="ignore"):
        r = problem.residual(a, b, energies, extra_dynes)
    merit = _merit(r)
    active = np.flatnonzero(np.isfinite(merit))
    reason[~np.isfinite(merit)] = "initial guess gives a non-finite residual"
    previous_size = np.full(n, np.inf)
    needs_jacobian = np.ones(n, dtype=bool)
    factorizations = _Factorizations(problem, n)
    for iteration in range(max_iterations):
        if active.size == 0:
            break
        fresh = needs_jacobian[active] | (not reuse_jacobian)
        with np.errstate(all="ignore"):
            if np.any(fresh):
                factorizations.refactor(a, b, energies, extra_dynes, active[fresh])
            step = factorizations.solve(r, active)
        bad = ~np.all(np.isfinite(step), axis=(0, 1))
        reason[active[bad]] = "singular Jacobian"
        active, step, fresh = active[~bad], step[..., ~bad], fresh[~bad]
        damped = _line_search(problem, a, b, r, merit, active, step, energies, extra_dynes) < 1
        iterations[active] += 1
        size = np.max(np.abs(step), axis=(0, 1))
        earlier = previous_size[active]
        done = (size < tol) | (_remaining_error(size, earlier, ~fresh) < tol)
        previous_size[active] = size
        converged[active[done]] = True
        spurious = _not_retarded(problem, a[:, active], b[:, active], done, iteration)
        converged[active[done & spurious]] = False
        reason[active[spurious]] = "far from a retarded solution (|gamma| > 1.5 or DOS < -0.5)"
        # a chord step that shrank too slowly asks for a new Jacobian: slower than _CHORD_RATE,
        # or so slowly that more than _CHORD_STEPS further chord steps would be needed (each
        # iteration costs the whole batch a pass, so stragglers are expensive)
        with np.errstate(all="ignore"):
            rate = size / earlier
            chord_steps = np.log(tol / size) / np.log(rate)
        # and a damped step (far from the root) asks for one too: a chord step from there
        # was seen to fail the whole line search (8 residuals for no progress) every time
        needs_jacobian[active] = (~fresh & ~((rate < _CHORD_RATE) & (chord_steps <= _CHORD_STEPS))) | damped
        active = active[~(done | spurious)]
    residual = np.max(np.abs(r), axis=(0, 1))
    return _NewtonResult(a, b, converged, iterations, residual, reason)


# A retarded solution has |gamma|, |gamma~| <= 1 and a non-negative density of states.
# Every energy is reached by path-following from strong damping, which stays on the retarded
# branch, so these bounds are not used to pick the branch; they catch discretization
# pathologies. Right at gap and minigap edges the discrete solution leaves the unit circle
# |gamma| = 1 by the discretization error (DOS ~ -1e-2 on coarse meshes, falling as h^4):
# that is reported in the solution's notes (``_BOUNDS_SLACK``). A converged solution far
# outside (|gamma| > 1.5 or DOS < -0.5, e.g. a pole 1 - gamma gamma~ = 0 found on a too
# coarse mesh) counts as failed, and so does an iterate still that far off after a few
# Newton iterations.
_BOUNDS_SLACK = 2e-2
_FAR_OFF_MODULUS = 1.5
_FAR_OFF_DOS = -0.5
_ABANDON_AFTER = 5


def _bounds_violation(problem, a, b) -> tuple[np.ndarray, np.ndarray]:
    """Per energy: max |gamma| (or |gamma~|) and min DOS over the quadrature points."""
    # point values: hierarchical (order > 2) DOFs are not values of the function
    a, b, _, _ = problem.point_values(a, b)
    modulus = np.maximum(np.abs(a).max(axis=0), np.abs(b).max(axis=0))
    with np.errstate(all="ignore"):
        dos = np.real((1 + a * b) / (1 - a * b)).min(axis=0)
    return modulus, dos


def _not_retarded(problem, a, b, converged: np.ndarray, iteration: int) -> np.ndarray:
    """Per energy: far off the retarded bounds, checked for converged energies (and for all
    from iteration _ABANDON_AFTER on)."""
    checked = np.flatnonzero(converged | (iteration >= _ABANDON_AFTER))
    result = np.zeros(converged.size, dtype=bool)
    if checked.size:
        modulus, dos = _bounds_violation(problem, a[:, checked], b[:, checked])
        result[checked] = (modulus > _FAR_OFF_MODULUS) | (dos < _FAR_OFF_DOS) | ~np.isfinite(dos)
    return result


def _line_search(problem, a, b, r, merit, active, step, energies, extra_dynes, attempts=8) -> np.ndarray:
    """Backtracking on the residual norm, one step length per energy; updates in place and
    returns the step lengths taken (1 for full steps), per active energy."""
    free = problem.mesh.free_dofs
    lam = np.ones(active.size)
    pending = np.arange(active.size)
    for attempt in range(attempts):
        cols = active[pending]
        a_try = a[:, cols]  # fancy indexing copies
        b_try = b[:, cols]
        a_try[free] += lam[pending] * step[:, 0, pending]
        b_try[free] += lam[pending] * step[:, 1, pending]
        with np.errstate(all="ignore"):
            r_try = problem.residual(a_try, b_try, energies[cols], extra_dynes)
        m_try = _merit(r_try)
        ok = np.isfinite(m_try)
        if attempt < attempts - 1:
            ok &= m_try <= (1 - 1e-4 * lam[pending]) * merit[cols]
        accepted = cols[ok]
        if np.all(ok):  # the usual case (full steps): no second copy of the accepted columns
            a[:, accepted], b[:, accepted] = a_try, b_try
            r[:, :, accepted], merit[accepted] = r_try, m_try
        else:
            a[:, accepted], b[:, accepted] = a_try[:, ok], b_try[:, ok]
            r[:, :, accepted], merit[accepted] = r_try[:, :, ok], m_try[ok]
        pending = pending[~ok]
        if pending.size == 0:
            break
        lam[pending] *= 0.5
    return lam


# ---------------------------------------------------------------------------------------
# Public entry point
# ---------------------------------------------------------------------------------------

# Path in the extra Dynes rate (Delta0) along which every energy is solved. With strong
# damping the Usadel problem has a single, smooth solution that Newton finds from the
# bulk/normal guess; lowering the damping step by step follows that solution into the
# retarded one at the physical rate. Solving at the physical rate directly is not safe: above
# a gap, in S wires with reflecting ends, Newton from the bulk guess was seen to converge to
# spurious roots that look physical (|gamma| < 1, positive DOS).
_DYNES_PATH = (0.3, 0.03, 0.0)
# ... with a shorter last step where a gap is not much larger than the smallest Thouless energy
# (below _SCALING_GAPS of it; :func:`_dynes_path`). Just below the edge of such a gap (the
# paper's shortcut model of Fig. 4 next to phi = pi: a reservoir gap of 0.005-0.04 at the end
# of an N wire with E_Th 0.08) the step from 0.03 straight to 0 ended on other roots at 1-3
# energies per solve (E/gap = 0.9975-0.99997; G/G_N up to 3.5e-4 off). Against a path of 24
# geometric stages down to 1e-7, every result of `femprox paper` agrees to 5e-11 with these
# paths (a last stage of 0.003 still left 4.7e-6; starting at 0.1 put the house 3e-2 off).
# Elsewhere the extra stage changes nothing and costs 7-15% (a T-junction curve: gap/E_Th =
# 50 at Delta0; the house: 12.5; the failures seen were at gap/E_Th <= 0.55).
_SHORT_LAST_STEP_PATH = (0.3, 0.03, 0.002, 0.0)
_PATH_TOLERANCE = 1e-3   # Newton step accepted on intermediate stages of the path
_MAX_BISECTIONS = 6
_COARSE_SPACING = 1 / 3  # energy spacing of the first stage's coarse subset, in units of its rate
_QUADRATIC_STEP = 1e-4  # Newton steps below this count as the quadratic regime
_CHORD_RATE = 0.15  # chord iterations continue while every step shrinks at least this fast
_CHORD_STEPS = 2  # ... and while that rate reaches the tolerance in this many more steps
_EDGE_DYNES = 1e-5  # extra Dynes rate accepted at gap edges (see _keep_broadened)
# orders of the analytic continuation between stages offered to the residual test (a cubic
# spline has three derivatives); first order never won on the T-junction and the house
_TAYLOR_ORDERS = (2, 3)


MEMORY_BUDGET = 512 * 2**20
"""Working memory (bytes) a spectral solve may use for its energy batches. Memory grows with
DOFs x energies (Jacobians and block factors of every energy); when a batch would need more,
the energies are solved in consecutive chunks that fit (same results, little extra time:
each chunk still spans hundreds of wires per numpy call on large networks)."""


class ProblemTooLargeError(MemoryError, ValueError):
    """A problem would need more memory than the machine has, even one energy at a time.

    Also a ValueError: the input (network and mesh) is what must change, and the command
    line reports it as one ``femprox: error: ...`` line like other bad input."""


def solve_spectral(system: Geometry | GraphMesh, energies, *, tol: float = 1e-10,
                   max_iterations: int = 30, threads: int = 1, memory_budget: float = MEMORY_BUDGET,
                   pair_potential: PairPotentialField | None = None,
                   neighbours: "tuple[np.ndarray, ...] | None" = None) -> SpectralSolution:
    """Solve the retarded Usadel equation at every energy of ``energies`` (Delta0).

    Energies are real, or complex in the upper half plane (e.g. Matsubara frequencies
    i omega_n, where the retarded functions continue analytically).

    ``system`` is a geometry (meshed with its own mesh options) or a prepared GraphMesh.
    ``tol`` is the final Newton step size (max over DOFs of |delta gamma|) that counts as
    converged; Newton converges quadratically, so the final error is far below ``tol``.

    All energies are solved together. Each follows a path in an extra Dynes rate
    (:func:`_dynes_path`) down to the wires' own rate; a stage that fails for some energies is
    split into smaller steps for those energies only. ``threads`` > 1 splits the energies
    into that many interleaved batches solved in parallel threads (numpy's batched linear
    algebra releases the GIL: 1.5x faster on 2 cores for a few hundred energies); leave it
    at 1 inside process pools. ``memory_budget`` (bytes) bounds the working memory: larger
    jobs are solved in chunks of neighbouring energies (see ``MEMORY_BUDGET``).

    ``pair_potential`` (a :class:`~femprox.physics.pair_potential.PairPotentialField` made on
    this mesh) replaces the wires' rigid gaps and phases, e.g. by a self-consistent Delta(x)
    (:mod:`femprox.selfconsistency.gap_equation`); the solution keeps it for the kinetic stage.

    Raises :class:`SpectralConvergenceError` naming the energies that failed, and
    :class:`ProblemTooLargeError` if even one energy would not fit into the machine's memory.

    ``neighbours`` = (energies (k,), gamma (k, n_dofs), gamma~ (k, n_dofs)[, excluded (m, 2)]):
    converged solutions on this mesh (same pair potential) at other real energies, e.g. the
    nodes of an energy grid before a refinement round, or guesses from a similar problem
    (:func:`gap_scaled_neighbours`); energies inside the intervals ``excluded`` are not
    warm-started. Real energies between them are first tried from the
    interpolation of their neighbours directly at the final Dynes rate (:func:`_warm_start`,
    with a branch check); those that do not pass take the whole Dynes path.
    """
    mesh = system if isinstance(system, GraphMesh) else build_mesh(system)
    if pair_potential is not None:
        pair_potential.check_mesh(mesh)
    energies = _check_energies(mesh.geometry, energies)
    mesh.quadrature  # computed once here, not concurrently by the threads
    problem = _with_pair_potential(_shared_problem(mesh), pair_potential)
    if neighbours is not None and np.isrealobj(energies):
        warm, accepted = _warm_start(problem, energies, neighbours, tol, memory_budget)
        if np.any(accepted):
            return _complete_warm(mesh, problem, energies, warm, accepted, tol, max_iterations,
                                  threads, memory_budget, pair_potential)
    threads = max(1, min(threads, energies.size))
    chunks = _energy_chunks(problem, energies, threads, memory_budget)
    notes: list[str] = []
    coarse = None
    if len(chunks) > 1 and np.isrealobj(energies):
        # the first Dynes stage once for all chunks, on a coarse subset of all energies
        coarse = _coarse_start(problem, energies, _DYNES_PATH[0], max_iterations, notes, chunk=chunks[0].size)
    batches, parts = [], []
    for chunk in chunks:
        for part, batch in zip(*_solve_threads(mesh, problem, energies[chunk], tol, max_iterations, threads,
                                               coarse, pair_potential)):
            batches.append(batch)
            parts.append(chunk[part])
    result = _gather([b[0] for b in batches], parts, energies.size)
    notes += [note for batch in batches for note in batch[1]]
    _raise_if_failed(mesh, result, energies)
    _note_bound_violations(problem, result, energies, notes)
    return SpectralSolution(mesh=mesh, energies=energies, gamma=result.a.T.copy(),
                            gamma_tilde=result.b.T.copy(),
                            iterations=result.iterations, residual=result.residual,
                            tolerance=tol, notes=notes, pair_potential=pair_potential)


_EDGE_WINDOW = 0.02
"""Energies within this fraction of a gap edge below _SCALING_GAPS Thouless energies are not
warm-started from gap-scaled guesses (:func:`gap_scaled_neighbours`)."""
_SCALING_GAPS = 10.0


def _small_gap_limit(geometry: Geometry) -> float:
    """Gaps below this (_SCALING_GAPS times the smallest Thouless energy of the network) are
    not much larger than E_Th: states next to their edges are set by both scales."""
    return _SCALING_GAPS * min(wire.thouless_energy for wire in geometry.wires)


def gap_scaled_neighbours(solution: SpectralSolution, gap_ratio: float):
    """``neighbours`` for :func:`solve_spectral` of the same mesh with every gap multiplied
    by ``gap_ratio`` (e.g. the next temperature of a sweep, BCS Delta(T)): ``solution``'s
    values at its energies times ``gap_ratio``.

    Where the gap sets the energy scale the spectral functions follow E/Delta, and a gap
    edge maps onto the new one. On paper Figs. 3 and 4 (gaps 1 down to 0.19, Thouless
    energy E_Th 0.02; steps of 0.1-50%) 85-95% of the energies pass the warm start's branch
    check from these guesses (without the scaling ~60%), mostly those next to the gap edge
    that the Dynes path finds hardest, and every root equals the Dynes path's to 1e-11.
    Where a gap is not much larger than the smallest E_Th (below _SCALING_GAPS of it) the
    states next to its edge are set by both scales and do not follow the gap: there (the
    paper's shortcut model near phi = pi: gap 0.011 -> 0.010, E_Th 0.08) a spurious root that
    the Dynes path had found 2.7e-5 below the edge was carried over to the next gap and
    passed the branch check; energies within _EDGE_WINDOW of such an edge are excluded
    (the fourth element: intervals that take the whole Dynes path).
    """
    if not (math.isfinite(gap_ratio) and gap_ratio > 0):
        raise ValueError(f"gap_ratio must be positive and finite, got {gap_ratio!r}")
    geometry = solution.geometry
    edges = gap_ratio * np.array([g for g in gaps_of(geometry) if gap_ratio * g < _small_gap_limit(geometry)])
    excluded = np.column_stack([edges * (1 - _EDGE_WINDOW), edges * (1 + _EDGE_WINDOW)]).reshape(-1, 2)
    return solution.energies * gap_ratio, solution.gamma, solution.gamma_tilde, excluded


def _complete_warm(mesh, problem, energies, warm: _NewtonResult, accepted, tol, max_iterations, threads,
                   memory_budget, pair_potential) -> SpectralSolution:
    """The solution at all ``energies``: the ``accepted`` warm starts, the rest by the Dynes path."""
    rest = np.flatnonzero(~accepted)
    notes: list[str] = []
    if rest.size:
        cold = solve_spectral(mesh, energies[rest], tol=tol, max_iterations=max_iterations, threads=threads,
                              memory_budget=memory_budget, pair_potential=pair_potential)
        warm.a[:, rest], warm.b[:, rest] = cold.gamma.T, cold.gamma_tilde.T
        warm.iterations[rest], warm.residual[rest] = cold.iterations, cold.residual
        warm.converged[rest] = True
        notes = notes + cold.notes
    _note_bound_violations(problem, warm, energies, notes)
    return SpectralSolution(mesh=mesh, energies=energies, gamma=warm.a.T.copy(), gamma_tilde=warm.b.T.copy(),
                            iterations=warm.iterations, residual=warm.residual, tolerance=tol, notes=notes,
                            pair_potential=pair_potential)


def _neighbour_interpolation(known: np.ndarray, values: tuple[np.ndarray, ...], energies: np.ndarray):
    """Cubic interpolation of per-energy rows ``values`` (k, n) known at ``known`` (k,) to
    ``energies`` (inside the known range), and its spread.

    Each energy takes the Lagrange cubic through its 4 nearest known energies (two on each
    side); the spread is the largest difference (max over DOFs and arrays) to the cubics
    through the stencils shifted by one to either side, an estimate of the interpolation
    error that is large where a gap or minigap edge lies within the stencils. Returns the
    interpolants (n, n_energies) per array and the spread (n_energies,); NaN spread for
    energies outside the known range or fewer than 5 known energies.
    """
    order = np.argsort(known)
    known = known[order]
    n = energies.size
    spread = np.full(n, np.nan)
    results = [np.zeros((v.shape[1], n), dtype=v.dtype) for v in values]
    if known.size < 5:
        return results, spread
    k = np.searchsorted(known, energies)
    inside = (k > 0) & (k < known.size)
    interpolants = []
    for offset in (-2, -3, -1):  # centred stencil first, then shifted left and right
        first = np.clip(k + offset, 0, known.size - 4)
        stencil = first[:, None] + np.arange(4)[None, :]
        nodes = known[stencil]
        weights = np.ones((n, 4))
        for j in range(4):
            for m in range(4):
                if m != j:
                    weights[:, j] *= (energies - nodes[:, m]) / (nodes[:, j] - nodes[:, m])
        rows = order[stencil]  # (n, 4) rows of the unsorted arrays
        interpolants.append([np.einsum("ej,ejd->de", weights, v[rows]) for v in values])
    spread[:] = 0.0
    for shifted in interpolants[1:]:
        for centre, other in zip(interpolants[0], shifted):
            spread = np.maximum(spread, np.abs(centre - other).max(axis=0))
    spread[~inside] = np.nan
    return interpolants[0], spread


# Warm starts (:func:`_warm_start`). Newton at the final rate from the interpolated neighbours
# is accepted only where (1) Newton converges within _WARM_ITERATIONS iterations (a fast,
# undamped convergence: right at a gap or minigap edge, where the retarded root merges with
# another one, the Jacobian is near singular and Newton slow), (2) the root lies within
# _WARM_AGREEMENT of the interpolation (continuity with the neighbours, which are on the
# retarded branch), and (3) it satisfies the retarded bounds |gamma| <= 1, DOS >= 0 to within
# _BOUNDS_SLACK. Energies whose interpolants disagree by more than _WARM_SPREAD (a gap edge
# inside the stencils) are not tried. Everything else takes the whole Dynes path.
# Measured on the whole `femprox paper` job (2148 refinement energies on the T-junctions and
# the house at every phase): 2095 accepted, all within 1.2e-9 of the Dynes-path solution
# (Newton tolerance 1e-10); guesses up to 0.2 off (spread up to 0.5) converged to the same
# root as the path; the rejected ones failed (1), at the minigap-edge cusp of the house.
_WARM_SPREAD = 0.5
_WARM_ITERATIONS = 6
_WARM_AGREEMENT = 0.3


def _warm_start(problem, energies: np.ndarray, neighbours, tol: float, memory_budget: float):
    """Newton at the final Dynes rate from interpolated converged neighbours.

    Returns (result for all ``energies``, accepted mask); only accepted columns of the result
    are meaningful.
    """
    known, gamma, gamma_tilde, *excluded = neighbours
    known = np.asarray(known, dtype=float)
    n = energies.size
    (a_guess, b_guess), spread = _neighbour_interpolation(known, (gamma, gamma_tilde), energies)
    for low, high in (excluded[0] if excluded else ()):
        spread[(energies >= low) & (energies <= high)] = np.nan  # not tried
    tried = np.flatnonzero(spread < _WARM_SPREAD)
    result = _NewtonResult(a_guess, b_guess, np.zeros(n, dtype=bool), np.zeros(n, dtype=int),
                           np.full(n, np.nan), np.array(["not tried"] * n, dtype=object))
    if tried.size == 0:
        return result, result.converged
    for chunk in _energy_chunks(problem, energies[tried], 1, memory_budget):
        which = tried[chunk]
        a, b = a_guess[:, which].copy(), b_guess[:, which].copy()
        problem.apply_reservoirs(a, b, energies[which], 0.0)
        solved = _newton(problem, a, b, energies[which], tol=tol, max_iterations=_WARM_ITERATIONS,
                         reuse_jacobian=True)
        distance = np.maximum(np.abs(solved.a - a_guess[:, which]).max(axis=0),
                              np.abs(solved.b - b_guess[:, which]).max(axis=0))
        modulus, dos = _bounds_violation(problem, solved.a, solved.b)
        ok = (solved.converged & (distance <= _WARM_AGREEMENT)
              & (modulus <= 1 + _BOUNDS_SLACK) & (dos >= -_BOUNDS_SLACK))
        result.a[:, which], result.b[:, which] = solved.a, solved.b
        result.converged[which], result.iterations[which] = ok, solved.iterations
        result.residual[which] = solved.residual
        result.reason[which] = np.where(ok, "warm start", np.where(solved.converged, "failed the branch check",
                                                                   solved.reason))
    accepted = result.converged
    # a diagnostic, not a note: sweeps warm-start every refinement round and chained solve
    log.info("%d of %d energies warm-started from converged neighbours (%d tried)", accepted.sum(), n, tried.size)
    return result, accepted


def _solve_threads(mesh, problem, energies, tol, max_iterations, threads, coarse=None, pair_potential=None):
    """Solve ``energies`` in ``threads`` interleaved parts; (parts, [(result, notes)])."""
    parts = [np.arange(k, energies.size, threads) for k in range(max(1, min(threads, energies.size)))]
    if len(parts) == 1:
        return parts, [_solve_batch(problem, energies, tol, max_iterations, coarse)]
    # each thread needs its own problem object: the block solver reuses work buffers
    with ThreadPoolExecutor(len(parts)) as pool:
        return parts, list(pool.map(lambda part: _solve_batch(
            _with_pair_potential(_UsadelProblem(mesh), pair_potential), energies[part], tol, max_iterations,
            coarse), parts))


def _with_pair_potential(problem: _UsadelProblem, pair_potential: PairPotentialField | None) -> _UsadelProblem:
    """``problem`` itself, or a shallow copy whose point parameters take gap and phase from
    ``pair_potential``: the cached problem of the mesh stays as other callers expect it."""
    if pair_potential is None:
        return problem
    changed = copy.copy(problem)
    changed.parameters = pair_potential.applied_to(problem.parameters)
    return changed


def bytes_per_energy(problem: "_UsadelProblem") -> int:
    """Estimated peak working memory of one energy in a Newton batch (bytes).

    Counted: the Jacobian entries and the point-wise terms that build them, the block
    factors (a quarter more: while an energy is refactored, part of its previous factors is
    still alive), and the per-DOF vectors of Newton and its line search. On grid networks
    (P3, 1100-4600 DOFs) the tracemalloc peak of a solve is 1.5 kB per DOF and energy, this
    estimate 2.1 kB (with the element bubbles condensed; 2.5 and 2.9 kB before).
    """
    complex_bytes = 16
    entries = problem.value_value.shape[0]           # scalar pattern entries (free-free)
    points = problem.q.weights.size
    dofs = problem.mesh.n_dofs
    jacobian = 2 * entries * 4 * complex_bytes       # J and its assembly temporaries
    pointwise = 12 * points * complex_bytes          # values, derivatives, terms of both fields
    vectors = 12 * dofs * complex_bytes              # a, b, residuals, steps, trial states
    return jacobian + pointwise + vectors + int(1.25 * problem.solver.bytes_per_matrix(complex_bytes))


def _energy_chunks(problem, energies: np.ndarray, threads: int, budget: float) -> list[np.ndarray]:
    """Indices of consecutive (sorted) energies solved together, each chunk within ``budget``."""
    per_energy = bytes_per_energy(problem)
    available = _available_memory()
    if per_energy * threads > available:
        raise ProblemTooLargeError(
            f"network too large: estimated {per_energy * threads / 2**30:.1f} GB for one energy "
            f"({problem.mesh.n_dofs} DOFs per field, diagonal blocks {problem.solver.block_size} x "
            f"{problem.solver.block_size}) but only {available / 2**30:.1f} GB available; reduce the "
            "elements per wire or their order, or split the network")
    size = int(max(1, min(energies.size, max(budget, per_energy) // (per_energy * threads))))
    count = -(-energies.size // size)
    if count == 1:
        return [np.arange(energies.size)]
    order = np.lexsort((energies.imag, energies.real)) if np.iscomplexobj(energies) else np.argsort(energies)
    return list(np.array_split(order, count))


def _available_memory() -> int:
    """Memory available to this process (bytes): MemAvailable of /proc/meminfo, else the
    physical memory, else unlimited."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 2**62


def _shared_problem(mesh: GraphMesh) -> _UsadelProblem:
    """The mesh's Usadel problem, built on its first solve and kept in ``mesh.stage_cache``."""
    if "usadel_problem" not in mesh.stage_cache:
        mesh.stage_cache["usadel_problem"] = _UsadelProblem(mesh)
    return mesh.stage_cache["usadel_problem"]


def _solve_batch(problem: _UsadelProblem, energies: np.ndarray, tol: float, max_iterations: int,
                 coarse: "_CoarseStart | None" = None):
    """Path-following solve of one batch of energies; returns (result, notes), no raising.

    ``coarse``: the first stage of the path already solved on a coarse subset of a larger
    energy set containing these energies (see :func:`_coarse_start`).
    """
    notes: list[str] = []
    # Off the real axis (e.g. Matsubara frequencies) the solution is smooth and unique:
    # Newton goes there directly from the bulk/normal guess.
    if np.isrealobj(energies):
        path = _dynes_path(problem)
        result = None if coarse is None else coarse.interpolate(problem, energies)
        if result is None:
            result, coarse = _start_interpolated(problem, energies, path[0], max_iterations, notes)
    else:
        path = (0.0,)
        result = _start(problem, energies, 0.0, tol, max_iterations, notes)
    earlier = None
    for previous, extra in zip(path[:-1], path[1:]):
        stage_tol = tol if extra == 0.0 else _PATH_TOLERANCE
        guess = _predict(problem, result, energies, previous, extra, earlier, coarse)
        earlier = (result.a, result.b, previous)
        stage, coarse = None, None
        if extra > 0.0 and np.isrealobj(energies):
            stage, coarse = _interpolated_stage(problem, result, energies, previous, extra, max_iterations, notes,
                                                guess)
        if stage is None:
            stage = _continue(problem, result, energies, previous, extra, stage_tol, max_iterations, notes,
                              guess=guess)
        result = stage
    return result, notes


def _dynes_path(problem: _UsadelProblem) -> tuple[float, ...]:
    """The Dynes path of ``problem`` (see _DYNES_PATH): _SHORT_LAST_STEP_PATH when a gap of an S
    reservoir or S wire (its pair potential) lies below :func:`_small_gap_limit`, else
    _DYNES_PATH."""
    geometry = problem.mesh.geometry
    reservoirs = [node.gap for node in geometry.nodes if node.kind is NodeKind.SUPERCONDUCTING_RESERVOIR]
    wires = np.abs(np.asarray(problem.parameters.gap)).ravel()
    gaps = np.concatenate([np.asarray(reservoirs, dtype=float), wires[wires > 0]])
    small = gaps.size > 0 and gaps.min() < _small_gap_limit(geometry)
    return _SHORT_LAST_STEP_PATH if small else _DYNES_PATH


def _interpolated_stage(problem, result: _NewtonResult, energies, eta_from, eta_to, max_iterations, notes,
                        guess) -> tuple[_NewtonResult | None, "_CoarseStart | None"]:
    """An intermediate stage of the Dynes path (extra rate ``eta_to`` > 0) solved on a coarse
    subset of the energies and interpolated, as the first stage is (:func:`_coarse_start`).

    The stage only serves as the next stage's starting point and is solved to
    _PATH_TOLERANCE; at rate eta_to a cubic spline through energies _COARSE_SPACING * eta_to
    apart is accurate to about that. Energy grids cluster near E = 0 and the gap edges, so
    the subset is a quarter to a half of the energies. Returns None (solve all) when the
    subset would not be much smaller, or the earlier stage or the subset did not converge.
    Also returns the coarse stage (for the next stage's predictor), or None.
    """
    order = np.argsort(energies)
    picks = order[_coarse_subset(energies[order], _COARSE_SPACING * eta_to)]
    if picks.size < 4 or picks.size > 0.6 * energies.size or not np.all(result.converged):
        return None, None
    start = _subset(result, picks)
    pick_guess = None if guess is None else (guess[0][:, picks], guess[1][:, picks])
    solved = _continue(problem, start, energies[picks], eta_from, eta_to, _PATH_TOLERANCE, max_iterations,
                       notes, guess=pick_guess)
    if not np.all(solved.converged):
        return None, None
    coarse = _CoarseStart(energies[picks], solved, eta_to)
    stage = coarse.interpolate(problem, energies)
    stage.iterations = result.iterations.copy()
    stage.iterations[picks] = solved.iterations
    return stage, coarse


def _gather(results: list[_NewtonResult], parts: list[np.ndarray], n: int) -> _NewtonResult:
    """One result for all energies from the results of the batches ``parts``."""
    if len(results) == 1 and np.array_equal(parts[0], np.arange(n)):
        return results[0]
    first = results[0]
    whole = _NewtonResult(np.empty((first.a.shape[0], n), dtype=complex), np.empty((first.a.shape[0], n), dtype=complex),
                          np.empty(n, dtype=bool), np.empty(n, dtype=int), np.empty(n), np.empty(n, dtype=object))
    for result, part in zip(results, parts):
        whole.a[:, part], whole.b[:, part] = result.a, result.b
        whole.converged[part], whole.iterations[part] = result.converged, result.iterations
        whole.residual[part], whole.reason[part] = result.residual, result.reason
    return whole


def _start(problem, energies, eta, tol, max_iterations, notes, depth=0) -> _NewtonResult:
    """Solve at extra Dynes rate ``eta`` from the bulk/normal guess.

    Energies that fail start over at a three times stronger rate and are continued down.
    """
    a, b = problem.initial_guess(energies, eta)
    result = _newton(problem, a, b, energies, tol=tol, max_iterations=max_iterations, extra_dynes=eta)
    failed = np.flatnonzero(~result.converged)
    if failed.size and depth < 3:
        start_eta = 3 * eta if eta > 0 else _DYNES_PATH[0]
        sub = _start(problem, energies[failed], start_eta, _PATH_TOLERANCE, max_iterations, notes, depth + 1)
        sub = _continue(problem, sub, energies[failed], start_eta, eta, tol,
                        max_iterations, notes, depth + 1)
        _merge(result, sub, failed)
        notes.append(f"{sub.converged.sum()} of {failed.size} energies started at Dynes rate {start_eta:g}")
        log.info(notes[-1])
    return result


def _coarse_subset(sorted_energies: np.ndarray, spacing: float) -> np.ndarray:
    """Indices of a subset of sorted energies at least ``spacing`` apart, ends included."""
    picks = [0]
    for k in range(1, sorted_energies.size):
        if sorted_energies[k] - sorted_energies[picks[-1]] >= spacing:
            picks.append(k)
    if picks[-1] != sorted_energies.size - 1:
        picks.append(sorted_energies.size - 1)
    return np.array(picks)


@dataclass
class _CoarseStart:
    """A stage of the Dynes path (extra rate ``eta``) solved at a coarse subset ``energies``
    (ascending) of the energies, to be interpolated in between."""

    energies: np.ndarray
    result: _NewtonResult
    eta: float

    def interpolate(self, problem, energies: np.ndarray) -> _NewtonResult | None:
        """The stage at ``energies`` (inside the coarse range) by splines, or None if fewer
        than two coarse energies are known."""
        picks = self.energies.size
        if picks < 2:
            return None
        # cubic; linear or quadratic for the 2-3 picks of a narrow energy range (a refinement
        # round of an adaptive grid), where every energy is within _COARSE_SPACING * eta of one
        a = InterpolatingSpline(self.energies, self.result.a)(energies)
        b = InterpolatingSpline(self.energies, self.result.b)(energies)
        problem.apply_reservoirs(a, b, energies, self.eta)
        iterations = np.zeros(energies.size, dtype=int)
        exact = np.searchsorted(self.energies, energies).clip(0, picks - 1)
        hit = self.energies[exact] == energies
        iterations[hit] = self.result.iterations[exact[hit]]
        return _NewtonResult(a, b, np.ones(energies.size, dtype=bool), iterations,
                             np.full(energies.size, np.nan),
                             np.array(["interpolated"] * energies.size, dtype=object))


def _coarse_start(problem, energies, eta, max_iterations, notes, chunk: int | None = None) -> _CoarseStart | None:
    """The first stage of the Dynes path on a coarse subset of the (real) energies.

    At extra Dynes rate eta the solution is analytic in E within a distance ~eta of the
    real axis, so a cubic spline through energies _COARSE_SPACING * eta apart reproduces
    it to ~1e-4, well within what the next stage's Newton needs (the stage is only solved
    to _PATH_TOLERANCE anyway). Dense grids (many energies near gap edges and E = 0) then
    cost a fraction of their size on this stage, the costliest one. Returns None when the
    subset would not be much smaller than the set, or Newton fails on it. ``chunk`` bounds
    the energies solved at once (memory).
    """
    ordered = np.sort(energies)
    picks = _coarse_subset(ordered, _COARSE_SPACING * eta)
    if picks.size < 2 or picks.size > 0.6 * energies.size:
        return None
    parts = np.array_split(np.arange(picks.size), -(-picks.size // (chunk or picks.size)))
    solved = [_start(problem, ordered[picks[part]], eta, _PATH_TOLERANCE, max_iterations, notes) for part in parts]
    coarse = _gather(solved, parts, picks.size)
    if not np.all(coarse.converged):
        return None
    return _CoarseStart(ordered[picks], coarse, eta)


def _start_interpolated(problem, energies, eta, max_iterations, notes) -> tuple[_NewtonResult, "_CoarseStart | None"]:
    """The first stage of the Dynes path: on a coarse subset, interpolated (see
    :func:`_coarse_start`), or on all energies where that does not pay or fails; and the
    coarse stage it was interpolated from (None if solved on all energies)."""
    coarse = _coarse_start(problem, energies, eta, max_iterations, notes)
    result = None if coarse is None else coarse.interpolate(problem, energies)
    if result is None:
        return _start(problem, energies, eta, _PATH_TOLERANCE, max_iterations, notes), None
    return result, coarse


def _predict(problem, result: _NewtonResult, energies, eta_now: float, eta_next: float, earlier,
             coarse: "_CoarseStart | None"):
    """Starting point (a, b) for the next Dynes stage, or None (start from the stage itself).

    Candidates: the secant through the last two stages (:func:`_extrapolate`) and the
    analytic continuation of the stage (:func:`_continuation`). Each energy takes the one with
    the smallest residual at ``eta_next``: the continuation is far better away from gap and
    minigap edges (errors 3e-5 instead of 3e-2 at E << E_Th on the paper's T-junction), the
    secant can be better right at an edge, where the Taylor series diverges.
    """
    candidates = [c for c in (_extrapolate(earlier, result, eta_now, eta_next),)
                  if c is not None] + _continuation(result, energies, eta_now, eta_next, coarse)
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    merits = []
    for a, b in candidates:
        problem.apply_reservoirs(a, b, energies, eta_next)
        with np.errstate(all="ignore"):
            merit = _merit(problem.residual(a, b, energies, eta_next))
        merits.append(np.where(np.isfinite(merit), merit, np.inf))
    best = np.argmin(np.stack(merits), axis=0)
    return _pick(best, [c[0] for c in candidates]), _pick(best, [c[1] for c in candidates])


def _pick(choice: np.ndarray, arrays: list[np.ndarray]) -> np.ndarray:
    """Column e of ``arrays[choice[e]]`` for every energy e (arrays are (n_dofs, n_energies))."""
    picked = arrays[0].copy()
    for k in range(1, len(arrays)):
        picked[:, choice == k] = arrays[k][:, choice == k]
    return picked


def _continuation(result: _NewtonResult, energies, eta_now: float, eta_next: float,
                  coarse: "_CoarseStart | None") -> list[tuple[np.ndarray, np.ndarray]]:
    """Taylor polynomials of the orders _TAYLOR_ORDERS for the stage at ``eta_next``.

    The extra Dynes rate enters only through the complex energy z = E + i eta, and the
    solution is analytic in z in the upper half plane: with d/d eta = i d/dE,
    ``a(E, eta + delta) = sum_n (i delta)^n / n! d^n a / dE^n (E, eta)``. The E-derivatives
    come from a cubic spline through the stage (its coarse energies when it was interpolated,
    else all of its energies). The series converges where E + i eta_next is closer to
    E + i eta_now than any singularity (away from gap edges); elsewhere the residual test of
    :func:`_predict` rejects it. Empty when the stage is not known at enough energies.
    """
    if coarse is not None:
        nodes, a_nodes, b_nodes = coarse.energies, coarse.result.a, coarse.result.b
    else:
        order = np.argsort(energies)
        nodes = energies[order]
        if not np.all(result.converged) or np.any(np.diff(nodes) <= 0):
            return []
        a_nodes, b_nodes = result.a[:, order], result.b[:, order]
    if nodes.size < 4 or not _TAYLOR_ORDERS:
        return []
    top = max(_TAYLOR_ORDERS)
    da, db = (InterpolatingSpline(nodes, values).derivatives(energies, top) for values in (a_nodes, b_nodes))
    shift = 1j * (eta_next - eta_now)
    a, b = da[0], db[0]
    candidates = []
    for n in range(1, top + 1):
        factor = shift**n / math.factorial(n)
        a = a + factor * da[n]
        b = b + factor * db[n]
        if n in _TAYLOR_ORDERS:
            candidates.append((a, b))
    return candidates


def _extrapolate(earlier, result: _NewtonResult, eta_now: float, eta_next: float):
    """Secant predictor for the next Dynes stage from the last two stages, or None."""
    if earlier is None:
        return None
    a_prev, b_prev, eta_prev = earlier
    factor = (eta_next - eta_now) / (eta_now - eta_prev)
    return result.a + factor * (result.a - a_prev), result.b + factor * (result.b - b_prev)


def _continue(problem, start: _NewtonResult, energies, eta_from, eta_to, tol, max_iterations,
              notes, depth=0, guess=None) -> _NewtonResult:
    """Move converged energies from extra Dynes rate ``eta_from`` to ``eta_to``.

    ``guess`` (a, b) replaces the state at ``eta_from`` as Newton's starting point.
    Energies that fail are retried through the intermediate rate (halfway on a log
    scale, or eta_from/5 toward zero) from their state at ``eta_from``.
    """
    a, b = (start.a.copy(), start.b.copy()) if guess is None else (guess[0].copy(), guess[1].copy())
    problem.apply_reservoirs(a, b, energies, eta_to)
    result = _newton(problem, a, b, energies, tol=tol, max_iterations=max_iterations, extra_dynes=eta_to,
                     reuse_jacobian=True)
    result.iterations += start.iterations
    failed = np.flatnonzero(~result.converged & start.converged)
    if failed.size and depth < _MAX_BISECTIONS:
        middle = np.sqrt(eta_from * eta_to) if eta_to > 0 else eta_from / 5
        sub = _subset(start, failed)
        sub = _continue(problem, sub, energies[failed], eta_from, middle, _PATH_TOLERANCE,
                        max_iterations, notes, depth + 1)
        sub = _continue(problem, sub, energies[failed], middle, eta_to, tol, max_iterations,
                        notes, depth + 1)
        _merge(result, sub, failed)
        if depth == 0:
            notes.append(f"{sub.converged.sum()} of {failed.size} energies needed smaller "
                         f"Dynes steps between {eta_from:g} and {eta_to:g}")
            log.info(notes[-1])
    elif failed.size and eta_to == 0.0 and eta_from <= _EDGE_DYNES:
        _keep_broadened(result, start, failed, energies, eta_from, notes)
    result.converged &= start.converged
    return result


def _keep_broadened(result, start, failed, energies, eta, notes) -> None:
    """Accept the solution at a tiny Dynes rate where the undamped problem is singular.

    Exactly at a gap or minigap edge two solutions merge and the Jacobian becomes singular,
    so Newton cannot reach eta = 0; the solution at eta <= _EDGE_DYNES differs from the
    limit by O(sqrt(eta)) there and is kept, with a note.
    """
    result.a[:, failed], result.b[:, failed] = start.a[:, failed], start.b[:, failed]
    result.converged[failed] = True
    result.residual[failed] = start.residual[failed]
    notes.append(f"{failed.size} energies near a gap edge (e.g. E={energies[failed][0]:.6g}) kept "
                 f"with an extra Dynes rate {eta:.1g}: the undamped equations are singular there")
    log.warning(notes[-1])


def _subset(result: _NewtonResult, index: np.ndarray) -> _NewtonResult:
    return _NewtonResult(result.a[:, index].copy(), result.b[:, index].copy(), result.converged[index].copy(),
                         result.iterations[index].copy(), result.residual[index].copy(),
                         result.reason[index].copy())


def _check_energies(geometry: Geometry, energies) -> np.ndarray:
    energies = np.atleast_1d(np.asarray(energies))
    if energies.ndim != 1 or energies.size == 0:
        raise ValueError("energies must be a non-empty 1D array")
    if not np.all(np.isfinite(energies)):
        raise ValueError(f"energies must be finite; got {energies[~np.isfinite(energies)][:5]}")
    if np.iscomplexobj(energies):
        if np.any(energies.imag <= 0):
            raise ValueError("complex energies must lie in the upper half plane (Im E > 0) "
                             "where the retarded functions are analytic")
        return energies.astype(complex)
    energies = energies.astype(float)
    for node in geometry.nodes:
        if node.kind is NodeKind.SUPERCONDUCTING_RESERVOIR:
            hit = np.isclose(np.abs(energies), node.gap, rtol=0, atol=1e-12 * node.gap)
            if np.any(hit) and node.dynes == 0.0:
                raise ValueError(f"energy {energies[hit][0]} coincides with the gap of superconducting "
                                 f"reservoir '{node.name}' (Delta = {node.gap}) where the BCS density "
                                 "of states diverges; shift the energy grid slightly")
    return energies


def _merge(result: _NewtonResult, retry: _NewtonResult, index: np.ndarray) -> None:
    ok = retry.converged
    result.a[:, index[ok]] = retry.a[:, ok]
    result.b[:, index[ok]] = retry.b[:, ok]
    result.converged[index[ok]] = True
    result.iterations[index] = np.maximum(result.iterations[index], retry.iterations)
    result.residual[index[ok]] = retry.residual[ok]
    result.reason[index[~ok]] = retry.reason[~ok]


def _note_bound_violations(problem, result, energies, notes) -> None:
    modulus, dos = _bounds_violation(problem, result.a, result.b)
    bad = (modulus > 1 + _BOUNDS_SLACK) | (dos < -_BOUNDS_SLACK)
    if np.any(bad):
        notes.append(f"{bad.sum()} energies (e.g. E={energies[bad][0]:.6g}: max|gamma| = "
                     f"{modulus[bad][0]:.4f}, min DOS = {dos[bad][0]:.3g}) exceed the retarded bounds "
                     f"|gamma| <= 1, DOS >= 0 by more than {_BOUNDS_SLACK}: discretization error near "
                     "a gap edge; refine the mesh if these energies matter")
        log.warning(notes[-1])


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
