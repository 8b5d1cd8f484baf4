"""``python -m femprox``: the command line (same as the ``femprox`` script)."""

from femprox.cli import run

run()
