"""Self-consistent pair potential: Delta(x) from the gap equation, fed back into the stages.

Consumes a geometry with superconducting wires (and their materials); produces a pair
potential along the wires that the spectral stage uses instead of the bulk BCS gap, and
transport computed with it.

* :mod:`femprox.selfconsistency.gap_equation` -- ``solve_gap`` (Delta(x) at one temperature),
  ``gap_curve`` and ``critical_temperature`` (T_c of a structure).
* :mod:`femprox.selfconsistency.transport` -- transport sweeps with a self-consistent pair
  potential: kappa/kappa_N, G/G_N, T_c and Delta(x).
"""

from femprox.selfconsistency.gap_equation import SelfConsistencyError, critical_temperature, gap_curve, solve_gap

__all__ = ["SelfConsistencyError", "critical_temperature", "gap_curve", "solve_gap"]
