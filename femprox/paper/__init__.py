"""The seed paper (Bezuglyi & Vinokur): its figures, closed-form models and checks.

Consumes the shipped geometry files and the sweeps of :mod:`femprox.workflows`; produces the
numbers behind Figs. 3 and 4 and the checks of the paper's claims on them.

* :mod:`femprox.paper.figures` -- Figs. 3 and 4 and the long-wire study, as plain numbers.
* :mod:`femprox.paper.analytic` -- the paper's closed-form models (Eqs. 4-12).
* :mod:`femprox.paper.checks` -- the paper's claims about Figs. 3 and 4, measured on
  computed curves.
"""

from femprox.paper.checks import checks_report
from femprox.paper.figures import figure3, figure4

__all__ = ["checks_report", "figure3", "figure4"]
