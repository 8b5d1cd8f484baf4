"""Tutorial: current-phase relation and critical current of an SNS junction, in e I R_N.

A short junction (L = 0.05 xi0) follows the Kulik-Omelyanchuk law
e I R_N = pi Delta cos(phi/2) artanh(sin(phi/2)) at T = 0; a long one (L = 10 xi0) has
e I_c R_N ~ 10 E_Th. The currents come from Matsubara sums (no minigap edges to resolve).
Phases in radians, e I R_N in Delta0.

    python examples/supercurrent.py

Saves example-output/supercurrent.png (FEMPROX_EXAMPLES_OUTPUT sets the folder); set
FEMPROX_EXAMPLES_QUICK=1 for a coarse, fast run. Command line:
``femprox supercurrent geometries/sns_junction.toml --set length=0.05 --phases 0:pi:13 -o ic-run``.
"""

# %% current-phase relations of a short and a long junction at T = 0
import os
from pathlib import Path

import numpy as np

from femprox.workflows import studies
from femprox.geometry.devices import sns_junction

QUICK = os.environ.get("FEMPROX_EXAMPLES_QUICK") == "1"
OUTPUT = Path(os.environ.get("FEMPROX_EXAMPLES_OUTPUT", "example-output"))



def junction(length: float):
    """The SNS junction of this length as a function of the phase (what the study sweeps)."""
    return lambda phase: sns_junction(length=length, phase=phase)


phases = np.linspace(0.0, np.pi, 5 if QUICK else 25)[1:-1]  # I = 0 at 0 and pi
short = studies.current_phase_relation(junction(0.05), phases)
kulik_omelyanchuk = np.pi * np.cos(phases / 2) * np.arctanh(np.sin(phases / 2))
largest_deviation = float(np.max(np.abs(short["e_i_rn"].values / kulik_omelyanchuk - 1)))
print(f"short junction: e I_c R_N = {short.attrs['critical_current'] * short.attrs['normal_resistance']:.4f} "
      f"Delta0; largest deviation from Kulik-Omelyanchuk {largest_deviation:.1e}")

# %% a long junction, in units of its Thouless energy
if not QUICK:
    long = studies.current_phase_relation(junction(10.0), phases)
    print(f"long junction: e I_c R_N / E_Th = {float(long['e_i_rn_over_thouless'].max()):.2f} "
          f"(Delta = {1 / long.attrs['thouless_energy']:.0f} E_Th)")

# %% plot and save
if __name__ == "__main__":
    from femprox.output.plotting import plot_current_phase

    ax = plot_current_phase(short)
    ax.plot(phases, kulik_omelyanchuk, "k--", label="Kulik-Omelyanchuk")
    ax.legend(fontsize="small")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    ax.figure.savefig(OUTPUT / "supercurrent.png", dpi=120)
    print(f"saved {OUTPUT / 'supercurrent.png'}")
