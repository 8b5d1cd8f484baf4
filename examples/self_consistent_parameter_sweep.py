"""T_c and heat transport of the T-junction against the length of its S lead, with the
self-consistent pair potential: a parameter sweep, one warm-started chain of temperatures per
lead length, the lengths in parallel.

The paper's T-junction (L_N = 10 xi0, r = 1, transparent contact) with a free-ended S lead of
length L_S. The N wire draws pairs out of the lead (inverse proximity effect); a short lead is
suppressed as a whole, and its T_c falls below the bulk T_c0 = 0.567 Delta0, or vanishes. The
same from the command line:

    femprox sweep geometries/t_junction.toml --self-consistent --sweep length_s=1,2,5,10 \\
        --temperatures 0.1 0.3 -o lead-length

    python examples/self_consistent_parameter_sweep.py

Prints T_c(L_S) (NaN: the lead stays normal down to the lowest temperature tried) and
kappa/kappa_N at each temperature. Temperatures in Delta0, lengths in xi0. About 5 s on 2
cores; FEMPROX_EXAMPLES_QUICK=1 for a shorter run (used by the tests).
"""

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from femprox.output.results import parameter_sweep
from femprox.workflows.sweeps import QUICK_GRID, MeshSettings

QUICK = os.environ.get("FEMPROX_EXAMPLES_QUICK") == "1"
T_JUNCTION = Path(__file__).resolve().parent.parent / "geometries" / "t_junction.toml"
lead_lengths = [2.0, 10.0] if QUICK else [1.0, 2.0, 5.0, 10.0]
temperatures = [0.3] if QUICK else [0.1, 0.3]
options = {"grid": QUICK_GRID, "mesh": MeshSettings(refine=0.5)} if QUICK else {}

with ProcessPoolExecutor(2) as pool:  # one process per lead length at a time
    result = parameter_sweep(T_JUNCTION, temperatures, {"length_s": lead_lengths}, self_consistent=True,
                             executor=pool, **options)

critical_temperature = dict(zip(lead_lengths, result["critical_temperature"].values.tolist()))
kappa = result["heat_conductance_ratio"]

if __name__ == "__main__":
    print(f"{'L_S (xi0)':>10}{'T_c (Delta0)':>14}" + "".join(f"{f'kappa/kappa_N, T={t:g}':>24}" for t in temperatures))
    for length in lead_lengths:
        values = kappa.sel(length_s=length).values
        print(f"{length:>10g}{critical_temperature[length]:>14.4f}" + "".join(f"{v:>24.6f}" for v in values))
