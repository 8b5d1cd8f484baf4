"""``python -m femprox``: the command line (same as the ``femprox`` script)."""

import sys

from femprox.cli import main

sys.exit(main())
