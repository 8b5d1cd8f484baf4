"""femprox: finite-element Usadel solver for superconductor/normal-metal wire networks.

The layout follows the pipeline (see README.md), one subpackage or module per stage:

1. ``femprox.geometry`` -- what the device is (``Geometry``, ``load_geometry``; geometry
   files, the paper's devices, temperatures, input limits);
2. ``femprox.mesh`` -- the graph mesh (``build_mesh``);
3. ``femprox.spectral`` -- the spectral solution (``solve_spectral``);
4. ``femprox.kinetic`` -- kinetic coefficients and spectral conductances
   (``spectral_conductance``);
5. ``femprox.observables`` -- energy integrals and observables (``linear_response``);
6. ``femprox.output`` -- plots and files (labelled results and netCDF files, field export).

Beside the stages: ``femprox.physics`` (the physical terms and conditions the solvers
assemble, and the BCS gap), ``femprox.linalg`` (batched direct solvers of the spectral and
kinetic stages), ``femprox.selfconsistency`` (the self-consistent pair potential),
``femprox.workflows`` (sweeps, studies and Dask runs) and ``femprox.paper`` (the seed
paper's figures, closed-form models and checks). Files and the command line are in
``femprox.api`` and ``femprox.cli``.
"""

from femprox.geometry.network import Geometry, GeometryError, MeshOptions, Node, NodeKind, Wire
from femprox.geometry.files import load_geometry, parse_geometry
from femprox.kinetic.solver import spectral_conductance
from femprox.mesh import build_mesh
from femprox.observables.conductance import linear_response
from femprox.spectral.solver import SpectralConvergenceError, solve_spectral

__version__ = "0.1.0"


def load(path):
    """Read a labelled result (netCDF file written by ``femprox.output.results.save`` or the command
    line) as an xarray Dataset; see :mod:`femprox.output.results`."""
    from femprox.output.results import load as _load  # xarray is imported only when results are used

    return _load(path)


__all__ = ["Geometry", "GeometryError", "MeshOptions", "Node", "NodeKind", "SpectralConvergenceError", "Wire",
           "__version__", "build_mesh", "linear_response", "load", "load_geometry", "parse_geometry", "solve_spectral",
           "spectral_conductance"]
