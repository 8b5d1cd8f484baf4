"""Benchmark: spectral solve of the paper's T-junction, all energies at once.

Run on demand:  python benchmarks/bench_spectral.py [--elements N] [--energies N]

Prints the problem size, the wall time (best of a few runs), the accuracy of D_L against a
much finer reference (P4 elements, twice the element count), what one Newton step costs per
energy (residual, Jacobian, factorization, solve) and how many steps and factorizations the
solve needed, and how the time grows with the number of energies and of degrees of freedom.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from femprox.geometry.devices import t_junction
from femprox.geometry.network import MeshOptions
from femprox.mesh import build_mesh
from femprox.spectral.solver import solve_spectral


def energy_grid(count: int) -> np.ndarray:
    """Energies in (0, 3 Delta0], avoiding E = Delta0 exactly."""
    return np.linspace(3.0 / count, 3.0, count) + 1e-7


def best_time(function, repeats: int = 3) -> tuple[float, object]:
    best, result = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def d_l_error(solution, reference) -> float:
    """Max |D_L - D_L_ref| over all energies and 41 points on each N arm."""
    error = 0.0
    for wire in ("left_arm", "right_arm"):
        x = np.linspace(0.0, 5.0, 41)
        a = solution.kinetic_coefficients(wire, x).d_l
        b = reference.kinetic_coefficients(wire, x).d_l
        error = max(error, float(np.abs(a - b).max()))
    return error


def newton_step_costs(mesh, energies: np.ndarray) -> dict[str, float]:
    """Microseconds per energy of the parts of one Newton step for the whole batch, at the
    converged solution (best of 20): residual, Jacobian assembly, block factorization, solve."""
    from femprox.spectral import solver as spectral

    solution = solve_spectral(mesh, energies)
    problem = spectral._shared_problem(mesh)
    a, b = solution.gamma.T.copy(), solution.gamma_tilde.T.copy()
    jacobian = problem.jacobian(a, b, energies)
    factors = problem.solver.factor(jacobian, batch_last=True)
    rhs = -np.moveaxis(problem.residual(a, b, energies), -1, 0)
    parts = {"residual": lambda: problem.residual(a, b, energies), "jacobian": lambda: problem.jacobian(a, b, energies),
             "factor": lambda: problem.solver.factor(jacobian, batch_last=True), "solve": lambda: factors.solve(rhs)}
    return {name: 1e6 * best_time(part, repeats=20)[0] / energies.size for name, part in parts.items()}


def newton_counts(mesh, energies: np.ndarray) -> tuple[int, int, int]:
    """(Newton passes over the batch, energy-factorizations, iterations summed over energies)
    of one solve, counted by wrapping the solver's internals."""
    from femprox.spectral import solver as spectral

    counts = {"passes": 0, "factorizations": 0}
    line_search, refactor = spectral._line_search, spectral._Factorizations.refactor

    def counting_line_search(*args, **kwargs):
        counts["passes"] += 1
        return line_search(*args, **kwargs)

    def counting_refactor(self, a, b, energies, extra_dynes, which):
        counts["factorizations"] += which.size
        return refactor(self, a, b, energies, extra_dynes, which)

    spectral._line_search, spectral._Factorizations.refactor = counting_line_search, counting_refactor
    try:
        solution = solve_spectral(mesh, energies)
    finally:
        spectral._line_search, spectral._Factorizations.refactor = line_search, refactor
    return counts["passes"], counts["factorizations"], int(solution.iterations.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--elements", type=int, default=48, help="P2 elements per wire")
    parser.add_argument("--energies", type=int, default=400)
    args = parser.parse_args()

    geometry = t_junction(r=1.0, length_n=10.0, length_s=10.0, mesh=MeshOptions(elements=args.elements, order=2))
    energies = energy_grid(args.energies)
    mesh = build_mesh(geometry)
    seconds, solution = best_time(lambda: solve_spectral(mesh, energies))
    threaded, _ = best_time(lambda: solve_spectral(mesh, energies, threads=2))
    reference = solve_spectral(build_mesh(geometry, refine=2.0, order=4), energies)
    print(f"T-junction L_N = 10 xi0, r = 1, L_S = 10 xi0; {mesh.describe()}")
    print(f"{energies.size} energies: {seconds:.3f} s wall on one thread, {threaded:.3f} s with "
          f"threads=2 (max Newton iterations {solution.iterations.max()}, target < 1 s on 2 cores)")
    print(f"max |D_L - D_L(reference P4, 2x elements)| = {d_l_error(solution, reference):.2e} (target 1e-6)")
    costs = newton_step_costs(mesh, energies)
    passes, factorizations, iterations = newton_counts(mesh, energies)
    print("one Newton step, us per energy: " + ", ".join(f"{k} {v:.1f}" for k, v in costs.items())
          + f" (sum {sum(costs.values()):.1f})")
    print(f"Newton work of the solve: {passes} passes over the batch, {factorizations / energies.size:.2f} "
          f"factorizations and {iterations / energies.size:.2f} iterations per energy")

    print("\nelement order vs accuracy and time (400 energies; reference as above):")
    for elements, order in ((24, 2), (48, 2), (12, 3), (16, 3), (8, 4), (10, 4)):
        m = build_mesh(t_junction(mesh=MeshOptions(elements=elements, order=order)))
        t, s = best_time(lambda: solve_spectral(m, energies), repeats=2)
        print(f"  P{order}, {elements:2d} elements per wire, {m.n_dofs:4d} DOFs: {t:.3f} s, "
              f"D_L error {d_l_error(s, reference):.1e}")

    print("\nscaling with the number of energies (same mesh):")
    for count in (100, 200, 400, 800):
        t, _ = best_time(lambda: solve_spectral(mesh, energy_grid(count)), repeats=2)
        print(f"  {count:5d} energies: {t:.3f} s  ({1e3 * t / count:.2f} ms per energy)")
    print("\nscaling with the number of DOFs (400 energies):")
    for refine in (0.5, 1.0, 2.0, 4.0):
        m = build_mesh(geometry, refine=refine)
        t, _ = best_time(lambda: solve_spectral(m, energies), repeats=2)
        print(f"  {m.n_dofs:5d} DOFs per field: {t:.3f} s  ({1e6 * t / m.n_dofs / energies.size:.2f} us per DOF and energy)")


if __name__ == "__main__":
    main()
