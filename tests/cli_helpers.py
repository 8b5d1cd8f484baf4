"""Helpers of the command-line tests: run ``femprox`` in-process, read its CSV files."""

import csv
from pathlib import Path

from femprox import cli


def run(args, capsys):
    """main(args) in-process: (exit status, stdout, stderr)."""
    status = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV file written by femprox, its '#' comment lines skipped."""
    return list(csv.DictReader(line for line in path.read_text().splitlines() if not line.startswith("#")))
