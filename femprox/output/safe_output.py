"""Atomic output folders and files: a run leaves either its complete results or nothing.

Results are written into a hidden staging folder next to the target
(``.NAME.femprox-partial-XXXX``) and moved into place only when everything is written.
``run.json`` is moved last and lists every file of the run (key ``files``): a folder with
a ``run.json`` holds a complete run. If femprox is interrupted (a failure, Ctrl-C,
SIGTERM) the staging folder is removed and the target is left as it was; only a hard
kill (SIGKILL, power loss) can leave a staging folder, whose name says it is partial.

``overwrite`` replaces the files of a previous run completely (those listed in its
``run.json``, or femprox's known output names for runs recorded before the list existed)
and never touches other files in the folder.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["KNOWN_OUTPUTS", "OutputExistsError", "RUN_RECORD", "StagedFolder", "atomic_file", "check_target",
           "staged"]

RUN_RECORD = "run.json"
"""The file that marks a complete run; moved into the target last."""

PARTIAL_MARKER = ".femprox-partial-"
"""Part of the name of every staging folder (and staging file)."""

KNOWN_OUTPUTS = frozenset({
    "results.csv", "matrices.csv", "sweep.png", "figure3.png", "figure3.csv", "figure4.png", "figure4.csv",
    "long_wire_slopes.csv", "paper_checks.txt", "convergence.csv", "convergence.png", RUN_RECORD})
"""Files femprox writes into output folders; replaced by --overwrite when an older run.json
does not list its files. (``femprox.log`` is not among them: the command line writes the log
into the staging folder, where the Python API must not remove it; a new log replaces an old
one anyway.)"""


class OutputExistsError(FileExistsError):
    """The output folder (or file) exists and ``overwrite`` was not given."""


def check_target(path: str | Path, overwrite: bool = False) -> Path:
    """The output folder ``path`` if a run may write there (nothing is created).

    Refused: an empty path, an existing non-folder, and an existing non-empty folder
    unless ``overwrite``.
    """
    if str(path).strip() == "":
        raise OutputExistsError("the output folder name is empty (give -o DIR)")
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise OutputExistsError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise OutputExistsError(f"output folder {target} exists and is not empty; choose another one or pass "
                                "--overwrite (overwrite=True) to replace its files")
    ancestor = _existing_ancestor(target)
    if not ancestor.is_dir():
        raise OutputExistsError(f"cannot create the output folder {target}: {ancestor} is not a folder")
    return target


def _existing_ancestor(path: Path) -> Path:
    """The nearest folder above ``path`` that exists (where a staging folder can live on the
    same file system, so that the final rename is atomic)."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    return parent


class StagedFolder:
    """A staging folder for the output folder ``target``.

    ``open()`` creates it (the target is checked first and not created), ``commit()`` moves
    its files into the target, ``discard()`` removes it. Use :func:`staged` for the common
    with-statement form.
    """

    def __init__(self, target: str | Path, overwrite: bool = False):
        self.target = check_target(target, overwrite)
        self.overwrite = overwrite
        self.path: Path | None = None

    def open(self) -> Path:
        base = _existing_ancestor(self.target)
        try:
            self.path = Path(tempfile.mkdtemp(prefix=f".{self.target.absolute().name}{PARTIAL_MARKER}", dir=base))
        except OSError as error:
            raise OutputExistsError(f"cannot create the output folder {self.target} (in {base}): "
                                    f"{error.strerror or error}") from None
        return self.path

    def discard(self) -> None:
        """Remove the staging folder and everything in it (the target is untouched)."""
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None

    def commit(self) -> Path:
        """Move the staged files into the target (run.json last); returns the target."""
        if self.path is None:
            raise RuntimeError("commit() of a staging folder that is not open")
        staging, self.path = self.path, None
        try:
            names = sorted(p.name for p in staging.iterdir())
            _record_files(staging, names)
            if not self.target.exists():
                self.target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.rename(staging, self.target)  # atomic: the whole folder appears at once
                    return self.target
                except OSError:
                    pass  # created meanwhile: merge below
            check_target(self.target, self.overwrite)
            _replace_files(staging, self.target, names)
            return self.target
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _record_files(staging: Path, names: list[str]) -> None:
    """Add the list of the run's files to its run.json (what a later --overwrite replaces)."""
    record_path = staging / RUN_RECORD
    if not record_path.is_file():
        return
    record = json.loads(record_path.read_text(encoding="utf-8"))
    record["files"] = names
    record_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


def previous_run_files(target: Path) -> list[Path]:
    """Files of the run recorded in ``target/run.json`` (its ``files`` list; femprox's known
    output names if it has none, or if there is no run.json)."""
    names: set[str] = set()
    record_path = target / RUN_RECORD
    try:
        listed = json.loads(record_path.read_text(encoding="utf-8")).get("files")
        if isinstance(listed, list):
            names = {n for n in listed if isinstance(n, str) and n == Path(n).name and n not in ("", ".", "..")}
    except (OSError, ValueError, AttributeError):
        listed = None
    if not names:
        names = set(KNOWN_OUTPUTS)
    names.add(RUN_RECORD)
    return [target / n for n in sorted(names) if (target / n).is_file() or (target / n).is_symlink()]


def _replace_files(staging: Path, target: Path, names: list[str]) -> None:
    """Replace a previous run in ``target`` by the staged files: the old run.json goes first
    (the folder is then visibly incomplete), then the old run's files, then the new files,
    the new run.json last."""
    old = previous_run_files(target)
    for path in sorted(old, key=lambda p: p.name != RUN_RECORD):
        path.unlink(missing_ok=True)
    for name in sorted(names, key=lambda n: n == RUN_RECORD):
        os.replace(staging / name, target / name)


@contextmanager
def staged(target: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """``with staged(out) as folder:`` write into ``folder``; committed to ``out`` on success,
    removed on any exception (including KeyboardInterrupt)."""
    folder = StagedFolder(target, overwrite)
    path = folder.open()
    try:
        yield path
    except BaseException:
        folder.discard()
        raise
    folder.commit()


@contextmanager
def atomic_file(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """``with atomic_file("a.vtu") as tmp:`` write ``tmp``, a path with the same name in a
    hidden staging folder beside ``path``; on success every file written there (``tmp`` and
    any companion file, e.g. the .h5 of an XDMF file) replaces its namesake next to ``path``;
    on any exception nothing is left behind."""
    path = Path(path)
    if str(path).strip() == "" or path.name in ("", ".", ".."):
        raise OutputExistsError("the output file name is empty")
    if path.is_dir():
        raise OutputExistsError(f"{path} is a folder")
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} exists; pass --overwrite (overwrite=True) to replace it")
    folder = path.absolute().parent
    if not folder.is_dir():
        raise OutputExistsError(f"folder {folder} does not exist")
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}{PARTIAL_MARKER}", dir=folder))
    try:
        yield staging / path.name
        written = sorted(staging.iterdir(), key=lambda p: p.name == path.name)  # the main file last
        for item in written:
            if item.name != path.name and (folder / item.name).exists() and not overwrite:
                raise OutputExistsError(f"{folder / item.name} exists; pass --overwrite (overwrite=True) "
                                        "to replace it")
        for item in written:
            os.replace(item, folder / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
