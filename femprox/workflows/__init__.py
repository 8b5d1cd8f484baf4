"""Sweeps, studies and runs on clusters: the stages run over many parameters.

Consumes geometries (objects or files) and parameter ranges; produces plain numbers
(sweeps) or labelled xarray Datasets (studies) for the output stage (:mod:`femprox.output`).

* :mod:`femprox.workflows.sweeps` -- transport sweeps over temperature and phase, and mesh
  convergence studies, as plain numbers.
* :mod:`femprox.workflows.studies` -- DOS maps, finite-bias I-V curves and current-phase
  relations.
* :mod:`femprox.workflows.distributed` -- sweep tasks on a Dask cluster (or a local pool),
  with partial results on disk.
"""

from femprox.workflows.sweeps import convergence_study, sweep

__all__ = ["convergence_study", "sweep"]
