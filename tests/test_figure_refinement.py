"""Fig. 4 phases refined where the curves bend; Fig. 3 drawn smooth with markers, legends
off the curves."""

from __future__ import annotations

import math

import numpy as np
import pytest
from matplotlib.figure import Figure

from femprox.paper import figures
from femprox.output import plotting
from femprox.paper.figures import Figure4Data, phases_to_refine, refine_figure4


def synthetic(phases, kappa, conductance) -> Figure4Data:
    kappa, conductance = np.atleast_2d(kappa), np.atleast_2d(conductance)
    zeros = np.zeros_like(kappa)
    return Figure4Data(phases=np.asarray(phases), temperatures=np.array([0.1]), gap=np.ones(1), kappa=kappa,
                       conductance=conductance, kappa_error=zeros, conductance_error=zeros, shortcut_kappa=kappa,
                       shortcut_conductance=conductance, length_n=10.0, arm_length=0.5, arm_conductance=10.0,
                       mirrored=False, spectral_solves=0)


def test_segment_error_estimate_is_exact_for_a_parabola():
    phases = np.array([0.0, 0.5, 1.0, 1.6, 2.0])
    errors = figures._segment_errors(phases, (phases**2)[None, :])
    # a straight chord misses phi^2 by f'' h^2 / 8 = h^2 / 4 at the middle of each segment
    np.testing.assert_allclose(errors[0, :-1], np.diff(phases)[:-1] ** 2 / 4, rtol=1e-12)


def test_phases_are_added_only_where_the_curves_bend():
    phases = np.linspace(0.0, math.pi, 11)
    # nothing to refine on a gentle curve (even about 0 and pi like every Fig. 4 curve):
    # chords of cos miss it by <= h^2/8 = 1.2e-2, 0.6% of its range 2
    gentle = 1 + 0.1 * np.cos(phases)
    assert phases_to_refine(synthetic(phases, gentle, gentle)).size == 0
    # ...but a dip at pi like G(phi) of the interferometer (a cusp) is split next to pi
    dip = 1.2 - 0.2 * np.exp(-np.abs(phases - math.pi) / 0.05)
    extra = phases_to_refine(synthetic(phases, gentle, dip))
    assert extra.size >= 1 and np.all(extra > 0.8 * math.pi)


@pytest.mark.slow
def test_refined_figure4_keeps_the_computed_points_and_adds_phases_near_pi():
    coarse = figures.figure4(phases=np.pi * np.array([0.0, 0.5, 0.8, 0.95, 1.0]), temperatures=[0.1],
                             grid=figures.QUICK_GRID, mesh=figures.FIGURE4_MESH)
    refined = refine_figure4(coarse, rounds=1, grid=figures.QUICK_GRID, mesh=figures.FIGURE4_MESH)
    assert refined.mirrored and refined.phases.size > coarse.phases.size
    assert np.all(np.diff(refined.phases) > 0)
    added = np.setdiff1d(np.round(refined.phases, 12), np.round(coarse.phases, 12))
    half = coarse.phases[coarse.phases <= np.pi]
    midpoints = np.round(np.concatenate([(half[:-1] + half[1:]) / 2, 2 * np.pi - (half[:-1] + half[1:]) / 2]), 12)
    assert set(added) <= set(midpoints)  # new phases halve old intervals...
    assert np.any((added > 0.95 * np.pi) & (added < np.pi))  # ...including the last one before pi
    for phase, value in zip(coarse.phases, coarse.kappa[0]):  # old points unchanged
        assert refined.kappa[0][np.isclose(refined.phases, phase)][0] == value
    # symmetric about pi, exactly (mirrored)
    np.testing.assert_array_equal(refined.kappa[0], refined.kappa[0][::-1])


def figure3_like():
    temperatures = np.geomspace(0.005, 0.56, 12)
    ratio = np.vstack([1 - 0.8 * np.exp(-temperatures / 0.1), 1 - 0.3 * np.exp(-temperatures / 0.1)])
    return figures.Figure3Data(
        r_values=np.array([0.1, 10.0]), temperatures=temperatures, gap=np.ones(12), kappa=ratio,
        kappa_error=0 * ratio, conductance=1 + 0.1 * np.sin(temperatures / 0.56 * np.pi) * np.ones((2, 1)),
        conductance_error=0 * ratio, andreev_kappa=0 * temperatures, semi_infinite_kappa=ratio,
        semi_infinite_conductance=None, length_n=10.0, length_s=10.0, t0=np.ones(2), thouless_energy=0.02,
        spectral_solves=0)


def test_figure3_curves_are_smooth_marked_and_the_legends_sit_beside_the_axes():
    data = figure3_like()
    ax = plotting.plot_conductance_vs_temperature(data, Figure().add_subplot())
    line = ax.get_lines()[0]
    assert len(line.get_xdata()) > 5 * data.temperatures.size  # interpolated between the points
    assert np.allclose(line.get_xdata()[line.get_markevery()], data.temperatures)  # markers at the data
    assert np.allclose(line.get_ydata()[line.get_markevery()], data.conductance[0])
    # monotone cubic: no overshoot beyond the data's range
    assert line.get_ydata().max() <= data.conductance[0].max() + 1e-12
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["r = 0.1", "r = 10", r"$G = G_N$"]  # no "network" entry that reads like G = 1
    assert ax.get_legend().get_bbox_to_anchor().x0 > ax.bbox.x1 - 1  # outside the axes
    ax = plotting.plot_kappa_vs_temperature(data, Figure().add_subplot())
    assert ax.get_legend().get_bbox_to_anchor().x0 > ax.bbox.x1 - 1


def test_refinement_adds_phases_only_to_the_spectral_solves_whose_curves_need_them(monkeypatch, tmp_path):
    """T = 0.05 (a sharp dip next to pi) and T = 0.3 (gentle) have different gaps, so separate
    solves: only T = 0.05 gets the added phases, T = 0.3 is NaN there and left out of the
    CSV, the plot and the checks."""
    from femprox import api
    from femprox.workflows import sweeps
    from femprox.paper.checks import figure4_checks

    phases = np.linspace(0.0, math.pi, 11)
    gentle = 1 + 0.1 * np.cos(phases)
    dip = 1.2 - 0.2 * np.exp(-np.abs(phases - math.pi) / 0.05)
    rows = np.vstack([dip, gentle])
    base = Figure4Data(phases=phases, temperatures=np.array([0.05, 0.3]), gap=np.array([1.0, 0.9448]),
                       kappa=rows, conductance=rows, kappa_error=0 * rows, conductance_error=0 * rows,
                       shortcut_kappa=rows, shortcut_conductance=rows, length_n=10.0, arm_length=0.5,
                       arm_conductance=10.0, mirrored=False, spectral_solves=22)
    asked = []

    def fake_plan(*, phases, temperatures, **_):  # the added phases with made-up values
        asked.append((tuple(temperatures), len(phases)))
        values = np.full((len(temperatures), len(phases)), 0.5)
        data = Figure4Data(phases=np.asarray(phases), temperatures=np.asarray(temperatures), gap=np.ones(1),
                           kappa=values, conductance=values, kappa_error=0 * values, conductance_error=0 * values,
                           shortcut_kappa=values, shortcut_conductance=values, length_n=10.0, arm_length=0.5,
                           arm_conductance=10.0, mirrored=False, spectral_solves=len(phases))
        return sweeps.Plan((), lambda outputs: data)

    monkeypatch.setattr(figures, "figure4_plan", fake_plan)
    refined = refine_figure4(base, rounds=1)
    assert [t for t, _ in asked] == [(0.05,)]  # T = 0.3 needs no phase: not solved again
    added = ~np.isin(refined.phases, phases)
    assert added.any() and np.all(refined.phases[added] > 0.8 * math.pi)
    computed = figures.computed_mask(refined)
    assert computed[0].all() and not computed[1, added].any() and computed[1, ~added].all()
    np.testing.assert_array_equal(refined.kappa[1, ~added], gentle)  # old points unchanged
    assert refined.spectral_solves == 22 + added.sum()
    checks = figure4_checks(refined)  # NaN entries skipped
    assert np.all(np.isfinite(checks.kappa_max)) and checks.kappa_min[1] == pytest.approx(0.9)
    path = api.write_figure4_csv(refined, tmp_path / "figure4.csv")
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")][1:]
    assert len(lines) == computed.sum() and "nan" not in "".join(lines)
    ax = plotting.plot_kappa_vs_phase(refined)
    assert all(np.all(np.isfinite(line.get_ydata())) for line in ax.get_lines())
