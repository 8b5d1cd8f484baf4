"""Phase-controlled heat conductance of the house Andreev interferometer (Fig. 4).

The middle of an N wire (L_N = 10 xi0) is joined by two short, highly conducting arms to two
S reservoirs at phases +phi/2 and -phi/2. The minigap of the contact, ~Delta|cos(phi/2)|,
closes at phi = pi, where kappa returns to kappa_N: a full-scale oscillation. Temperatures in
Delta0, phases in radians.

    python examples/house_interferometer_kappa_vs_phi.py

Set FEMPROX_EXAMPLES_QUICK=1 for a coarse, fast run (used by the tests).
"""

import os

import numpy as np

from femprox.figures import HOUSE_FILE
from femprox.sweeps import ADAPTIVE_GRID, QUICK_GRID, GeometryFile, sweep

QUICK = os.environ.get("FEMPROX_EXAMPLES_QUICK") == "1"

temperatures = [0.05] if QUICK else [0.05, 0.1, 0.2]
phases = np.linspace(0, 2 * np.pi, 5 if QUICK else 25)
house = GeometryFile.from_path(HOUSE_FILE, phase_key="parameters.phi")  # sweeps the file's parameter phi
result = sweep(house, temperatures, phases, between=("left", "right"), grid=QUICK_GRID if QUICK else ADAPTIVE_GRID)

kappa = result.column("heat_conductance_ratio").reshape(len(phases), len(temperatures)).T
conductance = result.column("conductance_ratio").reshape(len(phases), len(temperatures)).T
contrast = (kappa.max(axis=1) - kappa.min(axis=1)) / kappa.max(axis=1)

if __name__ == "__main__":
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for k, t in enumerate(temperatures):
        left.plot(phases, kappa[k], "o-", label=f"T = {t:g}")
        right.plot(phases, conductance[k], "o-", label=f"T = {t:g}")
        print(f"T = {t:g}: kappa/kappa_N from {kappa[k].min():.3f} to {kappa[k].max():.3f}")
    left.set(xlabel=r"$\varphi$ (rad)", ylabel=r"$\kappa/\kappa_N$")
    right.set(xlabel=r"$\varphi$ (rad)", ylabel=r"$G/G_N$")
    left.legend()
    right.legend()
    plt.show()
