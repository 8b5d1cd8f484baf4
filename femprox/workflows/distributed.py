"""Running sweep tasks on a Dask cluster (or a local pool), with partial results on disk.

Pipeline position: runs the tasks planned by :func:`femprox.workflows.sweeps.grid_sweep_spec`; the
results are assembled by :mod:`femprox.output.results`.

Where tasks run:

* ``client``: a ``distributed.Client`` (a cluster anywhere; the workers need femprox
  installed, the same version). :func:`dask_client` makes one from a scheduler address
  ``tcp://host:8786`` or ``"local"`` (a LocalCluster on this machine).
* ``executor``: any ``concurrent.futures.Executor`` (e.g. a ProcessPoolExecutor).
* neither: one after the other in this process.

Partial results: with a ``run_folder`` every finished task is written at once, by the
process that submitted the sweep, to ``run_folder/tasks/<key>.json`` (a few kB; the
workers need no shared file system). The key is a hash of everything the task computes
from (geometry at its temperature, temperatures, terminals, grid and mesh settings, femprox
version), so a file can only be reused for the identical computation. With ``resume=True``
those tasks are read back instead of computed: an interrupted sweep (Ctrl-C, a lost client,
a crash) continues where it stopped. A worker that dies loses only the chain of tasks it
was running (the gap groups of one axis point, see :func:`run_grid_tasks`): the Dask
scheduler gives it to another worker.

Files are written atomically (a temporary file renamed into place), so a task file is
either complete or absent. Floats are written with ``repr`` precision and read back bit for
bit: a resumed sweep equals an uninterrupted one exactly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, as_completed
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import numpy as np

from femprox import __version__
from femprox.workflows.sweeps import GridSweepOutput, GridSweepTask, Progress, TransportPoint

log = logging.getLogger(__name__)

__all__ = ["RunFolder", "dask_client", "run_grid_tasks", "task_key"]

TASK_FORMAT = 1
"""Version of the task-file layout (part of every key)."""


def task_key(task: GridSweepTask) -> str:
    """A stable name of a task's computation (hex, 24 characters).

    The dataclass ``repr`` lists every field (the Geometry with all its floats in full
    precision), so equal keys mean equal inputs.
    """
    text = f"femprox {__version__} format {TASK_FORMAT}\n{task!r}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


# ---------------------------------------------------------------------------------------
# Task files
# ---------------------------------------------------------------------------------------

def _float(value) -> float | None:
    return None if value is None else float(value)


def output_to_json(output: GridSweepOutput) -> dict:
    """A task's output as JSON-ready data (lists of floats, exact)."""
    points = []
    for p in output.points:
        points.append({"temperature": p.temperature, "phase": _float(p.phase), "a": p.a, "b": p.b,
                       "conductance_ratio": p.conductance_ratio, "heat_conductance_ratio": p.heat_conductance_ratio,
                       "conductance_ratio_error": p.conductance_ratio_error,
                       "heat_conductance_ratio_error": p.heat_conductance_ratio_error, "seebeck": p.seebeck,
                       "terminals": list(p.terminals), "gap_factor": p.gap_factor,
                       "matrices": {k: np.asarray(v).tolist() for k, v in p.matrices.items()},
                       "matrix_errors": {k: np.asarray(v).tolist() for k, v in p.matrix_errors.items()}})
    return {"coordinates": list(output.coordinates), "energies": output.energies, "notes": list(output.notes),
            "critical_temperature": output.critical_temperature, "points": points}


def output_from_json(data: dict) -> GridSweepOutput:
    """Inverse of :func:`output_to_json`."""
    points = []
    for p in data["points"]:
        points.append(TransportPoint(
            temperature=p["temperature"], phase=p["phase"], a=p["a"], b=p["b"],
            conductance_ratio=p["conductance_ratio"], heat_conductance_ratio=p["heat_conductance_ratio"],
            conductance_ratio_error=p["conductance_ratio_error"],
            heat_conductance_ratio_error=p["heat_conductance_ratio_error"], seebeck=p["seebeck"],
            terminals=tuple(p["terminals"]), gap_factor=p["gap_factor"],
            matrices={k: np.array(v, dtype=float) for k, v in p["matrices"].items()},
            matrix_errors={k: np.array(v, dtype=float) for k, v in p["matrix_errors"].items()}))
    return GridSweepOutput(tuple(float(c) for c in data["coordinates"]), tuple(points), int(data["energies"]),
                           tuple(data["notes"]), _float(data.get("critical_temperature")))


class RunFolder:
    """A folder of finished task outputs, one JSON file per task (see module docstring)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.tasks = self.path / "tasks"

    def file(self, key: str) -> Path:
        return self.tasks / f"{key}.json"

    def finished(self) -> set[str]:
        """Keys of the tasks whose files exist."""
        if not self.tasks.is_dir():
            return set()
        return {f.stem for f in self.tasks.glob("*.json")}

    def read(self, key: str) -> GridSweepOutput:
        return output_from_json(json.loads(self.file(key).read_text(encoding="utf-8")))

    def write(self, key: str, output: GridSweepOutput) -> Path:
        self.tasks.mkdir(parents=True, exist_ok=True)
        target = self.file(key)
        text = json.dumps({"key": key, "femprox": __version__, **output_to_json(output)})
        # write then rename: a task file is complete or absent, even if the run is killed here
        handle, temporary = tempfile.mkstemp(dir=self.tasks, prefix=f".{key}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return target


# ---------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------

def _is_dask_client(client: object) -> bool:
    return type(client).__module__.startswith("distributed") and hasattr(client, "submit")


def run_grid_tasks(tasks: Sequence[GridSweepTask], *, function: Callable[[GridSweepTask], GridSweepOutput] | None = None,
                   client=None, executor: Executor | None = None, run_folder: str | Path | None = None,
                   resume: bool = False, progress: Progress | None = None) -> list[GridSweepOutput]:
    """Outputs of ``tasks`` (in task order), computed on ``client`` or ``executor`` or here.

    By default the gap groups of one axis point run in turn, in chains of up to
    :data:`~femprox.workflows.sweeps.CHAIN_LENGTH` (:func:`~femprox.workflows.sweeps.grid_task_chains`,
    :func:`~femprox.workflows.sweeps.run_grid_sweep_chain`: each solve after a chain's first
    is warm-started). ``function``, if given, computes one task instead, each on its own
    (tests pass such functions). With ``run_folder`` each finished task is stored as it
    arrives; with ``resume`` stored tasks are read instead of computed (``resume`` needs
    ``run_folder``); a chain of which a task is missing is run again as a whole (its solves
    then start from the same solutions as before: the results equal an uninterrupted run's
    bit for bit). On the first failing chain the others are cancelled and the error is
    raised; what finished is kept.
    """
    from femprox.workflows.sweeps import grid_task_chains, run_grid_sweep_chain

    if resume and run_folder is None:
        raise ValueError("resume needs a run folder")
    if client is not None and executor is not None:
        raise ValueError("give a Dask client or an executor, not both")
    folder = RunFolder(run_folder) if run_folder is not None else None
    keys = [task_key(task) for task in tasks]
    outputs: list[GridSweepOutput | None] = [None] * len(tasks)
    if folder is not None and resume:
        finished = folder.finished()
        for k, key in enumerate(keys):
            if key in finished:
                outputs[k] = folder.read(key)
        log.info("resuming: %d of %d tasks read from %s", sum(o is not None for o in outputs), len(tasks),
                 folder.tasks)
    chains = grid_task_chains(tasks) if function is None else [(k,) for k in range(len(tasks))]
    run_chain = run_grid_sweep_chain if function is None else partial(_each, function)
    pending = [chain for chain in chains if any(outputs[k] is None for k in chain)]
    total, done = len(tasks), sum(o is not None for o in outputs)
    if progress is not None:
        progress(done, total)

    def finish(chain: tuple[int, ...], chain_outputs: list[GridSweepOutput]) -> None:
        nonlocal done
        for k, output in zip(chain, chain_outputs):
            if outputs[k] is not None:  # read from the run folder; computed again for the chain's later tasks
                continue
            outputs[k] = output
            if folder is not None:
                folder.write(keys[k], output)
            done += 1
        if progress is not None:
            progress(done, total)

    def members(chain: tuple[int, ...]) -> list[GridSweepTask]:
        return [tasks[k] for k in chain]

    if client is not None and _is_dask_client(client):
        _run_on_dask(client, run_chain, members, keys, pending, finish)
    elif client is not None or executor is not None:
        _run_on_executor(executor if executor is not None else client, run_chain, members, pending, finish)
    else:
        for chain in pending:
            finish(chain, run_chain(members(chain)))
    return outputs  # type: ignore[return-value]  (all filled)


def _each(function: Callable[[GridSweepTask], GridSweepOutput],
          tasks: Sequence[GridSweepTask]) -> list[GridSweepOutput]:
    """``function`` on each task on its own (a chain without warm starts)."""
    return [function(task) for task in tasks]


def _run_on_executor(executor: Executor, run_chain, members, pending: list[tuple[int, ...]], finish) -> None:
    futures = {executor.submit(run_chain, members(chain)): chain for chain in pending}
    try:
        for future in as_completed(futures):
            finish(futures[future], future.result())
    except BaseException:
        for future in futures:
            future.cancel()
        raise


def _run_on_dask(client, run_chain, members, keys: list[str], pending: list[tuple[int, ...]], finish) -> None:
    from distributed import as_completed as dask_as_completed

    # explicit keys: the same computation submitted twice (two clients, a resumed run while
    # the old one is still known to the scheduler) is computed once
    names = {chain: "femprox-" + hashlib.sha256("".join(keys[k] for k in chain).encode()).hexdigest()[:24]
             for chain in pending}
    futures = [client.submit(run_chain, members(chain), key=names[chain], pure=False) for chain in pending]
    index = {future.key: chain for future, chain in zip(futures, pending)}
    try:
        for future in dask_as_completed(futures):
            finish(index[future.key], future.result())
            future.release()  # results live in the run folder and the caller's list, not on the cluster
    except BaseException:
        client.cancel(futures)
        raise


@contextmanager
def dask_client(scheduler: str, *, workers: int | None = None, processes: bool = True) -> Iterator:
    """A ``distributed.Client`` for ``scheduler``: an address (``tcp://host:8786``), or
    ``"local"`` for a LocalCluster with ``workers`` single-threaded workers (default: the
    CPU count, at most 4; ``processes=False`` keeps them as threads of this process). The
    client (and a local cluster) is closed on exit."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ImportError("running on a Dask cluster needs the 'distributed' package: "
                          "pip install 'femprox[cluster]'") from None
    if scheduler == "local":
        count = workers or max(1, min(4, os.cpu_count() or 1))
        cluster = LocalCluster(n_workers=count, threads_per_worker=1, processes=processes,
                               dashboard_address=None)
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()
        return
    client = Client(scheduler)
    try:
        yield client
    finally:
        client.close()

