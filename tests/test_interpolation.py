"""femprox.interpolation against scipy.interpolate (the functions it replaces) and exact cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import PchipInterpolator, make_interp_spline

from femprox.interpolation import InterpolatingSpline, monotone_cubic

RNG = np.random.default_rng(7)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 9, 40])
def test_spline_and_its_derivatives_equal_scipys_not_a_knot_spline(n):
    # the solver used make_interp_spline(k=min(3, n - 1)); same interpolant, so equal to
    # rounding (1e-12 relative to the values' scale, derivatives scaled by the node spacing)
    x = np.sort(RNG.uniform(0.0, 3.0, n)) + np.arange(n) * 1e-3
    y = RNG.normal(size=(6, n)) + 1j * RNG.normal(size=(6, n))
    points = np.linspace(x[0] - 0.1, x[-1] + 0.1, 57)
    ours = InterpolatingSpline(x, y)
    reference = make_interp_spline(x, y, k=min(3, n - 1), axis=1)
    spacing = np.min(np.diff(x))
    for nu in range(min(3, n - 1) + 1):
        scale = np.max(np.abs(y)) / spacing**nu
        np.testing.assert_allclose(ours(points, nu), reference.derivative(nu)(points) if nu else reference(points),
                                   rtol=0, atol=1e-9 * scale)


def test_spline_reproduces_cubics_exactly_and_meets_its_nodes():
    x = np.array([0.0, 0.3, 0.35, 1.0, 2.2, 2.5])
    cubic = lambda t: 1 - 2 * t + 0.5 * t**2 - 0.25 * t**3  # noqa: E731
    spline = InterpolatingSpline(x, cubic(x))
    t = np.linspace(-0.5, 3.0, 31)
    np.testing.assert_allclose(spline(t), cubic(t), atol=1e-12)
    np.testing.assert_allclose(spline(t, 3), -1.5, atol=1e-10)
    wiggly = np.sin(5 * x)
    np.testing.assert_allclose(InterpolatingSpline(x, wiggly)(x), wiggly, atol=1e-14)


def test_monotone_cubic_equals_scipys_pchip_and_keeps_monotone_data_monotone():
    for n in (2, 3, 7, 25):
        x = np.sort(RNG.uniform(-2.0, 2.0, n)) + np.arange(n) * 1e-3
        y = RNG.normal(size=n)
        y[n // 2:] = y[n // 2]  # a flat stretch: zero slopes there
        points = np.linspace(x[0], x[-1], 101)
        np.testing.assert_allclose(monotone_cubic(x, y, points), PchipInterpolator(x, y)(points), rtol=0, atol=1e-12)
    x = np.linspace(0.0, 1.0, 8)
    steps = np.array([0.0, 0.0, 0.1, 0.9, 1.0, 1.0, 1.0, 2.0])
    fine = monotone_cubic(x, steps, np.linspace(0.0, 1.0, 701))
    assert np.all(np.diff(fine) >= -1e-15) and fine.min() >= 0.0 and fine.max() <= 2.0


def test_bad_nodes_are_refused():
    with pytest.raises(ValueError, match="strictly increasing"):
        InterpolatingSpline([0.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="at least two"):
        monotone_cubic([0.0], [1.0], [0.5])
    with pytest.raises(ValueError, match="3 nodes but 2 values"):
        InterpolatingSpline([0.0, 1.0, 2.0], [1.0, 2.0])
