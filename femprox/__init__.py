"""femprox: finite-element Usadel solver for superconductor/normal-metal wire networks."""

from femprox.geometry import Geometry, GeometryError, MeshOptions, Node, NodeKind, Wire

__version__ = "0.1.0"

__all__ = ["Geometry", "GeometryError", "MeshOptions", "Node", "NodeKind", "Wire", "__version__"]
