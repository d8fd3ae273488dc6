"""How a device search spends agent time: screening, quick measurements and racing.

:class:`Economy` evaluates one iteration's proposals on one device:

1. A candidate already measured with the search's full settings (the store's cache) is used as
   it is.
2. *Screening* (``screen``, on by default): once the cost model
   (:mod:`lts.controller.search.cost_model`) has an error estimate for every measured
   objective, a candidate whose predicted objectives, each improved by the model's margin,
   are still dominated by a measured frontier member is not measured at all (``screened``).
3. Every other candidate gets a *quick* measurement (:func:`quick_settings`: one warm-up run
   and timed runs within half a second, plus the memory pass). With ``measure_mode``
   ``quick`` (the default) the search decides on it. With ``race`` its timed objectives
   (latencies) are taken as known to the quick protocol's uncertainty (the
   :data:`~lts.controller.search.cost_model.MARGIN_QUANTILE` of the differences between quick
   and full medians seen so far; :data:`QUICK_PRIOR` until enough are seen), and a candidate
   whose frontier membership that uncertainty leaves open, or that could decide another
   point's membership (:func:`lts.controller.search.racing.to_refine`), is measured again with
   the full settings, in rounds until none is left open; the others are settled on their
   quick figures (dominated for sure, or members for sure). With ``full`` every candidate
   gets the full settings.

Why ``quick`` is the default: where a device's speed drifts over seconds, two measurements of
a model differ by several per cent whatever their length, so racing with that uncertainty
re-measures most candidates in full and costs more than it saves (docs/search.md gives the
figures measured). On a quieter device the racing rule refines less (its uncertainty is
learnt from the search's own quick/full pairs).

The memory pass runs for every measured candidate: in the paper's spaces about half of the
candidates measured are frontier members or close to one (their peak memories are close
together), and a memory pass costs less than a second quick measurement would. A screened
candidate's objectives are only predicted (stored as its predictions, never as a
measurement); a quick measurement that lacks an objective takes its prediction
(:func:`lts.controller.store.records.stand_ins`).

Quick and full measurements have different settings, hence different cache keys: they are
never mixed. The algorithm is told the full figures where there are, else the quick ones; a
screened candidate as not measured (``Outcome`` with an error, like a failure: it never
becomes a point of the search). :meth:`Economy.outcome_of` rebuilds the same outcome from the
store for a resumed search.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lts.controller.search.algorithms.base import Bounds, Outcome, Point, ProxyLike
from lts.controller.search.cost_model import CostModel
from lts.controller.search.evaluation import DeviceEvaluator, Evaluation
from lts.controller.search.racing import Estimate, screen, to_refine
from lts.controller.store import Store
from lts.controller.store.records import stand_ins
from lts.shared.config import ArchConfig
from lts.shared.objectives import ObjectiveSet
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

#: Predicted values by objective name (None: not predicted).
Predicted = Mapping[str, float | None]


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
    ``predicted`` the cost model's values by objective when it was proposed."""

    cfg: ArchConfig
    measure: str
    evaluation: Evaluation | None
    predicted: Predicted
    outcome: Outcome


@dataclass
class _Round:
    """One iteration's measurements so far: full and quick evaluations by arch id."""

    full: dict[str, Evaluation] = field(default_factory=dict)
    quick: dict[str, Evaluation] = field(default_factory=dict)


class Economy:
    """Screening and racing for one device's search (see the module doc)."""

    def __init__(
        self,
        *,
        store: Store,
        evaluator: DeviceEvaluator,
        settings: MeasureSettings,
        proxy: ProxyLike,
        objectives: ObjectiveSet,
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
        self.objectives = objectives
        self.bounds = bounds
        self.screening = screen
        self.full_only = measure_mode == "full"
        self.racing = measure_mode == "race"
        self.cost = CostModel(settings, objectives)
        self.counts = {"screened": 0, "quick": 0, "full": 0, "refined": 0}
        #: Candidates settled on a quick measurement.
        self.settled_quick: set[str] = set()
        self._timed = tuple(o.timed for o in objectives.objectives)

    # ------------------------------------------------------------------------ queries
    def predict(self, cfg: ArchConfig) -> dict[str, float | None]:
        return self.cost.predict(cfg)

    def summary(self) -> dict[str, Any]:
        return self.cost.summary(QUICK_PRIOR)

    def state(self) -> dict[str, Any]:
        return self.cost.state()

    @property
    def latency_error(self) -> float | None:
        """The first timed objective's median held-out error (prequential, else
        leave-one-out); None without a timed objective or a fitted model."""
        for o in self.objectives.measured:
            quantity = self.cost.quantities.get(o.name)
            if o.timed and quantity is not None:
                s = quantity.summary()
                return s["mdape"] if s["mdape"] is not None else s["loo_mdape"]
        return None

    # ----------------------------------------------------------------------- learning
    def observe(self, cfg: ArchConfig, evaluation: Evaluation, *, score: bool = False,
                predicted: Predicted | None = None) -> None:  # fmt: skip
        """Feed a measurement to the cost model (``score``: it was not fitted on it and
        ``predicted`` was made before it)."""
        m = evaluation.measurement
        if m.ok:
            self.cost.observe(cfg, m.values, predicted if score else None)

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
        cached = self.store.find_measurements([c.arch_id for c in unique],
                                              self.evaluator.device.id,
                                              self.settings.cache_key())  # fmt: skip
        if self.evaluator.retry_failed:  # --retry-failed: a cached failure is measured again
            cached = {a: m for a, m in cached.items() if m.status != "failed"}
        done = _Round(full={c.arch_id: Evaluation(c, cached[c.arch_id], True)
                            for c in unique if c.arch_id in cached})  # fmt: skip
        rest = [c for c in unique if c.arch_id not in done.full]
        screened = self._screen(rest, predicted, frontier) if self.screening else set()
        rest = [c for c in rest if c.arch_id not in screened]
        if self.full_only:
            done.full.update(await self.evaluator.evaluate(rest, self.settings))
        elif rest:
            on_phase("quick")
            done.quick = await self.evaluator.evaluate(rest, quick_settings(self.settings))
            if self.racing:
                await self._refine(done, frontier, on_phase)
        self._learn(unique, done, predicted)
        return {c.arch_id: self._judged(c, done, screened, predicted[c.arch_id])
                for c in unique if c.arch_id in done.full or c.arch_id in done.quick
                or c.arch_id in screened}  # fmt: skip

    def _judged(self, c: ArchConfig, done: _Round, screened: set[str], p: Predicted) -> Judged:
        a = c.arch_id
        if a in done.full:
            e = done.full[a]
            self.counts["full"] += not e.cache_hit
            return Judged(c, "full", e, p, e.outcome())
        if a in done.quick:
            e = done.quick[a]
            self.settled_quick.add(a)
            self.counts["quick"] += not e.cache_hit
            return Judged(c, "quick", e, p, self.outcome_of("quick", e, p))
        self.counts["screened"] += 1
        return Judged(c, SCREENED, None, p, Outcome(None, SCREENED))

    def outcome_of(
        self, measure: str | None, evaluation: Evaluation | None, predicted: Predicted
    ) -> Outcome:
        """The outcome a candidate is told (also for a resumed search, from the store):
        screened or unmeasured as not measured; a quick measurement's missing objectives
        take their predictions (:func:`stand_ins`)."""
        if measure == SCREENED or evaluation is None:
            return Outcome(None, SCREENED if measure == SCREENED else "not measured")
        outcome = evaluation.outcome()
        m = evaluation.measurement
        if outcome.values is None:
            return outcome
        known = {k: v for k, v in predicted.items() if v is not None}
        extra = stand_ins(measure, m.status, m.values, known, self.objectives.measured_names)
        return Outcome({**outcome.values, **extra}) if extra else outcome

    # ------------------------------------------------------------------------ details
    def _screen(
        self, cfgs: Sequence[ArchConfig], predicted: dict[str, dict[str, float | None]],
        frontier: Sequence[Point],
    ) -> set[str]:  # fmt: skip
        names = self.objectives.measured_names
        margins = [self.cost.margin(n) for n in names]
        if not frontier or any(m is None for m in margins):
            return set()
        estimates = []
        for c in cfgs:
            values = predicted[c.arch_id]
            if any(values.get(n) is None for n in names):
                continue
            vector = [float(self.proxy(c)), *(float(values[n] or 0.0) for n in names)]
            rel = (0.0, *(float(m or 0.0) for m in margins))
            estimates.append(Estimate(c.arch_id, tuple(self.objectives.minimised(vector)), rel))
        return screen(estimates, [self._known(p) for p in frontier])

    async def _refine(
        self, done: _Round, frontier: Sequence[Point], on_phase: Callable[[str], None]
    ) -> None:
        """Measure with the full settings the quick ones whose uncertainty leaves the
        frontier open, in rounds (each settles against what the previous ones measured)."""
        uncertain = self._quick_rel()
        for _ in range(MAX_ROUNDS):
            pending = [
                Estimate(a, self._exact(e).values, uncertain)
                for a, e in done.quick.items()
                if a not in done.full and e.measurement.ok and e.outcome().ok
            ]
            if not pending:
                return
            settled = [self._known(p) for p in frontier]
            settled += [self._exact(e) for e in done.full.values() if e.outcome().ok]
            rivals = [r for r in settled if self._feasible(r.values)]
            rivals += [p for p in pending if self._feasible(p.worst())]
            chosen = to_refine(pending, rivals)
            if not chosen:
                return
            on_phase("refine")
            cfgs = [done.quick[a].cfg for a in done.quick if a in chosen]
            new = await self.evaluator.evaluate(cfgs, self.settings)
            self.counts["refined"] += len(new)
            done.full.update(new)

    def _learn(
        self, cfgs: Sequence[ArchConfig], done: _Round, predicted: Mapping[str, Predicted]
    ) -> None:
        timed = [o.name for o in self.objectives.measured if o.timed]
        for c in cfgs:
            a = c.arch_id
            q, f = done.quick.get(a), done.full.get(a)
            first = q if q is not None else f
            if first is not None:  # scored unless the model has seen it (cache hits too)
                self.observe(c, first, score=True, predicted=predicted[a])
            if q is not None and f is not None:  # refined: the full figures replace the quick
                self.observe(c, f)
                for name in timed:
                    qv, fv = q.measurement.values.get(name), f.measurement.values.get(name)
                    if qv is not None and fv is not None:
                        self.cost.observe_pair(qv, fv)
        self.cost.refit()

    def _vector(self, cfg: ArchConfig, values: Mapping[str, float]) -> tuple[float, ...]:
        names = self.objectives.measured_names
        raw = [float(self.proxy(cfg)), *(float(values.get(n, 0.0)) for n in names)]
        return tuple(self.objectives.minimised(raw))

    def _exact(self, e: Evaluation) -> Estimate:
        return Estimate(e.cfg.arch_id, self._vector(e.cfg, e.outcome().values or {}))

    def _quick_rel(self) -> tuple[float, ...]:
        """The relative uncertainty of a quick measurement, per objective: the quick
        protocol's for a timed objective, none for the others."""
        u = self.cost.quick_margin(QUICK_PRIOR)
        return tuple(u if timed else 0.0 for timed in self._timed)

    def _known(self, p: Point) -> Estimate:
        """A point of the search as known: exact, or with the quick protocol's uncertainty
        when it was settled on a quick measurement."""
        rel = self._quick_rel() if p.arch_id in self.settled_quick else ()
        raw = [p.values[n] for n in self.objectives.names]
        return Estimate(p.arch_id, tuple(self.objectives.minimised(raw)), rel)

    def _feasible(self, minimised: Sequence[float]) -> bool:
        """Whether a vector to minimise is within the bounds (each value read back in its
        objective's own sense)."""
        names, signs = self.objectives.names, self.objectives.signs
        return self.bounds.feasible({n: s * v for n, s, v in zip(names, signs, minimised,
                                                                  strict=True)})  # fmt: skip
