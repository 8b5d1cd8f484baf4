"""The paper's claims about Figs. 3 and 4, measured on computed curves.

Claims (Bezuglyi & Vinokur; docs/physics.md section 6 and 7):

* Fig. 3: kappa/kappa_N < 1 and falling as T decreases, always above the Andreev model; a
  power law in the window E_Th < T < T0 (printed as kappa ~ T^4, and ~ T^3 below E_Th);
  G/G_N shows the reentrance: a maximum above 1, back to 1 as T -> 0.
* Fig. 4: kappa(phi) oscillates with full amplitude, with peaks at odd multiples of pi;
  G(phi) has (small) dips there.

Slopes are local ``d ln(kappa/kappa_N) / d ln T`` (kappa ~ T^(1 + slope), as kappa_N ~ T).
Units: temperatures in Delta0, phases in radians.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from femprox.physics import bcs
from femprox.paper.figures import Figure3Data, Figure4Data

__all__ = ["Figure3Checks", "Figure4Checks", "checks_report", "figure3_checks", "figure4_checks", "log_slopes"]


def log_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Local slopes d ln y / d ln x along the last axis (second-order differences)."""
    return np.gradient(np.log(np.asarray(y, dtype=float)), np.log(np.asarray(x, dtype=float)), axis=-1)


def slope_at(temperatures: np.ndarray, slopes: np.ndarray, temperature: float) -> float:
    """A slope curve interpolated (linearly in ln T) at ``temperature``."""
    return float(np.interp(math.log(temperature), np.log(temperatures), slopes))


@dataclass(frozen=True)
class Figure3Checks:
    """Numbers behind the claims about Fig. 3, one entry per r.

    kappa_below_one: kappa/kappa_N < 1 at every T < T_c. kappa_rises: kappa/kappa_N grows
    with T at every step below T_c. kappa_over_andreev_min: smallest kappa/kappa_Andreev
    below T_c (> 1: above the Andreev model everywhere). kappa_lowest: kappa/kappa_N at the
    lowest T. slopes (n_r, n_T): local log-slopes of the network's kappa/kappa_N;
    semi_infinite_slopes: the same for the analytic model (or None). conductance_max and
    conductance_max_temperature: the reentrance maximum of G/G_N and where it lies;
    conductance_lowest: G/G_N at the lowest T.
    """

    r_values: np.ndarray
    kappa_below_one: tuple[bool, ...]
    kappa_rises: tuple[bool, ...]
    kappa_over_andreev_min: np.ndarray
    kappa_lowest: np.ndarray
    slopes: np.ndarray
    semi_infinite_slopes: np.ndarray | None
    conductance_max: np.ndarray
    conductance_max_temperature: np.ndarray
    conductance_lowest: np.ndarray


def figure3_checks(data: Figure3Data) -> Figure3Checks:
    """Evaluate :class:`Figure3Checks` on computed curves."""
    below = data.temperatures < bcs.critical_temperature()
    kappa = data.kappa[:, below]
    andreev = data.andreev_kappa[below]
    with np.errstate(divide="ignore"):
        over_andreev = np.where(andreev > 0, kappa / np.where(andreev > 0, andreev, 1.0), np.inf)
    peak = np.argmax(data.conductance, axis=1)
    rows = np.arange(peak.size)
    return Figure3Checks(
        r_values=data.r_values,
        kappa_below_one=tuple(bool(np.all(row < 1)) for row in kappa),
        kappa_rises=tuple(bool(np.all(np.diff(row) > 0)) for row in kappa),
        kappa_over_andreev_min=over_andreev.min(axis=1), kappa_lowest=data.kappa[:, 0],
        slopes=log_slopes(data.temperatures, data.kappa),
        semi_infinite_slopes=None if data.semi_infinite_kappa is None
        else log_slopes(data.temperatures, data.semi_infinite_kappa),
        conductance_max=data.conductance[rows, peak], conductance_max_temperature=data.temperatures[peak],
        conductance_lowest=data.conductance[:, 0])


@dataclass(frozen=True)
class Figure4Checks:
    """Numbers behind the claims about Fig. 4, one entry per temperature.

    kappa_min, kappa_max, kappa_max_phase (radians; the first maximum on [0, 2 pi]);
    kappa_contrast = (max - min)/max (1 = full-scale oscillation); conductance_at_pi,
    conductance_max (and its phase), conductance_min of G/G_N; shortcut_kappa_min: the
    shortcut model's kappa/kappa_N at its minimum (phi = 0).
    """

    temperatures: np.ndarray
    kappa_min: np.ndarray
    kappa_max: np.ndarray
    kappa_max_phase: np.ndarray
    kappa_contrast: np.ndarray
    conductance_at_pi: np.ndarray
    conductance_max: np.ndarray
    conductance_max_phase: np.ndarray
    conductance_min: np.ndarray
    shortcut_kappa_min: np.ndarray


def figure4_checks(data: Figure4Data) -> Figure4Checks:
    """Evaluate :class:`Figure4Checks` on computed curves (each temperature on the phases
    computed for it: NaN entries, phases added only for other temperatures, are skipped)."""
    at_pi = int(np.argmin(np.abs(data.phases - np.pi)))
    rows = np.arange(data.temperatures.size)
    kappa, conductance = data.kappa, data.conductance
    top = np.nanargmax(np.where(np.isnan(kappa), -np.inf, kappa), axis=1)
    g_top = np.nanargmax(np.where(np.isnan(conductance), -np.inf, conductance), axis=1)
    kappa_max, kappa_min = kappa[rows, top], np.nanmin(kappa, axis=1)
    return Figure4Checks(
        temperatures=data.temperatures, kappa_min=kappa_min, kappa_max=kappa_max,
        kappa_max_phase=data.phases[top], kappa_contrast=(kappa_max - kappa_min) / kappa_max,
        conductance_at_pi=conductance[:, at_pi], conductance_max=conductance[rows, g_top],
        conductance_max_phase=data.phases[g_top], conductance_min=np.nanmin(conductance, axis=1),
        shortcut_kappa_min=np.nanmin(data.shortcut_kappa, axis=1))


def checks_report(fig3: Figure3Data, fig4: Figure4Data, slopes: Figure3Data | None = None) -> str:
    """Plain-text summary of what the figures show against the paper's claims."""
    lines = _figure3_lines(fig3)
    if slopes is not None:
        lines += _slope_lines(slopes)
    lines += _figure4_lines(fig4)
    return "\n".join(lines) + "\n"


def _figure3_lines(data: Figure3Data) -> list[str]:
    c = figure3_checks(data)
    t_low = data.temperatures[0]
    lines = [f"Fig. 3: T-junction, L_N = {data.length_n:g} xi0, L_S = {data.length_s:g} xi0, E_Th = "
             f"{data.thouless_energy:.3g} Delta0, T = {t_low:.3g}..{data.temperatures[-1]:.3g} Delta0"]
    shown = [t for t in (0.01, 0.03, 0.1, 0.3) if t_low <= t <= data.temperatures[-1]]
    for k, r in enumerate(c.r_values):
        slopes = ", ".join(f"{slope_at(data.temperatures, c.slopes[k], t):.2f} at T = {t:g}" for t in shown)
        lines += [
            f"  r = {r:g} (T0 = {data.t0[k]:.3g}): kappa/kappa_N < 1 below T_c: {c.kappa_below_one[k]}, "
            f"rises with T: {c.kappa_rises[k]}, {c.kappa_lowest[k]:.4f} at T = {t_low:.3g}, "
            f"kappa/kappa_Andreev >= {c.kappa_over_andreev_min[k]:.4g}",
            f"    local slope d ln(kappa/kappa_N)/d ln T: {slopes}",
            f"    G/G_N: maximum {c.conductance_max[k]:.4f} at T = {c.conductance_max_temperature[k]:.3g}, "
            f"{c.conductance_lowest[k]:.4f} at T = {t_low:.3g}"]
    return lines


def _slope_lines(data: Figure3Data) -> list[str]:
    e_th, t0 = data.thouless_energy, data.t0[0]
    network = log_slopes(data.temperatures, data.kappa[0])
    model = None if data.semi_infinite_kappa is None else log_slopes(data.temperatures, data.semi_infinite_kappa[0])
    lines = [f"Long wire: L_N = {data.length_n:g} xi0, r = {data.r_values[0]:g}, E_Th = {e_th:.3g}, "
             f"T0 = {t0:.3g} Delta0 (kappa ~ T^(1 + slope))"]
    for t in np.geomspace(data.temperatures[0], data.temperatures[-1], 7):
        text = (f"  T = {t:.3g} (T/E_Th = {t / e_th:.3g}, T/T0 = {t / t0:.3g}): slope "
                f"{slope_at(data.temperatures, network, t):.3f}")
        if model is not None:
            text += f", semi-infinite model {slope_at(data.temperatures, model, t):.3f}"
        lines.append(text)
    return lines


def _figure4_lines(data: Figure4Data) -> list[str]:
    c = figure4_checks(data)
    lines = [f"Fig. 4: house interferometer, L_N = {data.length_n:g} xi0, arms {data.arm_length:g} xi0 of "
             f"conductance {data.arm_conductance:g} g_N" + (" ((pi, 2pi] by symmetry)" if data.mirrored else "")]
    for k, t in enumerate(c.temperatures):
        lines += [
            f"  T = {t:g}: kappa/kappa_N {c.kappa_min[k]:.4f}..{c.kappa_max[k]:.4f}, maximum at phi = "
            f"{c.kappa_max_phase[k] / math.pi:.3f} pi, contrast (max - min)/max = {c.kappa_contrast[k]:.3f}; "
            f"shortcut model minimum {c.shortcut_kappa_min[k]:.3g}",
            f"    G/G_N: {c.conductance_at_pi[k]:.4f} at pi, maximum {c.conductance_max[k]:.4f} at phi = "
            f"{c.conductance_max_phase[k] / math.pi:.3f} pi, minimum {c.conductance_min[k]:.4f}"]
    return lines
