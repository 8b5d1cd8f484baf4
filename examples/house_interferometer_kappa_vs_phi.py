"""Phase-controlled heat conductance of the house Andreev interferometer (Fig. 4).

The middle of an N wire (L_N = 10 xi0) is joined by two short, highly conducting arms to two
S reservoirs at phases +phi/2 and -phi/2. The minigap of the contact, ~Delta|cos(phi/2)|,
closes at phi = pi, where kappa returns to kappa_N: a full-scale oscillation. Temperatures in
Delta0, phases in radians.

    python examples/house_interferometer_kappa_vs_phi.py

The figure is saved to example-output/house_interferometer_kappa_vs_phi.png (FEMPROX_EXAMPLES_OUTPUT
sets the folder). Set FEMPROX_EXAMPLES_QUICK=1 for a coarse, fast run (used by the tests).
"""

import os
from pathlib import Path

import numpy as np

from femprox.paper.figures import HOUSE_FILE
from femprox.workflows.sweeps import ADAPTIVE_GRID, QUICK_GRID, GeometryFile, sweep

QUICK = os.environ.get("FEMPROX_EXAMPLES_QUICK") == "1"
OUTPUT = Path(os.environ.get("FEMPROX_EXAMPLES_OUTPUT", "example-output"))  # where figures are saved

temperatures = [0.05] if QUICK else [0.05, 0.1, 0.2]
phases = np.linspace(0, 2 * np.pi, 5 if QUICK else 25)
house = GeometryFile.from_path(HOUSE_FILE, phase_key="parameters.phi")  # sweeps the file's parameter phi
result = sweep(house, temperatures, phases, between=("left", "right"), grid=QUICK_GRID if QUICK else ADAPTIVE_GRID)

kappa = result.column("heat_conductance_ratio").reshape(len(phases), len(temperatures)).T
conductance = result.column("conductance_ratio").reshape(len(phases), len(temperatures)).T
contrast = (kappa.max(axis=1) - kappa.min(axis=1)) / kappa.max(axis=1)

if __name__ == "__main__":
    from femprox.output.plotting import figure_with_axes

    figure, (left, right) = figure_with_axes(2, width=5.5, height=4.0)
    for k, t in enumerate(temperatures):
        left.plot(phases, kappa[k], "o-", label=f"T = {t:g}")
        right.plot(phases, conductance[k], "o-", label=f"T = {t:g}")
        print(f"T = {t:g}: kappa/kappa_N from {kappa[k].min():.3f} to {kappa[k].max():.3f}")
    left.set(xlabel=r"$\varphi$ (rad)", ylabel=r"$\kappa/\kappa_N$")
    right.set(xlabel=r"$\varphi$ (rad)", ylabel=r"$G/G_N$")
    left.legend(fontsize="small")
    right.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    OUTPUT.mkdir(parents=True, exist_ok=True)
    figure.savefig(OUTPUT / "house_interferometer_kappa_vs_phi.png", dpi=120)
    print(f"saved {OUTPUT / 'house_interferometer_kappa_vs_phi.png'}")
