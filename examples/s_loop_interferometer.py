"""The house interferometer with its superconducting loop made of an S wire, threaded by a flux.

Two ways to model the same device: the S loop as two S reservoirs at phases +-phi/2
(house_interferometer.toml), and the loop itself, an S wire whose ends join the short normal
arms, with a magnetic flux Phi through the loop (house_s_loop.toml). The flux's vector
potential sits on the normal arms, so Phi acts like the phase difference phi = 2 pi Phi / Phi0
(Phi0 = h/2e); the S wire, rigid but of finite length and conductance, is itself proximitized
by the arms, which the reservoir model leaves out. Temperatures in Delta0, flux in h/2e.

    python examples/s_loop_interferometer.py [output.png]

Set FEMPROX_EXAMPLES_QUICK=1 for a coarse, fast run (used by the tests).
"""

import os
import sys

import numpy as np

from femprox.geometry.files import shipped_geometry_path
from femprox.workflows.sweeps import ADAPTIVE_GRID, QUICK_GRID, GeometryFile, sweep

QUICK = os.environ.get("FEMPROX_EXAMPLES_QUICK") == "1"

temperature = 0.1
fluxes = np.linspace(0.0, 1.0, 5 if QUICK else 21)
grid = QUICK_GRID if QUICK else ADAPTIVE_GRID
models = {
    "S loop (S wire, g = 100, L = 2)": (GeometryFile.from_path(shipped_geometry_path("house_s_loop"),
                                                              phase_key="parameters.flux"), fluxes),
    "S loop (S wire, g = 1e4, L = 0.5)": (GeometryFile.from_path(
        shipped_geometry_path("house_s_loop"), {"parameters.loop_conductance": 1e4, "parameters.loop_length": 0.5},
        phase_key="parameters.flux"), fluxes),
    "S reservoirs at +-phi/2": (GeometryFile.from_path(shipped_geometry_path("house_interferometer"),
                                                       phase_key="parameters.phi"), 2 * np.pi * fluxes),
}
curves = {}
for label, (source, phases) in models.items():
    result = sweep(source, [temperature], phases, between=("left", "right"), grid=grid)
    curves[label] = (result.column("heat_conductance_ratio"), result.column("conductance_ratio"))

kappa_at_half = {label: float(np.interp(0.5, fluxes, kappa)) for label, (kappa, _) in curves.items()}
kappa_at_zero = {label: float(kappa[0]) for label, (kappa, _) in curves.items()}

if __name__ == "__main__":
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4), layout="constrained")
    left, right = figure.subplots(1, 2)
    for label, (kappa, conductance) in curves.items():
        style = "--" if "reservoirs" in label else "o-"
        left.plot(fluxes, kappa, style, markersize=3, label=label)
        right.plot(fluxes, conductance, style, markersize=3, label=label)
        print(f"{label}: kappa/kappa_N = {kappa_at_zero[label]:.4f} at Phi = 0, "
              f"{kappa_at_half[label]:.4f} at Phi0/2; G/G_N from {conductance.min():.4f} to {conductance.max():.4f}")
    left.set(xlabel=r"$\Phi/\Phi_0$", ylabel=r"$\kappa/\kappa_N$", title=f"T = {temperature:g} $\\Delta_0$")
    right.set(xlabel=r"$\Phi/\Phi_0$", ylabel=r"$G/G_N$")
    left.legend(fontsize="small")
    output = sys.argv[1] if len(sys.argv) > 1 else "s_loop_interferometer.png"
    figure.savefig(output, dpi=120)
    print(f"wrote {output}")
