"""A joint search (``controller search --joint``): one population measured on every device.

Its objectives are the proxy and each device's measured objectives (``latency@pi``,
``memory@pi``, ``latency@laptop``, ...: :meth:`SearchConfig.joint_objectives`), so one
algorithm (any of :mod:`lts.controller.search.algorithms`) searches for models good on all the
devices at once, and every member of its frontier has figures on every device.

:class:`JointSearch` opens one session per device (:class:`DeviceSearch`: the agent's client,
its evaluator through the store's cache, its measurement economy without screening), measures
the baselines on each, then per iteration asks the algorithm once and measures the proposals
on every device concurrently; a candidate's outcome joins the devices' values under their
qualified names (a failure on one device is a failure). Each device's candidates, hypervolume
rows (the joint hypervolume, the same on each) and state are stored as a per-device search
stores them, an iteration completed on all devices in one transaction, so the search resumes
like any other (the algorithm's state is read back from the first device's). The final phase
(:class:`JointFinal`) measures again on every device what can change the joint frontier and
reports that frontier on each device with the device's own figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from lts.controller.proxies import get_proxy
from lts.controller.search.algorithms import Outcome, Proposal, SearchAlgorithm, get_algorithm
from lts.controller.search.device_search import DeviceSearch
from lts.controller.search.economy import QUICK_PRIOR, Judged
from lts.controller.search.evaluation import Evaluation
from lts.controller.search.final import Figure, plan, reported_frontier
from lts.controller.search.final_phase import budget_s, item_estimate, search_item_s, searched_s
from lts.controller.search.progress import stopped_by
from lts.shared.config import ArchConfig
from lts.shared.errors import AgentError
from lts.shared.objectives import qualified, split
from lts.shared.schemas import MeasureSettings

if TYPE_CHECKING:
    from lts.controller.search.runner import SearchRunner

logger = logging.getLogger(__name__)

#: Rounds of final measurements at most (as a device's final phase).
MAX_ROUNDS = 4


class JointSearch:
    """The joint search of ``runner`` (see the module doc): one task for every device."""

    def __init__(self, runner: SearchRunner) -> None:
        self.runner = runner
        self.store = runner.store
        self.config = runner.config
        self.objectives = runner.config.joint_objectives()
        pairs = zip(runner.devices, runner.agents, strict=True)
        self.members = [DeviceSearch(runner, sd, spec) for sd, spec in pairs]
        #: Each member's qualifier in the objectives' names (the agents as given).
        self.labels = list(runner.config.agents)

    async def run(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            for m in self.members:
                await stack.enter_async_context(m.opened())
            try:
                await self._search()
            except AgentError as exc:  # one device cannot measure: no candidate can be judged
                sid = self.members[0].sd.search_id
                message = f"{exc} (a joint search needs every device; --resume {sid} retries)"
                logger.error("joint search %d failed: %s", sid, message)
                await self._cancel()
                for m in self.members:
                    m._set_status("failed", message)
                    m._emit(phase="failed", message=message, waiting=None)
            except asyncio.CancelledError:
                await self._cancel()
                if not self.runner.lease.lost:
                    for m in self.members:
                        m._set_status("interrupted", "interrupted")
                        m._emit(phase="interrupted")
                raise
            except Exception as exc:
                await self._cancel()
                with contextlib.suppress(Exception):
                    for m in self.members:
                        m._set_status(*stopped_by(exc, m.sd.search_id))
                raise

    async def _cancel(self) -> None:
        await asyncio.gather(*(m.dispatcher.cancel_current() for m in self.members),
                             return_exceptions=True)  # fmt: skip

    async def _search(self) -> None:
        settings = list(await asyncio.gather(*(m.prepare() for m in self.members)))
        baselines: list[dict[str, Evaluation]] = [{} for _ in self.members]
        if self.config.baselines:
            pairs = zip(self.members, settings, strict=True)
            baselines = list(await asyncio.gather(*(m._baselines(s) for m, s in pairs)))
        algo = self._algorithm()
        while not algo.done:
            await self._iterate(algo)
        await JointFinal(self, algo, baselines, settings).run()
        for m in self.members:
            m._set_status("done", None)
            m._emit(phase="done", waiting=None)

    # ----------------------------------------------------------------------- algorithm
    def _algorithm(self) -> SearchAlgorithm:
        cfg = self.config
        first = self.members[0]
        done = first.sd.iteration_done
        algo = get_algorithm(cfg.algorithm)(
            cfg.search_space(),
            cfg.algorithm_params(),
            cfg.rng(0),
            objectives=self.objectives,
            proxy=get_proxy(cfg.proxy),
            bounds=cfg.joint_bounds(),
            seeds=first.baseline_configs() if done < 0 and cfg.baselines else (),
        )
        if done >= 0 and first.state.algorithm is not None:
            algo.load_state(first.state.algorithm, self._history(done))
            for m in self.members:
                m._emit(iteration=algo.iteration, hypervolume=algo.hypervolume,
                        frontier_size=len(algo.frontier()))  # fmt: skip
        return algo

    def _history(self, upto: int) -> list[tuple[int, Proposal, Outcome | None]]:
        """What the algorithm was told up to ``upto``: each device's history (which also
        rebuilds its cost model) joined by candidate."""
        per = [m._history(upto) for m in self.members]
        joined: dict[tuple[int, str], tuple[Proposal, dict[str, float], bool]] = {}
        for label, told in zip(self.labels, per, strict=True):
            for it, p, o in told:
                proposal, values, ok = joined.get((it, p.arch_id), (p, {}, True))
                if o is None or not o.ok or o.values is None:
                    ok = False
                else:
                    values = {**values, **{qualified(n, label): v for n, v in o.values.items()}}
                joined[(it, p.arch_id)] = (proposal, values, ok)
        order = [(it, p.arch_id) for it, p, _ in per[0]]
        return [(k[0], joined[k][0], Outcome(joined[k][1]) if joined[k][2] else None)
                for k in order]  # fmt: skip

    def joined(self, arch_id: str, outcomes: Sequence[Outcome]) -> Outcome:
        """One candidate's outcome from each device's (in member order): the values under
        their qualified names, or the first device's error."""
        values: dict[str, float] = {}
        for label, o in zip(self.labels, outcomes, strict=True):
            if not o.ok or o.values is None:
                return Outcome(None, f"{label}: {o.error or 'not measured'}")
            values.update({qualified(n, label): v for n, v in o.values.items()})
        return Outcome(values)

    async def _iterate(self, algo: SearchAlgorithm) -> None:
        it = algo.iteration
        for m in self.members:
            m._emit(phase="search")
        proposals = algo.ask()
        cfgs = [p.cfg for p in proposals]
        sid = self.members[0].sd.search_id
        rows = [(p.cfg, p.origin, p.parents) for p in proposals]
        for m in self.members:
            self.store.add_candidates(sid, m.device.id, it, rows)
        judged: list[dict[str, Judged]] = list(await asyncio.gather(
            *(m.economy.evaluate(cfgs, [], on_phase=_phase(m)) for m in self.members)))  # fmt: skip
        for m, js in zip(self.members, judged, strict=True):
            links = [(a, j.evaluation.measurement.id, j.evaluation.cache_hit)
                     for a, j in js.items() if j.evaluation is not None]  # fmt: skip
            self.store.link_candidates(sid, m.device.id, it, links)
            self.store.set_candidate_measure(
                sid, m.device.id, it, [(a, j.measure, j.predicted) for a, j in js.items()]
            )
        missing = Outcome(None, "not measured")
        outcomes = {p.arch_id: self.joined(p.arch_id, [js[p.arch_id].outcome if p.arch_id in js
                                                       else missing for js in judged])
                    for p in proposals}  # fmt: skip
        report = algo.tell(outcomes)
        states = []
        for m in self.members:
            m.state = m.state.model_copy(update={
                "algorithm": algo.state_dict(), "inflight": [],
                "cost_model": m.economy.summary(), "cost_scores": m.economy.state(),
            })  # fmt: skip
            states.append((m.sd.id, m.state.to_json()))
        self.store.complete_iterations(states, it, hypervolume=report.hypervolume,
                                       frontier_size=report.frontier_size,
                                       n_measured=len(algo.points))  # fmt: skip
        for m, js in zip(self.members, judged, strict=True):
            hits = sum(1 for j in js.values() if j.evaluation and j.evaluation.cache_hit)
            m._emit(iteration=it + 1, hypervolume=report.hypervolume,
                    frontier_size=report.frontier_size,
                    cache_hits=m.progress.cache_hits + hits)  # fmt: skip


class JointFinal:
    """The joint search's final phase: what can change the joint frontier is measured again
    with the final settings on every device (as :class:`FinalPhase` does on one), then the
    joint frontier, recomputed from the figures it reports, is stored on every device."""

    def __init__(
        self,
        joint: JointSearch,
        algo: SearchAlgorithm,
        baselines: Sequence[Mapping[str, Evaluation]],
        settings: Sequence[MeasureSettings],
    ) -> None:
        self.joint = joint
        self.algo = algo
        self.baselines = {a: e.cfg for b in baselines for a, e in b.items()}
        self.settings = list(settings)
        self.final = [joint.config.final_settings(s) for s in settings]
        self.started = time.monotonic()
        #: Seconds this phase may take (None: no bound); set by :meth:`run`.
        self.budget_s: float | None = None
        self._scale = 1.0  # how long rounds took against their estimates (at least 1)
        self._item_s: list[dict[str, float]] = [{} for _ in joint.members]
        self._cached: list[set[str]] = [set() for _ in joint.members]
        #: Items the time bound left out (for the log).
        self.left_out = 0

    async def run(self) -> None:
        joint, members = self.joint, self.joint.members
        figures = self._figures()
        rel = tuple(self._quick_rel(name) for name in joint.objectives.names)
        cap = joint.config.final_max_members
        differ = any(f != s for f, s in zip(self.final, self.settings, strict=True))
        after: dict[str, list[int | None]] = {}
        self.budget_s = self._budget()
        for m in members:
            m._emit(phase="final", final_done=0, final_total=0)
        # Each round measures, on every device at once, the plan's groups (a baseline's
        # comparison together) that fit in the time left, in the plan's order; a round that
        # cannot take them all is the last.
        for _ in range(MAX_ROUNDS):
            left = None if cap is None else cap - len(after)
            groups = [g for g in (tuple(a for a in g if a not in after) for g in
                                  plan(list(figures.values()), joint.objectives, rel, left,
                                       joint.config.frontier, all_picks=differ)) if g]  # fmt: skip
            if not after and differ:
                planned = {a for g in groups for a in g}
                groups += [(a,) for a in self.baselines if a not in planned]
            if not groups:
                break
            self._note_cached(groups)
            n = self._fitting(groups)
            self.left_out = sum(map(len, groups[n:]))
            if not n:
                break
            chosen = [a for g in groups[:n] for a in g]
            for m in members:
                m._emit(final_total=m.progress.final_total + len(chosen))
            estimate = self._round_s(chosen)
            t0 = time.monotonic()
            await self._measure([self._config(a) for a in chosen], figures, after)
            if estimate > 0:
                self._scale = max(self._scale, (time.monotonic() - t0) / estimate)
            if self.left_out:
                break
        if self.left_out:
            logger.info("joint search: the final phase's time bound (%.0f s) left %d "
                        "item(s) with their search-time figures", self.budget_s or 0.0,
                        self.left_out)  # fmt: skip
        front = reported_frontier(list(figures.values()), joint.objectives, joint.config.frontier)
        sid = members[0].sd.search_id
        for k, m in enumerate(members):
            during = _search_measurements(m)
            ids = {a: v[k] for a, v in after.items()}
            entries = [(a, "frontier", during.get(a), ids.get(a)) for a in front]
            entries += [(a, "baseline", during.get(a), ids.get(a)) for a in self.baselines]
            joint.store.set_reported(sid, m.device.id, entries)

    def _budget(self) -> float | None:
        """``final_share`` of the joint search's wall time: the longest of its devices' (each
        from its start, or its agent-seconds over its slots when resumed; :func:`searched_s`).
        Notes each device's search-time item seconds on the way (the estimates' base)."""
        searched = 0.0
        for k, m in enumerate(self.joint.members):
            self._item_s[k], agent_s = search_item_s(m)
            searched = max(searched, searched_s(m, self.started, agent_s))
        return budget_s(self.joint.config.final_share, searched)

    def _note_cached(self, groups: Sequence[tuple[str, ...]]) -> None:
        """Note which of ``groups`` each device's store holds with its final settings."""
        ids = [a for g in groups for a in g]
        for k, (m, final) in enumerate(zip(self.joint.members, self.final, strict=True)):
            found = m.store.find_measurements(ids, m.device.id, final.cache_key())
            self._cached[k] = {a for a, x in found.items() if x.ok}

    def _round_s(self, arch_ids: Sequence[str]) -> float:
        """A round's estimated seconds: its slowest device's, each device measuring the
        items over its slots (their total over the slots, at least the longest item)."""
        worst = 0.0
        for k, (m, final) in enumerate(zip(self.joint.members, self.final, strict=True)):
            each = [0.0 if a in self._cached[k] else item_estimate(self._item_s[k], a, final)
                    for a in arch_ids]  # fmt: skip
            slots = max(1, m.dispatcher.slots)
            worst = max(worst, sum(each) / slots, max(each, default=0.0))
        return worst * self._scale

    def _fitting(self, groups: Sequence[tuple[str, ...]]) -> int:
        """How many of ``groups``, in order, fit in the time left by their estimate."""
        if self.budget_s is None:
            return len(groups)
        left = self.budget_s - (time.monotonic() - self.started)
        n = 0
        while n < len(groups) and self._round_s([a for g in groups[: n + 1] for a in g]) <= left:
            n += 1
        return n

    def _quick_rel(self, name: str) -> float:
        """The relative uncertainty of a quick figure of objective ``name`` (qualified):
        its device's quick protocol's for a latency, none otherwise."""
        base, label = split(name)
        if label is None:
            return 0.0
        m = self.joint.members[self.joint.labels.index(label)]
        timed = m.objectives.objectives[m.objectives.names.index(base)].timed
        return m.economy.cost.quick_margin(QUICK_PRIOR) if timed else 0.0

    def _figures(self) -> dict[str, Figure]:
        quick = set().union(*(m.economy.settled_quick for m in self.joint.members))
        return {p.arch_id: Figure(p.arch_id, dict(p.values), quick=p.arch_id in quick,
                                  feasible=p.feasible, baseline=p.arch_id in self.baselines)
                for p in self.algo.points}  # fmt: skip

    def _config(self, arch_id: str) -> ArchConfig:
        known = {p.arch_id: p.cfg for p in self.algo.points}
        return known.get(arch_id) or self.baselines[arch_id]

    async def _measure(
        self, cfgs: list[ArchConfig], figures: dict[str, Figure],
        after: dict[str, list[int | None]],
    ) -> None:  # fmt: skip
        """Measure ``cfgs`` with the final settings on every device; a model measured
        successfully on all of them takes its final figures (and ids), else keeps its
        search-time ones everywhere, so that every device reports it alike."""
        members = self.joint.members
        pairs = zip(members, self.final, strict=True)
        evals = await asyncio.gather(*(m.evaluate(cfgs, f) for m, f in pairs))
        for cfg in cfgs:
            a = cfg.arch_id
            found = [e.get(a) for e in evals]
            outcome = self.joint.joined(
                a, [e.outcome() if e is not None else Outcome(None, "not measured") for e in found]
            )
            point = (self.algo.point_of(cfg, outcome.values) if outcome.values is not None
                     else None)  # fmt: skip
            if point is not None and a in figures:
                figures[a] = Figure(a, dict(point.values), feasible=point.feasible,
                                    baseline=figures[a].baseline, final=True)  # fmt: skip
                after[a] = [e.measurement.id if e is not None else None for e in found]
            else:
                after[a] = [None] * len(members)
                logger.info("final measurement of %s failed on a device: %s", a, outcome.error)


def _phase(m: DeviceSearch) -> Callable[[str], None]:
    """What shows ``m``'s phases."""
    return lambda phase: m._emit(phase=phase)


def _search_measurements(m: DeviceSearch) -> dict[str, int]:
    """Each architecture's search-time measurement on ``m``'s device: its last candidate's."""
    out: dict[str, int] = {}
    for c in m.store.candidate_figures(m.sd.search_id, m.device.id):
        if c.measurement_id is not None:
            out[c.arch_id] = c.measurement_id
    return out
