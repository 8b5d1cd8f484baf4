"""A network defined from scratch in Python: an N wire crossed by two S arms.

An N wire of length 10 xi0 joins normal reservoirs "left" and "right"; at its middle two
superconducting arms of length 5 xi0 (conductance g_S each) run up and down to free ends.
docs/physics.md (section 7) says this cross is equivalent to a T-junction with one arm of
conductance 2 g_S: both are solved and compared. Temperatures in Delta0, lengths in xi0.

    python examples/custom_geometry.py

The figure is saved to example-output/custom_geometry.png (FEMPROX_EXAMPLES_OUTPUT sets the folder).
Set FEMPROX_EXAMPLES_QUICK=1 for a coarse, fast run (used by the tests).
"""

import os
from pathlib import Path

import numpy as np

from femprox import Geometry, Node, Wire
from femprox.workflows.sweeps import ADAPTIVE_GRID, QUICK_GRID, sweep

QUICK = os.environ.get("FEMPROX_EXAMPLES_QUICK") == "1"
OUTPUT = Path(os.environ.get("FEMPROX_EXAMPLES_OUTPUT", "example-output"))  # where figures are saved

g_s = 2.0  # conductance per unit length of each S arm (the N wire has 1)


def n_wire_with_s_arms(arms: dict[str, tuple[float, tuple[float, float]]]) -> Geometry:
    """N wire left-center-right plus S arms {name: (conductance, end position)} at the center."""
    nodes = [Node("left", "normal_reservoir", position=(-5.0, 0.0)),
             Node("center", "clean", position=(0.0, 0.0)),
             Node("right", "normal_reservoir", position=(5.0, 0.0))]
    wires = [Wire("left_arm", "left", "center", 5.0), Wire("right_arm", "center", "right", 5.0)]
    for name, (conductance, end) in arms.items():
        nodes.append(Node(f"{name}_end", "free_end", position=end))
        wires.append(Wire(name, "center", f"{name}_end", 5.0, conductance=conductance, gap=1.0))
    return Geometry(nodes=tuple(nodes), wires=tuple(wires), name="custom")


cross = n_wire_with_s_arms({"up": (g_s, (0.0, 5.0)), "down": (g_s, (0.0, -5.0))})
tee = n_wire_with_s_arms({"up": (2 * g_s, (0.0, 5.0))})

temperatures = [0.02, 0.08] if QUICK else list(np.geomspace(0.01, 0.11, 12))
grid = QUICK_GRID if QUICK else ADAPTIVE_GRID
kappa_cross = sweep(cross, temperatures, grid=grid).column("heat_conductance_ratio")
kappa_tee = sweep(tee, temperatures, grid=grid).column("heat_conductance_ratio")
largest_difference = float(np.max(np.abs(kappa_cross - kappa_tee)))

if __name__ == "__main__":
    from femprox.output.plotting import draw_network, figure_with_axes

    figure, (left, right) = figure_with_axes(2, width=5.5, height=4.5)
    draw_network(cross, left)
    right.semilogx(temperatures, kappa_cross, "o-", label="cross, two S arms of g_S")
    right.semilogx(temperatures, kappa_tee, "x--", label="T-junction, one S arm of 2 g_S")
    right.set(xlabel=r"$T$ ($\Delta_0$)", ylabel=r"$\kappa/\kappa_N$")
    right.legend()
    print(f"largest |kappa_cross - kappa_tee| / kappa_N = {largest_difference:.2e}")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    figure.savefig(OUTPUT / "custom_geometry.png", dpi=120)
    print(f"saved {OUTPUT / 'custom_geometry.png'}")
