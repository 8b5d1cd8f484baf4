"""femprox against the yardstick script (scipy solve_bvp), side by side on the same job.

Run on demand from the repository root:

    PYTHONPATH=. python benchmarks/bench_yardstick.py path/to/bvp_tjunction.py [--repeats 3]

The job (the yardstick's own): the paper's T-junction, r = 1, L_N = L_S = 10 xi0, fixed
Delta = Delta0, Dynes rate 1e-4 in every wire, S lead floating; kappa/kappa_N and G/G_N at
25 temperatures log-spaced in [0.005, 0.5] Delta0. femprox runs as a user would call it,
``sweeps.sweep`` with the set-ups of SETTINGS (the defaults, ``accuracy="fast"``, and FAST_GRID
on the geometry's mesh and on half its elements); all are run in this process, alternately with the yardstick,
``--repeats`` times each (best time counts: the machine may be shared). Printed: the times,
the speed-ups, and the largest deviation between femprox's curves and the yardstick's,
together with each one's deviation from a femprox reference on a much finer energy grid and
mesh.

The yardstick is a script kept outside the repository (the careful scipy script issue 9
measures against); it is imported from the path given, never copied into femprox.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np

from femprox.workflows import sweeps
from femprox.geometry.devices import t_junction
from femprox.observables.energy_grid import energy_grid, solve_on_grid
from femprox.geometry.network import Geometry
from femprox.mesh import build_mesh
from femprox.observables.conductance import linear_responses

TEMPERATURES = np.geomspace(0.005, 0.5, 25)
DYNES = 1e-4


def load_yardstick(path: Path):
    """The yardstick script as a module (its main() is not run)."""
    if not path.is_file():
        sys.exit(f"yardstick not found at {path}; pass its path as the first argument")
    spec = importlib.util.spec_from_file_location("bvp_tjunction", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def geometry(r: float = 1.0) -> Geometry:
    """The yardstick's T-junction: Dynes rate DYNES in every wire, Delta = 1 at every T."""
    result = t_junction(r=r, length_n=10.0, length_s=10.0)
    for wire in result.wires:
        result = result.with_wire(wire.name, dynes=DYNES)
    return result


SETTINGS = {"standard": {"accuracy": "standard"}, "fast": {"accuracy": "fast"},
            "fast grid, own mesh": {"grid": sweeps.FAST_GRID},
            "fast grid, half mesh": {"grid": sweeps.FAST_GRID, "mesh": sweeps.MeshSettings(refine=0.5)}}
"""femprox's set-ups, as a user would choose them in ``sweeps.sweep``: the two accuracy
levels (defaults: ADAPTIVE_GRID on the geometry's mesh; fast: FAST_GRID on FAST_MESH, P5
elements on 0.3 of the count), FAST_GRID on the geometry's own P3 mesh (the fast level before
2026-11-30, evening) and on half its elements (for this geometry within 1.2e-6 of the full
mesh; not for every network: see ``femprox.workflows.sweeps.ACCURACY_LEVELS``)."""


def femprox_sweep(setting: str = "standard") -> tuple[np.ndarray, np.ndarray, int]:
    """kappa/kappa_N, G/G_N at TEMPERATURES and the energies solved, the way a user would:
    ``femprox.workflows.sweeps.sweep`` with one of SETTINGS, the gap fixed (no BCS Delta(T), as in the
    yardstick)."""
    result = sweeps.sweep(geometry(), TEMPERATURES, bcs_gaps=False, **SETTINGS[setting])
    return (result.column("heat_conductance_ratio"), result.column("conductance_ratio"),
            sum(result.energies_per_solve))


def femprox_curve(system, **grid_options) -> tuple[np.ndarray, np.ndarray, int]:
    """kappa/kappa_N and G/G_N at TEMPERATURES on a fixed energy grid, and its size."""
    graph = system if not isinstance(system, Geometry) else build_mesh(system)
    grid = energy_grid(graph.geometry, TEMPERATURES, **grid_options)
    _, conductance = solve_on_grid(graph, grid, keep_distributions=False)
    pairs = [response.two_terminal("left", "right")
             for response in linear_responses(conductance, grid, TEMPERATURES, bcs_gaps=False)]
    return (np.array([p.heat_conductance_ratio for p in pairs]), np.array([p.conductance_ratio for p in pairs]),
            grid.nodes.size)


def yardstick_curve(module) -> tuple[np.ndarray, np.ndarray, int]:
    """The same from the yardstick (its default settings, r = 1)."""
    energies, r_q, r_i, _ = module.spectrum(1.0)
    kappa, conductance = module.thermal_integrals(energies, r_q, r_i, TEMPERATURES)
    return kappa, conductance, energies.size


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("yardstick", type=Path, help="path of the yardstick script (bvp_tjunction.py)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    module = load_yardstick(args.yardstick.resolve())

    runs = {name: [] for name in [*SETTINGS, "yardstick"]}
    for _ in range(args.repeats):  # alternate, so that all see the same machine load
        for name in SETTINGS:
            runs[name].append(timed(lambda: femprox_sweep(name)))
        runs["yardstick"].append(timed(lambda: yardstick_curve(module)))
    reference = femprox_curve(build_mesh(geometry(), refine=2.0, order=4), order=10, ratio=1.5, edge_ratio=2.0)

    best = {name: min(t for t, _ in values) for name, values in runs.items()}
    curves = {name: values[-1][1] for name, values in runs.items()}
    print(f"T-junction r = 1, Dynes {DYNES:g}, {TEMPERATURES.size} temperatures; best of {args.repeats} "
          "(all runs in brackets)")
    labels = {"standard": "femprox sweep(), defaults",
              "fast": "femprox sweep(accuracy='fast')",
              "fast grid, own mesh": "femprox sweep(grid=FAST_GRID)",
              "fast grid, half mesh": "femprox sweep(grid=FAST_GRID, mesh=refine 0.5)",
              "yardstick": "yardstick (scipy solve_bvp)"}
    for name, values in runs.items():
        print(f"  {labels[name]:50s}: {best[name]:.3f} s, {curves[name][2]:3d} energies "
              f"[{', '.join(f'{t:.3f}' for t, _ in values)}]")
    for name in SETTINGS:
        print(f"  speed-up, {labels[name]:40s}: {best['yardstick'] / best[name]:.1f}x (target >= 5x)")
    for label, k in (("kappa/kappa_N", 0), ("G/G_N", 1)):
        agreement = max(np.abs(curves[name][k] - curves["yardstick"][k]).max() for name in SETTINGS)
        deviations = ", ".join(f"{name} {np.abs(curves[name][k] - reference[k]).max():.1e}" for name in runs)
        print(f"  {label:13s}: max |femprox - yardstick| {agreement:.1e} (target 1e-4); vs reference "
              f"({reference[2]} energies, P4 mesh x2): {deviations}")


if __name__ == "__main__":
    main()
