"""Stage 1, what the device is: a network of nodes joined by quasi-1D diffusive wires.

Consumes a description (Python objects, a TOML geometry file or one of the paper's
devices) and produces a :class:`Geometry` that the mesh stage (:mod:`femprox.mesh`) turns
into a graph mesh.

* :mod:`femprox.geometry.network` -- the description itself: ``Geometry``, ``Node``,
  ``Wire``, ``NodeKind``, ``MeshOptions``, flux loops and their checks.
* :mod:`femprox.geometry.files` -- geometry files in TOML (reading, writing, expressions).
* :mod:`femprox.geometry.devices` -- builders for the structures of the paper.
* :mod:`femprox.geometry.temperature` -- a network at a temperature: reservoir temperatures
  and BCS gaps at T.
* :mod:`femprox.geometry.limits` -- sensible ranges of input values and size limits,
  checked before any work is done.
"""

from femprox.geometry.network import Geometry, GeometryError, MeshOptions, Node, NodeKind, Wire

__all__ = ["Geometry", "GeometryError", "MeshOptions", "Node", "NodeKind", "Wire"]
