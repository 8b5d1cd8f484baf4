"""femprox: finite-element Usadel solver for superconductor/normal-metal wire networks.

The pipeline, one module per stage (see README.md):
geometry (``Geometry``, ``load_geometry``) -> mesh (``build_mesh``) -> spectral solution
(``solve_spectral``) -> kinetic coefficients -> spectral conductances (``spectral_conductance``)
-> energy integrals (``femprox.energy_grid``) -> observables (``linear_response``). Sweeps and
convergence studies are in ``femprox.sweeps`` (labelled results, netCDF files and
Dask runs in ``femprox.results`` and ``femprox.distributed``), the paper's figures in ``femprox.figures``, files
and the command line in ``femprox.api`` and ``femprox.cli``.
"""

from femprox.geometry import Geometry, GeometryError, MeshOptions, Node, NodeKind, Wire
from femprox.geometry_file import load_geometry, parse_geometry
from femprox.kinetic import spectral_conductance
from femprox.mesh import build_mesh
from femprox.observables import linear_response
from femprox.spectral import SpectralConvergenceError, solve_spectral

__version__ = "0.1.0"


def load(path):
    """Read a labelled result (netCDF file written by ``femprox.results.save`` or the command
    line) as an xarray Dataset; see :mod:`femprox.results`."""
    from femprox.results import load as _load  # xarray is imported only when results are used

    return _load(path)


__all__ = ["Geometry", "GeometryError", "MeshOptions", "Node", "NodeKind", "SpectralConvergenceError", "Wire",
           "__version__", "build_mesh", "linear_response", "load", "load_geometry", "parse_geometry", "solve_spectral",
           "spectral_conductance"]
