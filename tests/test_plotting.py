"""Drawing: axes with units and legends, no global matplotlib state touched.

Curves are synthetic numbers (drawing does not need solutions), except for one tiny sweep.
"""

import math

import matplotlib
import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from femprox.paper import figures
from femprox.output import plotting
from femprox.workflows import sweeps
from femprox.geometry.network import Geometry, Node, Wire
from femprox.geometry.files import load_geometry

T = np.geomspace(0.01, 0.6, 6)
PHASES = np.linspace(0, 2 * math.pi, 7)


def figure3_data() -> figures.Figure3Data:
    kappa = np.array([T ** 0.5, T ** 0.3]) / 0.6 ** np.array([[0.5], [0.3]])
    return figures.Figure3Data(
        temperatures=T, gap=np.ones_like(T), r_values=np.array([0.1, 1.0]), length_n=10.0, length_s=10.0,
        kappa=kappa, conductance=1 + 0.1 * np.sin(np.pi * T / 0.6) * np.ones((2, 1)), kappa_error=0 * kappa,
        conductance_error=0 * kappa, andreev_kappa=np.exp(-1 / T), semi_infinite_kappa=kappa ** 1.2,
        semi_infinite_conductance=np.ones_like(kappa), thouless_energy=0.02, t0=np.array([0.3, 0.1]),
        spectral_solves=2)


def figure4_data() -> figures.Figure4Data:
    kappa = np.array([0.5 + 0.5 * np.cos(PHASES - math.pi), 0.7 + 0.3 * np.cos(PHASES - math.pi)])
    return figures.Figure4Data(
        phases=PHASES, temperatures=np.array([0.05, 0.1]), gap=np.ones(2), kappa=kappa, conductance=1 + 0.1 * kappa,
        kappa_error=0 * kappa, conductance_error=0 * kappa, shortcut_kappa=kappa ** 2, shortcut_conductance=1 + kappa,
        length_n=10.0, arm_length=0.5, arm_conductance=10.0, mirrored=True, spectral_solves=4)


def convergence_data() -> sweeps.ConvergenceData:
    return sweeps.ConvergenceData(
        observable="kappa", temperature=0.05, energy=None, wire=None, position=None, between=("left", "right"),
        refinements=np.array([1.0, 2.0, 4.0]), h_order=3, h_dofs=np.array([10, 20, 40]),
        h_values=np.array([0.5, 0.51, 0.511]), orders=np.array([1, 2]), p_dofs=np.array([5, 10]),
        p_values=np.array([0.4, 0.5]), reference=0.5111, reference_dofs=160,
        h_errors=np.array([1e-2, 1e-3, 1e-4]), p_errors=np.array([1e-1, 1e-2]), h_rate=3.3)


@pytest.fixture(autouse=True)
def untouched_global_state():
    """Every drawing leaves rcParams alone and opens no pyplot figure."""
    import matplotlib.pyplot as plt

    before, figures_before = dict(matplotlib.rcParams), plt.get_fignums()
    yield
    assert dict(matplotlib.rcParams) == before
    assert plt.get_fignums() == figures_before


@pytest.mark.parametrize("draw, data, xunit, ylabel", [
    (plotting.plot_kappa_vs_temperature, figure3_data, r"\Delta_0", r"\kappa/\kappa_N"),
    (plotting.plot_conductance_vs_temperature, figure3_data, r"\Delta_0", "G/G_N"),
    (plotting.plot_kappa_vs_phase, figure4_data, "rad", r"\kappa/\kappa_N"),
    (plotting.plot_conductance_vs_phase, figure4_data, "rad", "G/G_N"),
])
def test_figure_axes_have_units_and_legends(draw, data, xunit, ylabel):
    ax = draw(data())
    assert isinstance(ax, Axes)
    assert xunit in ax.get_xlabel() and ylabel in ax.get_ylabel()
    assert ax.get_legend() is not None and ax.get_legend().get_texts()


def test_given_axes_are_drawn_on_and_returned():
    figure = Figure()
    ax = figure.add_subplot()
    assert plotting.plot_kappa_vs_temperature(figure3_data(), ax) is ax
    # two r: network + semi-infinite model each, plus the Andreev model
    assert len(ax.get_lines()) == 5
    assert ax.get_xscale() == "log"


def test_phase_axis_is_labelled_in_multiples_of_pi():
    ax = plotting.plot_kappa_vs_phase(figure4_data())
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels[0] == "0" and labels[-1] == r"$2\pi$"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "shortcut model" in legend and "network" in legend


def test_sweep_and_convergence_plots():
    wire = Geometry(nodes=(Node("a", "normal_reservoir"), Node("b", "normal_reservoir")),
                    wires=(Wire("w", "a", "b", 2.0),))
    result = sweeps.sweep(wire, [0.05, 0.1], grid=sweeps.QUICK_GRID)
    ax = plotting.plot_sweep(result, "conductance_ratio")
    assert "Delta_0" in ax.get_xlabel() and "G/G_N" in ax.get_ylabel()
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), 1.0, atol=1e-9)
    ax = plotting.plot_convergence(convergence_data())
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert "3.30" in ax.get_legend().get_texts()[0].get_text()  # the measured rate is shown


@pytest.mark.parametrize("name", ["t_junction", "house_interferometer", "sandwich"])
def test_network_drawing_marks_wires_and_nodes(name):
    geometry = load_geometry(figures.GEOMETRY_DIRECTORY / f"{name}.toml")
    ax = plotting.draw_network(geometry)
    texts = {t.get_text() for t in ax.texts}
    assert {n.name for n in geometry.nodes} <= texts
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert "N wire" in legend and "S wire" in legend
    assert r"\xi_0" in ax.get_xlabel()


def test_network_without_positions_is_laid_out():
    geometry = Geometry(nodes=(Node("a", "normal_reservoir"), Node("c", "clean"), Node("b", "normal_reservoir"),
                               Node("s", "superconducting_reservoir", gap=1.0)),
                        wires=(Wire("w1", "a", "c", 2.0), Wire("w2", "c", "b", 2.0), Wire("w3", "c", "s", 1.0)))
    ax = plotting.draw_network(geometry, names=False)
    assert not ax.texts
    points = np.concatenate([line.get_xydata() for line in ax.get_lines() if len(line.get_xdata())])
    assert np.all(np.isfinite(points)) and np.ptp(points[:, 0]) + np.ptp(points[:, 1]) > 0
