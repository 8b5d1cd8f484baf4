"""What a reservoir imposes on the spectral and the kinetic equations.

* Normal reservoir: gamma = gamma~ = 0; f_L and f_T fixed by its temperature and potential.
* Superconducting reservoir: bulk BCS amplitudes at its gap, phase and Dynes rate; f_T = 0
  (its potential is the reference) at every energy, f_L fixed by its temperature above its
  gap. Below the gap it Andreev-reflects (no energy current), so f_L is not imposed there
  (:mod:`femprox.kinetic.solver` explains how that natural condition is handled).
"""

from __future__ import annotations

import numpy as np

from femprox.geometry.network import Node, NodeKind


def bulk_riccati(energy: np.ndarray, gap: float, phase: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(gamma, gamma~) of a bulk BCS superconductor, retarded branch (|gamma| <= 1).

    ``energy`` may be complex (E + i eta, eta >= 0). gamma = e^{i phi}(E - s)/Delta with
    s = sqrt(E - Delta) sqrt(E + Delta), the root analytic in the upper half plane.
    For gap = 0 (normal metal) gamma = gamma~ = 0.
    """
    energy = np.asarray(energy, dtype=complex)
    if gap == 0.0:
        zero = np.zeros_like(energy)
        return zero, zero.copy()
    root = np.sqrt(energy - gap) * np.sqrt(energy + gap)
    magnitude = (energy - root) / gap
    return np.exp(1j * phase) * magnitude, np.exp(-1j * phase) * magnitude


def reservoir_riccati(node: Node, energies: np.ndarray, extra_dynes: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Riccati amplitudes a reservoir imposes, each (n_energies,)."""
    if node.kind is NodeKind.SUPERCONDUCTING_RESERVOIR:
        return bulk_riccati(energies + 1j * (node.dynes + extra_dynes), node.gap, node.phase)
    return bulk_riccati(np.asarray(energies, dtype=complex), 0.0)


def reservoir_gap(node: Node) -> float:
    """Delta of an S reservoir, 0 for a normal one."""
    return float(node.gap) if node.kind is NodeKind.SUPERCONDUCTING_RESERVOIR else 0.0


def fixed_modes(gap: float, energies: np.ndarray, *, reflecting: bool = True) -> np.ndarray:
    """(n_energies, 2) bool: True where a reservoir of gap ``gap`` fixes f_L (column 0) and
    f_T (column 1).

    Normal reservoirs fix both. S reservoirs fix f_T always, and f_L above the gap; below
    it a reservoir that some wire meets transparently (``reflecting``) Andreev-reflects and
    its f_L is left natural. A reservoir reached only through contacts fixes f_L at every
    energy: the contact's energy-mode coupling, set by the reservoir's density of states,
    vanishes below the gap by itself, and with a Dynes rate it carries the subgap leakage.
    """
    fixed = np.ones((energies.size, 2), dtype=bool)
    if gap > 0 and reflecting:
        fixed[:, 0] = np.abs(energies) > gap
    return fixed
