"""The paper's T-junction with a self-consistent S lead: T_c, Delta(x), and kappa, G against
the rigid bulk gap.

For r = 0.1, 1, 10 (L_N = L_S = 10 xi0, S lead ending free) prints T_c of the structure,
Delta along the S arm at T = 0.1 Delta0, and kappa/kappa_N, G/G_N at a few temperatures
with the self-consistent Delta(x) next to the rigid bulk BCS gap (the paper's
approximation). Temperatures and gaps in Delta0, lengths in xi0. See docs/self_consistency.md.

    python examples/self_consistent_t_junction.py

Set FEMPROX_EXAMPLES_QUICK=1 for a short run (r = 1, T = 0.1 only; used by the tests).
"""

import logging
import os

import numpy as np

from femprox.physics import bcs
from femprox.geometry.devices import t_junction
from femprox.observables.energy_grid import energy_grid, solve_on_grid
from femprox.kinetic.solver import spectral_conductance
from femprox.observables.conductance import linear_response
from femprox.selfconsistency.gap_equation import critical_temperature, solve_gap
from femprox.geometry.temperature import at_temperature

QUICK = os.environ.get("FEMPROX_EXAMPLES_QUICK") == "1"
if __name__ == "__main__":  # quiet the rigid solves' gap-edge notes (not when imported: global state)
    logging.getLogger("femprox.spectral.solver").setLevel(logging.ERROR)

proximity_strengths = [1.0] if QUICK else [0.1, 1.0, 10.0]
temperatures = [0.1] if QUICK else [0.05, 0.1, 0.2, 0.3, 0.4]
positions = np.array([0.01, 0.1, 1.0, 3.0, 10.0])  # along the S arm, from the contact


def heat_and_charge(conductance, grid, temperature: float) -> tuple[float, float]:
    """kappa/kappa_N and G/G_N between the N reservoirs, the S arm floating."""
    pair = linear_response(conductance, grid, temperature).two_terminal("left", "right", others="floating")
    return pair.heat_conductance_ratio, pair.conductance_ratio


critical = {}   # r -> T_c of the structure (Delta0)
profiles = {}   # r -> |Delta| at ``positions`` at T = 0.1
transport = {}  # (r, T) -> (kappa, G, kappa rigid, G rigid)
for r in proximity_strengths:
    geometry = t_junction(r=r)
    critical[r] = critical_temperature(geometry).temperature
    profiles[r] = solve_gap(geometry, 0.1).profile("s_arm", positions)[1]
    for temperature in temperatures:
        rigid = at_temperature(geometry, temperature)
        grid = energy_grid(rigid, [temperature])  # adapted to the bulk gap edge
        _, conductance = solve_on_grid(rigid, grid)
        result = solve_gap(geometry, temperature)
        self_consistent = spectral_conductance(result.solve_spectral(grid.nodes))
        transport[r, temperature] = (heat_and_charge(self_consistent, grid, temperature)
                                     + heat_and_charge(conductance, grid, temperature))

if __name__ == "__main__":
    for r in proximity_strengths:
        print(f"r = {r:g}: T_c = {critical[r]:.5f} Delta0 ({critical[r] / bcs.critical_temperature():.4f} T_c0); "
              f"Delta at T = 0.1, x = {positions.tolist()} xi0: {np.round(profiles[r], 4).tolist()}")
        for temperature in temperatures:
            kappa, g, kappa_rigid, g_rigid = transport[r, temperature]
            print(f"  T = {temperature:.2f}: kappa/kappa_N {kappa:.4f} (rigid {kappa_rigid:.4f}), "
                  f"G/G_N {g:.4f} (rigid {g_rigid:.4f})")
