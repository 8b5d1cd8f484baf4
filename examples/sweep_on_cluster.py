"""Tutorial: a two-parameter sweep on a Dask cluster, as a labelled xarray Dataset.

Sweeps the T-junction's proximity parameter r and its N-wire length L_N at several
temperatures (a Cartesian product), runs the spectral solves on a Dask cluster, and gets
kappa/kappa_N, G/G_N, the multi-terminal matrices and error estimates as one Dataset with
dimensions (r, length_n, temperature). Every finished solve is also written to a run folder,
so an interrupted sweep continues with ``resume=True``. The Dataset is plotted, saved as
netCDF and loaded back. Temperatures in Delta0, lengths in xi0.

    python examples/sweep_on_cluster.py

Here the cluster is a LocalCluster on this machine; for a real one pass its scheduler's
address instead: ``Client("tcp://scheduler:8786")`` (the workers need femprox installed).
Writes example-output/sweep.nc, sweep.png and the run folder example-output/sweep-run/
(FEMPROX_EXAMPLES_OUTPUT sets the folder); FEMPROX_EXAMPLES_QUICK=1 makes it small and fast.
Command line: ``femprox sweep geometries/t_junction.toml --sweep r=0.1,1,10 --sweep
length_n=5:20:4 --temperatures 0.02:0.5:8 --scheduler local -o sweep-run`` (add ``--resume``
to continue an interrupted run).
"""

# %% a Dask cluster (in-process and small in quick mode)
import os
from pathlib import Path

import numpy as np
from distributed import Client, LocalCluster

import femprox
from femprox.output import results
from femprox.workflows import sweeps
from femprox.paper.figures import T_JUNCTION_FILE

QUICK = os.environ.get("FEMPROX_EXAMPLES_QUICK") == "1"
OUTPUT = Path(os.environ.get("FEMPROX_EXAMPLES_OUTPUT", "example-output"))

# processes=False keeps the workers as threads of this process: quick to start, nothing to
# install; with processes=True (the default) each worker is its own process
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
client = Client(cluster)

# %% the sweep: every (r, length_n) pair, every temperature
axes = {"r": [0.1, 10.0], "length_n": [5.0, 10.0]} if QUICK else {"r": [0.1, 1.0, 10.0],
                                                                   "length_n": [5.0, 10.0, 15.0, 20.0]}
temperatures = [0.05, 0.2] if QUICK else list(np.linspace(0.02, 0.5, 8))
dataset = results.parameter_sweep(
    T_JUNCTION_FILE, temperatures, axes, client=client, run_folder=OUTPUT / "sweep-run",
    resume=True,  # nothing to resume the first time; afterwards finished solves are read back
    grid=sweeps.QUICK_GRID if QUICK else sweeps.ADAPTIVE_GRID,
    mesh=sweeps.MeshSettings(refine=0.5) if QUICK else sweeps.MeshSettings())
client.close()
cluster.close()
print(dataset)

# %% labelled selection: kappa/kappa_N at the lowest temperature, as an r x length_n table
coldest = dataset["heat_conductance_ratio"].isel(temperature=0)
print(coldest.to_pandas())
strongest_effect = coldest.where(coldest == coldest.min(), drop=True)
print(f"lowest kappa/kappa_N: {float(coldest.min()):.4f} at r = {float(strongest_effect['r'][0]):g}, "
      f"L_N = {float(strongest_effect['length_n'][0]):g} xi0")

# %% save, load, plot
if __name__ == "__main__":
    from femprox.output.plotting import figure_with_axes, plot_dataset

    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = results.save(dataset, OUTPUT / "sweep.nc")
    loaded = femprox.load(path)
    assert loaded["heat_conductance_ratio"].equals(dataset["heat_conductance_ratio"])
    figure, (left, right) = figure_with_axes(2, width=6.0, height=4.2)
    plot_dataset(loaded.sel(length_n=10.0), "heat_conductance_ratio", left, errors=True)
    plot_dataset(loaded.isel(temperature=0), "heat_conductance_ratio", right, against="length_n")
    left.set_title(r"$L_N = 10\,\xi_0$")
    right.set_title(rf"$T = {float(loaded['temperature'][0]):g}\,\Delta_0$")
    figure.savefig(OUTPUT / "sweep.png", dpi=120)
    print(f"saved {path} and {OUTPUT / 'sweep.png'}")
