"""Tutorial: finite-bias current through an NS wire (reentrance of the conductance).

A normal wire (L = 10 xi0, E_Th = 0.02 Delta0) from a normal reservoir N to a
superconducting reservoir S. At bias V the current I(V) is compared with the normal-state
current G_N V: I/(G_N V) rises above 1 for V of a few E_Th and returns toward 1 at large V,
while heat currents show where the Joule power goes. Biases in Delta0/e, currents in
G0 Delta0/e (G0: the wire's conductance unit).

    python examples/iv_curve.py

Saves example-output/iv_curve.png (FEMPROX_EXAMPLES_OUTPUT sets the folder); set
FEMPROX_EXAMPLES_QUICK=1 for a coarse, fast run. Command line:
``femprox iv geometries/ns_wire.toml --biases 0:0.5:26 --temperature 0.005 -o iv-run``.
"""

# %% currents of every terminal at every bias: one spectral solve serves all biases
import os
from pathlib import Path

import numpy as np

from femprox.workflows import studies
from femprox.geometry.devices import ns_wire

QUICK = os.environ.get("FEMPROX_EXAMPLES_QUICK") == "1"
OUTPUT = Path(os.environ.get("FEMPROX_EXAMPLES_OUTPUT", "example-output"))

biases = np.linspace(0.01, 0.5, 5 if QUICK else 40)
iv = studies.iv_curve(ns_wire(length=10.0), biases, terminal="N", temperature=0.005)
ratio = iv["current_ratio"]
print(f"I/(G_N V) from {float(ratio.min()):.4f} to {float(ratio.max()):.4f}, "
      f"largest at V = {iv['bias'].values[int(np.argmax(ratio.values))]:.3g} Delta0/e")

# %% the heat currents: the Joule power I V leaves through the reservoirs
joule = iv["bias"] * iv["charge_current"].sel(terminal="N")
heat_into_network = iv["heat_current"].sum("terminal")  # = -I V (currents count into the network)
print(f"largest |sum Q + I V| = {float(abs(heat_into_network + joule).max()):.2e}")

# %% plot and save
if __name__ == "__main__":
    from femprox.output.plotting import figure_with_axes, plot_iv

    figure, (left, right) = figure_with_axes(2, width=5.5, height=4.0)
    plot_iv(iv, ax=left)
    right.plot(iv["bias"], ratio, "o-", markersize=3)
    right.set(xlabel=r"bias $V$ ($\Delta_0/e$)", ylabel=r"$I/(G_N V)$")
    OUTPUT.mkdir(parents=True, exist_ok=True)
    figure.savefig(OUTPUT / "iv_curve.png", dpi=120)
    print(f"saved {OUTPUT / 'iv_curve.png'}")
