"""Benchmark: what tunnel barriers and loop fluxes cost over transparent contacts.

Run on demand:  python benchmarks/bench_contacts.py [--energies N] [--repeats N]

Side by side in one run (best of ``--repeats``):

* the T-junction (P3, 16 elements per wire) with a transparent NS contact and with a tunnel
  barrier there (R_B = R_N and R_B = 10 R_N): spectral solve and kinetic solve;
* an NIS probe: the N wire with its probe ending on the S reservoir transparently and through
  a barrier;
* the house interferometer with S reservoirs (phase) and with its S loop threaded by a flux.

Prints problem sizes (DOFs, contacts), times and the ratio barrier / transparent (target: a
barrier costs less than 20% over a transparent contact).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from femprox.geometry.devices import house_interferometer, house_s_loop, nis_thermometer, t_junction
from femprox.geometry.network import Geometry
from femprox.kinetic.solver import spectral_conductance
from femprox.mesh import build_mesh
from femprox.spectral.solver import solve_spectral


def best_time(function, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def measure(geometry: Geometry, energies: np.ndarray, repeats: int) -> tuple[str, float, float]:
    """(size, spectral seconds, kinetic seconds) on a fresh mesh (set-up included once)."""
    mesh = build_mesh(geometry)
    solution = solve_spectral(mesh, energies)
    spectral = best_time(lambda: solve_spectral(mesh, energies), repeats)
    kinetic = best_time(lambda: spectral_conductance(solution), repeats)
    return f"{mesh.n_dofs} DOFs, {len(mesh.contacts)} contacts", spectral, kinetic


def compare(title: str, cases: list[tuple[str, Geometry]], energies: np.ndarray, repeats: int) -> None:
    print(f"\n{title} ({energies.size} energies)")
    base = None
    for label, geometry in cases:
        size, spectral, kinetic = measure(geometry, energies, repeats)
        ratio = "" if base is None else f"   x{spectral / base[0]:.2f} spectral, x{kinetic / base[1]:.2f} kinetic"
        print(f"  {label:28s} {size:22s} spectral {spectral:.3f} s, kinetic {kinetic:.3f} s{ratio}")
        base = base or (spectral, kinetic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--energies", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    energies = np.linspace(3.0 / args.energies, 3.0, args.energies) + 1e-7
    compare("T-junction, r = 1 (R_N = 10)", [("transparent NS contact", t_junction()),
                                              ("barrier R_B = R_N", t_junction(barrier=10.0)),
                                              ("barrier R_B = 10 R_N", t_junction(barrier=100.0))],
            energies, args.repeats)
    compare("NIS probe on an N wire", [("transparent probe contact", nis_thermometer(barrier=0.0)),
                                       ("barrier R_B = 10 R_N", nis_thermometer(barrier=100.0))],
            energies, args.repeats)
    compare("house interferometer, phi = 2 pi x 0.3", [("S reservoirs at +-phi/2", house_interferometer(phase=0.6 * np.pi)),
                                                        ("S loop with flux 0.3 h/2e", house_s_loop(flux=0.3))],
            energies, args.repeats)


if __name__ == "__main__":
    main()
