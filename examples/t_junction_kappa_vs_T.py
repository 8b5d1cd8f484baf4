"""Heat and charge conductance of the paper's T-junction against temperature (Fig. 3).

An N wire (L_N = 10 xi0) between two normal reservoirs, with an S wire attached at its middle;
the proximity parameter r = 4 (D_S/D_N)(g_N/g_S)^2 sets how strongly the S wire pulls. The
gap follows BCS Delta(T), so near T_c both ratios return to 1. Energies and temperatures in
Delta0, lengths in xi0.

    python examples/t_junction_kappa_vs_T.py

The figure is saved to example-output/t_junction_kappa_vs_T.png (FEMPROX_EXAMPLES_OUTPUT sets the
folder). Set FEMPROX_EXAMPLES_QUICK=1 for a coarse, fast run (used by the tests).
"""

import os
from pathlib import Path

import numpy as np

from femprox.paper import analytic
from femprox.physics import bcs
from femprox.paper.figures import T_JUNCTION_FILE
from femprox.workflows.sweeps import ADAPTIVE_GRID, QUICK_GRID, GeometryFile, sweep

QUICK = os.environ.get("FEMPROX_EXAMPLES_QUICK") == "1"
OUTPUT = Path(os.environ.get("FEMPROX_EXAMPLES_OUTPUT", "example-output"))  # where figures are saved

r_values = [1.0] if QUICK else [0.1, 1.0, 10.0]
temperatures = np.geomspace(0.01, 0.1, 4) if QUICK else np.concatenate(
    [np.geomspace(0.01, 0.11, 20), np.linspace(0.15, 0.55, 6)])
grid = QUICK_GRID if QUICK else ADAPTIVE_GRID

curves = {}
for r in r_values:
    t_junction = GeometryFile.from_path(T_JUNCTION_FILE, {"parameters.r": r})
    result = sweep(t_junction, temperatures, between=("left", "right"), grid=grid)
    curves[r] = (result.column("heat_conductance_ratio"), result.column("conductance_ratio"))

# the Andreev model: no heat transport at all below the gap Delta(T)
andreev = np.array([analytic.andreev_kappa_ratio(t, gap=bcs.gap(t)) for t in temperatures])
kappa_lowest = {r: kappa[0] for r, (kappa, _) in curves.items()}

if __name__ == "__main__":
    from femprox.output.plotting import figure_with_axes

    figure, (left, right) = figure_with_axes(2, width=5.5, height=4.0)
    for r, (kappa, conductance) in curves.items():
        left.semilogx(temperatures, kappa, label=f"r = {r:g}")
        right.plot(temperatures, conductance, label=f"r = {r:g}")
    left.semilogx(temperatures, andreev, "k--", label="Andreev model")
    left.set(xlabel=r"$T$ ($\Delta_0$)", ylabel=r"$\kappa/\kappa_N$")
    right.set(xlabel=r"$T$ ($\Delta_0$)", ylabel=r"$G/G_N$")
    left.legend(fontsize="small", loc="upper left")
    right.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    for r, value in kappa_lowest.items():
        print(f"r = {r:g}: kappa/kappa_N = {value:.4f} at T = {temperatures[0]:g} Delta0")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    figure.savefig(OUTPUT / "t_junction_kappa_vs_T.png", dpi=120)
    print(f"saved {OUTPUT / 't_junction_kappa_vs_T.png'}")
