"""Batched direct solvers shared by the spectral and the kinetic stage.

Both stages solve one sparse system per energy, all with the same sparsity pattern; these
modules factorize them together.

* :mod:`femprox.linalg.block` -- the batched block solver: chains of wire elements, junction
  unknowns last, element interiors condensed; ``block_solver`` returns the solver for a
  sparsity pattern (analysed once per pattern and cached).
* :mod:`femprox.linalg.multifrontal` -- batched sparse LU by nested dissection, for the
  junctions of a network.
"""

from femprox.linalg.block import block_solver

__all__ = ["block_solver"]
