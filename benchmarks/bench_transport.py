"""Transport benchmarks: run with ``python benchmarks/bench_transport.py [--quick]``.

1. T-junction of the paper (L_N = 10 xi0, L_S = 10 xi0, r = 1, S lead ending free, Delta =
   Delta0 at all T): kappa/kappa_N and G/G_N at 40 temperatures from 0.005 to 0.5 Delta0,
   spectral and kinetic solves included (target: < 2 s on 2 cores). Accuracy is checked
   against a refined energy grid and two refined meshes (target: 1e-4 relative).
2. House interferometer (``femprox.geometry.devices.house_interferometer``): kappa(phi)/kappa_N at 41
   phases in [0, 2 pi] and 4 temperatures (target: < 20 s on 2 cores). The phases are spread
   over a process pool of two workers. The N wire is meshed with elements graded toward the
   center node (see ``house_geometry``). Accuracy is checked at two phases against an
   adaptively refined energy grid and a refined mesh, and through the symmetry
   kappa(phi) = kappa(2 pi - phi), which the computation does not use.

Timings are wall-clock; the machine may be shared, so run twice. ``--quick`` skips the
accuracy references.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # tiny dense blocks: threads only add overhead

import argparse  # noqa: E402
import math  # noqa: E402
from dataclasses import replace  # noqa: E402
import time  # noqa: E402
from concurrent.futures import Executor, ProcessPoolExecutor  # noqa: E402

import numpy as np  # noqa: E402

from femprox.geometry.devices import house_interferometer, t_junction  # noqa: E402
from femprox.geometry.network import Geometry  # noqa: E402
from femprox.mesh import build_mesh  # noqa: E402
from femprox.observables.energy_grid import adaptive_transport, energy_grid, solve_on_grid  # noqa: E402
from femprox.observables.conductance import linear_response  # noqa: E402

T_JUNCTION_TEMPERATURES = np.geomspace(0.005, 0.5, 40)
HOUSE_TEMPERATURES = (0.05, 0.1, 0.2, 0.4)
HOUSE_PHASES = np.linspace(0.0, 2 * math.pi, 41)


# -- 1. T-junction -------------------------------------------------------------------------------

def t_junction_sweep(mesh, grid) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """kappa/kappa_N, G/G_N and their error estimates at every benchmark temperature."""
    _, gamma = solve_on_grid(mesh, grid, keep_distributions=False)
    results = [linear_response(gamma, grid, t).two_terminal("left", "right") for t in T_JUNCTION_TEMPERATURES]
    kappa = np.array([r.heat_conductance_ratio for r in results])
    conductance = np.array([r.conductance_ratio for r in results])
    kappa_error = np.array([r.heat_conductance_error / r.normal_heat_conductance for r in results])
    conductance_error = np.array([r.conductance_error / r.normal_conductance for r in results])
    return kappa, conductance, kappa_error, conductance_error


def bench_t_junction(check_accuracy: bool) -> None:
    geometry = t_junction(r=1.0, length_n=10.0, length_s=10.0)
    start = time.perf_counter()
    mesh = build_mesh(geometry)
    grid = energy_grid(geometry, T_JUNCTION_TEMPERATURES)
    kappa, conductance, kappa_error, conductance_error = t_junction_sweep(mesh, grid)
    elapsed = time.perf_counter() - start
    print(f"T-junction: {mesh.describe()}; {grid.nodes.size} energies in {grid.n_panels} panels")
    print(f"  40 temperatures, spectral + kinetic + integrals: {elapsed:.2f} s (target < 2 s)")
    print(f"  estimated energy-integration error (half grid): kappa {kappa_error.max():.1e}, "
          f"G {conductance_error.max():.1e}")
    for k in (0, 10, 20, 30, 39):
        print(f"    T = {T_JUNCTION_TEMPERATURES[k]:.4f}: kappa/kappa_N = {kappa[k]:.6f}, G/G_N = {conductance[k]:.6f}")
    if not check_accuracy:
        return
    fine_grid = energy_grid(geometry, T_JUNCTION_TEMPERATURES, order=10, ratio=1.5, edge_ratio=2.0,
                            edge_distance=1e-9)
    references = {
        f"energy grid x{fine_grid.nodes.size / grid.nodes.size:.1f} (order 10, finer grading)": (mesh, fine_grid),
        "mesh refined x2 (P2)": (build_mesh(geometry, refine=2), grid),
        "mesh P4": (build_mesh(geometry, order=4), grid),
    }
    for label, (ref_mesh, ref_grid) in references.items():
        ref_kappa, ref_conductance, _, _ = t_junction_sweep(ref_mesh, ref_grid)
        print(f"  vs {label}: max relative difference kappa {np.abs(kappa / ref_kappa - 1).max():.1e}, "
              f"G {np.abs(conductance / ref_conductance - 1).max():.1e}")


# -- 2. House interferometer -----------------------------------------------------------------------

def house_geometry(phase: float, refine: int = 1) -> Geometry:
    """The device as shipped (N wire graded toward the center, P3), refined ``refine`` times.

    The refined copy scales every wire's element count, keeping the grading.
    """
    geometry = house_interferometer(phase=phase)
    for wire in geometry.wires:
        geometry = geometry.with_wire(wire.name, mesh=replace(wire.mesh, elements=wire.mesh.elements * refine))
    return geometry


def house_grid_options(phase: float) -> dict:
    """Order-6 panels; the contact minigap Delta |cos(phi/2)| (paper's estimate) as a breakpoint."""
    return dict(order=6, edge_distance=1e-4, edge_ratio=4.0, breakpoints=[abs(math.cos(phase / 2))])


def house_point(phase: float) -> tuple[np.ndarray, np.ndarray, int]:
    """kappa/kappa_N at the benchmark temperatures, error estimates, number of energies."""
    geometry = house_geometry(phase)
    grid = energy_grid(geometry, HOUSE_TEMPERATURES, **house_grid_options(phase))
    _, gamma = solve_on_grid(geometry, grid, keep_distributions=False)
    results = [linear_response(gamma, grid, t).two_terminal("left", "right") for t in HOUSE_TEMPERATURES]
    kappa = np.array([r.heat_conductance_ratio for r in results])
    errors = np.array([r.heat_conductance_error / r.heat_conductance for r in results])
    return kappa, errors, grid.nodes.size


def house_reference(phase: float, *, refine: int = 1) -> np.ndarray:
    grid, _, gamma = adaptive_transport(house_geometry(phase, refine), HOUSE_TEMPERATURES, tol=1e-7,
                                        **house_grid_options(phase))
    return np.array([linear_response(gamma, grid, t).two_terminal("left", "right").heat_conductance_ratio
                     for t in HOUSE_TEMPERATURES])


def bench_house(executor: Executor, check_accuracy: bool) -> None:
    start = time.perf_counter()
    points = list(executor.map(house_point, HOUSE_PHASES))
    elapsed = time.perf_counter() - start
    kappa = np.array([p[0] for p in points])  # (phase, temperature)
    errors = np.array([p[1] for p in points])
    energies = [p[2] for p in points]
    print(f"house interferometer: {build_mesh(house_geometry(0.0)).describe()}; "
          f"{min(energies)}-{max(energies)} energies per phase")
    print(f"  41 phases x 4 temperatures: {elapsed:.2f} s (target < 20 s)")
    print(f"  estimated energy-integration error (half grid): max {errors.max():.1e} relative")
    mirror = np.abs(kappa / kappa[::-1] - 1).max()
    print(f"  symmetry kappa(phi) = kappa(2 pi - phi) (not imposed): max relative deviation {mirror:.1e}")
    header = "  ".join(f"T={t:<6}" for t in HOUSE_TEMPERATURES)
    print(f"    phi/pi   {header}")
    for k in range(0, 41, 5):
        row = "  ".join(f"{v:.6f}" for v in kappa[k])
        print(f"    {HOUSE_PHASES[k] / math.pi:5.2f}    {row}")
    if not check_accuracy:
        return
    for phase in (0.5 * math.pi, 0.9 * math.pi):
        k = int(np.argmin(np.abs(HOUSE_PHASES - phase)))
        energy_ref = house_reference(HOUSE_PHASES[k])
        mesh_ref = house_reference(HOUSE_PHASES[k], refine=2)
        print(f"  phi = {HOUSE_PHASES[k] / math.pi:.2f} pi: vs adaptive energy grid (tol 1e-7) "
              f"{np.abs(kappa[k] / energy_ref - 1).max():.1e}, vs that on a mesh refined x2 "
              f"{np.abs(kappa[k] / mesh_ref - 1).max():.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the accuracy references")
    parser.add_argument("--workers", type=int, default=2, help="processes for the phase sweep")
    args = parser.parse_args()
    bench_t_junction(not args.quick)
    with ProcessPoolExecutor(max_workers=args.workers) as executor:
        bench_house(executor, not args.quick)


if __name__ == "__main__":
    main()
