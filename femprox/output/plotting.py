"""Drawing: the paper's figures, sweeps, convergence studies and network sketches.

Every function draws on ``ax`` and returns the Axes. Without ``ax`` a new figure with one
Axes is made: in a Jupyter notebook through pyplot, so that it is shown below the cell;
elsewhere as a bare matplotlib Figure, which changes nothing global (a script saves it with
``ax.figure.savefig(path)``; pass ``ax`` from ``plt.subplots()`` to use pyplot anyway). Styles are passed
explicitly, never through rcParams. Axis labels carry units: temperatures and energies in
Delta0, phases in radians, lengths in xi0.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from femprox.interpolation import monotone_cubic
from femprox.output.export import node_positions
from femprox.paper.figures import Figure3Data, Figure4Data
from femprox.workflows.sweeps import ConvergenceData, SweepResult
from femprox.geometry.network import Geometry, NodeKind
from femprox.mesh import build_mesh

__all__ = ["draw_network", "plot_conductance_vs_phase", "plot_conductance_vs_temperature", "plot_convergence",
           "plot_current_phase", "plot_dataset", "plot_dos_map", "plot_iv", "plot_kappa_vs_phase",
           "plot_kappa_vs_temperature", "plot_sweep"]

_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray")
_NORMAL_COLOR, _SUPER_COLOR, _BARRIER_COLOR = "tab:gray", "tab:blue", "tab:red"
_NODE_STYLE = {
    NodeKind.NORMAL_RESERVOIR: dict(marker="s", color="tab:gray", label="normal reservoir"),
    NodeKind.SUPERCONDUCTING_RESERVOIR: dict(marker="s", color="tab:blue", label="S reservoir"),
    NodeKind.CLEAN: dict(marker="o", color="black", label="clean node"),
    NodeKind.FREE_END: dict(marker="x", color="black", label="free end"),
}


def in_notebook() -> bool:
    """True inside a Jupyter (IPython kernel) session."""
    shell = sys.modules.get("IPython")
    if shell is None or "ipykernel" not in sys.modules:
        return False
    ip = shell.get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _new_figure(width: float, height: float) -> Figure:
    """A pyplot figure in a notebook (the inline backend shows it below the cell), else a
    bare Figure that touches no global state (scripts save it: ``ax.figure.savefig``)."""
    if in_notebook():
        import matplotlib.pyplot as plt

        return plt.figure(figsize=(width, height), layout="constrained")
    return Figure(figsize=(width, height), layout="constrained")


def _axes(ax: Axes | None) -> Axes:
    return ax if ax is not None else _new_figure(6.0, 4.2).add_subplot()


def _phase_axis(ax: Axes, phases: np.ndarray) -> None:
    ticks = np.arange(0, math.floor(phases.max() / (math.pi / 2) + 1e-9) + 1) * math.pi / 2
    names = {0: "0", 1: r"$\pi/2$", 2: r"$\pi$", 3: r"$3\pi/2$", 4: r"$2\pi$"}
    ax.set_xticks(ticks, [names.get(k, f"{k}" + r"$\pi/2$") for k in range(ticks.size)])
    ax.set_xlabel(r"phase difference $\varphi$ (rad)")


# -- Fig. 3 ---------------------------------------------------------------------------

def _style_legend(ax: Axes, colors: Sequence[tuple[str, str]], styles: Sequence[tuple[str, str]],
                  extra: Sequence[tuple[Line2D, str]] = (), **options) -> None:
    """A compact legend: one colored line per curve family, one black line per line style,
    then ``extra`` (handle, label) entries."""
    handles = [Line2D([], [], color=color, linestyle="-") for color, _ in colors]
    handles += [Line2D([], [], color="black", linestyle=style) for style, _ in styles]
    labels = [label for _, label in colors] + [label for _, label in styles]
    handles += [handle for handle, _ in extra]
    labels += [label for _, label in extra]
    ax.legend(handles, labels, fontsize="small", **options)


def _smooth_in_log_temperature(temperatures: np.ndarray, values: np.ndarray,
                                per_interval: int = 8) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """A smooth curve through computed points: monotone cubic (PCHIP) interpolation in log T,
    which neither overshoots nor invents extrema between points; also the indices of the
    computed points in the fine curve (for markers). Fewer than three points: unchanged."""
    order = np.argsort(temperatures)
    t, v = np.asarray(temperatures, dtype=float)[order], np.asarray(values, dtype=float)[order]
    if t.size < 3 or np.any(t <= 0) or not np.all(np.isfinite(v)):
        return t, v, list(range(t.size))
    log_t = np.log(t)
    fine = np.concatenate([np.linspace(a, b, per_interval, endpoint=False) for a, b in zip(log_t[:-1], log_t[1:])]
                          + [log_t[-1:]])
    return np.exp(fine), monotone_cubic(log_t, v, fine), list(range(0, fine.size, per_interval))


def _curves_per_r(ax: Axes, data: Figure3Data, values, model_values):
    """One solid curve per r (network: smooth through the computed temperatures, marked) and,
    if ``model_values`` is given, a dotted one (semi-infinite model) in the same colour;
    returns the legend entries (line styles only when there is more than one)."""
    colors, styles = [], [("-", "network")]
    for k, r in enumerate(data.r_values):
        color = _COLORS[k % len(_COLORS)]
        colors.append((color, f"r = {r:g}"))
        x, y, computed = _smooth_in_log_temperature(data.temperatures, values[k])
        ax.plot(x, y, "-", color=color, marker="o", markersize=2.5, markevery=computed)
        if model_values is not None:
            ax.plot(data.temperatures, model_values[k], ":", color=color)
    if model_values is not None:
        styles.append((":", "semi-infinite model"))
    return colors, styles


def plot_kappa_vs_temperature(data: Figure3Data, ax: Axes | None = None, *, semi_infinite: bool = True,
                              andreev: bool = True) -> Axes:
    """Fig. 3a: kappa/kappa_N against T (log axis), one solid curve per r (full network);
    the Andreev model dashed and the semi-infinite analytic model dotted."""
    ax = _axes(ax)
    model = data.semi_infinite_kappa if semi_infinite else None
    colors, styles = _curves_per_r(ax, data, data.kappa, model)
    if andreev:
        ax.plot(data.temperatures, data.andreev_kappa, "--", color="black")
        styles.append(("--", "Andreev model"))
    ax.set_xscale("log")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel(r"temperature $T$ ($\Delta_0$)")
    ax.set_ylabel(r"$\kappa/\kappa_N$")
    ax.set_title(rf"T-junction, $L_N = {data.length_n:g}\,\xi_0$")
    # beside the axes: inside, any corner covers a curve (r = 10 runs along the top left)
    _style_legend(ax, colors, styles, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_conductance_vs_temperature(data: Figure3Data, ax: Axes | None = None, *,
                                    semi_infinite: bool = False) -> Axes:
    """Fig. 3b: G/G_N against T (linear axis), one curve per r (reentrance); optionally the
    semi-infinite analytic model dotted."""
    ax = _axes(ax)
    model = data.semi_infinite_conductance if semi_infinite else None
    colors, styles = _curves_per_r(ax, data, data.conductance, model)
    if model is None:
        styles = []  # only network curves: a "network" line style entry would look like G = G_N
    reference = ax.axhline(1.0, color=_NORMAL_COLOR, linewidth=0.8, linestyle=(0, (1, 2)))
    ax.set_xlabel(r"temperature $T$ ($\Delta_0$)")
    ax.set_ylabel(r"$G/G_N$")
    ax.set_title(rf"T-junction, $L_N = {data.length_n:g}\,\xi_0$")
    _style_legend(ax, colors, styles, extra=[(reference, r"$G = G_N$")], loc="upper left",
                  bbox_to_anchor=(1.01, 1.0))
    return ax


# -- Fig. 4 ---------------------------------------------------------------------------

def _plot_vs_phase(data: Figure4Data, ax: Axes, values: np.ndarray, shortcut: np.ndarray | None) -> None:
    colors = []
    for k, t in enumerate(data.temperatures):
        color = _COLORS[k % len(_COLORS)]
        colors.append((color, rf"$T = {t:g}\,\Delta_0$"))
        # markers at the computed phases: they are dense where the curves bend (refine_figure4)
        # (each temperature on its own computed phases: refinement adds phases only where needed)
        done = np.isfinite(values[k])
        ax.plot(data.phases[done], values[k][done], "-", color=color, marker="o", markersize=2.5)
        if shortcut is not None:
            done = np.isfinite(shortcut[k])
            ax.plot(data.phases[done], shortcut[k][done], "--", color=color)
    _phase_axis(ax, data.phases)
    ax.set_title(rf"house interferometer, $L_N = {data.length_n:g}\,\xi_0$")
    styles = [("-", "network")] + ([("--", "shortcut model")] if shortcut is not None else [])
    _style_legend(ax, colors, styles, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def plot_kappa_vs_phase(data: Figure4Data, ax: Axes | None = None, *, shortcut: bool = True) -> Axes:
    """Fig. 4a: kappa/kappa_N against phi, one curve per T; the shortcut model dashed."""
    ax = _axes(ax)
    _plot_vs_phase(data, ax, data.kappa, data.shortcut_kappa if shortcut else None)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel(r"$\kappa/\kappa_N$")
    return ax


def plot_conductance_vs_phase(data: Figure4Data, ax: Axes | None = None, *, shortcut: bool = True) -> Axes:
    """Fig. 4b: G/G_N against phi, one curve per T; the shortcut model dashed."""
    ax = _axes(ax)
    _plot_vs_phase(data, ax, data.conductance, data.shortcut_conductance if shortcut else None)
    ax.set_ylabel(r"$G/G_N$")
    return ax


# -- sweeps and convergence -------------------------------------------------------------

_QUANTITY_LABELS = {"heat_conductance_ratio": r"$\kappa/\kappa_N$", "conductance_ratio": r"$G/G_N$",
                    "seebeck": r"thermopower $S$ ($k_B/e$)"}


def plot_sweep(result: SweepResult, quantity: str = "heat_conductance_ratio", ax: Axes | None = None, *,
               against: str | None = None) -> Axes:
    """A sweep's ``quantity`` (a TransportPoint attribute) against temperature or phase.

    ``against``: "temperature" or "phase" (default: phase if the sweep has several phases
    and a single temperature, else temperature); one curve per value of the other one.
    """
    ax = _axes(ax)
    temperature, phase = result.column("temperature"), result.column("phase")
    values = result.column(quantity)
    if against is None:
        against = "phase" if np.unique(phase[~np.isnan(phase)]).size > 1 and np.unique(temperature).size == 1 \
            else "temperature"
    x, other = (temperature, phase) if against == "temperature" else (phase, temperature)
    for k, value in enumerate(np.unique(other) if not np.all(np.isnan(other)) else [np.nan]):
        rows = np.isnan(other) if np.isnan(value) else other == value
        order = np.argsort(x[rows])
        label = None if np.isnan(value) else (f"phi = {value:.3g} rad" if against == "temperature"
                                              else f"T = {value:g}")
        ax.plot(x[rows][order], values[rows][order], "o-", color=_COLORS[k % len(_COLORS)], markersize=3,
                label=label)
    if against == "temperature":
        ax.set_xlabel(r"temperature $T$ ($\Delta_0$)")
    else:
        _phase_axis(ax, phase[~np.isnan(phase)])
    ax.set_ylabel(_QUANTITY_LABELS.get(quantity, quantity))
    point = result.points[0]
    ax.set_title(plain_text(f"between {point.a} and {point.b} (others {result.others})"))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return ax


def plot_convergence(data: ConvergenceData, ax: Axes | None = None) -> Axes:
    """Error against the reference value, log-log over DOFs per field, h- and p-studies."""
    ax = _axes(ax)
    for dofs, errors, marker, label in ((data.h_dofs, data.h_errors, "o-", f"h-refinement (order {data.h_order}), "
                                         f"rate {data.h_rate:.2f}"),
                                        (data.p_dofs, data.p_errors, "s-", "p-refinement (order 1..)")):
        keep = errors > 0
        ax.loglog(dofs[keep], errors[keep], marker, label=label)
    ax.set_xlabel("degrees of freedom per field")
    ax.set_ylabel(f"|error| of {data.observable}")
    ax.set_title(f"convergence of {data.observable} (reference: {data.reference_dofs} DOFs)")
    ax.legend(fontsize="small")
    return ax


# -- network sketch --------------------------------------------------------------------

def draw_network(geometry: Geometry, ax: Axes | None = None, *, names: bool = True) -> Axes:
    """The network in the plane: wires as lines (blue: superconducting, gray: normal),
    nodes marked by kind, names written next to them. Coordinates in xi0; nodes without
    positions are laid out automatically (as in :mod:`femprox.output.export`)."""
    ax = _axes(ax)
    positions = node_positions(build_mesh(geometry))
    points = np.array([p[:2] for p in positions.values()])
    extent = max(float(np.ptp(points[:, 0])), float(np.ptp(points[:, 1])), 1e-12)
    for wire in geometry.wires:
        start, end = positions[wire.start][:2], positions[wire.end][:2]
        color = _SUPER_COLOR if wire.is_superconducting else _NORMAL_COLOR
        ax.plot([start[0], end[0]], [start[1], end[1]], "-", color=color, linewidth=3 if wire.is_superconducting else 2)
        if names and np.linalg.norm(end - start) > 0.08 * extent:  # short wires: name would overlap
            middle = 0.5 * (start + end)
            ax.annotate(plain_text(wire.name), middle, fontsize="x-small", color=color, ha="center", va="bottom")
        _draw_contacts(wire, start, end, extent, ax)
    _draw_loops(geometry, positions, ax)
    _draw_nodes(geometry, positions, ax, names)
    ax.plot([], [], "-", color=_SUPER_COLOR, linewidth=3, label="S wire")
    ax.plot([], [], "-", color=_NORMAL_COLOR, linewidth=2, label="N wire")
    if any(w.start_contact is not None or w.end_contact is not None for w in geometry.wires):
        ax.plot([], [], "-", color=_BARRIER_COLOR, linewidth=3, label="tunnel barrier")
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(r"$x$ ($\xi_0$)")
    ax.set_ylabel(r"$y$ ($\xi_0$)")
    ax.set_title(plain_text(geometry.name))
    ax.legend(fontsize="small", loc="best")
    return ax


def _draw_contacts(wire, start: np.ndarray, end: np.ndarray, extent: float, ax: Axes) -> None:
    """A short bar across the wire near each end that has a contact (a tunnel barrier)."""
    direction = end - start
    length = np.linalg.norm(direction)
    if length == 0:
        return
    along, across = direction / length, np.array([-direction[1], direction[0]]) / length
    for side, anchor, sign in (("start", start, 1.0), ("end", end, -1.0)):
        contact = wire.contact_at(side)
        if contact is None:
            continue
        centre = anchor + sign * along * min(0.04 * extent, 0.25 * length)
        bar = np.array([centre - 0.02 * extent * across, centre + 0.02 * extent * across])
        ax.plot(bar[:, 0], bar[:, 1], "-", color=_BARRIER_COLOR, linewidth=3)


def _draw_loops(geometry: Geometry, positions: dict, ax: Axes) -> None:
    """The flux of each loop written at the loop's centre."""
    for loop in geometry.loops:
        corners = np.array([positions[n][:2] for w in loop.wires
                            for n in (geometry.wire(w).start, geometry.wire(w).end)])
        centre = corners.mean(axis=0)
        ax.annotate(f"{loop.name}: {loop.flux:.3g} h/2e", centre, fontsize="small", ha="center", va="center",
                    color=_BARRIER_COLOR)


def _draw_nodes(geometry: Geometry, positions: dict, ax: Axes, names: bool) -> None:
    seen: set[NodeKind] = set()
    for node in geometry.nodes:
        style = dict(_NODE_STYLE[node.kind])
        kind_label = style.pop("label")
        label = kind_label if node.kind not in seen else None
        seen.add(node.kind)
        x, y = positions[node.name][:2]
        ax.plot([x], [y], linestyle="none", markersize=8, label=label, **style)
        if names:
            ax.annotate(plain_text(node.name), (x, y), textcoords="offset points", xytext=(4, 4), fontsize="small")


def plain_text(text: str) -> str:
    """``text`` shown literally in a plot: '$' escaped (matplotlib reads $...$ as mathematics
    and fails on malformed formulas) and control characters replaced by escapes. Names are
    restricted to safe characters already (femprox.geometry.limits); this covers titles and geometries
    built in Python."""
    from femprox.geometry.limits import printable

    return printable(text).replace("$", r"\$")


def figure_with_axes(count: int = 1, *, width: float = 6.0, height: float = 4.2) -> tuple[Figure, Sequence[Axes]]:
    """A new Figure with ``count`` Axes side by side (through pyplot only if the caller
    imported it, see the module docstring)."""
    figure = _new_figure(width * count, height)
    axes = figure.subplots(1, count, squeeze=False)[0]
    return figure, list(axes)


# -- labelled results (xarray Datasets of femprox.output.results and femprox.workflows.studies) -----------

_DIMENSION_LABELS = {"temperature": r"temperature $T$ ($\Delta_0$)", "phase": r"phase $\varphi$ (rad)",
                     "bias": r"bias $V$ ($\Delta_0/e$)", "energy": r"energy $E$ ($\Delta_0$)"}


def plot_dataset(dataset, variable: str = "heat_conductance_ratio", ax: Axes | None = None, *,
                 against: str = "temperature", errors: bool = False) -> Axes:
    """One variable of a sweep Dataset against one dimension, one curve (with markers at
    the computed points) per combination of the other dimensions' values, labelled in a
    legend placed beside the axes (never over the curves). ``errors``: shade +- the
    variable's ``<variable>_error`` where the Dataset has it."""
    ax = _axes(ax)
    values = dataset[variable]
    if against not in values.dims:
        raise ValueError(f"'{variable}' has no dimension '{against}' (dimensions: {', '.join(values.dims)})")
    others = [d for d in values.dims if d != against]
    stacked = values.stack(curve=others) if others else values.expand_dims(curve=[0])
    x = dataset[against].values
    error = dataset.get(f"{variable}_error")
    for k in range(stacked.sizes["curve"]):
        curve = stacked.isel(curve=k)
        label = ", ".join(f"{d} = {curve[d].item():.4g}" for d in others) or None
        color = _COLORS[k % len(_COLORS)]
        ax.plot(x, curve.transpose(against).values, "o-", color=color, markersize=3, label=label)
        if errors and error is not None:
            e = (error.stack(curve=others) if others else error.expand_dims(curve=[0])).isel(curve=k)
            y, dy = curve.transpose(against).values, e.transpose(against).values
            ax.fill_between(x, y - dy, y + dy, color=color, alpha=0.25, linewidth=0)
    if against == "phase":
        _phase_axis(ax, x)
    else:
        ax.set_xlabel(_DIMENSION_LABELS.get(against, against))
    ax.set_ylabel(_QUANTITY_LABELS.get(variable, values.attrs.get("long_name", variable)))
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_dos_map(dataset, wire: str | None = None, ax: Axes | None = None) -> Axes:
    """N(E, x)/N_0 along one wire of a :func:`femprox.workflows.studies.dos_map` Dataset as a color
    map (x horizontal, E vertical); ``wire`` defaults to the first."""
    ax = _axes(ax)
    wires = list(dict.fromkeys(dataset["wire"].values.tolist()))
    wire = wire or wires[0]
    if wire not in wires:
        raise ValueError(f"no wire '{wire}' in the DOS map (wires: {', '.join(wires)})")
    selected = dataset["dos"].where(dataset["wire"] == wire, drop=True)
    mesh = ax.pcolormesh(selected["x"].values, dataset["energy"].values, selected.values, shading="auto",
                         cmap="viridis")
    ax.figure.colorbar(mesh, ax=ax, label=r"$N(E, x)/N_0$")
    ax.set_xlabel(rf"position along {wire} $x$ ($\xi_0$)")
    ax.set_ylabel(_DIMENSION_LABELS["energy"])
    return ax


def plot_iv(dataset, ax: Axes | None = None) -> Axes:
    """Current through the biased terminal of a :func:`femprox.workflows.studies.iv_curve` Dataset
    and the normal-state line G_N V (dashed)."""
    ax = _axes(ax)
    terminal = dataset.attrs["biased_terminal"]
    order = np.argsort(dataset["bias"].values)
    bias = dataset["bias"].values[order]
    ax.plot(bias, dataset["charge_current"].sel(terminal=terminal).values[order], "o-", markersize=3,
            color=_COLORS[0], label=f"I from {terminal}")
    ax.plot(bias, dataset["normal_current"].values[order], "--", color=_NORMAL_COLOR, label=r"normal state $G_N V$")
    ax.set_xlabel(_DIMENSION_LABELS["bias"])
    ax.set_ylabel(r"current $I$ ($G_0 \Delta_0/e$)")
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_current_phase(dataset, ax: Axes | None = None) -> Axes:
    """e I_S R_N against the phase, from a :func:`femprox.workflows.studies.current_phase_relation`
    Dataset, with markers at the computed phases."""
    ax = _axes(ax)
    phase = dataset["phase"].values
    order = np.argsort(phase)
    ax.plot(phase[order], dataset["e_i_rn"].values[order], "o-", markersize=3, color=_COLORS[0])
    ax.axhline(0.0, color=_NORMAL_COLOR, linewidth=0.8)
    _phase_axis(ax, phase)
    ax.set_ylabel(r"$e I_S R_N$ ($\Delta_0$)")
    ax.set_title(f"supercurrent through {dataset.attrs['wire']}")
    return ax
