"""Search algorithms behind one ask/tell interface (:class:`SearchAlgorithm`), by name.

:data:`ALGORITHMS` maps each ``--algorithm`` name to its class; :func:`get_algorithm` is the
one lookup (an unknown name is a :class:`ConfigError` naming the choices). Adding an
algorithm is a module with a :class:`SearchAlgorithm` subclass and its line here.
"""

from __future__ import annotations

from lts.controller.search.algorithms.base import (
    Bounds,
    History,
    IterationReport,
    Outcome,
    Point,
    ProxyLike,
    SearchAlgorithm,
    SearchParams,
)
from lts.controller.search.algorithms.evolutionary import (
    NSGA2Search,
    SMSEMOACrowdingSearch,
    SMSEMOASearch,
)
from lts.controller.search.algorithms.lts import LTSElitistSearch, LTSSearch
from lts.controller.search.algorithms.random_search import RandomSearch
from lts.controller.search.algorithms.tpe import TPESearch
from lts.controller.search.breeding import Proposal
from lts.shared.errors import ConfigError

#: Every algorithm by its ``--algorithm`` name.
ALGORITHMS: dict[str, type[SearchAlgorithm]] = {
    cls.name: cls
    for cls in (
        LTSSearch,
        LTSElitistSearch,
        NSGA2Search,
        SMSEMOASearch,
        SMSEMOACrowdingSearch,
        TPESearch,
        RandomSearch,
    )
}

#: The algorithm a search uses unless told otherwise: of those cheap in controller CPU, the best
#: on benchmarks/search_quality.py at the budgets users run (``tpe`` leads up to about 500
#: evaluations at hundreds of times the CPU; docs/algorithms.md).
DEFAULT_ALGORITHM = "smsemoa-crowding"


def get_algorithm(name: str) -> type[SearchAlgorithm]:
    """The algorithm class named ``name``."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        choices = ", ".join(ALGORITHMS)
        message = f"unknown algorithm {name!r}; choose from {choices}"
        raise ConfigError("algorithm", message) from None


__all__ = [
    "ALGORITHMS",
    "DEFAULT_ALGORITHM",
    "Bounds",
    "History",
    "IterationReport",
    "LTSElitistSearch",
    "LTSSearch",
    "NSGA2Search",
    "Outcome",
    "Point",
    "Proposal",
    "ProxyLike",
    "RandomSearch",
    "SMSEMOACrowdingSearch",
    "SMSEMOASearch",
    "SearchAlgorithm",
    "SearchParams",
    "TPESearch",
    "get_algorithm",
]
