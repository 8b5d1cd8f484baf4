"""Stage 3, spectral solution: the retarded Usadel equation on a graph mesh.

Consumes a graph mesh (or a geometry, meshed on the way) and a set of energies; produces a
:class:`SpectralSolution` (Riccati amplitudes at every energy) for the kinetic stage
(:mod:`femprox.kinetic`).

* :mod:`femprox.spectral.solver` -- ``solve_spectral``: Newton's method for all energies at
  once, with continuation in the Dynes rate.
* :mod:`femprox.spectral.supercurrent` -- equilibrium supercurrent through a wire
  (Matsubara sums, and a real-axis cross-check).
"""

from femprox.spectral.solver import SpectralConvergenceError, SpectralSolution, solve_spectral

__all__ = ["SpectralConvergenceError", "SpectralSolution", "solve_spectral"]
