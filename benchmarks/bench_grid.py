"""Grid networks: how the spectral solve scales with the number of wires.

Run on demand:  PYTHONPATH=. python benchmarks/bench_grid.py [--sizes 2 4 6 10 20 30] [--energies 100]

An n x n square grid of clean nodes joined by normal wires of length 1 xi0; every node of
the left column is joined by a wire of length 1 to its own superconducting reservoir (gap
Delta0), every node of the right column to its own normal reservoir (a proximity array).
That is n (n + 1) horizontal and n (n - 1) vertical wires, 2 n^2 in all. Each size is
solved in a fresh process (spectral solve at ``--energies`` energies in (0, 2] Delta0), so
that its peak resident memory (ru_maxrss) is its own; printed are the wall time, the time
per wire and energy and its ratio to the smallest grid, and the memory. The spectral solve
uses its default memory budget (``femprox.spectral.solver.MEMORY_BUDGET``): large grids are solved
in chunks of energies.
"""

from __future__ import annotations

import os

# One BLAS thread: the solver's dense work is many small blocks, where OpenBLAS threads only
# synchronize; on a shared 2-core machine they made the junction fronts of a 30x30 grid 2-20x
# slower (measured: 0.01 s per factorization with one thread, 0.02-0.25 s with two).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

from femprox.geometry.network import Geometry, Node, NodeKind, Wire  # noqa: E402


def grid_network(n: int, wire_length: float = 1.0) -> Geometry:
    """The n x n proximity array described in the module docstring."""
    name = lambda i, j: f"n{i}_{j}"  # noqa: E731  (row i, column j)
    nodes = [Node(name(i, j), NodeKind.CLEAN, position=(float(j), float(-i))) for i in range(n) for j in range(n)]
    wires = []
    for i in range(n):
        nodes.append(Node(f"S{i}", NodeKind.SUPERCONDUCTING_RESERVOIR, gap=1.0, position=(-1.0, float(-i))))
        nodes.append(Node(f"N{i}", NodeKind.NORMAL_RESERVOIR, position=(float(n), float(-i))))
        wires.append(Wire(f"s{i}", f"S{i}", name(i, 0), wire_length))
        wires.append(Wire(f"r{i}", name(i, n - 1), f"N{i}", wire_length))
        wires += [Wire(f"h{i}_{j}", name(i, j), name(i, j + 1), wire_length) for j in range(n - 1)]
    for i in range(n - 1):
        wires += [Wire(f"v{i}_{j}", name(i, j), name(i + 1, j), wire_length) for j in range(n)]
    return Geometry(nodes=tuple(nodes), wires=tuple(wires), name=f"grid {n}x{n}")


def energies(count: int) -> np.ndarray:
    """Energies in (0, 2] Delta0, off the gap edge."""
    return np.linspace(2.0 / count, 2.0, count) + 1e-7


def solve_one(n: int, count: int, repeats: int = 1) -> dict:
    """Mesh and solve the n x n grid in this process; best time of ``repeats`` solves (the
    first includes the solver's set-up: orderings, index maps) and peak memory."""
    from femprox.mesh import build_mesh
    from femprox.spectral.solver import solve_spectral

    start = time.perf_counter()
    mesh = build_mesh(grid_network(n))
    meshed = time.perf_counter()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        solution = solve_spectral(mesh, energies(count))
        seconds.append(time.perf_counter() - started)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return dict(n=n, wires=len(mesh.geometry.wires), dofs=mesh.n_dofs, junctions=mesh.junction_dofs.size,
                mesh_s=meshed - start, solve_s=min(seconds), peak_mb=peak_mb,
                iterations=int(solution.iterations.max()),
                dos_center=float(solution.dos(f"h{n // 2}_{max(n // 2 - 1, 0)}" if n > 1 else "s0", [0.5])[0, 0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2, 4, 6, 8, 10, 20, 30])
    parser.add_argument("--energies", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3,
                        help="solves per size up to 10x10, best time counts (the machine may be shared)")
    args = parser.parse_args()
    print(f"grid networks, {args.energies} energies, one process per size (python {sys.version.split()[0]})")
    print(f"{'grid':>6} {'wires':>6} {'DOFs':>7} {'junct':>6} {'mesh s':>7} {'solve s':>8} "
          f"{'us/(wire E)':>11} {'ratio':>6} {'peak MB':>8} {'iter':>5}")
    base = None
    context = multiprocessing.get_context("spawn")
    for n in args.sizes:
        with ProcessPoolExecutor(1, mp_context=context) as pool:
            try:
                r = pool.submit(solve_one, n, args.energies, args.repeats if n <= 10 else 1).result()
            except Exception as error:  # a size that fails (e.g. too large) is reported, the rest run
                print(f"{n:>3}x{n:<2} failed: {error}")
                continue
        per = 1e6 * r["solve_s"] / (r["wires"] * args.energies)
        base = per if base is None else base
        print(f"{n:>3}x{n:<2} {r['wires']:>6} {r['dofs']:>7} {r['junctions']:>6} {r['mesh_s']:>7.2f} "
              f"{r['solve_s']:>8.2f} {per:>11.1f} {per / base:>6.2f} {r['peak_mb']:>8.0f} {r['iterations']:>5}",
              flush=True)


if __name__ == "__main__":
    main()
