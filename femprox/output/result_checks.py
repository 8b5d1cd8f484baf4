"""Checks of computed results before anything is written: no NaN or unphysical number
reaches an output file.

Every check raises :class:`ResultError` (a ValueError, reported on one line by the command
line) naming the quantity, where it was computed (temperature, phase, wire, energy) and
what is wrong. Bounds (docs/physics.md section 4, retarded functions): DOS >= 0, 0 <= D_L <= 1, D_T >= 1,
G/G_N >= 0, kappa/kappa_N >= 0. Finite elements violate them slightly near gap edges; the
slack :data:`SLACK` is the one the spectral solver itself tolerates before it reports a
bound violation (``femprox.spectral.solver._BOUNDS_SLACK``, 2e-2), so what the solver accepts with
a note is written, and what it could not have produced is refused.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

__all__ = ["ResultError", "SLACK", "check_convergence", "check_paper", "check_point_data", "check_sweep",
           "undefined_two_terminal"]

SLACK = 2e-2
"""Allowed violation of DOS >= 0, 0 <= D_L <= 1, D_T >= 1 and of positive ratios (discretization)."""


class ResultError(ValueError):
    """A computed result is not finite or violates a physical bound; nothing was written."""


def undefined_two_terminal(geometry, a: str, b: str) -> str | None:
    """Why G/G_N between reservoirs ``a`` and ``b`` is undefined (None if it is defined).

    Two superconducting reservoirs both sit at the condensate potential: no voltage can be
    applied between them in linear response, and a dissipationless supercurrent flows, so
    G (and G/G_N = 0/0 in the solver) has no value.
    """
    from femprox.geometry.network import NodeKind

    kinds = {n.name: n.kind for n in geometry.nodes}
    if kinds.get(a) is NodeKind.SUPERCONDUCTING_RESERVOIR and kinds.get(b) is NodeKind.SUPERCONDUCTING_RESERVOIR:
        return (f"G/G_N between the superconducting reservoirs '{a}' and '{b}' is undefined (both sit at the "
                "condensate potential: no voltage in linear response, a supercurrent flows); choose a normal "
                "reservoir with --between" + ("" if any(k.value == "normal_reservoir" for k in kinds.values())
                                              else f" (the geometry '{geometry.name}' has none)"))
    return None


def _bad(values: np.ndarray, low: float | None = None) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    bad = ~np.isfinite(values)
    if low is not None:
        bad |= values < low
    return bad


def check_sweep(result) -> None:
    """Every number of a :class:`femprox.workflows.sweeps.SweepResult` finite, ratios >= -SLACK."""
    for p in result.points:
        where = f"T = {p.temperature:g} Delta0" + ("" if p.phase is None else f", phase = {p.phase:g} rad")
        scalars = {"G/G_N": (p.conductance_ratio, -SLACK), "kappa/kappa_N": (p.heat_conductance_ratio, -SLACK),
                   "G/G_N error estimate": (p.conductance_ratio_error, 0.0),
                   "kappa/kappa_N error estimate": (p.heat_conductance_ratio_error, 0.0),
                   "Seebeck coefficient": (p.seebeck, None)}
        for name, (value, low) in scalars.items():
            if _bad(np.array([value]), low).any():
                raise ResultError(f"{name} between '{p.a}' and '{p.b}' at {where} is {value!r}"
                                  + ("" if math.isfinite(value) else " (not finite)")
                                  + "; nothing written")
        for name, matrix in {**p.matrices, **{f"{k} error": v for k, v in p.matrix_errors.items()}}.items():
            if _bad(matrix).any():
                raise ResultError(f"the {name} matrix at {where} is not finite; nothing written")


def check_convergence(data) -> None:
    """Values of a :class:`femprox.workflows.sweeps.ConvergenceData` finite."""
    for name in ("h_values", "p_values"):
        values = np.asarray(getattr(data, name), dtype=float)
        if _bad(values).any():
            raise ResultError(f"the convergence study's {name.replace('_', '-')} include {values[_bad(values)][0]!r} "
                              f"(observable {data.observable}); nothing written")
    if not math.isfinite(data.reference):
        raise ResultError(f"the convergence study's reference value is {data.reference!r}; nothing written")


def check_paper(fig3, fig4) -> None:
    """The network results of Figs. 3 and 4 finite and non-negative (models may be NaN)."""
    for label, data in (("Fig. 3", fig3), ("Fig. 4", fig4)):
        for name in ("kappa", "conductance"):
            values = np.asarray(getattr(data, name), dtype=float)
            bad = _bad(values, -SLACK)
            if bad.any():
                raise ResultError(f"{label}: {name} ratio {values[bad][0]!r}; nothing written")


_BOUNDS = {"dos": (-SLACK, None), "d_l": (-SLACK, 1 + SLACK), "d_t": (1 - SLACK, None)}


def check_point_data(data: Mapping[str, np.ndarray]) -> None:
    """Exported point data (``dos_E0.5``, ``d_l_E0.5``, ``f_L_E0.5``, ...) finite and within the
    bounds DOS >= 0, 0 <= D_L <= 1, D_T >= 1 (each with slack SLACK)."""
    for name, values in data.items():
        values = np.asarray(values)
        if not np.all(np.isfinite(values)):
            raise ResultError(f"point data '{name}' is not finite; nothing written")
        quantity = name.rsplit("_E", 1)[0]
        if quantity not in _BOUNDS:
            continue
        low, high = _BOUNDS[quantity]
        worst = float(values.min()) if low is not None and values.min() < low else None
        if worst is None and high is not None and values.max() > high:
            worst = float(values.max())
        if worst is not None:
            bound = {"dos": "DOS >= 0", "d_l": "0 <= D_L <= 1", "d_t": "D_T >= 1"}[quantity]
            energy = name.rsplit("_E", 1)[1]
            raise ResultError(f"{quantity} = {worst:.4g} at E = {energy} Delta0 violates {bound} by more than the "
                              f"discretization slack {SLACK:g}; refine the mesh (--refine 2) or avoid this energy; "
                              "nothing written")
