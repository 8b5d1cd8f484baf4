"""An NIS thermometer and cooler: a normal wire probed through a tunnel barrier by a superconductor.

The N wire (L_N = 10 xi0) between two normal reservoirs has, at its middle, a short normal arm
ending on an S reservoir through a tunnel barrier of resistance R_B = 100 R_N (geometry file
nis_thermometer.toml: the barrier is the one line `end_barrier`). With both normal reservoirs
at potential V against the probe, the probe current I(V) is the thermometer's reading: its
zero-bias conductance falls like exp(-Delta/T). The heat the normal reservoirs lose, P(V), is
the NIS cooling power (less the Joule heat of the wires), largest near eV = Delta - 0.66 k_B T.
With a weaker barrier (``{"parameters.barrier": 100}``) Andreev processes add a subgap
conductance and heating that grow like R_N / R_B. Energies, temperatures and biases in
Delta0 (e = k_B = 1).

    python examples/nis_thermometer.py [output.png]

Set FEMPROX_EXAMPLES_QUICK=1 for a coarse, fast run (used by the tests).
"""

import os
import sys

import numpy as np

from femprox.observables.energy_grid import energy_grid, solve_on_grid
from femprox.geometry.files import load_geometry, shipped_geometry_path
from femprox.observables.conductance import nonlinear_currents
from femprox.geometry.temperature import at_temperature

QUICK = os.environ.get("FEMPROX_EXAMPLES_QUICK") == "1"

temperatures = [0.1] if QUICK else [0.05, 0.1, 0.15, 0.2]
biases = np.linspace(0.0, 1.4, 8 if QUICK else 57)
step = 1e-3  # bias step of the numerical dI/dV

curves = {}
for temperature in temperatures:
    geometry = at_temperature(load_geometry(shipped_geometry_path("nis_thermometer"),
                                            {"parameters.temperature": temperature}), temperature)
    grid = energy_grid(geometry, [temperature], e_max=40 * temperature + biases.max() + step)
    _, conductance = solve_on_grid(geometry, grid)
    probe_index = conductance.terminal_index("probe")
    normal_resistance = 1.0 / conductance.normal[probe_index, probe_index]  # both N sides to the probe
    sides = [conductance.terminal_index(name) for name in ("left", "right")]

    def currents(v: float) -> tuple[float, float]:
        """(current from the N reservoirs into the network, heat they lose) with both at v."""
        state = {"left": (temperature, v), "right": (temperature, v), "probe": (temperature, 0.0)}
        result = nonlinear_currents(conductance, grid, state)
        return result.charge[sides].sum(), result.heat[sides].sum()

    dI_dV = np.array([currents(v + step)[0] - currents(v - step)[0] for v in biases]) / (2 * step)
    power = np.array([currents(v)[1] for v in biases])
    curves[temperature] = (dI_dV * normal_resistance, power * normal_resistance)

zero_bias = {t: dI_dV[0] for t, (dI_dV, _) in curves.items()}
best_bias = {t: biases[np.argmax(power)] for t, (_, power) in curves.items()}

if __name__ == "__main__":
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4), layout="constrained")
    left, right = figure.subplots(1, 2)
    for t, (dI_dV, power) in curves.items():
        left.semilogy(biases, dI_dV, label=f"T = {t:g}")
        right.plot(biases, power, label=f"T = {t:g}")
        print(f"T = {t:g}: zero-bias R_N dI/dV = {zero_bias[t]:.3e}; cooling power largest at "
              f"V = {best_bias[t]:.3f} (1 - 0.66 T = {1 - 0.66 * t:.3f})")
    left.set(xlabel=r"$V$ ($\Delta_0/e$)", ylabel=r"$R_N\,dI/dV$", title="thermometer")
    right.set(xlabel=r"$V$ ($\Delta_0/e$)", ylabel=r"$R_N P$ ($\Delta_0^2/e^2$)", title="cooler: heat drawn from N")
    right.axhline(0.0, color="gray", linewidth=0.5)
    left.legend()
    right.legend()
    output = sys.argv[1] if len(sys.argv) > 1 else "nis_thermometer.png"
    figure.savefig(output, dpi=120)
    print(f"wrote {output}")
