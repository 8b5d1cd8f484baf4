"""Kinetic coefficients from the spectral solution (docs/physics.md section 4).

With a = gamma, b = gamma~ and den = |1 - a b|^2::

    D_L  = (1 - |a|^2)(1 - |b|^2) / den      energy-mode diffusion (paper's D_+)
    D_T  = (1 + |a|^2)(1 + |b|^2) / den      charge-mode diffusion (paper's D_-)
    Tcal = (|b|^2 - |a|^2) / den             cross term, nonzero only with phase gradients
    j_S  = -Re[2 (a b' - b a') / (1 - a b)^2]    spectral supercurrent
    c_TT, c_TL: charge-imbalance conversion inside wires with a pair potential.

An often printed form j_S = Re[-2i (a b' - b a')/(1 - a b)^2] is even in
E and nonzero inside a minigap. The expression used here is (1/4) Tr[tau3 (G^R dG^R - G^A
dG^A)] in the Riccati parametrization: odd in E, zero in a minigap, it satisfies the
equilibrium identity j_S' = c_TL / D inside S wires (so f_L = tanh(E/2T), f_T = 0 solves the
kinetic equations), and it reproduces the Kulik-Omelyanchuk and Dubos et al. critical
currents (tests/test_observables.py).

All are dimensionless except j_S, c_TT, c_TL (1/xi0 for j_S; Delta0 for c's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from femprox.physics.bulk import pair_potential_conversion
from femprox.spectral.solver import SpectralFields


@dataclass(frozen=True)
class KineticCoefficients:
    """Coefficients of the kinetic equations, arrays of shape (n_energies, n_points)."""

    d_l: np.ndarray
    d_t: np.ndarray
    t_cal: np.ndarray
    j_s: np.ndarray
    c_tl: np.ndarray
    c_tt: np.ndarray


def kinetic_coefficients(fields: SpectralFields, gap=0.0, phase=0.0) -> KineticCoefficients:
    """Evaluate all kinetic coefficients from Riccati amplitudes.

    ``gap`` and ``phase`` are the pair potential Delta e^{i phi} at the points (scalars or
    arrays broadcastable to (n_energies, n_points)); they enter only c_TL and c_TT
    (:func:`femprox.physics.bulk.pair_potential_conversion`). ``fields`` carries
    gauge-covariant derivatives where a vector potential is present, so j_S is the
    gauge-invariant spectral supercurrent.
    """
    a, b = fields.gamma, fields.gamma_tilde
    aa, bb = np.abs(a) ** 2, np.abs(b) ** 2
    one_minus = 1 - a * b
    den = np.abs(one_minus) ** 2
    d_l = (1 - aa) * (1 - bb) / den
    d_t = (1 + aa) * (1 + bb) / den
    t_cal = (bb - aa) / den
    j_s = -np.real(2 * (a * fields.dgamma_tilde - b * fields.dgamma) / one_minus**2)
    c_tl, c_tt = pair_potential_conversion(a, b, np.asarray(gap), np.exp(1j * np.asarray(phase)))
    return KineticCoefficients(d_l=d_l, d_t=d_t, t_cal=t_cal, j_s=j_s, c_tl=c_tl, c_tt=c_tt)
