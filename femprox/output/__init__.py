"""Plots and files: what leaves the program.

Consumes numbers from the other stages; produces figures, netCDF, CSV and mesh files.

* :mod:`femprox.output.plotting` -- drawing: the paper's figures, sweeps, convergence
  studies and network sketches (matplotlib).
* :mod:`femprox.output.results` -- labelled sweep results as xarray Datasets, saved and
  loaded as netCDF files.
* :mod:`femprox.output.export` -- field export: the graph mesh with point data, through
  meshio.
* :mod:`femprox.output.result_checks` -- checks before anything is written: no NaN or
  unphysical number reaches an output file.
* :mod:`femprox.output.safe_output` -- atomic output folders and files.

Nothing is re-exported here: importing one of these modules (the command line imports
``safe_output`` at start) must not load matplotlib, xarray or meshio; import the module
you need.
"""
