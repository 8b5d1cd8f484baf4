"""BCS gap: published values, limits, an independent integral-form solution, and speed."""

import math
import time

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.optimize import brentq
from scipy.special import zeta

from femprox.physics.bcs import critical_temperature, gap, gap_ginzburg_landau

TC = critical_temperature()


def test_critical_temperature():
    # A closed form; only rounding separates the two expressions.
    assert TC == pytest.approx(math.exp(np.euler_gamma) / math.pi, rel=1e-10)
    assert TC == pytest.approx(0.566933, abs=1e-6)


def test_gap_limits():
    assert gap(0.0) == 1.0
    assert gap(TC) == 0.0
    assert gap(2 * TC) == 0.0
    assert isinstance(gap(0.3), float)


@pytest.mark.parametrize("t, expected", [(0.5, 0.9569), (0.7, 0.8288), (0.9, 0.5263)])
def test_gap_tabulated(t, expected):
    # The reference values carry four decimals, so 1e-4 is their own rounding (+/- 0.5e-4).
    assert gap(t * TC) == pytest.approx(expected, abs=1e-4)


def _gap_by_quadrature(temperature):
    """Independent solution: ln(1/Delta) = int_0^inf 2 f(E)/E dxi, E = sqrt(xi^2 + Delta^2)."""
    def residual(delta):
        def integrand(xi):
            energy = math.hypot(xi, delta)
            return 2 / (math.exp(energy / temperature) + 1) / energy
        # f(E) < exp(-60) beyond xi = 60 T: the cut-off costs < 1e-24.
        integral = quad(integrand, 0, 60 * temperature, epsabs=1e-15, epsrel=1e-12, limit=200)[0]
        return math.log(1 / delta) - integral
    return brentq(residual, 1e-9, 1.0, xtol=1e-16, rtol=1e-15)


@pytest.mark.parametrize("t", [0.1, 0.17, 0.18, 0.4, 0.8, 0.99])
def test_gap_matches_integral_form(t):
    # Required accuracy is 1e-8; the two methods agree to ~1e-14 (0.17/0.18 straddle the
    # switch between the Bessel and the Matsubara series at T = 0.1 Delta0).
    assert gap(t * TC) == pytest.approx(_gap_by_quadrature(t * TC), rel=1e-8)


def test_ginzburg_landau_limit():
    coefficient = math.pi * math.sqrt(8 / (7 * zeta(3)))
    assert coefficient == pytest.approx(3.0633, abs=1e-4)
    eps = 1e-3
    ratio = gap((1 - eps) * TC) / gap_ginzburg_landau((1 - eps) * TC)
    # Expanding the Matsubara sum to order Delta^4 gives Delta/Delta_GL = 1 - c eps with
    # c = 3/4 - 93 zeta(5) / (196 zeta(3)^2) = 0.4095, so at eps = 1e-3 the ratio is
    # 4.1e-4 below one: inside the requested 1e-3, and matching 1 - c eps up to the O(eps^2)
    # remainder (~1e-6).
    assert abs(ratio - 1) < 1e-3
    c = 0.75 - 93 * zeta(5) / (196 * zeta(3) ** 2)
    assert ratio == pytest.approx(1 - c * eps, abs=1e-6)
    assert gap_ginzburg_landau(TC) == 0.0


def test_vectorized_and_fast():
    temperatures = np.linspace(0, 0.6, 100)
    gap(temperatures)  # warm-up
    start = time.perf_counter()
    values = gap(temperatures)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.05
    assert values.shape == (100,)
    assert np.all(np.diff(values) <= 0)
    assert values[0] == 1.0 and values[-1] == 0.0
    grid = gap(temperatures.reshape(10, 10))
    assert grid.shape == (10, 10)
    np.testing.assert_array_equal(grid.ravel(), values)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), [0.1, -1.0]])
def test_invalid_temperature(bad):
    with pytest.raises(ValueError, match="temperature"):
        gap(bad)
    with pytest.raises(ValueError, match="temperature"):
        gap_ginzburg_landau(bad)
