"""The paper's T-junction with a self-consistent S lead: Delta(x), T_c, and kappa, G against
the rigid bulk gap.

Run:  python examples/self_consistent_t_junction.py

For r = 0.1, 1, 10 (L_N = L_S = 10 xi0) prints T_c of the structure, Delta along the S arm
at T = 0.1 Delta0, and kappa/kappa_N, G/G_N at a few temperatures with the self-consistent
Delta(x) next to the rigid bulk BCS gap (the paper's approximation). See
docs/self_consistency.md.
"""

from __future__ import annotations

import logging

import numpy as np

from femprox import bcs
from femprox.devices import t_junction
from femprox.energy_grid import energy_grid, solve_on_grid
from femprox.kinetic import spectral_conductance
from femprox.observables import linear_response
from femprox.selfconsistency import critical_temperature, solve_gap
from femprox.temperature import at_temperature


def heat_and_charge(conductance, grid, temperature: float) -> tuple[float, float]:
    """kappa/kappa_N and G/G_N between the N reservoirs, the S arm floating."""
    pair = linear_response(conductance, grid, temperature).two_terminal("left", "right", others="floating")
    return pair.heat_conductance_ratio, pair.conductance_ratio


def main() -> None:
    logging.getLogger("femprox.spectral").setLevel(logging.ERROR)
    positions = np.array([0.01, 0.1, 1.0, 3.0, 10.0])
    for r in (0.1, 1.0, 10.0):
        geometry = t_junction(r=r)
        tc = critical_temperature(geometry).temperature
        profile = solve_gap(geometry, 0.1).profile("s_arm", positions)[1]
        print(f"r = {r:g}: T_c = {tc:.5f} Delta0 ({tc / bcs.critical_temperature():.4f} T_c0); "
              f"Delta(x) at T = 0.1, x = {positions.tolist()} xi0: {np.round(profile, 4).tolist()}")
        for temperature in (0.05, 0.1, 0.2, 0.3, 0.4):
            rigid = at_temperature(geometry, temperature)
            grid = energy_grid(rigid, [temperature])
            _, conductance = solve_on_grid(rigid, grid)
            kappa_rigid, g_rigid = heat_and_charge(conductance, grid, temperature)
            result = solve_gap(geometry, temperature)
            kappa, g = heat_and_charge(spectral_conductance(result.solve_spectral(grid.nodes)), grid, temperature)
            print(f"  T = {temperature:.2f}: kappa/kappa_N {kappa:.4f} (rigid {kappa_rigid:.4f}), "
                  f"G/G_N {g:.4f} (rigid {g_rigid:.4f})")


if __name__ == "__main__":
    main()
