"""How a device search spends agent time: screening, quick measurements and racing.

:class:`Economy` evaluates one iteration's proposals on one device:

1. A candidate already measured with the search's full settings (the store's cache) is used as
   it is.
2. *Screening* (``screen``, on by default): once the cost model
   (:mod:`controller.search.cost_model`) has an error estimate for latency and memory, a
   candidate whose predicted objectives, each improved by the model's margin, are still
   dominated by a measured frontier member is not measured at all (``screened``).
3. Every other candidate gets a *quick* measurement (:func:`quick_settings`: one warm-up run
   and timed runs within half a second, plus the memory pass). With ``measure_mode``
   ``quick`` (the default) the search decides on it. With ``race`` its latency is taken as
   known to the quick protocol's uncertainty (the
   :data:`~controller.search.cost_model.MARGIN_QUANTILE` of the differences between quick
   and full medians seen so far; :data:`QUICK_PRIOR` until enough are seen), and a candidate
   whose frontier membership that uncertainty leaves open, or that could decide another
   point's membership (:func:`controller.search.racing.to_refine`), is measured again with
   the full settings, in rounds until none is left open; the others are settled on their
   quick figures (dominated for sure, or members for sure). With ``full`` every candidate
   gets the full settings (the protocol before this module).

Why ``quick`` is the default: on the development machine (a 2-core VM) the latency of one
model drifts by +-10% over seconds (a single pinned process timing one model: 2-second
medians from 206 to 255 ms, CPU frequency constant, no steal), so two measurements of a model
differ by about 6-10% (median) whatever their length: a quick median is off the full one by
7% (median) and 27% (95th percentile), uncorrelated with its own confidence interval. Racing
with that uncertainty re-measured about 3 in 4 candidates in full, costing more than it
saved; measuring longer does not remove drift. On a quieter device the racing rule refines
less (its uncertainty is learnt from the search's own quick/full pairs).

The memory pass runs for every measured candidate: in the paper's spaces about half of the
candidates measured are frontier members or close to one (their peak memories are close
together), and a memory pass costs less than a second quick measurement would. Only a
screened candidate's memory is predicted (stored as its prediction, never as a measurement).

Quick and full measurements have different settings, hence different cache keys: they are
never mixed. The algorithm is told the full figures where there are, else the quick ones; a
screened candidate as not measured (``Outcome`` with an error, like a failure: it never
becomes a point of the search). :meth:`Economy.outcome_of` rebuilds the same outcome from the
store for a resumed search.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from lts.controller.search.algorithm import Bounds, Outcome, Point, ProxyLike
from lts.controller.search.cost_model import CostModel
from lts.controller.search.evaluation import DeviceEvaluator, Evaluation
from lts.controller.search.racing import Estimate, screen, to_refine
from lts.controller.store import Store
from lts.shared.config import ArchConfig
from lts.shared.schemas import MeasureSettings

logger = logging.getLogger(__name__)

#: The quick protocol: what it changes in the search's settings.
QUICK = {"warmup_runs": 1, "warmup_s": 0.0, "min_runs": 6, "min_time_s": 0.0}
#: The quick protocol's time budget (s) and stopping target (relative CI of the median).
QUICK_BUDGET_S = 0.5
QUICK_TARGET = 0.10
#: The quick median's relative uncertainty until enough quick/full pairs are seen.
QUICK_PRIOR = 0.10
#: Most refinement rounds per iteration (each measures what the last one unsettled).
MAX_ROUNDS = 4

MEASURE_MODES = ("quick", "race", "full")
SCREENED = "screened"


def quick_settings(settings: MeasureSettings) -> MeasureSettings:
    """The quick protocol derived from the search's ``settings`` (the rest unchanged)."""
    return settings.model_copy(
        update={
            **QUICK,
            "time_budget_s": min(QUICK_BUDGET_S, settings.time_budget_s),
            "target_rel_ci": max(QUICK_TARGET, settings.target_rel_ci),
        }
    )


@dataclass(frozen=True)
class Judged:
    """How one proposed candidate was evaluated: ``measure`` is ``full``, ``quick`` or
    ``screened``; ``evaluation`` the measurement linked to it (None when screened);
    ``predicted`` the cost model's (latency ms, memory MiB) when it was proposed."""

    cfg: ArchConfig
    measure: str
    evaluation: Evaluation | None
    predicted: tuple[float | None, float | None]
    outcome: Outcome


class Economy:
    """Screening and racing for one device's search (see the module doc)."""

    def __init__(
        self,
        *,
        store: Store,
        evaluator: DeviceEvaluator,
        settings: MeasureSettings,
        proxy: ProxyLike,
        bounds: Bounds,
        screen: bool = True,
        measure_mode: str = "quick",
    ) -> None:
        if measure_mode not in MEASURE_MODES:
            raise ValueError(f"measure_mode must be one of {MEASURE_MODES}")
        self.store = store
        self.evaluator = evaluator
        self.settings = settings
        self.proxy = proxy
        self.bounds = bounds
        self.screening = screen
        self.full_only = measure_mode == "full"
        self.racing = measure_mode == "race"
        self.cost = CostModel(settings)
        self.memory_wanted = settings.measure_memory
        self.counts = {"screened": 0, "quick": 0, "full": 0, "refined": 0}
        #: Candidates settled on a quick measurement.
        self.settled_quick: set[str] = set()

    # ------------------------------------------------------------------------ queries
    def predict(self, cfg: ArchConfig) -> tuple[float | None, float | None]:
        return self.cost.predict(cfg)

    def summary(self) -> dict[str, Any]:
        return self.cost.summary(QUICK_PRIOR)

    def state(self) -> dict[str, Any]:
        return self.cost.state()

    @property
    def latency_error(self) -> float | None:
        """The latency model's median held-out error (prequential, else leave-one-out)."""
        s = self.cost.latency.summary()
        return s["mdape"] if s["mdape"] is not None else s["loo_mdape"]

    # ----------------------------------------------------------------------- learning
    def observe(self, cfg: ArchConfig, evaluation: Evaluation, *, score: bool = False,
                predicted: tuple[float | None, float | None] = (None, None)) -> None:  # fmt: skip
        """Feed a measurement to the cost model (``score``: it was not fitted on it and
        ``predicted`` was made before it)."""
        m = evaluation.measurement
        if not m.ok:
            return
        self.cost.observe(cfg, m.latency_ms, m.peak_memory_mb, predicted if score else (None, None))

    def restore(
        self,
        state: dict[str, Any],
        measured: Sequence[tuple[ArchConfig, Evaluation]],
        quick: set[str],
    ) -> None:
        """A resumed search's model: the held-out scores from ``state``, refit on ``measured``;
        ``quick``: the candidates settled on a quick measurement."""
        self.cost.load_scores(state)
        self.settled_quick = set(quick)
        for cfg, evaluation in measured:
            self.observe(cfg, evaluation)
        self.cost.refit()

    # -------------------------------------------------------------------- evaluation
    async def evaluate(
        self, cfgs: Sequence[ArchConfig], frontier: Sequence[Point],
        on_phase: Callable[[str], None] = lambda phase: None,
    ) -> dict[str, Judged]:  # fmt: skip
        """Evaluate one iteration's proposals (``frontier``: the search's frontier before it)."""
        unique = list({c.arch_id: c for c in cfgs}.values())
        predicted = {c.arch_id: self.cost.predict(c) for c in unique}
        full_key = self.settings.cache_key()
        cached = self.store.find_measurements([c.arch_id for c in unique],
                                              self.evaluator.device.id, full_key)  # fmt: skip
        if self.evaluator.retry_failed:  # --retry-failed: a cached failure is measured again
            cached = {a: m for a, m in cached.items() if m.status != "failed"}
        full: dict[str, Evaluation] = {
            c.arch_id: Evaluation(c, cached[c.arch_id], True) for c in unique if c.arch_id in cached
        }
        rest = [c for c in unique if c.arch_id not in full]
        screened = self._screen(rest, predicted, frontier) if self.screening else set()
        rest = [c for c in rest if c.arch_id not in screened]
        quick: dict[str, Evaluation] = {}
        if self.full_only:
            new = await self.evaluator.evaluate(rest, self.settings)
            full.update(new)
        elif rest:
            on_phase("quick")
            quick = await self.evaluator.evaluate(rest, quick_settings(self.settings))
            if self.racing:
                await self._refine(quick, full, frontier, on_phase)
        self._learn(unique, full, quick, predicted)
        out: dict[str, Judged] = {}
        for c in unique:
            a = c.arch_id
            if a in full:
                e = full[a]
                out[a] = Judged(c, "full", e, predicted[a], e.outcome())
                self.counts["full"] += not e.cache_hit
            elif a in quick:
                e = quick[a]
                out[a] = Judged(c, "quick", e, predicted[a], e.outcome())
                self.settled_quick.add(a)
                self.counts["quick"] += not e.cache_hit
            elif a in screened:
                out[a] = Judged(c, SCREENED, None, predicted[a], Outcome(None, None, SCREENED))
                self.counts["screened"] += 1
        return out

    def outcome_of(self, measure: str | None, evaluation: Evaluation | None) -> Outcome | None:
        """The outcome told for a stored candidate (None: told as not measured)."""
        if measure == SCREENED or evaluation is None:
            return None
        return evaluation.outcome()

    # ------------------------------------------------------------------------ details
    def _screen(
        self,
        cfgs: Sequence[ArchConfig],
        predicted: dict[str, tuple[float | None, float | None]],
        frontier: Sequence[Point],
    ) -> set[str]:
        m_lat = self.cost.latency.margin()
        m_mem = self.cost.memory.margin() if self.memory_wanted else 0.0
        if m_lat is None or m_mem is None or not frontier:
            return set()
        estimates = []
        for c in cfgs:
            lat, mem = predicted[c.arch_id]
            if lat is None or (mem is None and self.memory_wanted):
                continue
            mem = (mem or 0.0) if self.memory_wanted else 0.0
            estimates.append(Estimate(c.arch_id, float(self.proxy(c)), lat, mem, m_lat, m_mem))
        members = [self._known(p) for p in frontier]
        return screen(estimates, members, self.proxy.higher_is_better)

    async def _refine(
        self,
        quick: dict[str, Evaluation],
        full: dict[str, Evaluation],
        frontier: Sequence[Point],
        on_phase: Callable[[str], None],
    ) -> None:
        """Measure with the full settings the quick ones whose uncertainty leaves the
        frontier open, in rounds (each settles against what the previous ones measured)."""
        u_lat = self.cost.quick_margin(QUICK_PRIOR)
        hib = self.proxy.higher_is_better
        for _ in range(MAX_ROUNDS):
            pending = [
                replace(self._exact_eval(e), latency_rel=u_lat)
                for a, e in quick.items()
                if a not in full and e.measurement.ok
            ]
            if not pending:
                return
            settled = [self._known(p) for p in frontier]
            settled += [self._exact_eval(e) for e in full.values() if e.outcome().ok]
            rivals = [r for r in settled if self.bounds.feasible(r.latency_ms, r.memory_mb)]
            rivals += [p for p in pending if self.bounds.feasible(*p.worst())]
            chosen = to_refine(pending, rivals, hib)
            if not chosen:
                return
            on_phase("refine")
            cfgs = [quick[a].cfg for a in quick if a in chosen]
            new = await self.evaluator.evaluate(cfgs, self.settings)
            self.counts["refined"] += len(new)
            full.update(new)

    def _learn(
        self,
        cfgs: Sequence[ArchConfig],
        full: dict[str, Evaluation],
        quick: dict[str, Evaluation],
        predicted: dict[str, tuple[float | None, float | None]],
    ) -> None:
        for c in cfgs:
            a = c.arch_id
            q, f = quick.get(a), full.get(a)
            first = q if q is not None else f
            if first is not None:  # scored unless the model has seen it (cache hits too)
                self.observe(c, first, score=True, predicted=predicted[a])
            if q is not None and f is not None:  # refined: the full figures replace the quick
                self.observe(c, f)
                if q.measurement.ok and f.measurement.ok:
                    self.cost.observe_pair(q.measurement.latency_ms or 0.0,
                                           f.measurement.latency_ms or 0.0)  # fmt: skip
        self.cost.refit()

    def _exact_eval(self, e: Evaluation) -> Estimate:
        o = e.outcome()
        return Estimate(e.cfg.arch_id, float(self.proxy(e.cfg)), o.latency_ms or 0.0,
                        o.peak_memory_mb or 0.0)  # fmt: skip

    def _known(self, p: Point) -> Estimate:
        """A point of the search as known: exact, or with the quick protocol's uncertainty
        when it was settled on a quick measurement."""
        u_lat = self.cost.quick_margin(QUICK_PRIOR) if p.arch_id in self.settled_quick else 0.0
        return Estimate(p.arch_id, p.proxy, p.latency_ms, p.peak_memory_mb, u_lat)
