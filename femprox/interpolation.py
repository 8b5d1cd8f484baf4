"""Interpolating cubics in one variable: the spectral solver's continuation in energy and the
plots' smooth curves.

Written here rather than taken from ``scipy.interpolate``: that module (with the
``scipy.optimize`` it imports) costs ~0.15 s at every start of the command line, 3% of
``femprox paper``, for two small functions.

* :class:`InterpolatingSpline`: the not-a-knot cubic spline through (x_k, y_k) (the cubic
  through four points, the quadratic through three, the line through two), with its
  derivatives; ``y`` may be complex and carry any leading axes (interpolated along the last).
* :func:`monotone_cubic`: piecewise cubic Hermite interpolation with Fritsch-Carlson slopes
  (PCHIP): no overshoot and no extrema between the points.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solve_banded


def _checked_nodes(x) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size < 2 or not np.all(np.isfinite(x)) or np.any(np.diff(x) <= 0):
        raise ValueError("interpolation nodes must be at least two finite, strictly increasing numbers")
    return x


def _interval(x: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index k of the interval [x_k, x_k+1] holding each point (the end intervals extended)."""
    return np.clip(np.searchsorted(x, points, side="right") - 1, 0, x.size - 2)


class InterpolatingSpline:
    """The not-a-knot cubic spline through ``(x, y)`` along the last axis of ``y``.

    With two nodes the line, with three the quadratic, with four the cubic through them; with
    more, the C2 piecewise cubic whose third derivative is also continuous at the second and
    the second-to-last node (the not-a-knot end conditions). Outside ``[x_0, x_-1]`` the end
    pieces continue. Call with ``nu`` for the nu-th derivative.
    """

    def __init__(self, x, y):
        self.x = _checked_nodes(x)
        self.y = np.asarray(y)
        if self.y.shape[-1] != self.x.size:
            raise ValueError(f"{self.x.size} nodes but {self.y.shape[-1]} values along the last axis")
        self.h = np.diff(self.x)
        self.second = self._second_derivatives()

    def _second_derivatives(self) -> np.ndarray:
        """The spline's second derivatives at the nodes, shape of ``y``."""
        x, h, n = self.x, self.h, self.x.size
        slope = np.diff(self.y, axis=-1) / h
        if n == 2:
            return np.zeros_like(slope, shape=self.y.shape)
        if n == 3:
            curvature = 2 * (slope[..., 1] - slope[..., 0]) / (x[2] - x[0])
            return np.repeat(curvature[..., None], 3, axis=-1)
        # rows: not-a-knot at x_1, continuity of y' at x_1 .. x_n-2, not-a-knot at x_n-2,
        # in banded storage (2 sub-, 2 superdiagonals): band[2 + i - j, j] = A[i, j]
        band = np.zeros((5, n))
        inner = np.arange(1, n - 1)
        band[3, inner - 1] = h[:-1]
        band[2, inner] = 2 * (h[:-1] + h[1:])
        band[1, inner + 1] = h[1:]
        band[2, 0], band[1, 1], band[0, 2] = h[1], -(h[0] + h[1]), h[0]
        band[4, n - 3], band[3, n - 2], band[2, n - 1] = h[-1], -(h[-2] + h[-1]), h[-2]
        rhs = np.zeros((n,) + self.y.shape[:-1], dtype=np.result_type(self.y, float))
        rhs[1:-1] = np.moveaxis(6 * np.diff(slope, axis=-1), -1, 0)
        return np.moveaxis(solve_banded((2, 2), band, rhs), 0, -1)

    def __call__(self, points, nu: int = 0) -> np.ndarray:
        return self.derivatives(points, nu)[nu]

    def derivatives(self, points, up_to: int = 3) -> list[np.ndarray]:
        """The spline and its derivatives of orders 1 .. ``up_to`` at ``points`` (one interval
        search for all of them)."""
        points = np.asarray(points, dtype=float)
        k = _interval(self.x, points)
        t, h = points - self.x[k], self.h[k]
        y0, y1 = self.y[..., k], self.y[..., k + 1]
        m0, m1 = self.second[..., k], self.second[..., k + 1]
        # on [x_k, x_k+1]: y0 + b t + m0 t^2 / 2 + c t^3
        b = (y1 - y0) / h - h * (2 * m0 + m1) / 6
        c = (m1 - m0) / (6 * h)
        values = [y0 + t * (b + t * (m0 / 2 + t * c)), b + t * (m0 + 3 * t * c), m0 + 6 * t * c, 6 * c + 0 * t]
        return (values + [np.zeros_like(values[3])] * max(0, up_to - 3))[:up_to + 1]


def _pchip_slopes(h: np.ndarray, secant: np.ndarray) -> np.ndarray:
    """Fritsch-Carlson slopes: weighted harmonic means of the neighbouring secants inside (0
    at a local extremum), one-sided three-point estimates at the ends, limited to keep shape."""
    if secant.size == 1:
        return np.repeat(secant, 2)
    slopes = np.zeros(secant.size + 1)
    left, right = secant[:-1], secant[1:]
    w1, w2 = 2 * h[1:] + h[:-1], h[1:] + 2 * h[:-1]
    same = (np.sign(left) * np.sign(right)) > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        slopes[1:-1] = np.where(same, (w1 + w2) / (w1 / left + w2 / right), 0.0)
    slopes[0] = _end_slope(h[0], h[1], secant[0], secant[1])
    slopes[-1] = _end_slope(h[-1], h[-2], secant[-1], secant[-2])
    return slopes


def _end_slope(h0: float, h1: float, s0: float, s1: float) -> float:
    slope = ((2 * h0 + h1) * s0 - h0 * s1) / (h0 + h1)
    if np.sign(slope) != np.sign(s0):
        return 0.0
    if np.sign(s0) != np.sign(s1) and abs(slope) > abs(3 * s0):
        return 3 * s0
    return slope


def monotone_cubic(x, y, points) -> np.ndarray:
    """PCHIP interpolation of real ``y`` at ``x`` (1D, increasing), evaluated at ``points``."""
    x = _checked_nodes(x)
    y = np.asarray(y, dtype=float)
    h = np.diff(x)
    secant = np.diff(y) / h
    slopes = _pchip_slopes(h, secant)
    points = np.asarray(points, dtype=float)
    k = _interval(x, points)
    s = (points - x[k]) / h[k]
    # cubic Hermite basis on the unit interval
    return ((1 + 2 * s) * (1 - s) ** 2 * y[k] + s * (1 - s) ** 2 * h[k] * slopes[k]
            + s**2 * (3 - 2 * s) * y[k + 1] + s**2 * (s - 1) * h[k] * slopes[k + 1])
