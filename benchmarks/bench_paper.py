"""The main job's benchmark: ``python benchmarks/bench_paper.py [--jobs N] [--quick]``.

Runs what ``femprox paper`` runs (Figs. 3 and 4 and the long-wire study, before the Fig. 4
refinement round) on a process pool and prints the serial time of every plan's tasks (their
sum over the pool; wall and CPU time: on a shared machine the CPU time is the steadier
measure), then the whole job (refinement round and files included) in one process and on
the pool. Target (issue 4): a few seconds on 2 cores. Compare versions by alternating runs
in the same session.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

from femprox import api, sweeps


def _timed(pair):
    """Run one (function, task) pair in a worker; its output, wall and CPU time."""
    started, cpu = time.perf_counter(), time.process_time()
    output = sweeps._call(pair)
    return output, time.perf_counter() - started, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()

    plans = api.paper_plans(args.quick)
    pairs = [(name, pair) for name, plan in plans.items() for pair in plan.tasks]
    started = time.perf_counter()
    with ProcessPoolExecutor(args.jobs) as pool:
        results = list(pool.map(_timed, [pair for _, pair in pairs]))
    computed = time.perf_counter() - started

    print(f"femprox paper{' --quick' if args.quick else ''}: {len(pairs)} tasks on {args.jobs} processes")
    for name, plan in plans.items():
        times = [(t, c) for (plan_name, _), (_, t, c) in zip(pairs, results) if plan_name == name]
        print(f"  {name:8s} {len(times):3d} tasks, {sum(t for t, _ in times):6.2f} s serial "
              f"({sum(c for _, c in times):6.2f} s CPU), longest {max(t for t, _ in times):.2f} s")
    print(f"  computation: {computed:.2f} s wall")

    with tempfile.TemporaryDirectory() as out:
        result = api.paper_figures(out, quick=args.quick, overwrite=True)
        print(f"  whole job in one process, files included: {result.seconds:.2f} s "
              f"(serial reference; spectral solves: Fig. 3 {result.figure3.spectral_solves}, "
              f"Fig. 4 {result.figure4.spectral_solves}, long wire {result.slopes.spectral_solves})")
        with ProcessPoolExecutor(args.jobs) as pool:
            result = api.paper_figures(out, quick=args.quick, overwrite=True, executor=pool)
        print(f"  whole job on {args.jobs} processes, files included: {result.seconds:.2f} s "
              f"(target: a few seconds on 2 cores)")


if __name__ == "__main__":
    main()
