"""Mesh convergence of kappa/kappa_N for the paper's T-junction.

h-refinement multiplies every wire's element count; p-refinement raises the element order.
The same energy grid is used on every mesh, so only the spatial error changes; errors are
measured against a finer reference mesh. Temperature in Delta0.

    python examples/mesh_convergence.py

The figure is saved to example-output/mesh_convergence.png (FEMPROX_EXAMPLES_OUTPUT sets the folder).
Set FEMPROX_EXAMPLES_QUICK=1 for a coarse, fast run (used by the tests).
"""

import os
from pathlib import Path

from femprox.paper.figures import T_JUNCTION_FILE
from femprox.workflows.sweeps import PAPER_GRID, QUICK_GRID, GeometryFile, convergence_study

QUICK = os.environ.get("FEMPROX_EXAMPLES_QUICK") == "1"
OUTPUT = Path(os.environ.get("FEMPROX_EXAMPLES_OUTPUT", "example-output"))  # where figures are saved

t_junction = GeometryFile.from_path(T_JUNCTION_FILE, {"parameters.r": 1.0}).geometry()
study = convergence_study(t_junction, "kappa", temperature=0.05,
                          refinements=(1, 2) if QUICK else (1, 2, 4, 8),
                          orders=(1, 2) if QUICK else (1, 2, 3, 4),
                          grid=QUICK_GRID if QUICK else PAPER_GRID)

if __name__ == "__main__":
    from femprox.api import convergence_table
    from femprox.output.plotting import plot_convergence

    print(convergence_table(study))
    ax = plot_convergence(study)
    OUTPUT.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(OUTPUT / "mesh_convergence.png", dpi=120)
    print(f"saved {OUTPUT / 'mesh_convergence.png'}")
