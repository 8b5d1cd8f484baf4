"""Weak-coupling BCS gap of a bulk superconductor as a function of temperature.

Units (docs/physics.md section 1): k_B = 1, energies and temperatures in Delta0, the
zero-temperature gap, so ``gap(0) = 1`` and ``T_c = exp(gamma_Euler) / pi ~= 0.5669``.

The gap equation is solved in two equivalent forms, whichever converges faster:

* ``T >= 0.1`` -- Matsubara sum, ``w_n = pi T (2n + 1)``::

      ln(T_c / T) = 2 pi T sum_{n >= 0} [1/w_n - 1/sqrt(w_n^2 + Delta^2)]

  summed exactly for ``n < 64``; the rest is the expansion of the summand in
  ``Delta^2 / w_n^2`` (five terms) with Hurwitz zeta functions, accurate to ~1e-15 here.
* ``T < 0.1`` -- the integral form ``ln(Delta0/Delta) = 2 int_Delta^inf f(E) dE /
  sqrt(E^2 - Delta^2)`` with the Fermi function expanded in ``exp(-m E / T)``::

      ln(1 / Delta) = 2 sum_{m >= 1} (-1)^(m+1) K_0(m Delta / T)

  whose terms fall like ``exp(-10 m)`` there. Below ``T = 0.02`` the correction is
  under 1e-21 and ``Delta = 1`` is returned.

Both are solved by a safeguarded Newton iteration that is vectorized over all requested
temperatures at once (no per-temperature root finder), so hundreds of temperatures cost
about a millisecond; the result is accurate to ~1e-13 relative.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import k0, k1, zeta

_TC = math.exp(np.euler_gamma) / math.pi
_MATSUBARA_TERMS = 64
_MATSUBARA_FROM = 0.1
_ZERO_TEMPERATURE_BELOW = 0.02
# Expansion of 1/w - 1/sqrt(w^2 + x) = sum_k c_k x^k / w^(2k+1), k = 1..5.
_TAIL_COEFFICIENTS = (0.5, -3 / 8, 5 / 16, -35 / 128, 63 / 256)
_GL_COEFFICIENT = math.pi * math.sqrt(8.0 / (7.0 * zeta(3.0)))


def critical_temperature() -> float:
    """BCS critical temperature ``T_c = exp(gamma_Euler) / pi ~= 0.566933`` in Delta0."""
    return _TC


def _check_temperature(temperature: ArrayLike) -> np.ndarray:
    t = np.asarray(temperature, dtype=float)
    if np.any(np.isnan(t)):
        raise ValueError("temperature must not be NaN")
    if np.any(t < 0):
        raise ValueError(f"temperature must be >= 0 (in units of Delta0), got min {t.min()!r}")
    return t


def _matsubara_residual(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``S(x) - ln(T_c/T)`` and ``dS/dx`` for ``x = Delta^2``, arrays of equal shape."""
    n = np.arange(_MATSUBARA_TERMS)
    w = np.pi * t[:, None] * (2 * n + 1)
    root = np.sqrt(w**2 + x[:, None])
    # 1/w - 1/root written without cancellation for small x.
    s = np.sum(x[:, None] / (w * root * (w + root)), axis=1)
    ds = np.sum(0.5 / root**3, axis=1)
    factor = 2 * np.pi * t
    for k, c in enumerate(_TAIL_COEFFICIENTS, start=1):
        # sum_{n >= N} w_n^-(2k+1) = (2 pi T)^-(2k+1) zeta(2k+1, N + 1/2)
        hurwitz = zeta(2 * k + 1, _MATSUBARA_TERMS + 0.5) / factor ** (2 * k + 1)
        s = s + c * x**k * hurwitz
        ds = ds + c * k * x ** (k - 1) * hurwitz
    return factor * s - np.log(_TC / t), factor * ds


def _gap_matsubara(t: np.ndarray) -> np.ndarray:
    """Delta for ``0.1 <= t < T_c``: safeguarded Newton in x = Delta^2 on the bracket [0, 1]."""
    low, high = np.zeros_like(t), np.ones_like(t)
    x = np.tanh(1.74 * np.sqrt(_TC / t - 1.0)) ** 2  # classic interpolation, ~1% off
    for _ in range(100):
        f, df = _matsubara_residual(x, t)
        low = np.where(f < 0, x, low)
        high = np.where(f > 0, x, high)
        step = f / df
        new = x - step
        outside = (new <= low) | (new >= high)
        new = np.where(outside, 0.5 * (low + high), new)
        done = np.abs(new - x) <= 1e-15 * new
        x = new
        if np.all(done):
            break
    return np.sqrt(x)


def _gap_bessel(t: np.ndarray) -> np.ndarray:
    """Delta for ``0.02 <= t < 0.1``: Newton on ``ln Delta + 2 sum (-1)^(m+1) K0(m Delta/T)``."""
    m = np.arange(1, 9)
    sign = (-1.0) ** (m + 1)
    delta = np.ones_like(t)
    for _ in range(20):
        z = m * delta[:, None] / t[:, None]
        f = np.log(delta) + 2 * np.sum(sign * k0(z), axis=1)
        df = 1 / delta - 2 * np.sum(sign * m / t[:, None] * k1(z), axis=1)
        step = f / df
        delta = delta - step
        if np.all(np.abs(step) <= 1e-16):
            break
    return delta


def gap(temperature: float | ArrayLike) -> float | np.ndarray:
    """BCS gap ``Delta(T) / Delta0`` (weak coupling, see the module docstring).

    ``temperature`` in Delta0, a scalar or an array of any shape. Returns 1 at T = 0 and
    0 for ``T >= T_c``; a float for scalar input, else an array of the input's shape.
    Raises ValueError for negative or NaN temperatures.
    """
    t = _check_temperature(temperature)
    if t.ndim == 0:
        return _scalar_gap(float(t))
    return _gaps(t.ravel()).reshape(t.shape)


@functools.lru_cache(maxsize=4096)
def _scalar_gap(t: float) -> float:
    # a network at one temperature asks once per wire and node (a sweep plan: ~400 times for
    # ~30 temperatures, 0.1 s of root finding without this cache)
    return float(_gaps(np.array([t]))[0])


def _gaps(flat: np.ndarray) -> np.ndarray:
    result = np.zeros_like(flat)
    result[flat < _ZERO_TEMPERATURE_BELOW] = 1.0
    bessel = (flat >= _ZERO_TEMPERATURE_BELOW) & (flat < _MATSUBARA_FROM)
    if np.any(bessel):
        result[bessel] = _gap_bessel(flat[bessel])
    matsubara = (flat >= _MATSUBARA_FROM) & (flat < _TC)
    if np.any(matsubara):
        result[matsubara] = _gap_matsubara(flat[matsubara])
    return result


def gap_ginzburg_landau(temperature: float | ArrayLike) -> float | np.ndarray:
    """Gap near T_c: ``Delta = pi sqrt(8 / (7 zeta(3))) T_c sqrt(1 - T/T_c)``, in Delta0.

    The coefficient ``pi sqrt(8 / (7 zeta(3))) = 3.0633`` follows from expanding the
    Matsubara sum to first order in ``Delta^2``. The next order gives
    ``Delta / Delta_GL = 1 - 0.4095 (1 - T/T_c) + O((1 - T/T_c)^2)``. Zero for T >= T_c.
    """
    t = _check_temperature(temperature)
    value = _GL_COEFFICIENT * _TC * np.sqrt(np.clip(1.0 - t / _TC, 0.0, None))
    if t.ndim == 0:
        return float(value)
    return value
