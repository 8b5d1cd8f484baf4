"""The semi-infinite-lead model of Bezuglyi & Vinokur (paper Eqs. 4-12) and the Andreev model."""

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import zeta

from femprox.paper.analytic import (
    andreev_kappa_ratio,
    conductance_ratio,
    crossover_temperature_t0,
    d_l,
    d_t,
    electric_resistance_average,
    kappa_ratio,
    low_energy_d_l,
    spectral_resistances,
    theta_bulk,
    theta_crossing,
    theta_normal,
    theta_superconductor,
    thermal_resistance_average,
    thouless_energy,
    wave_number_normal,
    wave_number_superconductor,
)

ENERGIES = np.array([1e-6, 1e-3, 0.1, 0.5, 0.9, 0.999, 1.001, 1.2, 3.0, 20.0])
RATIOS = [1e-3, 0.1, 1.0, 10.0, 1e3]


def _second_derivative(f, x, h=1e-3):
    # Central differences: truncation h^2 theta''''/12 ~ 1e-7, rounding eps/h^2 ~ 1e-10.
    return (f(x + h) - 2 * f(x) + f(x - h)) / h**2


@pytest.mark.parametrize("r", RATIOS)
@pytest.mark.parametrize("d_s", [0.5, 2.0, 8.0])
def test_crossing_satisfies_current_conservation(r, d_s):
    # Choose g_N = 1, D_N = 2 and the g_S that gives this r = 4 (D_S/D_N) (g_N/g_S)^2.
    g_n, d_n = 1.0, 2.0
    g_s = 2 * g_n * math.sqrt(d_s / (d_n * r))
    theta_0 = theta_crossing(ENERGIES, r)
    theta_b = theta_bulk(ENERGIES)
    # Outward derivatives at the node from the decaying first integrals (the closed forms
    # of Eqs. 8-9 differentiate to exactly these; checked by differences below).
    slope_n = -2 * wave_number_normal(ENERGIES, d_n) * np.sinh(theta_0 / 2)
    slope_s = -2 * wave_number_superconductor(ENERGIES, 1.0, d_s) * np.sinh((theta_0 - theta_b) / 2)
    residual = g_s * slope_s + 2 * g_n * slope_n
    # Pure rounding: all terms are O(1) combinations of square roots (observed <1e-13).
    assert np.max(np.abs(residual) / np.abs(2 * g_n * slope_n)) < 1e-10


@pytest.mark.parametrize("r", RATIOS)
def test_crossing_first_integrals_squared(r):
    # The squared condition written with the two first integrals:
    # E(cosh t0 - cosh tB) - Delta(sinh t0 - sinh tB) = r E (cosh t0 - 1).
    e = ENERGIES
    t0, tb = theta_crossing(e, r), theta_bulk(e)
    lhs = e * (np.cosh(t0) - np.cosh(tb)) - (np.sinh(t0) - np.sinh(tb))
    rhs = r * e * (np.cosh(t0) - 1)
    # Relative to the size of the individual terms, which cancel at low E.
    scale = np.abs(e * np.cosh(tb)) + np.abs(np.sinh(tb)) + np.abs(rhs)
    assert np.max(np.abs(lhs - rhs) / scale) < 1e-10


def test_crossing_branch_and_limits():
    e = ENERGIES
    for r in RATIOS:
        theta_0 = theta_crossing(e, r)
        assert np.all(np.cosh(theta_0).real >= 0)  # retarded: non-negative DOS
        below = e < 1
        assert np.all((theta_0.imag[below] < 0) & (theta_0.imag[below] > -np.pi / 2))
    # With a = sqrt(E + Delta), b = sqrt(E - Delta), c = sqrt(E r): weak S (r -> inf) gives
    # theta_0 ~= (a - b)/c -> 0; strong S (r -> 0) gives theta_0 ~= theta_B + c/a - c/b.
    # Next terms are O(1/c^2) and O(c^2) relative: at r = 1e16 and 1e-16, below 1e-5 here.
    a, b = np.sqrt(e + 0j + 1), np.sqrt(e + 0j - 1)
    c = np.sqrt(e * 1e16)
    assert np.allclose(theta_crossing(e, 1e16), (a - b) / c, rtol=1e-5, atol=0)
    c = np.sqrt(e * 1e-16)
    assert np.allclose(theta_crossing(e, 1e-16) - theta_bulk(e), c / a - c / b, rtol=1e-5, atol=1e-15)
    assert np.allclose(theta_bulk(0.5).imag, -np.pi / 2)


@pytest.mark.parametrize("energy", [0.05, 0.5, 0.99, 1.5, 4.0])
@pytest.mark.parametrize("r", [0.05, 1.0, 20.0])
def test_theta_normal_solves_usadel(energy, r):
    d_n = 2.0
    x = np.array([0.2, 0.7, 2.0, 5.0])
    theta = lambda s: theta_normal(energy, s, r, diffusion=d_n)
    residual = d_n * _second_derivative(theta, x) + 2j * energy * np.sinh(theta(x))
    scale = np.abs(2 * energy * np.sinh(theta(x))).max()
    assert np.max(np.abs(residual)) < 1e-6 * max(scale, 1.0)
    # Eq. 8 at the crossing and the first integral (D/2) theta'^2 = -2iE (cosh theta - 1).
    assert theta_normal(energy, 0.0, r) == pytest.approx(theta_crossing(energy, r), rel=1e-14)
    slope = (theta(x + 1e-5) - theta(x - 1e-5)) / 2e-5
    assert np.allclose(d_n / 2 * slope**2, -2j * energy * (np.cosh(theta(x)) - 1), rtol=1e-7, atol=1e-12)


def test_printed_sqrt_i_violates_usadel():
    # The paper prints exp(-|x| sqrt(i)/xi_N): k^2 = +2iE/D, the wrong sign for the retarded
    # equation. It leaves an O(1) residual where the chosen k = sqrt(-2iE/D) leaves ~1e-8.
    energy, r, x = 0.3, 0.5, np.array([0.5, 1.0])
    k_printed = np.sqrt(1j) * np.sqrt(2 * energy / 2.0)
    printed = lambda s: 4 * np.arctanh(np.tanh(theta_crossing(energy, r) / 4) * np.exp(-k_printed * s))
    residual = 2.0 * _second_derivative(printed, x) + 2j * energy * np.sinh(printed(x))
    assert np.min(np.abs(residual)) > 0.1
    k = wave_number_normal(energy)
    assert k.real > 0 and k.imag < 0 and np.isclose(np.angle(k), -np.pi / 4)


@pytest.mark.parametrize("energy", [0.1, 0.6, 0.95, 1.1, 3.0])
@pytest.mark.parametrize("d_s", [0.5, 2.0])
def test_theta_superconductor_solves_usadel(energy, d_s):
    r = 0.7
    y = np.array([0.3, 1.0, 3.0])
    theta = lambda s: theta_superconductor(energy, s, r, diffusion=d_s)
    residual = d_s * _second_derivative(theta, y) + 2j * (energy * np.sinh(theta(y)) - np.cosh(theta(y)))
    # Same finite-difference error budget as in the N lead; theta'' is O(1) here.
    assert np.max(np.abs(residual)) < 1e-6
    assert theta_superconductor(energy, 0.0, r, diffusion=d_s) == pytest.approx(theta_crossing(energy, r),
                                                                               rel=1e-13)
    # Deep in the lead the bulk value is recovered (k_S y >> 1).
    deep = theta_superconductor(energy, 200.0, r, diffusion=d_s)
    assert deep == pytest.approx(theta_bulk(energy), rel=1e-8)


def test_node_derivatives_by_differences():
    # The closed forms differentiate to the first-integral slopes used in the matching test.
    e, r, d_s, h = 0.4, 0.3, 1.5, 1e-6
    t0, tb = theta_crossing(e, r), theta_bulk(e)
    slope_n = (theta_normal(e, 2 * h, r) - theta_normal(e, 0.0, r)) / (2 * h)
    slope_s = (theta_superconductor(e, 2 * h, r, diffusion=d_s) - theta_superconductor(e, 0.0, r, diffusion=d_s)) / (2 * h)
    # One-sided differences: error ~ h theta'' ~ 1e-6.
    assert slope_n == pytest.approx(-2 * wave_number_normal(e) * np.sinh(t0 / 2), rel=1e-5)
    assert slope_s == pytest.approx(-2 * wave_number_superconductor(e, 1.0, d_s) * np.sinh((t0 - tb) / 2),
                                    rel=1e-5)


def test_kinetic_coefficients_even_in_energy_and_normal_limits():
    x = np.linspace(-3, 3, 7)
    for e in [0.3, 1.3]:
        # The retarded branch at -E is -conj(theta(E)): D_L and D_T are even in E.
        assert np.allclose(d_l(-e, x, 0.5), d_l(e, x, 0.5), rtol=1e-13)
        assert np.allclose(d_t(-e, x, 0.5), d_t(e, x, 0.5), rtol=1e-13)
    assert np.all(d_l(0.3, x, 0.5) <= 1) and np.all(d_t(0.3, x, 0.5) >= 1)
    # Far from the crossing the wire is normal: D_L = D_T = 1.
    assert d_l(0.3, 80.0, 0.5) == pytest.approx(1, abs=1e-12)
    assert d_t(0.3, 80.0, 0.5) == pytest.approx(1, abs=1e-12)


@pytest.mark.parametrize("energy", [1e-5, 1e-3, 0.1, 0.999, 1.0, 1.2, 10.0])
@pytest.mark.parametrize("r", [0.01, 1.0])
def test_wire_averages_against_quad(energy, r):
    length = 10.0
    points = [p for p in (math.sqrt(r), 1 / math.sqrt(energy)) if p < length / 2]
    def average(coefficient):
        integral = quad(lambda x: 1 / coefficient(energy, x, r), 0, length / 2, points=points,
                        epsabs=0, epsrel=1e-13, limit=500)[0]
        return integral / (length / 2)
    # Both quadratures resolve the analytic integrand to ~1e-13 (observed agreement 1e-13).
    assert thermal_resistance_average(energy, length, r) == pytest.approx(average(d_l), rel=1e-11)
    assert electric_resistance_average(energy, length, r) == pytest.approx(average(d_t), rel=1e-11)
    # the pair from one evaluation of theta_N (what the Fig. 3 model uses)
    both = spectral_resistances(np.array([energy, 0.0]), length, r)
    assert both[0][0] == pytest.approx(average(d_l), rel=1e-11) and both[0][1] == np.inf
    assert both[1][0] == pytest.approx(average(d_t), rel=1e-11)


def test_wire_average_shapes():
    e = np.array([[0.1, 0.2], [0.3, 1.5]])
    assert thermal_resistance_average(e, 10.0, 1.0).shape == (2, 2)
    assert isinstance(thermal_resistance_average(0.1, 10.0, 1.0), float)
    assert thermal_resistance_average(0.0, 10.0, 1.0) == np.inf
    with pytest.raises(ValueError, match="r"):
        thermal_resistance_average(0.1, 10.0, 0.0)


def test_low_energy_d_l_eq11():
    # Eq. 11 is the small-p limit, p = sqrt(E/Delta)(|x|/xi0 + sqrt(r)). Expanding theta_N,
    # the first-order correction is purely real, so the relative error of D_L is second
    # order: O(E/Delta (1 + (|x| + sqrt r)^2)) (sin^2 p vs p^2 and the gap's E/Delta). The
    # observed constant is 0.3-1.0; bound it by 2 and check the error shrinks like E.
    x = np.linspace(-2, 2, 21)
    for r in [0.01, 0.1, 1.0]:
        errors = []
        for e in [1e-4, 1e-6]:
            bound = 2 * e * (1 + (np.abs(x) + math.sqrt(r)) ** 2)
            rel = np.abs(d_l(e, x, r) / low_energy_d_l(e, x, r) - 1)
            assert np.all(rel < bound)
            errors.append(rel.max())
        assert errors[0] / errors[1] == pytest.approx(100, rel=0.05)


def test_thermal_resistance_low_energy_eq12():
    # Averaging Eq. 11: delta R_Q = 2 T0 / E (Eq. 12 without its factor 2), up to the
    # O(sqrt(E) L ...) tail of the average; 1e-3 at E = 1e-6 (observed 2.3e-4 and 2.3e-3).
    length = 1000.0
    for r, tol in [(0.01, 1e-3), (1.0, 5e-3)]:
        t0 = crossover_temperature_t0(length, r)
        e = 1e-6
        excess = (thermal_resistance_average(e, length, r) - 1) * e / (2 * t0)
        assert excess == pytest.approx(1, abs=tol)


@pytest.mark.parametrize("temperature", [1e-3, 0.01, 0.1, 0.5, 1.0])
def test_normal_state_ratios_are_one(temperature):
    ones = lambda e: np.ones_like(e)
    # Gauss-Legendre on analytic integrands; the cut at E = 40 T + gap costs < 1e-15.
    assert kappa_ratio(temperature, ones) == pytest.approx(1, abs=1e-10)
    assert conductance_ratio(temperature, ones) == pytest.approx(1, abs=1e-10)
    assert kappa_ratio(temperature, ones, gap=0.0) == pytest.approx(1, abs=1e-10)


@pytest.mark.parametrize("temperature", [0.02, 0.05, 0.2, 1.0, 3.0])
def test_andreev_closed_form_matches_quadrature(temperature):
    blocked = lambda e: np.where(e < 1.0, np.inf, 1.0)
    # Both evaluate the same integral (one in closed form, one by graded Gauss-Legendre).
    assert kappa_ratio(temperature, blocked) == pytest.approx(andreev_kappa_ratio(temperature), rel=1e-10)


def test_andreev_limits():
    assert andreev_kappa_ratio(0.3, gap=0.0) == pytest.approx(1, abs=1e-14)
    assert andreev_kappa_ratio(0.3, gap=1e-6) == pytest.approx(1, abs=1e-5)  # deficit ~ gap^3/T^3
    # Low T: (6/pi^2)(Delta/T)^2 e^{-Delta/T} [1 + 2T/Delta + 2(T/Delta)^2] from the first term
    # of sech^2 u = 4 sum (-1)^(n+1) n e^{-2nu}; the n = 2 term is smaller by ~e^{-Delta/T}.
    for t in [0.02, 0.05, 0.1]:
        leading = 6 / math.pi**2 * t**-2 * math.exp(-1 / t)
        value = andreev_kappa_ratio(t)
        assert value == pytest.approx(leading * (1 + 2 * t + 2 * t * t), rel=2 * math.exp(-1 / t))
        # The leading term alone is off by the first correction, 2T/Delta (+ 2(T/Delta)^2).
        assert value / leading - 1 == pytest.approx(2 * t, rel=1.1 * t)


def test_scales():
    assert thouless_energy(10.0) == pytest.approx(0.02)
    assert thouless_energy(10.0, diffusion=4.0) == pytest.approx(0.04)
    assert crossover_temperature_t0(10.0, 0.25) == pytest.approx(0.2)
    # xi0 = sqrt(D_N / (2 Delta)): doubling D_N multiplies T0 by sqrt(2).
    assert crossover_temperature_t0(10.0, 0.25, diffusion=4.0) == pytest.approx(0.2 * math.sqrt(2))


def test_kappa_slope_follows_eq12():
    # Long wire, r = 0.01: T0 = 0.01, E_Th = 2e-6. Eq. 11-12 give R_Q ~= 1 + 2 T0/E, so for
    # T << T0 kappa/kappa_N -> (27 zeta(3) / (2 pi^2)) T/T0 (slope 1: kappa ~ T^2), and
    # for T >> T0 the slope tends to 0. Corrections are O(T/T0) (observed 1.2e-3 at T/T0 = 1e-3).
    length, r = 1000.0, 0.01
    t0 = crossover_temperature_t0(length, r)
    resistance = lambda e: thermal_resistance_average(e, length, r)

    def slope(t, step=1e-3):
        up, down = kappa_ratio(np.array([t * (1 + step), t * (1 - step)]), resistance)
        return math.log(up / down) / math.log((1 + step) / (1 - step))

    low = 1e-3 * t0
    prefactor = 27 * zeta(3) / (2 * math.pi**2)
    assert kappa_ratio(low, resistance) * t0 / low == pytest.approx(prefactor, rel=5e-3)
    assert slope(low) == pytest.approx(1, abs=5e-3)  # observed 0.9984
    assert slope(10 * t0) < 0.1  # observed 0.07: the normal background takes over


def test_invalid_inputs():
    with pytest.raises(ValueError):
        kappa_ratio(0.0, lambda e: np.ones_like(e))
    with pytest.raises(ValueError):
        andreev_kappa_ratio(-1.0)
    with pytest.raises(ValueError):
        theta_crossing(0.5, -1.0)
    with pytest.raises(ValueError):
        theta_superconductor(0.5, -1.0, 1.0)
