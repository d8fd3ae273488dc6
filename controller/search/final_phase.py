"""The final phase of a device search: measure again what can change the frontier, then store
the frontier recomputed from the figures it reports (the decisions are
:mod:`lts.controller.search.final`'s; this module does the measuring and the storing).

Its cost is bounded twice:

* by count: at most ``final_max_members`` architectures (the baselines' picks first), plus the
  baselines whose figures are quick (or, when the final settings differ from the search's,
  all of them), each one measurement under the final settings (the protocol's own time budget
  bounds it);
* by time: at most ``final_share`` of the device search's wall time, that is the time its
  iterations took x share / (1 - share) (1: no bound). The plan is measured one batch of the
  agent's slots at a time, in its order (the largest baseline's comparison first), and
  planned again after each batch (a pick measured slower gives way to the next one, which is
  measured next); a batch is sent only when its estimated time (each item's search-time
  measurement plus the final protocol's warm-up and time budget, scaled by how long this
  phase's batches took against their estimates) fits in what is left. What does not fit
  keeps its search-time figures.

Its progress is shown as ``final k/N``. A final measurement that fails leaves its member with
the search-time figures: every reported member has figures.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lts.controller.search.algorithms import Point, SearchAlgorithm
from lts.controller.search.economy import QUICK_PRIOR
from lts.controller.search.evaluation import Evaluation
from lts.controller.search.final import Figure, open_points, plan, reported_frontier
from lts.shared.config import ArchConfig
from lts.shared.schemas import MeasureSettings

if TYPE_CHECKING:
    from lts.controller.search.device_search import DeviceSearch

logger = logging.getLogger(__name__)


class FinalPhase:
    """The final phase of ``search`` (a :class:`DeviceSearch` whose iterations are done)."""

    def __init__(
        self,
        search: DeviceSearch,
        algo: SearchAlgorithm,
        baselines: dict[str, Evaluation],
        settings: MeasureSettings,
        *,
        quick_baselines: bool = False,
    ) -> None:
        self.search = search
        self.algo = algo
        self.baselines = baselines
        self.quick_baselines = quick_baselines
        self.settings = settings
        self.objectives = search.objectives
        self.final = search.config.final_settings(settings)
        self.started = time.monotonic()
        #: Seconds this phase may take (None: no bound); set by :meth:`run`.
        self.budget_s: float | None = None
        self._scale = 1.0  # how long batches took against their estimates (at least 1)
        self._item_s: dict[str, float] = {}
        self._cached: set[str] = set()
        #: Items the time bound left out (for the log).
        self.left_out = 0

    async def run(self) -> None:
        search = self.search
        figures = self._figures()
        self._item_s, agent_s = search_item_s(search)
        self.budget_s = self._budget(agent_s)
        rel = tuple(search.economy.cost.quick_margin(QUICK_PRIOR) if o.timed else 0.0
                    for o in self.objectives.objectives)  # fmt: skip
        cap = search.config.final_max_members
        differ = self.final != self.settings
        after: dict[str, int] = {}
        tried: set[str] = set()
        slots = max(1, search.dispatcher.slots)
        search._emit(phase="final", final_done=0, final_total=0)
        # One batch at a time, planned again after each: a new figure can change a pick, and
        # the largest baseline's comparison is settled before the next one's. Each batch
        # measures at least one architecture not tried yet, within the cap: it ends.
        # The open points (the costly part of a plan, seconds at thousands of points) are
        # found again only once the last ones are used up.
        open_: set[str] | None = None
        while True:
            fresh = open_ is None
            if open_ is None:
                open_ = open_points(list(figures.values()), self.objectives, rel)
            left = None if cap is None else cap - len(tried - set(self.baselines))
            groups = [g for g in (tuple(a for a in g if a not in tried) for g in
                                  plan(list(figures.values()), self.objectives, rel, left,
                                       search.config.frontier, all_picks=differ,
                                       open_=open_)) if g]  # fmt: skip
            if not groups:
                if fresh:
                    break
                open_ = None  # what the new figures opened
                continue
            self._note_cached(groups)
            batches = pack_batches(groups, slots)
            fits = self._fitting(batches, slots)
            planned = sum(map(len, batches[:fits]))
            search._emit(final_total=search.progress.final_done + planned)
            if not fits:
                self.left_out = sum(map(len, batches))
                break
            estimate = self._batch_s(batches[0], slots)
            tried.update(batches[0])
            t0 = time.monotonic()
            await self._measure(self._configs(list(batches[0])), figures, after)
            if estimate > 0:
                self._scale = max(self._scale, (time.monotonic() - t0) / estimate)
        search._emit(final_total=search.progress.final_done)
        members = reported_frontier(list(figures.values()), self.objectives,
                                    search.config.frontier)  # fmt: skip
        if self.left_out:
            logger.info("device %s: the final phase's time bound (%.0f s) left %d item(s) with "
                        "their search-time figures", search.spec.label, self.budget_s or 0.0,
                        self.left_out)  # fmt: skip
        during = self._search_measurements()
        entries = [(a, "frontier", during.get(a), after.get(a)) for a in members]
        entries += [(a, "baseline", during.get(a), after.get(a)) for a in self.baselines]
        search.store.set_reported(search.sd.search_id, search.device.id, entries)

    def _note_cached(self, groups: Sequence[tuple[str, ...]]) -> None:
        """Note which of ``groups`` the store holds with the final settings (no time)."""
        search = self.search
        ids = [a for g in groups for a in g]
        found = search.store.find_measurements(ids, search.device.id, self.final.cache_key())
        self._cached = {a for a, m in found.items() if m.ok}

    def _fitting(self, batches: Sequence[tuple[str, ...]], slots: int) -> int:
        """How many of ``batches``, in order, fit in the time left by their estimates."""
        left = None if self.budget_s is None else self.budget_s - (time.monotonic() - self.started)
        return fitting([self._batch_s(b, slots) for b in batches], left)

    def _batch_s(self, batch: Sequence[str], slots: int) -> float:
        """A batch's estimated seconds: its longest item's, once per ``slots`` items."""
        longest = max(self._item_estimate(a) for a in batch)
        return longest * math.ceil(len(batch) / slots) * self._scale

    def _item_estimate(self, arch_id: str) -> float:
        """One final measurement's estimated seconds: its search-time measurement's (the
        build, the memory pass and its runs) plus the final protocol's warm-up and budget;
        none for one the store already holds."""
        if arch_id in self._cached:
            return 0.0
        return item_estimate(self._item_s, arch_id, self.final)

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
                out[a] = _figure(point, quick=self.quick_baselines, baseline=True)
        return out

    def _configs(self, arch_ids: list[str]) -> list[ArchConfig]:
        known = {p.arch_id: p.cfg for p in self.algo.points}
        known.update((a, e.cfg) for a, e in self.baselines.items())
        return [known[a] for a in arch_ids if a in known]

    def _budget(self, agent_s: float) -> float | None:
        """The seconds this phase may take (:func:`budget_s`)."""
        return budget_s(self.search.config.final_share,
                        searched_s(self.search, self.started, agent_s))  # fmt: skip

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


def pack_batches(groups: Sequence[tuple[str, ...]], slots: int) -> list[tuple[str, ...]]:
    """``groups`` packed into batches of at most ``slots`` items, first fit: each batch opens
    with the first group left and takes every later group that still fits (a group is never
    split: a comparison's two figures are taken together, or neither; a group larger than
    ``slots`` is a batch of its own)."""
    left = list(groups)
    out: list[tuple[str, ...]] = []
    while left:
        batch = left.pop(0)
        rest = []
        for g in left:
            if len(batch) + len(g) <= slots:
                batch += g
            else:
                rest.append(g)
        left = rest
        out.append(batch)
    return out


def fitting(estimates: Sequence[float], left_s: float | None) -> int:
    """How many of the batches estimated at ``estimates`` seconds, in order, fit in
    ``left_s`` seconds (None: all)."""
    if left_s is None:
        return len(estimates)
    total = 0.0
    for n, s in enumerate(estimates):
        total += s
        if total > left_s:
            return n
    return len(estimates)


def item_estimate(item_s: dict[str, float], arch_id: str, final: MeasureSettings) -> float:
    """One final measurement's estimated seconds on a device whose search-time measurements
    took ``item_s``: the architecture's (the build, the memory pass and its runs; the longest
    of the search's for one never measured there, as a baseline of an older search) plus the
    final protocol's warm-up and budget."""
    base = item_s.get(arch_id)
    if base is None:
        base = max(item_s.values(), default=0.0)
    return base + final.warmup_s + final.time_budget_s


def search_item_s(search: DeviceSearch) -> tuple[dict[str, float], float]:
    """Each architecture's search-time measurement's seconds on ``search``'s agent (its
    ``item_s``, the last one's), and the sum over the measurements this search took (cache
    hits left out)."""
    out: dict[str, float] = {}
    total = 0.0
    for j in search.store.candidate_joins(search.sd.search_id, search.device.id):
        m = j.measurement
        item_s = None if m is None else m.context.get("item_s")
        if isinstance(item_s, int | float):
            out[j.arch.arch_id] = float(item_s)
            total += 0.0 if j.candidate.cache_hit else float(item_s)
    return out, total


def searched_s(search: DeviceSearch, now: float, agent_s: float) -> float:
    """The device search's wall time up to ``now`` (monotonic): this run's (from its start),
    or for a resumed search, if more, the agent-seconds its measurements took (``agent_s``)
    over the agent's slots (the runs before the interruption included)."""
    slots = max(1, search.dispatcher.slots)
    return max(now - search.progress.started_s, agent_s / slots, 0.0)


def budget_s(share: float, searched: float) -> float | None:
    """The seconds a final phase may take: ``share`` of the search's wall time, that is the
    time it searched x share / (1 - share) (None: no bound, ``share`` 1)."""
    if share >= 1:
        return None
    return searched * share / (1 - share)
