"""Benchmark: self-consistent pair potential of the paper's T-junction (r = 1).

Run on demand:  python benchmarks/bench_selfconsistency.py [--temperature T] [--repeats N]

Prints the problem size (mesh, Matsubara frequencies, S quadrature points), the wall time
(best of a few runs) and Newton iterations of Delta(x) at one temperature (rigid and
self-consistent phase), Delta at a few
points of the S arm, T_c of the structure from the linearized gap equation (time and
eigenvalue evaluations), a short Delta(T) curve, and the self-consistent kappa/kappa_N(T)
curve (25 temperatures, log-spaced 0.005-0.56 Delta0, adaptive energy grid; ``--skip-curve``
leaves it out). Issue 10's targets on 2 cores: Delta(x) under 2 s, T_c under 5 s, the
kappa(T) curve under 30 s.
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np

from femprox.physics import bcs
from femprox.geometry.devices import t_junction
from femprox.selfconsistency.gap_equation import critical_temperature, gap_curve, solve_gap
from femprox.selfconsistency.transport import self_consistent_sweep

from bench_spectral import best_time as best_of  # benchmarks/ is on sys.path when run as a script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--temperature", type=float, default=0.3, help="T in Delta0 (default 0.3)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-curve", action="store_true", help="leave out the 25-temperature kappa(T) curve")
    args = parser.parse_args()
    logging.getLogger("femprox.spectral.solver").setLevel(logging.ERROR)
    geometry = t_junction(r=1.0)

    seconds, result = best_of(lambda: solve_gap(geometry, args.temperature), args.repeats)
    points = int(np.sum(np.abs(result.pair_potential.values) > 0))
    print(f"T-junction r = 1, T = {args.temperature}: {result.mesh.describe()}")
    print(f"  {result.rule.frequencies.size} Matsubara frequencies ({result.rule.explicit} explicit), "
          f"{points} S quadrature points")
    print(f"  Delta(x): {seconds:.2f} s (best of {args.repeats}), {result.iterations} Newton iterations, "
          f"residual {result.residual:.1e}")
    for record in result.history:
        print(f"    step {record.iteration}: change {record.change:.2e}, residual {record.residual:.2e}, "
              f"spectral Newton {record.spectral_iterations}, {record.seconds:.2f} s")
    seconds, complex_result = best_of(lambda: solve_gap(geometry, args.temperature, phase="self-consistent"),
                                      args.repeats)
    difference = np.max(np.abs(np.abs(complex_result.pair_potential.values) - np.abs(result.pair_potential.values)))
    print(f"  Delta(x) with the self-consistent phase: {seconds:.2f} s (best of {args.repeats}), "
          f"{complex_result.iterations} Newton iterations, |Delta| differs by {difference:.1e} (no supercurrent)")
    x = np.array([0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0])
    _, delta = result.profile("s_arm", x)
    print(f"  |Delta| at x = {x.tolist()} xi0 (contact at 0): {np.round(delta, 5).tolist()}; "
          f"bulk Delta(T) = {bcs.gap(args.temperature):.5f}")

    seconds, tc = best_of(lambda: critical_temperature(geometry), args.repeats)
    print(f"  T_c = {tc.temperature:.7f} Delta0 = {tc.temperature / bcs.critical_temperature():.6f} T_c0: "
          f"{seconds:.2f} s (best of {args.repeats}), {len(tc.evaluations)} eigenvalue evaluations")

    temperatures = np.array([0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.53, 0.545])
    start = time.perf_counter()
    curve = gap_curve(geometry, temperatures)
    elapsed = time.perf_counter() - start
    print(f"  Delta(T) curve, {temperatures.size} temperatures: {elapsed:.2f} s, "
          f"{sum(r.iterations for r in curve)} Newton iterations in all")
    for t, r in zip(temperatures, curve):
        print(f"    T = {t:.3f}: Delta(free end) = {r.profile('s_arm', [10.0])[1][0]:.5f}, "
              f"Delta(1 xi0) = {r.profile('s_arm', [1.0])[1][0]:.5f}, bulk {bcs.gap(t):.5f}, "
              f"{r.iterations} iterations")
    if not args.skip_curve:
        kappa_curve(geometry)


def kappa_curve(geometry) -> None:
    """The self-consistent kappa/kappa_N(T) curve of the T-junction: in two chains on two
    processes, then in one serial chain (each once: they take tens of seconds)."""
    from concurrent.futures import ProcessPoolExecutor

    temperatures = np.geomspace(0.005, 0.56, 25)
    start = time.perf_counter()
    with ProcessPoolExecutor(2) as pool:
        parallel = self_consistent_sweep(geometry, temperatures, executor=pool, chains=2)
    elapsed = time.perf_counter() - start
    print(f"  self-consistent kappa/kappa_N(T), {temperatures.size} temperatures, 2 chains on 2 processes: "
          f"{elapsed:.1f} s (T_c search included), {sum(parallel.newton_iterations)} Newton iterations")
    start, cpu = time.perf_counter(), time.process_time()
    result = self_consistent_sweep(geometry, temperatures)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    difference = np.max(np.abs(result.column("heat_conductance_ratio") - parallel.column("heat_conductance_ratio")))
    # CPU time: what the wall time would be on an idle core (other jobs share this machine)
    print(f"  the same serially (one chain): {elapsed:.1f} s wall, {cpu:.1f} s CPU; kappa/kappa_N differs by "
          f"{difference:.1e}")
    print(f"  serial: {temperatures.size} temperatures: {elapsed:.1f} s, "
          f"{sum(result.newton_iterations)} Newton iterations, {sum(result.energies)} energies in all "
          f"(T_c = {result.critical_temperature.temperature:.5f}; the lowest T starts from the solution at 0.1 T_c)")
    kappa = result.column("heat_conductance_ratio")
    for k, t in enumerate(temperatures):
        solution = result.solutions[k]
        frequencies = "normal" if solution is None else f"{solution.rule.frequencies.size:4d} Matsubara"
        print(f"    T = {t:.4f}: kappa/kappa_N = {kappa[k]:.5f}, {result.newton_iterations[k]} Newton iterations, "
              f"{frequencies}, {result.energies[k]:4d} energies, {result.seconds[k]:.2f} s")


if __name__ == "__main__":
    main()
