"""Stage 5, observables: energy integrals of the spectral conductances.

Consumes spectral conductances (:mod:`femprox.kinetic`) on an energy grid; produces
conductance matrices, thermal conductance and currents at given temperatures and biases.

* :mod:`femprox.observables.energy_grid` -- energy grids and integration: thermal kernels,
  Gauss panels, adaptive refinement.
* :mod:`femprox.observables.conductance` -- ``linear_response`` (charge, thermoelectric,
  Peltier and heat conductance matrices), ``nonlinear_currents`` at finite bias, normal
  resistances.
"""

from femprox.observables.conductance import linear_response, nonlinear_currents

__all__ = ["linear_response", "nonlinear_currents"]
