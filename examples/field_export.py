"""Tutorial: fields along the network written for ParaView (VTU).

Exports the house interferometer's mesh with the DOS, the kinetic coefficients D_L, D_T and
the distribution functions f_L, f_T at a few energies, for reservoirs at the temperatures
and potentials given here (a voltage bias on the left reservoir, the right one hotter).
Open the .vtu in ParaView and color by e.g. ``dos_E0.2``. Energies, temperatures and
potentials in Delta0, lengths in xi0.

    python examples/field_export.py

Writes example-output/house_fields.vtu (FEMPROX_EXAMPLES_OUTPUT sets the folder); set
FEMPROX_EXAMPLES_QUICK=1 for a fast run. Command line (reservoirs as in the file):
``femprox mesh geometries/house_interferometer.toml --export house.vtu --energies 0.1 0.5``.
"""

# %% solve at a few energies and collect point data
import os
from pathlib import Path

import numpy as np

from femprox.output.export import distribution_point_data, read_network, spectral_point_data, write_network
from femprox.paper.figures import HOUSE_FILE
from femprox.geometry.files import load_geometry
from femprox.kinetic.solver import spectral_conductance
from femprox.mesh import build_mesh
from femprox.spectral.solver import solve_spectral
from femprox.geometry.temperature import at_temperature

QUICK = os.environ.get("FEMPROX_EXAMPLES_QUICK") == "1"
OUTPUT = Path(os.environ.get("FEMPROX_EXAMPLES_OUTPUT", "example-output"))

temperature = 0.1
house = at_temperature(load_geometry(HOUSE_FILE, {"parameters.phi": 2.0}), temperature)  # BCS gap at T
mesh = build_mesh(house, refine=0.5 if QUICK else 1.0)
energies = [0.2, 1.5] if QUICK else [0.05, 0.2, 0.5, 1.0, 1.5]
solution = solve_spectral(mesh, energies)
reservoirs = {n.name: (temperature, 0.0) for n in house.terminals}
reservoirs["left"] = (temperature, 0.3)          # biased by V = 0.3 Delta0/e
reservoirs["right"] = (1.5 * temperature, 0.0)   # and hotter
point_data = spectral_point_data(solution, range(len(energies)), ("dos", "d_l", "d_t"))
point_data |= distribution_point_data(solution, spectral_conductance(solution), reservoirs)
print(sorted(point_data)[:6], "...")

# %% write the VTU file (cell data 'wire' numbers the wires) and read it back
if __name__ == "__main__":
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = write_network(OUTPUT / "house_fields.vtu", mesh, point_data, overwrite=True)
    back = read_network(path)
    assert np.allclose(back.point_data["dos_E0.2"], point_data["dos_E0.2"])
    print(f"saved {path}: {len(back.points)} points, fields {', '.join(sorted(back.point_data))[:120]}...")
