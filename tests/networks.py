"""Small networks shared by the kinetic and observables tests."""

import numpy as np

from femprox.geometry.network import Geometry, Node, NodeKind, Wire

N_RES, S_RES, CLEAN = NodeKind.NORMAL_RESERVOIR, NodeKind.SUPERCONDUCTING_RESERVOIR, NodeKind.CLEAN


def star_network() -> Geometry:
    """Three normal reservoirs joined at one clean node; wires of different g and L."""
    return Geometry(
        nodes=(Node("A", N_RES), Node("B", N_RES), Node("C", N_RES), Node("m", CLEAN)),
        wires=(Wire("a", "A", "m", length=2.0, conductance=1.0),
               Wire("b", "m", "B", length=3.0, conductance=2.0),
               Wire("c", "m", "C", length=1.0, conductance=0.5)))


def star_conductance_matrix() -> np.ndarray:
    """Kirchhoff: G_ij = G_i delta_ij - G_i G_j / sum G for branch conductances G_i = g_i/L_i."""
    G = np.array([1.0 / 2.0, 2.0 / 3.0, 0.5 / 1.0])
    return np.diag(G) - np.outer(G, G) / G.sum()


def asymmetric_house(phase: float) -> Geometry:
    """House interferometer without mirror symmetry (so Onsager relations are not trivial)."""
    return Geometry(
        nodes=(Node("left", N_RES), Node("right", N_RES), Node("c", CLEAN),
               Node("S1", S_RES, gap=1.0, phase=phase / 2), Node("S2", S_RES, gap=1.0, phase=-phase / 2)),
        wires=(Wire("la", "left", "c", 4.0), Wire("ra", "c", "right", 6.0),
               Wire("s1", "c", "S1", 0.5, conductance=10.0), Wire("s2", "c", "S2", 0.8, conductance=7.0)))
