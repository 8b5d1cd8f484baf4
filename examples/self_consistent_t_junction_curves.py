"""How much does the paper's rigid gap matter? kappa/kappa_N(T) and G/G_N(T) of the T-junction
with a self-consistent S lead, next to the rigid bulk BCS Delta(T).

The paper's T-junction (L_N = L_S = 10 xi0, N reservoirs at both ends of the N wire, the S
lead ending free, transparent NS contact) for r = 0.1, 1, 10 at 25 temperatures from 0.005
to 0.56 Delta0 (log-spaced; T_c0 = 0.567). Self-consistent: Delta(x) from the cutoff-free gap
equation at every T (:func:`femprox.selfconsistency.transport.self_consistent_sweep`);
rigid: the S arm at the bulk BCS Delta(T) (:func:`femprox.workflows.sweeps.sweep`, the paper's
approximation). Prints T_c of the structure, the largest differences of the two curves
(below the structure's T_c) and where, and |Delta| at 0.1 and 1 xi0 from the contact.
Temperatures and gaps in Delta0, lengths in xi0. See docs/self_consistency.md, "Research result".

    python examples/self_consistent_t_junction_curves.py

The figure is saved to example-output/self_consistent_t_junction.png (FEMPROX_EXAMPLES_OUTPUT
sets the folder); docs/self_consistent_t_junction.png was made this way (2-3 minutes on 2 shared
cores). Set FEMPROX_EXAMPLES_QUICK=1 for a short run (r = 1, 4 temperatures; used by the tests).
"""

import logging
import os
from pathlib import Path

import numpy as np

from femprox.physics import bcs
from femprox.geometry.devices import t_junction
from femprox.selfconsistency.transport import self_consistent_sweep
from femprox.workflows.sweeps import sweep

QUICK = os.environ.get("FEMPROX_EXAMPLES_QUICK") == "1"
OUTPUT = Path(os.environ.get("FEMPROX_EXAMPLES_OUTPUT", "example-output"))  # where the figure is saved
if __name__ == "__main__":  # quiet the rigid solves' gap-edge notes (not when imported: global state)
    logging.getLogger("femprox.spectral.solver").setLevel(logging.ERROR)

proximity_strengths = [1.0] if QUICK else [0.1, 1.0, 10.0]
temperatures = np.geomspace(0.05, 0.56, 4) if QUICK else np.geomspace(0.005, 0.56, 25)
contact_distances = (0.1, 1.0)  # xi0 from the NS contact (Delta -> 0 at the contact itself)
T_C0 = bcs.critical_temperature()

curves = {}  # r -> {"sc": SelfConsistentSweep, "rigid": SweepResult}
for r in proximity_strengths:
    geometry = t_junction(r=r)
    curves[r] = {"sc": self_consistent_sweep(geometry, temperatures), "rigid": sweep(geometry, temperatures)}


def largest_difference(r: float, column: str) -> tuple[float, float]:
    """(self-consistent minus rigid, T) where |difference| is largest, below the structure's T_c."""
    sc, rigid = curves[r]["sc"], curves[r]["rigid"]
    below = temperatures < sc.critical_temperature.temperature
    difference = (sc.column(column) - rigid.column(column))[below]
    k = int(np.argmax(np.abs(difference)))
    return float(difference[k]), float(temperatures[below][k])


def contact_gap(r: float, distance: float) -> np.ndarray:
    """|Delta| at ``distance`` from the contact over the temperatures (0 above T_c)."""
    return curves[r]["sc"].contact_gap(distance)["s_arm", "start"]


def figure():
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 4.2), layout="constrained")
    heat, charge, gap = fig.subplots(1, 3)
    for (r, data), colour in zip(curves.items(), ("C0", "C1", "C2")):
        sc, rigid = data["sc"], data["rigid"]
        for axes, column in ((heat, "heat_conductance_ratio"), (charge, "conductance_ratio")):
            axes.plot(temperatures, sc.column(column), "o-", color=colour, markersize=3,
                      label=f"r = {r:g}, self-consistent")
            axes.plot(temperatures, rigid.column(column), "--", color=colour, label=f"r = {r:g}, rigid BCS gap")
        for distance, style in zip(contact_distances, ("o-", "s:")):
            gap.plot(temperatures, contact_gap(r, distance), style, color=colour, markersize=3,
                     label=f"r = {r:g}, {distance:g} xi0")
    dense = np.linspace(0.0, T_C0, 200)
    gap.plot(dense, bcs.gap(dense), "k-", linewidth=0.8, label="bulk BCS")
    heat.set(xscale="log", xlabel="T / Delta0", ylabel="kappa / kappa_N", title="heat conductance")
    charge.set(xscale="log", xlabel="T / Delta0", ylabel="G / G_N", title="charge conductance")
    gap.set(xlabel="T / Delta0", ylabel="|Delta| / Delta0", title="|Delta| at 0.1 and 1 xi0 from the contact")
    gap.set_ylim(0.0, 1.4)  # room for the legend above the curves
    heat.legend(fontsize=7)
    gap.legend(fontsize=7, ncol=2, loc="upper right")
    return fig


if __name__ == "__main__":
    print("T-junction, L_N = L_S = 10 xi0: self-consistent S lead vs rigid bulk BCS gap")
    for r in proximity_strengths:
        sc = curves[r]["sc"]
        tc = sc.critical_temperature.temperature
        (dk, tk), (dg, tg) = largest_difference(r, "heat_conductance_ratio"), largest_difference(r, "conductance_ratio")
        low = 0  # the lowest temperature
        gaps = ", ".join(f"{contact_gap(r, d)[low]:.4f} at {d:g} xi0" for d in contact_distances)
        print(f"r = {r:g}: T_c = {tc:.5f} ({tc / T_C0:.4f} T_c0); largest kappa/kappa_N difference {dk:+.4f} "
              f"at T = {tk:.4f}, G/G_N {dg:+.4f} at T = {tg:.4f}; |Delta| at T = "
              f"{temperatures[low]:g}: {gaps}; Newton iterations {sum(sc.newton_iterations)}, "
              f"{sum(sc.seconds):.1f} s")
        print(f"  {'T':>8}{'kappa sc':>10}{'rigid':>9}{'G sc':>9}{'rigid':>9}{'D(0.1)':>9}{'D(1)':>9}")
        rigid = curves[r]["rigid"]
        for k, t in enumerate(temperatures):
            print(f"  {t:8.4f}{sc.column('heat_conductance_ratio')[k]:10.4f}"
                  f"{rigid.column('heat_conductance_ratio')[k]:9.4f}{sc.column('conductance_ratio')[k]:9.4f}"
                  f"{rigid.column('conductance_ratio')[k]:9.4f}{contact_gap(r, 0.1)[k]:9.4f}{contact_gap(r, 1.0)[k]:9.4f}")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / "self_consistent_t_junction.png"
    figure().savefig(path, dpi=120)
    print(f"wrote {path}")
