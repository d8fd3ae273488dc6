"""The final phase of a device search: measure again what can change the frontier, then store
the frontier recomputed from the figures it reports (the decisions are
:mod:`lts.controller.search.final`'s; this module does the measuring and the storing).

Its cost is bounded: at most ``final_max_members`` architectures (the baselines' picks first)
plus, when the final settings differ from the search's, the baselines, each one measurement
under the final settings (the protocol's own time budget bounds it). Its progress is shown as
``final k/N``. A final measurement that fails leaves its member with the search-time figures:
every reported member has figures.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lts.controller.search.algorithms import Point, SearchAlgorithm
from lts.controller.search.economy import QUICK_PRIOR
from lts.controller.search.evaluation import Evaluation
from lts.controller.search.final import Figure, reported_frontier, to_remeasure
from lts.shared.config import ArchConfig
from lts.shared.schemas import MeasureSettings

if TYPE_CHECKING:
    from lts.controller.search.device_search import DeviceSearch

logger = logging.getLogger(__name__)

#: Rounds of final measurements at most (each measures what the last one made worth it).
MAX_ROUNDS = 4


class FinalPhase:
    """The final phase of ``search`` (a :class:`DeviceSearch` whose iterations are done)."""

    def __init__(
        self,
        search: DeviceSearch,
        algo: SearchAlgorithm,
        baselines: dict[str, Evaluation],
        settings: MeasureSettings,
    ) -> None:
        self.search = search
        self.algo = algo
        self.baselines = baselines
        self.settings = settings
        self.objectives = search.objectives
        self.final = search.config.final_settings(settings)

    async def run(self) -> None:
        search = self.search
        figures = self._figures()
        rel = tuple(search.economy.cost.quick_margin(QUICK_PRIOR) if o.timed else 0.0
                    for o in self.objectives.objectives)  # fmt: skip
        cap = search.config.final_max_members
        differ = self.final != self.settings
        after: dict[str, int] = {}
        search._emit(phase="final", final_done=0, final_total=0)
        for _ in range(MAX_ROUNDS):  # a measurement may change a pick: a few rounds at most
            left = None if cap is None else cap - len(after)
            chosen = [a for a in to_remeasure(list(figures.values()), self.objectives, rel, left,
                                              search.config.frontier, all_picks=differ)
                      if a not in after]  # fmt: skip
            if not after and differ:  # the comparisons need the baselines' final figures
                chosen += [a for a in self.baselines if a not in chosen]
            if not chosen:
                break
            search._emit(final_total=search.progress.final_total + len(chosen))
            await self._measure(self._configs(chosen), figures, after)
        members = reported_frontier(list(figures.values()), self.objectives,
                                    search.config.frontier)  # fmt: skip
        during = self._search_measurements()
        entries = [(a, "frontier", during.get(a), after.get(a)) for a in members]
        entries += [(a, "baseline", during.get(a), after.get(a)) for a in self.baselines]
        search.store.set_reported(search.sd.search_id, search.device.id, entries)

    async def _measure(
        self, cfgs: list[ArchConfig], figures: dict[str, Figure], after: dict[str, int]
    ) -> None:
        """Measure ``cfgs`` with the final settings; each success replaces its figures."""
        evals = await self.search.evaluate(cfgs, self.final)
        for cfg in cfgs:
            a = cfg.arch_id
            e = evals.get(a)
            after[a] = e.measurement.id if e is not None else -1
            values = e.outcome().values if e is not None else None
            point = self.algo.point_of(cfg, values) if values is not None else None
            if point is not None and a in figures:
                figures[a] = _figure(point, quick=False, baseline=figures[a].baseline, final=True)
            elif e is not None:  # failed again: its search-time figures stand
                logger.info("final measurement of %s failed: %s", a, e.measurement.error)
        for a in [a for a, i in after.items() if i < 0]:
            del after[a]

    def _figures(self) -> dict[str, Figure]:
        """Every point of the search (the baselines included) as the final phase knows it."""
        quick = self.search.economy.settled_quick
        based = set(self.baselines)
        out = {p.arch_id: _figure(p, quick=p.arch_id in quick, baseline=p.arch_id in based)
               for p in self.algo.points}  # fmt: skip
        for a, e in self.baselines.items():  # a search begun before baselines were seeded
            values = e.outcome().values
            point = self.algo.point_of(e.cfg, values) if values is not None else None
            if a not in out and point is not None:
                out[a] = _figure(point, quick=False, baseline=True)
        return out

    def _configs(self, arch_ids: list[str]) -> list[ArchConfig]:
        known = {p.arch_id: p.cfg for p in self.algo.points}
        known.update((a, e.cfg) for a, e in self.baselines.items())
        return [known[a] for a in arch_ids if a in known]

    def _search_measurements(self) -> dict[str, int]:
        """Each architecture's search-time measurement: its last candidate's."""
        search = self.search
        out: dict[str, int] = {}
        for c in search.store.candidate_figures(search.sd.search_id, search.device.id):
            if c.measurement_id is not None:
                out[c.arch_id] = c.measurement_id
        return out


def _figure(p: Point, *, quick: bool, baseline: bool, final: bool = False) -> Figure:
    return Figure(p.arch_id, dict(p.values), quick=quick, feasible=p.feasible, baseline=baseline,
                  final=final)  # fmt: skip
