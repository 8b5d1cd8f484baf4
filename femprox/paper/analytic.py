"""Closed-form models of Bezuglyi & Vinokur (docs/physics.md section 6; paper Eqs. 4-12).

Geometry: a normal (N) wire -L/2 < x < L/2 with a superconducting (S) wire 0 < y attached
at x = 0. Both leads are taken semi-infinite for the spectral problem (valid for
``L >> xi_N(E)`` and ``L_S >> xi_S(E)``, Eq. 7); the kinetic averages then run over the
finite N wire. The S lead's pair potential is uniform (no self-consistency).

Units (docs/physics.md section 1): hbar = k_B = e = 1; energies E, temperatures T and the gap
in Delta0; lengths in xi0 = sqrt(D_N / (2 Delta0)), so the reference normal metal has
``D_N = 2``. Every function takes ``gap`` (Delta in Delta0) and ``diffusion`` (the lead's
D in Delta0 xi0^2) with these defaults. Energies may be any real numbers (arrays allowed):
E -> E + i0 selects the retarded branch of every square root, and ``D_L``, ``D_T`` are
even in E.

Spectral solution (retarded; Usadel ``D theta'' + 2iE sinh(theta) - 2i Delta cosh(theta) = 0``)

* N lead: first integral ``(D_N/2) theta'^2 = -2iE (cosh(theta) - 1)``, hence
  ``theta' = -2 k sinh(theta/2)`` for x > 0 and (Eq. 8)
  ``tanh(theta_N/4) = tanh(theta_0/4) exp(-k|x|)`` with ``k = sqrt(-2iE/D_N)``,
  ``Re k > 0``, i.e. ``k = exp(-i pi/4) / xi_N(E)`` for E > 0. The paper prints
  ``exp(-|x| sqrt(i)/xi_N)``; ``sqrt(i)`` solves the equation with the opposite sign of E
  (the advanced function) and disagrees with the paper's own Eq. 1.
* S lead: with ``s = sqrt(E^2 - Delta^2)`` (retarded, ``= i sqrt(Delta^2 - E^2)`` below
  the gap), ``E cosh(theta) - Delta sinh(theta) = s cosh(theta - theta_B)``, so the first
  integral is ``(D_S/2) theta'^2 = -2i s (cosh(theta - theta_B) - 1)`` and (Eq. 9)
  ``tanh((theta_S - theta_B)/4) = tanh((theta_0 - theta_B)/4) exp(-k_S y)`` with
  ``k_S = sqrt(-2i s/D_S)``, ``Re k_S > 0`` (``k_S = 1/xi_S`` below the gap, as printed).
* Node (Kirchhoff, two N branches): ``g_S theta_S'(0) + 2 g_N theta_N'(0+) = 0``. With the
  two first integrals this becomes ``sqrt(s) sinh((theta_B - theta_0)/2) =
  sqrt(E r) sinh(theta_0/2)``, ``r = 4 (D_S/D_N) (g_N/g_S)^2``, solved by (Eq. 10)
  ``exp(theta_0) = (sqrt(E + Delta) + sqrt(E r)) / (sqrt(E - Delta) + sqrt(E r))``.
  r -> 0 (strong S) gives theta_0 -> theta_B; r -> infinity (weak S) gives theta_0 -> 0.

Kinetics (paper Eqs. 2-6): ``D_L = cos^2(Im theta)`` (the paper's D_+), ``D_T =
cosh^2(Re theta)`` (D_-), ``R_Q = <1/D_L>``, ``R_I = <1/D_T>`` averaged over the N wire.

Low temperatures (Eqs. 11-12). Near the crossing ``theta_N ~= -i pi/2 + (1 + i)
sqrt(E/Delta) (|x|/xi0 + sqrt(r))``, so ``D_L ~= (E/Delta)(|x|/xi0 + sqrt(r))^2`` for
``sqrt(E/Delta)(|x|/xi0 + sqrt(r)) << 1``. Averaging ``1/D_L`` over the wire gives
``delta R_Q(E) ~= 2 Delta xi0 / (E L sqrt(r)) = 2 T0 / E`` with ``T0 = Delta xi0 /
(L sqrt(r))`` (Eq. 12 drops the factor 2). Inserted in Eq. 4, ``R_Q ~= c/E`` with
``c >> T`` gives ``kappa/kappa_N ~= (27 zeta(3)/pi^2) T/c``: the local slope
``d ln(kappa/kappa_N) / d ln T`` tends to 1 (kappa ~ T^2) for T << T0, and to 0 for
T0 << T << Delta. The semi-infinite model has no Thouless-energy cutoff: for
``T < E_Th = D_N/L^2`` it keeps slope 1, where the finite wire saturates ``D_L`` (the
paper: slope 0 for kappa/kappa_N). The paper's "kappa ~ T^4" and "~ T^3" do not follow from
Eqs. 4, 11, 12, which give kappa ~ T^2 and kappa ~ T. Measured with this module (L = 1000,
r = 0.01, T0 = 0.01): slope 0.998, 0.981, 0.841, 0.391, 0.071 at T/T0 = 1e-3, 1e-2, 0.1,
1, 10, and kappa/kappa_N * T0/T = 1.642 at T/T0 = 1e-3 against 27 zeta(3)/(2 pi^2) = 1.644.

Andreev model: complete reflection below the gap, ``kappa_A/kappa_N = 3/(2 pi^2 T^3)
int_Delta^inf E^2 / cosh^2(E/2T) dE``, which at ``T << Delta`` is
``(6/pi^2) (Delta/T)^2 exp(-Delta/T) [1 + 2T/Delta + 2(T/Delta)^2] (1 + O(exp(-Delta/T)))``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import spence

_GAUSS_NODES, _GAUSS_WEIGHTS = np.polynomial.legendre.leggauss(16)
_U_TAIL = 20.0  # thermal integrals stop at E/2T = 20 (+ Delta/2T): sech^2(20) ~ 2e-17


# --- helpers -------------------------------------------------------------------------------

def _positive(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"'{name}' must be a positive finite number, got {value!r}")
    return value


def _energy(energy: ArrayLike) -> np.ndarray:
    """E + i0 as a complex array (the +0.0 imaginary part picks the retarded branches)."""
    e = np.asarray(energy, dtype=float)
    if np.any(~np.isfinite(e)):
        raise ValueError("energies must be finite")
    return e + 0j


def _graded_panels(a: float, b: float, smallest: float, ratio: float = 2.0) -> np.ndarray:
    """Panel edges from a to b, geometrically refined toward a (first panel ~ ``smallest``)."""
    if b - a <= smallest:
        return np.array([a, b])
    count = max(1, math.ceil(math.log((b - a) / smallest) / math.log(ratio)))
    return a + (b - a) * np.concatenate(([0.0], np.geomspace(smallest / (b - a), 1.0, count)))


def _gauss(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """16-point Gauss-Legendre nodes and weights on consecutive panels (edges along axis -1)."""
    half = 0.5 * np.diff(edges, axis=-1)[..., None]
    mid = 0.5 * (edges[..., 1:] + edges[..., :-1])[..., None]
    nodes = mid + half * _GAUSS_NODES
    weights = half * _GAUSS_WEIGHTS
    shape = nodes.shape[:-2] + (-1,)
    return nodes.reshape(shape), weights.reshape(shape)


# --- spectral angles ---------------------------------------------------------------------------

def theta_bulk(energy: ArrayLike, gap: float = 1.0) -> np.ndarray:
    """Retarded bulk angle ``theta_B = artanh(Delta/E)`` (``Im theta_B = -pi/2`` below the gap).

    Computed as ``ln(sqrt(E + Delta) / sqrt(E - Delta))`` with E -> E + i0. Singular at
    ``|E| = Delta``.
    """
    e = _energy(energy)
    return np.log(np.sqrt(e + gap) / np.sqrt(e - gap))


def theta_crossing(energy: ArrayLike, r: float, gap: float = 1.0) -> np.ndarray:
    """Angle at the N/S crossing point, paper Eq. 10 (retarded branch).

    ``theta_0 = ln[(sqrt(E + Delta) + sqrt(E r)) / (sqrt(E - Delta) + sqrt(E r))]``.
    energy, gap in Delta0; r = 4 (D_S/D_N)(g_N/g_S)^2 > 0 is the proximity parameter.
    Returns a complex array shaped like ``energy``.
    """
    r = _positive("r", r)
    e = _energy(energy)
    root_r = np.sqrt(e * r)
    return np.log((np.sqrt(e + gap) + root_r) / (np.sqrt(e - gap) + root_r))


def wave_number_normal(energy: ArrayLike, diffusion: float = 2.0) -> np.ndarray:
    """``k = sqrt(-2iE/D)`` with ``Re k > 0`` (1/xi0): decay constant of Eq. 8."""
    return np.sqrt(-2j * _energy(energy) / _positive("diffusion", diffusion))


def wave_number_superconductor(energy: ArrayLike, gap: float = 1.0, diffusion: float = 2.0) -> np.ndarray:
    """``k_S = sqrt(-2i sqrt(E^2 - Delta^2)/D_S)``, ``Re k_S > 0`` (1/xi0): Eq. 9's 1/xi_S."""
    e = _energy(energy)
    s = np.sqrt(e - gap) * np.sqrt(e + gap)
    return np.sqrt(-2j * s / _positive("diffusion", diffusion))


def theta_normal(energy: ArrayLike, x: ArrayLike, r: float, gap: float = 1.0,
                 diffusion: float = 2.0) -> np.ndarray:
    """Angle in the semi-infinite N lead, paper Eq. 8 with the corrected phase of k.

    ``tanh(theta_N/4) = tanh(theta_0/4) exp(-k|x|)``, ``k = sqrt(-2iE/D_N)``, Re k > 0.
    x in xi0 (distance from the crossing along the N wire); diffusion = D_N. energy and x
    broadcast against each other.
    """
    k = wave_number_normal(energy, diffusion)
    decay = np.exp(-k * np.abs(np.asarray(x, dtype=float)))
    return 4 * np.arctanh(np.tanh(theta_crossing(energy, r, gap) / 4) * decay)


def theta_superconductor(energy: ArrayLike, y: ArrayLike, r: float, gap: float = 1.0,
                         diffusion: float = 2.0) -> np.ndarray:
    """Angle in the semi-infinite S lead, paper Eq. 9.

    ``tanh((theta_S - theta_B)/4) = tanh((theta_0 - theta_B)/4) exp(-k_S y)``, y >= 0 in xi0,
    diffusion = D_S (enters only k_S; r already contains D_S/D_N). Singular at |E| = Delta.
    """
    y = np.asarray(y, dtype=float)
    if np.any(y < 0):
        raise ValueError("the S lead occupies y >= 0")
    theta_b = theta_bulk(energy, gap)
    start = np.tanh((theta_crossing(energy, r, gap) - theta_b) / 4)
    decay = np.exp(-wave_number_superconductor(energy, gap, diffusion) * y)
    return theta_b + 4 * np.arctanh(start * decay)


# --- kinetic coefficients and spectral resistances ---------------------------------------------

def d_l(energy: ArrayLike, x: ArrayLike, r: float, gap: float = 1.0, diffusion: float = 2.0) -> np.ndarray:
    """Energy-mode diffusion coefficient ``D_L = cos^2(Im theta_N)`` (paper's D_+), real."""
    return _d_l_of(theta_normal(energy, x, r, gap, diffusion))


def d_t(energy: ArrayLike, x: ArrayLike, r: float, gap: float = 1.0, diffusion: float = 2.0) -> np.ndarray:
    """Charge-mode diffusion coefficient ``D_T = cosh^2(Re theta_N)`` (paper's D_-), real."""
    return _d_t_of(theta_normal(energy, x, r, gap, diffusion))


def _d_l_of(theta: np.ndarray) -> np.ndarray:
    return np.cos(theta.imag) ** 2


def _d_t_of(theta: np.ndarray) -> np.ndarray:
    return np.cosh(theta.real) ** 2


def _wire_averages(energy: ArrayLike, length_n: float, r: float, gap: float,
                   diffusion: float) -> tuple[float | np.ndarray, float | np.ndarray]:
    """``<1/D_L(E, x)>`` and ``<1/D_T(E, x)>`` over |x| < L/2 on an x grid graded toward the
    crossing; one evaluation of theta_N serves both."""
    half = 0.5 * _positive("length_n", length_n)
    r = _positive("r", r)
    e = np.asarray(energy, dtype=float)
    flat = e.ravel()
    xi_n = np.sqrt(diffusion / (2 * np.maximum(np.abs(flat), 1e-300)))
    # First panel well below both spatial scales (sqrt(r) xi0 near x = 0 and xi_N).
    smallest = 1e-3 * np.minimum(np.minimum(np.sqrt(r), xi_n), half)
    count = math.ceil(math.log(half / smallest.min()) / math.log(1.6)) + 1
    edges = np.concatenate((np.zeros((flat.size, 1)),
                            np.geomspace(smallest, np.full_like(smallest, half), count, axis=1)), axis=1)
    x, w = _gauss(edges)
    theta = theta_normal(flat[:, None], x, r, gap, diffusion)
    averages = []
    for values in (_d_l_of(theta), _d_t_of(theta)):
        average = np.sum(w / values, axis=1) / half
        averages.append(average.reshape(e.shape) if e.ndim else float(average[0]))
    return averages[0], averages[1]


def spectral_resistances(energy: ArrayLike, length_n: float, r: float, gap: float = 1.0,
                         diffusion: float = 2.0) -> tuple[float | np.ndarray, float | np.ndarray]:
    """(R_Q(E), R_I(E)) of :func:`thermal_resistance_average` and
    :func:`electric_resistance_average` together, for half the work of the two calls."""
    r_q, r_i = _wire_averages(energy, length_n, r, gap, diffusion)
    # At E = 0 the whole wire has theta = -i pi/2, D_L = 0 (rounding gives ~1e-33).
    if np.ndim(r_q):
        return np.where(np.asarray(energy) == 0, np.inf, r_q), r_i
    return (math.inf if energy == 0 else r_q), r_i


def thermal_resistance_average(energy: ArrayLike, length_n: float, r: float, gap: float = 1.0,
                               diffusion: float = 2.0) -> float | np.ndarray:
    """Spectral thermal resistance ``R_Q(E) = <1/D_L(E, x)>`` over -L/2 < x < L/2 (Eq. 4).

    Uses theta_normal (semi-infinite leads; valid for L >> xi_N(E)). length_n in xi0,
    diffusion = D_N. R_Q = 1 in the normal state; infinite at E = 0. The integrand is
    peaked within ~sqrt(r) xi0 of the crossing at low E, so the x integral uses
    Gauss-Legendre panels graded geometrically from 1e-3 of the smallest scale
    (relative accuracy ~1e-12).
    """
    return spectral_resistances(energy, length_n, r, gap, diffusion)[0]


def electric_resistance_average(energy: ArrayLike, length_n: float, r: float, gap: float = 1.0,
                                diffusion: float = 2.0) -> float | np.ndarray:
    """Spectral electric resistance ``R_I(E) = <1/D_T(E, x)>`` over the N wire (Eq. 6); <= 1."""
    return spectral_resistances(energy, length_n, r, gap, diffusion)[1]


# --- thermal averages ----------------------------------------------------------------------------

def _energy_quadrature(temperature: float, gap: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes/weights in u = E/2T on [0, 20 (+ Delta/2T)], graded toward 0 and both sides of the gap.

    Spectral resistances of the model have square-root behaviour at E = 0 and E = Delta;
    geometric grading toward those points keeps the Gauss-Legendre rule exponentially
    convergent.
    """
    u_gap = gap / (2 * temperature)
    # Past the gap by 20 too, so that a transport suppressed below the gap keeps its
    # relative accuracy; beyond u ~ 350 the whole above-gap part is below exp(-700).
    u_max = _U_TAIL + (u_gap if u_gap < 350 else 0.0)
    pieces = []
    if 0 < u_gap < u_max:
        half = 0.5 * u_gap
        pieces.append(_graded_panels(0.0, half, 1e-8 * half))
        pieces.append(u_gap - _graded_panels(0.0, half, 1e-8 * half)[::-1])
        pieces.append(_graded_panels(u_gap, u_max, 1e-8 * max(u_gap, 1.0)))
    else:
        pieces.append(_graded_panels(0.0, u_max, 1e-8))
    nodes, weights = zip(*(_gauss(edges) for edges in pieces))
    return np.concatenate(nodes), np.concatenate(weights)


def _thermal_average(temperature: ArrayLike, resistance: Callable, gap: float, power: int,
                     normalization: float) -> float | np.ndarray:
    """``normalization * int_0^U u^power / (R(2Tu) cosh^2 u) du`` for each T."""
    t = np.asarray(temperature, dtype=float)
    if np.any(~np.isfinite(t)) or np.any(t <= 0):
        raise ValueError("temperatures must be positive and finite (in Delta0)")
    if not math.isfinite(gap) or gap < 0:
        raise ValueError(f"'gap' must be >= 0, got {gap!r}")
    result = np.empty(t.size)
    for i, temp in enumerate(t.ravel()):
        u, w = _energy_quadrature(float(temp), gap)
        conductance = 1.0 / np.asarray(resistance(2 * temp * u), dtype=float)
        result[i] = normalization * np.sum(w * u**power * conductance / np.cosh(u) ** 2)
    return float(result[0]) if t.ndim == 0 else result.reshape(t.shape)


def kappa_ratio(temperature: ArrayLike, thermal_resistance: Callable[[np.ndarray], np.ndarray],
                gap: float = 1.0) -> float | np.ndarray:
    """Thermal conductance ``kappa/kappa_N`` of the N wire, paper Eq. 4.

    ``kappa/kappa_N = 3/(2 pi^2 T^3) int_0^inf E^2 / (R_Q(E) cosh^2(E/2T)) dE``.
    temperature in Delta0 (scalar or array); ``thermal_resistance`` maps an array of
    energies to R_Q (inf allowed: no transport). The integral is cut at E = 40 T + gap
    (relative error < 1e-14) and split at E = gap, where R_Q is not smooth. R_Q = 1 gives 1.
    """
    # E = 2Tu: 3/(2 pi^2 T^3) (2T)^3 = 12/pi^2.
    return _thermal_average(temperature, thermal_resistance, gap, 2, 12 / math.pi**2)


def conductance_ratio(temperature: ArrayLike, electric_resistance: Callable[[np.ndarray], np.ndarray],
                      gap: float = 1.0) -> float | np.ndarray:
    """Zero-bias conductance ``G/G_N`` of the N wire, paper Eq. 6.

    ``G/G_N = 1/(2T) int_0^inf 1 / (R_I(E) cosh^2(E/2T)) dE``; same quadrature as
    :func:`kappa_ratio`. R_I = 1 gives 1.
    """
    return _thermal_average(temperature, electric_resistance, gap, 0, 1.0)


def _neg_dilog_neg(z: np.ndarray) -> np.ndarray:
    """``-Li2(-z) = sum_{n>=1} (-1)^(n+1) z^n / n^2`` for 0 <= z <= 1, accurate also for tiny z."""
    n = np.arange(1, 61)
    series = np.sum((-1.0) ** (n + 1) * z[..., None] ** n / n**2, axis=-1)
    return np.where(z <= 0.5, series, -spence(1 + z))  # scipy: spence(w) = Li2(1 - w)


def andreev_kappa_ratio(temperature: ArrayLike, gap: float = 1.0) -> float | np.ndarray:
    """Andreev model (no transport below the gap): ``kappa_A/kappa_N``, closed form.

    ``3/(2 pi^2 T^3) int_Delta^inf E^2 sech^2(E/2T) dE = (12/pi^2) [2a^2 z/(1+z) +
    2a ln(1+z) - Li2(-z)]`` with ``a = Delta/2T``, ``z = exp(-2a)`` (from expanding sech^2
    in powers of exp(-2u)). Tends to 1 as gap -> 0.
    """
    t = np.asarray(temperature, dtype=float)
    if np.any(~np.isfinite(t)) or np.any(t <= 0):
        raise ValueError("temperatures must be positive and finite (in Delta0)")
    if not math.isfinite(gap) or gap < 0:
        raise ValueError(f"'gap' must be >= 0, got {gap!r}")
    a = gap / (2 * t)
    z = np.exp(-2 * a)
    value = 12 / math.pi**2 * (2 * a**2 * z / (1 + z) + 2 * a * np.log1p(z) + _neg_dilog_neg(z))
    return float(value) if t.ndim == 0 else value


# --- scales ----------------------------------------------------------------------------------------

def thouless_energy(length: float, diffusion: float = 2.0) -> float:
    """``E_Th = D / L^2`` in Delta0 (length in xi0, D in Delta0 xi0^2)."""
    return _positive("diffusion", diffusion) / _positive("length", length) ** 2


def crossover_temperature_t0(length_n: float, r: float, gap: float = 1.0, diffusion: float = 2.0) -> float:
    """``T0 = Delta xi0 / (L_N sqrt(r))`` of Eq. 12, with ``xi0 = sqrt(D_N / (2 Delta))``.

    Below T0 the crossing region dominates R_Q. In the default units xi0 = 1.
    """
    xi0 = math.sqrt(_positive("diffusion", diffusion) / (2 * _positive("gap", gap)))
    return gap * xi0 / (_positive("length_n", length_n) * math.sqrt(_positive("r", r)))


def low_energy_d_l(energy: ArrayLike, x: ArrayLike, r: float, gap: float = 1.0,
                   diffusion: float = 2.0) -> np.ndarray:
    """Eq. 11: ``D_L ~= (E/Delta)(|x|/xi0 + sqrt(r))^2``, ``xi0 = sqrt(D_N/(2 Delta))``.

    Valid for ``sqrt(|E|/Delta)(|x|/xi0 + sqrt(r)) << 1``. Against :func:`d_l` the
    relative error is second order, ``O((E/Delta)(1 + (|x|/xi0 + sqrt(r))^2))`` (measured:
    the square of the small parameter, from sin^2 vs its argument squared, plus E/Delta
    from the gap; the first-order terms cancel).
    """
    xi0 = math.sqrt(_positive("diffusion", diffusion) / (2 * _positive("gap", gap)))
    e = np.abs(np.asarray(energy, dtype=float))
    return e / gap * (np.abs(np.asarray(x, dtype=float)) / xi0 + math.sqrt(_positive("r", r))) ** 2
