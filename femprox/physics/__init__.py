"""The physics that the solvers assemble, one small place per term or condition.

The spectral stage (:mod:`femprox.spectral`) and the kinetic stage (:mod:`femprox.kinetic`)
are generic finite-element machinery: they know about quadrature points, degrees of freedom
and Newton's method, but not about superconductivity. Everything physical they need comes
from here:

* :mod:`femprox.physics.bulk` -- terms of the Usadel equation inside a wire: the energy and
  Dynes rate, the pair potential (with its charge-imbalance conversion for the kinetic
  equations) and the vector potential (gauge-covariant derivatives).
* :mod:`femprox.physics.reservoirs` -- what a reservoir imposes: bulk BCS or normal Riccati
  amplitudes, and which distribution modes it fixes.
* :mod:`femprox.physics.contacts` -- conditions between a wire end and the node it meets
  (a transparent contact needs nothing; a Kupriyanov-Lukichev tunnel barrier couples the two
  sides through its matrix current, in the spectral and the kinetic equations alike).
* :mod:`femprox.physics.pair_potential` -- a pair potential that varies along the wires (a
  field at the quadrature points, e.g. self-consistent) and the materials of the gap equation.
* :mod:`femprox.physics.flux` -- magnetic flux through loops of the network, turned into
  vector potentials along wires by a documented gauge rule.
* :mod:`femprox.physics.bcs` -- the weak-coupling BCS gap Delta(T) of a bulk superconductor
  (reservoir gaps at a temperature, the bulk value the gap equation starts from).

``docs/adding_physics.md`` walks through adding a new contact type.
"""
