"""``python -m femprox``: the command line (see :mod:`femprox.cli`)."""

import sys

from femprox.cli import main

sys.exit(main())
