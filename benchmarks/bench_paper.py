"""The main job's benchmark: ``python benchmarks/bench_paper.py [--jobs N] [--quick] [--skip-tasks]``.

Runs what ``femprox paper`` runs (Figs. 3 and 4, the Fig. 4 refinement round, the long-wire
study) on a process pool and prints the serial time of every plan's tasks (their sum over
the pool; wall and CPU time: on a shared machine the CPU time is the steadier measure), then
the whole job (files included) in one process and on the pool, with the CPU time of this
process and its workers. Target (issue 9): half the 2-core time of 2026-11-30's start (12.5 s
wall, 22 s CPU for ``femprox paper`` with 2 processes). The machine of the README's numbers
has 2 cores. Compare versions by alternating runs in the same session
(``femprox paper -o DIR --overwrite -j 2`` under ``/usr/bin/time`` measures the interpreter
start too).
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

from femprox import api
from femprox.paper import figures
from femprox.workflows import sweeps


def _timed(pair):
    """Run one (function, task) pair in a worker; its output, wall and CPU time."""
    started, cpu = time.perf_counter(), time.process_time()
    output = sweeps._call(pair)
    return output, time.perf_counter() - started, time.process_time() - cpu


def _cpu() -> float:
    """CPU time of this process and its finished children (user + system), seconds."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _print_times(name: str, times: list[tuple[float, float]]) -> None:
    print(f"  {name:10s} {len(times):3d} tasks, {sum(t for t, _ in times):6.2f} s serial "
          f"({sum(c for _, c in times):6.2f} s CPU), longest {max(t for t, _ in times):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-tasks", action="store_true", help="only the whole job, on the pool")
    args = parser.parse_args()

    if not args.skip_tasks:
        plans = api.paper_plans(args.quick)
        pairs = [(name, pair) for name, plan in plans.items() for pair in plan.tasks]
        started = time.perf_counter()
        with ProcessPoolExecutor(args.jobs) as pool:
            results = list(pool.map(_timed, [pair for _, pair in pairs]))
            fig4_plan = plans["figure4"]
            fig4 = fig4_plan.assemble([output for (name, _), (output, _, _) in zip(pairs, results)
                                       if name == "figure4"])
            refinement = None if args.quick else figures.refinement_plan(
                fig4, grid=api.paper_grid(args.quick), mesh=figures.FIGURE4_MESH, shortcut_mesh=figures.SHORTCUT_MESH)
            refined = [] if refinement is None else list(pool.map(_timed, refinement.tasks))
        computed = time.perf_counter() - started
        print(f"femprox paper{' --quick' if args.quick else ''}: {len(pairs) + len(refined)} tasks on "
              f"{args.jobs} processes")
        for name in plans:
            _print_times(name, [(t, c) for (plan_name, _), (_, t, c) in zip(pairs, results) if plan_name == name])
        if refined:
            _print_times("refinement", [(t, c) for _, t, c in refined])
        print(f"  computation: {computed:.2f} s wall (the plans, then the refinement round)")

        with tempfile.TemporaryDirectory() as out:
            result = api.paper_figures(out, quick=args.quick, overwrite=True)
            print(f"  whole job in one process, files included: {result.seconds:.2f} s "
                  f"(serial reference; spectral solves: Fig. 3 {result.figure3.spectral_solves}, "
                  f"Fig. 4 {result.figure4.spectral_solves}, long wire {result.slopes.spectral_solves})")

    with tempfile.TemporaryDirectory() as out:
        cpu = _cpu()
        with ProcessPoolExecutor(args.jobs) as pool:
            result = api.paper_figures(out, quick=args.quick, overwrite=True, executor=pool)
        print(f"  whole job on {args.jobs} processes, files included: {result.seconds:.2f} s wall, "
              f"{_cpu() - cpu:.2f} s CPU (imports excluded; target: half of 12.5 s wall and 22 s CPU "
              f"with the interpreter start, on 2 cores)")


if __name__ == "__main__":
    main()
