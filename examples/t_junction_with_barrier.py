"""The paper's T-junction with a tunnel barrier at its NS contact: kappa(T) and G(T).

As in examples/t_junction_kappa_vs_T.py (L_N = L_S = 10 xi0, S lead ending free, BCS Delta(T)),
with a Kupriyanov-Lukichev barrier of resistance R_B between the N wire's middle and the S
wire, in units of the N wire's resistance R_N = L_N / g_N (geometry file parameter
`barrier`, a resistance: R_B / R_N = barrier / 10). The barrier weakens the proximity effect:
kappa recovers toward kappa_N and the reentrant G peak shrinks. Temperatures in Delta0.

    python examples/t_junction_with_barrier.py [output.png]

Set FEMPROX_EXAMPLES_QUICK=1 for a coarse, fast run (used by the tests).
"""

import os
import sys

import numpy as np

from femprox.paper.figures import T_JUNCTION_FILE
from femprox.workflows.sweeps import ADAPTIVE_GRID, QUICK_GRID, GeometryFile, sweep

QUICK = os.environ.get("FEMPROX_EXAMPLES_QUICK") == "1"

r = 1.0
barrier_ratios = [0.0, 1.0] if QUICK else [0.0, 0.1, 1.0]
temperatures = np.geomspace(0.01, 0.1, 3) if QUICK else np.concatenate(
    [np.geomspace(0.005, 0.11, 14), np.linspace(0.15, 0.55, 9)])
grid = QUICK_GRID if QUICK else ADAPTIVE_GRID
length_n = 10.0  # the file's N wire: R_N = length_n / g_N with g_N = 1

curves = {}
for ratio in barrier_ratios:
    source = GeometryFile.from_path(T_JUNCTION_FILE, {"parameters.r": r, "parameters.barrier": ratio * length_n})
    result = sweep(source, temperatures, between=("left", "right"), grid=grid)
    curves[ratio] = (result.column("heat_conductance_ratio"), result.column("conductance_ratio"))

kappa_lowest = {ratio: float(kappa[0]) for ratio, (kappa, _) in curves.items()}
conductance_peak = {ratio: float(conductance.max()) for ratio, (_, conductance) in curves.items()}

if __name__ == "__main__":
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4), layout="constrained")
    left, right = figure.subplots(1, 2)
    for ratio, (kappa, conductance) in curves.items():
        label = f"$R_B/R_N$ = {ratio:g}"
        left.semilogx(temperatures, kappa, "o-", markersize=3, label=label)
        right.plot(temperatures, conductance, "o-", markersize=3, label=label)
        print(f"R_B/R_N = {ratio:g}: kappa/kappa_N = {kappa_lowest[ratio]:.4f} at T = {temperatures[0]:g}, "
              f"G/G_N peak {conductance_peak[ratio]:.4f} at T = {temperatures[np.argmax(conductance)]:.3g}")
    left.set(xlabel=r"$T$ ($\Delta_0$)", ylabel=r"$\kappa/\kappa_N$", title=f"T-junction, r = {r:g}")
    right.set(xlabel=r"$T$ ($\Delta_0$)", ylabel=r"$G/G_N$")
    left.legend()
    output = sys.argv[1] if len(sys.argv) > 1 else "t_junction_with_barrier.png"
    figure.savefig(output, dpi=120)
    print(f"wrote {output}")
