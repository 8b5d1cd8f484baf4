"""Tutorial: the local density of states of a long SNS junction, N(E, x).

A normal wire of length L = 10 xi0 between two superconducting reservoirs. The proximity
effect opens a minigap of about 3.1 E_Th (E_Th = D/L^2 = 0.02 Delta0 here) in the whole wire;
it shrinks with the phase difference and closes at phi = pi. Energies in Delta0, lengths in
xi0. Run as a script, or cell by cell (``# %%``) in Jupyter or an editor that knows cells:

    python examples/dos_map.py

The map is saved to example-output/dos_map.png and dos_map.nc (FEMPROX_EXAMPLES_OUTPUT sets
the folder). Set FEMPROX_EXAMPLES_QUICK=1 for a coarse, fast run (used by the tests).
Command line: ``femprox dos geometries/sns_junction.toml --energies 0:0.2:101 -o dos-run``.
"""

# %% the DOS at every energy and along the wire, as a labelled xarray Dataset
import os
from pathlib import Path

import numpy as np

import femprox
from femprox.output import results
from femprox.workflows import studies
from femprox.geometry.devices import sns_junction

QUICK = os.environ.get("FEMPROX_EXAMPLES_QUICK") == "1"
OUTPUT = Path(os.environ.get("FEMPROX_EXAMPLES_OUTPUT", "example-output"))  # where files are saved

energies = np.linspace(0.005, 0.2, 12 if QUICK else 80)
junction = sns_junction(length=10.0, phase=0.0)
dos = studies.dos_map(junction, energies, points_per_wire=5 if QUICK else 41)
print(dos)

# %% the minigap: the largest energy at which the DOS in the middle of the wire is still ~0
middle = dos["dos"].where(abs(dos["x"] - 5.0) < 1e-9, drop=True).squeeze("point")
inside = middle["energy"].values[middle.values < 1e-3]
minigap_below = float(inside.max())  # the minigap lies between this energy and the next one
thouless = 2.0 / 10.0**2
print(f"DOS ~ 0 up to E = {minigap_below:.4f} Delta0 = {minigap_below / thouless:.2f} E_Th (E_Th = {thouless:g})")

# %% a color map, saved (in Jupyter the figure also shows below the cell)
if __name__ == "__main__":
    from femprox.output.plotting import plot_dos_map

    ax = plot_dos_map(dos)
    ax.set_title(r"SNS junction, $L = 10\,\xi_0$, $\varphi = 0$")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(OUTPUT / "dos_map.png", dpi=120)
    results.save(dos, OUTPUT / "dos_map.nc")
    assert float(femprox.load(OUTPUT / "dos_map.nc")["dos"].max()) == float(dos["dos"].max())
    print(f"saved {OUTPUT / 'dos_map.png'} and {OUTPUT / 'dos_map.nc'}")
