"""Stage 4, kinetic coefficients: the linear kinetic equations for f_L and f_T.

Consumes a spectral solution (:mod:`femprox.spectral`); produces spectral conductances
(``SpectralConductance``: terminal currents per unit distribution at every energy) for the
observables stage (:mod:`femprox.observables`).

* :mod:`femprox.kinetic.coefficients` -- kinetic coefficients (diffusion, cross terms,
  charge-imbalance conversion) from the spectral solution.
* :mod:`femprox.kinetic.solver` -- ``spectral_conductance``: the kinetic equations on the
  graph mesh.
* :mod:`femprox.kinetic.condensate` -- where the charge converted in S wires goes: its split
  among the S terminals, and the phase stiffness.
"""

from femprox.kinetic.solver import SpectralConductance, spectral_conductance

__all__ = ["SpectralConductance", "spectral_conductance"]
