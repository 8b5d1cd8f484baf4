"""DOS maps, finite-bias I-V curves and current-phase relations as labelled xarray Datasets.

Pipeline position: like :mod:`femprox.workflows.sweeps`, the last stage; these are the data behind
``femprox dos``, ``femprox iv`` and ``femprox supercurrent``. Every function takes a
Geometry and a temperature; ``bcs_gaps=True`` (the default everywhere in femprox) gives the
superconductors their BCS gap Delta(T) and the reservoirs the temperature T
(:func:`femprox.geometry.temperature.at_temperature`) before solving; ``dynes`` sets one Dynes rate
for every superconductor (:func:`femprox.workflows.sweeps.with_dynes`).

Units: hbar = k_B = e = 1; energies, temperatures, biases in Delta0 (biases in Delta0/e);
lengths in xi0; currents in G0 Delta0/e with G0 the wires' conductance unit per xi0; the
products e I R_N in Delta0. Currents flow *from a terminal into the network*; a
supercurrent flows along its wire from the start node to the end node.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Sequence

import numpy as np
import xarray as xr

from femprox.observables.energy_grid import energy_grid, solve_on_grid
from femprox.geometry.network import Geometry, NodeKind
from femprox.mesh import build_mesh
from femprox.observables.conductance import nonlinear_currents, normal_resistance
from femprox.spectral.solver import solve_spectral
from femprox.spectral.supercurrent import matsubara_supercurrent
from femprox.workflows.sweeps import MeshSettings, with_dynes
from femprox.geometry.temperature import at_temperature

log = logging.getLogger(__name__)

__all__ = ["current_phase_relation", "dos_map", "iv_curve"]


def _prepared(geometry: Geometry, temperature: float, bcs_gaps: bool, dynes: float | None) -> Geometry:
    if not (math.isfinite(temperature) and temperature >= 0):
        raise ValueError(f"temperature must be finite and >= 0 (Delta0), got {temperature!r}")
    geometry = with_dynes(geometry, dynes)
    return at_temperature(geometry, temperature) if bcs_gaps else geometry


def _settings_attrs(temperature: float, bcs_gaps: bool, dynes: float | None, mesh: MeshSettings,
                    geometry: Geometry) -> dict:
    from femprox.geometry.files import geometry_to_toml
    from femprox.output.results import package_versions

    return {"temperature": float(temperature), "bcs_gaps": int(bcs_gaps),
            "dynes": math.nan if dynes is None else float(dynes),
            "mesh": json.dumps({"refine": mesh.refine, "order": mesh.order}),
            # the network as solved: BCS gaps at the temperature, reservoirs at it, Dynes rate set
            "geometry_name": geometry.name, "solved_geometry_toml": geometry_to_toml(geometry),
            "versions": json.dumps(package_versions())}


# ---------------------------------------------------------------------------------------
# DOS map
# ---------------------------------------------------------------------------------------

def dos_map(geometry: Geometry, energies: Sequence[float], *, wires: Sequence[str] | None = None,
            points_per_wire: int = 41, temperature: float = 0.0, bcs_gaps: bool = True,
            dynes: float | None = None, mesh: MeshSettings = MeshSettings()) -> xr.Dataset:
    """Local density of states N(E, x)/N_0 along wires.

    Returns a Dataset with variable ``dos`` (energy, point); each point has coordinates
    ``wire`` (name) and ``x`` (xi0 from the wire's start), ``points_per_wire`` evenly spaced
    points per wire (all wires by default). ``energies`` in Delta0 (real, > 0 not
    required: the DOS is even in E). Select one wire with ``ds.where(ds.wire == name,
    drop=True)``. ``temperature`` only sets the BCS gaps.
    """
    energies = np.asarray(list(energies), dtype=float)
    if energies.size == 0:
        raise ValueError("no energies given")
    if points_per_wire < 2:
        raise ValueError("points_per_wire must be at least 2")
    solved = _prepared(geometry, temperature, bcs_gaps, dynes)
    names = list(wires) if wires else [w.name for w in solved.wires]
    for name in names:
        solved.wire(name)  # KeyError/GeometryError naming the wire
    graph = build_mesh(solved, refine=mesh.refine, order=mesh.order)
    solution = solve_spectral(graph, energies)
    columns, wire_of_point, x_of_point = [], [], []
    for name in names:
        x = np.linspace(0.0, solved.wire(name).length, points_per_wire)
        columns.append(solution.dos(name, x))
        wire_of_point += [name] * x.size
        x_of_point.append(x)
    dataset = xr.Dataset(
        {"dos": (("energy", "point"), np.concatenate(columns, axis=1),
                 {"long_name": "local density of states N(E, x)/N_0", "units": "1"})},
        coords={"energy": ("energy", energies, {"units": "Delta0"}),
                "wire": ("point", np.array(wire_of_point, dtype=object)),
                "x": ("point", np.concatenate(x_of_point), {"units": "xi0", "long_name": "position along the wire"})},
        attrs=_settings_attrs(temperature, bcs_gaps, dynes, mesh, solved) | {"notes": json.dumps(list(solution.notes))})
    return dataset


# ---------------------------------------------------------------------------------------
# Finite-bias I-V
# ---------------------------------------------------------------------------------------

def iv_curve(geometry: Geometry, biases: Sequence[float], *, terminal: str | None = None,
             temperature: float = 0.05, bcs_gaps: bool = True, dynes: float | None = None,
             mesh: MeshSettings = MeshSettings(), order: int = 8) -> xr.Dataset:
    """Charge and heat currents of every terminal when ``terminal`` is at potential V.

    ``terminal`` (default: the first normal reservoir) is biased at each V of ``biases``
    (Delta0/e); every other reservoir stays at V = 0; all at ``temperature``. The spectral
    solution does not depend on the bias (non-self-consistent model), so one solve on a
    grid reaching 40 T + max|V| serves all biases. Variables (dims bias, terminal):
    ``charge_current`` I_i, ``heat_current`` Q_i = J_E,i - V_i I_i, ``energy_current``,
    and their error estimates; (dim bias): ``normal_current`` G_N V (the current through
    the biased terminal in the normal state, others at 0) and ``current_ratio`` I/(G_N V)
    of the biased terminal (NaN at V = 0).
    """
    biases = np.asarray(list(biases), dtype=float)
    if biases.size == 0 or not np.all(np.isfinite(biases)):
        raise ValueError("biases must be finite numbers (Delta0/e)")
    solved = _prepared(geometry, temperature, bcs_gaps, dynes)
    normals = [n.name for n in solved.terminals if n.kind is NodeKind.NORMAL_RESERVOIR]
    if terminal is None:
        if not normals:
            raise ValueError(f"'{geometry.name}' has no normal reservoir to bias")
        terminal = normals[0]
    elif terminal not in normals:
        raise ValueError(f"'{terminal}' is not a normal reservoir of '{geometry.name}' (normal reservoirs: "
                         f"{', '.join(normals) or 'none'})")
    # the grid must hold the thermal window around every shifted Fermi step
    reach = 40.0 * max(temperature, 1e-3) + float(np.abs(biases).max())
    # the Fermi steps at +-V need no breakpoints: nonlinear_currents integrates the weights on
    # sub-panels finer than T
    grid = energy_grid(solved, [max(temperature, 1e-3)], e_max=reach * 1.05, order=order)
    graph = build_mesh(solved, refine=mesh.refine, order=mesh.order)
    _, conductance = solve_on_grid(graph, grid, keep_distributions=False)
    names = conductance.terminals
    index = names.index(terminal)
    n = len(names)
    charge, heat, energy = (np.empty((biases.size, n)) for _ in range(3))
    charge_error, energy_error = np.empty((biases.size, n)), np.empty((biases.size, n))
    for k, v in enumerate(biases):
        reservoirs = {name: (temperature, v if name == terminal else 0.0) for name in names}
        currents = nonlinear_currents(conductance, grid, reservoirs)
        charge[k], heat[k], energy[k] = currents.charge, currents.heat, currents.energy
        charge_error[k], energy_error[k] = currents.charge_error, currents.energy_error
    g_n = float(conductance.normal[index, index])  # all others held at 0: the diagonal entry
    normal_current = g_n * biases
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(biases != 0, charge[:, index] / normal_current, np.nan)
    dims = ("bias", "terminal")
    return xr.Dataset(
        {"charge_current": (dims, charge, {"long_name": "electric current I_i from terminal i into the network",
                                           "units": "G0 Delta0/e"}),
         "charge_current_error": (dims, charge_error, {"units": "G0 Delta0/e"}),
         "heat_current": (dims, heat, {"long_name": "heat current Q_i = J_E,i - V_i I_i", "units": "G0 Delta0^2/e^2"}),
         "energy_current": (dims, energy, {"long_name": "energy current J_E,i", "units": "G0 Delta0^2/e^2"}),
         "energy_current_error": (dims, energy_error, {"units": "G0 Delta0^2/e^2"}),
         "normal_current": (("bias",), normal_current, {"long_name": "G_N V of the biased terminal",
                                                        "units": "G0 Delta0/e"}),
         "current_ratio": (("bias",), ratio, {"long_name": "I/(G_N V) of the biased terminal", "units": "1"})},
        coords={"bias": ("bias", biases, {"units": "Delta0/e", "long_name": f"potential of {terminal}"}),
                "terminal": ("terminal", np.array(names, dtype=object))},
        attrs=_settings_attrs(temperature, bcs_gaps, dynes, mesh, solved)
        | {"biased_terminal": terminal, "normal_conductance": g_n, "energies": int(grid.nodes.size)})


# ---------------------------------------------------------------------------------------
# Current-phase relation
# ---------------------------------------------------------------------------------------

def current_phase_relation(family: Callable[[float], Geometry], phases: Sequence[float], *, wire: str | None = None,
                           temperature: float = 0.0, between: tuple[str, str] | None = None,
                           bcs_gaps: bool = True, dynes: float | None = None,
                           mesh: MeshSettings = MeshSettings()) -> xr.Dataset:
    """Equilibrium supercurrent I(phi) through ``wire`` from Matsubara sums.

    ``family``: phase (radians) -> Geometry (a :class:`femprox.workflows.sweeps.GeometryFile` with a
    phase key, or e.g. ``lambda phi: sns_junction(10, phase=phi)`` when run here).
    ``wire``: default the first wire. ``between``: the two reservoirs defining R_N (default
    the first two superconducting ones), the normal-state resistance between them with any
    others floating. Variables (dim phase): ``current`` I_S (G0 Delta0/e, along the wire
    from start to end), ``current_error``, ``e_i_rn`` = e I_S R_N (Delta0) and
    ``e_i_rn_over_thouless`` = e I_S R_N / E_Th with E_Th = D/L^2 of ``wire``. Attributes:
    ``critical_current`` max |I_S| over the phases given, ``critical_phase`` where, ``normal_resistance``.
    """
    phases = np.asarray(list(phases), dtype=float)
    if phases.size == 0:
        raise ValueError("no phases given")
    currents, errors = np.empty(phases.size), np.empty(phases.size)
    first = None
    for k, phase in enumerate(phases):
        solved = _prepared(family(float(phase)), temperature, bcs_gaps, dynes)
        first = first or solved
        name = wire or solved.wires[0].name
        result = matsubara_supercurrent(build_mesh(solved, refine=mesh.refine, order=mesh.order), name, temperature)
        currents[k], errors[k] = result.current, result.error
    assert first is not None
    name = wire or first.wires[0].name
    if between is None:
        superconducting = [n.name for n in first.terminals if n.kind is NodeKind.SUPERCONDUCTING_RESERVOIR]
        if len(superconducting) < 2:
            raise ValueError("R_N needs two reservoirs: give between (the junction's two S reservoirs)")
        between = (superconducting[0], superconducting[1])
    resistance = normal_resistance(first, *between)
    thouless = first.wire(name).thouless_energy
    peak = int(np.argmax(np.abs(currents)))
    return xr.Dataset(
        {"current": (("phase",), currents, {"long_name": f"supercurrent along {name} (start -> end)",
                                            "units": "G0 Delta0/e"}),
         "current_error": (("phase",), errors, {"units": "G0 Delta0/e"}),
         "e_i_rn": (("phase",), currents * resistance, {"long_name": "e I_S R_N", "units": "Delta0"}),
         "e_i_rn_over_thouless": (("phase",), currents * resistance / thouless,
                                  {"long_name": "e I_S R_N / E_Th", "units": "1"})},
        coords={"phase": ("phase", phases, {"units": "rad"})},
        attrs=_settings_attrs(temperature, bcs_gaps, dynes, mesh, first)
        | {"wire": name, "between_a": between[0], "between_b": between[1], "normal_resistance": resistance,
           "thouless_energy": thouless, "critical_current": float(abs(currents[peak])),
           "critical_phase": float(phases[peak])})
