"""The search on one device: one task of a :class:`~controller.search.runner.SearchRunner`.

:class:`DeviceSearch` connects to the device's agent, measures the layer-scaled baselines, runs
the ask/tell algorithm iteration by iteration through the evaluation layer (cache through the
store), then measures the frontier and baselines again with the larger final budget and stores
what the search reports. After every iteration it stores the algorithm's state, and before
each job the jobs in flight, so that a resumed search starts where this one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from lts.controller.agents import AgentSpec
from lts.controller.proxies import get_proxy
from lts.controller.search.algorithm import LTSSearch, Outcome, Point, Proposal
from lts.controller.search.baselines import layer_scaled_baselines
from lts.controller.search.dispatch import Dispatcher, InFlight
from lts.controller.search.economy import Economy
from lts.controller.search.evaluation import DeviceEvaluator, Evaluation
from lts.controller.store import DeviceRecord, SearchDeviceRecord
from lts.shared.config import ArchConfig
from lts.shared.errors import AgentError, LTSError, StoreUnavailable
from lts.shared.params import decoder_params
from lts.shared.schemas import MeasureSettings

if TYPE_CHECKING:
    from lts.controller.search.runner import SearchRunner

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeviceProgress:
    """A device's progress, as shown live. ``iteration``: iterations completed;
    ``measured``/``cache_hits``: this run's new measurements and cache hits; ``waiting``:
    why the agent cannot be reached now (None when it can); ``screened``: this run's
    candidates screened out by the cost model; ``cost_error``: the cost model's latency error
    (MdAPE, a fraction; None: no model yet)."""

    position: int
    agent: str
    device: str | None = None
    phase: str = "connecting"
    iteration: int = 0
    iterations: int = 0
    measured: int = 0
    cache_hits: int = 0
    screened: int = 0
    cost_error: float | None = None
    hypervolume: float | None = None
    frontier_size: int = 0
    waiting: str | None = None
    message: str | None = None


def choose_final(
    members: Sequence[Point], baselines: Sequence[tuple[int, float | None]], cap: int | None
) -> list[Point]:
    """The frontier members to measure again: all of them if ``cap`` is None or they are at
    most ``cap``; else ``cap`` spread evenly by decoder parameters (the smallest and the
    largest included), plus, for each baseline ``(decoder params, latency)``, the member the
    comparison would pick (the fastest with at least its parameters), so that every
    comparison rests on final figures. Returned in ascending decoder parameters."""
    ordered = sorted(members, key=lambda p: (p.decoder_params, p.arch_id))
    if cap is None or len(ordered) <= cap:
        return ordered
    picks = {round(i * (len(ordered) - 1) / max(cap - 1, 1)) for i in range(cap)}
    chosen = {ordered[i].arch_id: ordered[i] for i in sorted(picks)}
    for params, latency in baselines:
        big = [p for p in ordered if p.decoder_params >= params]
        if latency is not None and big:
            best = min(big, key=lambda p: (p.latency_ms, p.arch_id))
            chosen[best.arch_id] = best
    return sorted(chosen.values(), key=lambda p: (p.decoder_params, p.arch_id))


def unbeaten_seeds(algo: LTSSearch, latency: Mapping[str, float | None]) -> list[str]:
    """The seeded baselines (origin ``baseline`` in the algorithm's population) that are off
    its frontier, yet that no frontier member with at least their decoder parameters beats
    on the ``latency`` the report compares (final figures when there are): a dominating
    member can measure slower at the end. They are reported as frontier members too, so a
    baseline's comparison never shows a speed-up below 1.0x. A search begun before baselines
    were seeded has none."""
    members = algo.frontier()
    on = {p.arch_id for p in members}
    kept = []
    for seed in algo.points:
        mine = latency.get(seed.arch_id)
        if seed.origin != "baseline" or seed.arch_id in on or mine is None:
            continue
        rivals = [latency.get(p.arch_id) for p in members
                  if p.decoder_params >= seed.decoder_params]  # fmt: skip
        if not any(r is not None and r <= mine for r in rivals):
            kept.append(seed.arch_id)
    return kept


def stopped_by(exc: BaseException, search_id: int) -> tuple[str, str]:
    """The status and message of a search that an error stopped: ``interrupted`` (resumable
    as it is) for a store that cannot take writes now, else ``failed``."""
    resume = f"resume with --resume {search_id}"
    if isinstance(exc, StoreUnavailable):
        return "interrupted", f"the store stopped taking writes: {exc}; {resume} once it does"
    return "failed", f"the search stopped on an error: {type(exc).__name__}: {exc}; {resume}"


class DeviceSearch:
    """The search on one device (one task of ``runner``)."""

    def __init__(self, runner: SearchRunner, sd: SearchDeviceRecord, spec: AgentSpec) -> None:
        self.r = runner
        self.store = runner.store
        self.config = runner.config
        self.sd = sd
        self.spec = spec
        self.state = dict(sd.state)
        self.progress = DeviceProgress(
            position=sd.position,
            agent=spec.label,
            iteration=sd.iteration_done + 1,
            iterations=self.config.iterations,
        )

    # ---------------------------------------------------------------------------- flow
    async def run(self) -> None:
        try:
            client = self.r.client_factory(self.spec)
        except LTSError as exc:  # e.g. its token file cannot be read: this device cannot start
            message = f"{exc} (the other devices go on; --resume {self.sd.search_id} retries)"
            self._set_status("failed", message)
            self._emit(phase="failed", message=message)
            return
        self.dispatcher = Dispatcher(
            client,
            self.r.policy,
            batch_size=self.config.batch_size,
            on_waiting=self._on_waiting,
            on_jobs=self._on_jobs,
        )
        try:
            await self._search()
        except AgentError as exc:
            message = f"{exc} (the other devices go on; --resume {self.sd.search_id} retries)"
            logger.error("device %s failed: %s", self.spec.label, message)
            self._set_status("failed", message)
            self._emit(phase="failed", message=message, waiting=None)
        except asyncio.CancelledError:
            await self.dispatcher.cancel_current()
            if not self.r.lease.lost:
                self._set_status("interrupted", "interrupted")
            self._emit(phase="interrupted")
            raise
        except Exception as exc:  # a store error or a bug: record it if the store still works
            await self.dispatcher.cancel_current()
            with contextlib.suppress(Exception):
                self._set_status(*stopped_by(exc, self.sd.search_id))
            raise
        finally:
            await client.aclose()

    async def _search(self) -> None:
        device, settings = await self._connect()
        self.evaluator = DeviceEvaluator(
            self.store, device, self.dispatcher, on_measured=self._on_measured,
            retry_failed=self.r.retry_failed,
        )  # fmt: skip
        cfg = self.config
        self.economy = Economy(
            store=self.store, evaluator=self.evaluator, settings=settings,
            proxy=get_proxy(cfg.proxy), bounds=cfg.bounds(), screen=cfg.screen,
            measure_mode=cfg.measure_mode,
        )  # fmt: skip
        inflight = self.state.get("inflight")
        if inflight:
            self._emit(phase="collecting")
            for entry in [inflight] if isinstance(inflight, dict) else inflight:  # old: one
                job = InFlight(entry.get("job_key", ""), entry.get("job"))
                await self.evaluator.harvest(job, entry["key"])
            self._save_state(inflight=None)
        if self.r.retry_failed:
            await self._retry_failed()
        baselines = await self._baselines(settings) if self.config.baselines else {}
        algo = self._algorithm()
        while not algo.done:
            await self._iterate(algo, settings)
        await self._final(algo, baselines, settings)
        self._set_status("done", None)
        self._emit(phase="done", waiting=None)

    async def _connect(self) -> tuple[DeviceRecord, MeasureSettings]:
        self._emit(phase="connecting")
        info = await self.dispatcher.call(self.dispatcher.client.device)
        self.dispatcher.slots = info.slots
        name = self.spec.name or info.name
        device = self.store.upsert_device(name, info, self.spec.url)
        if self.sd.device_id is not None and self.sd.device_id != device.id:
            before = self.store.get_device(self.sd.device_id)
            raise AgentError(
                f"agent {self.spec.label} is now device {name!r} (fingerprint "
                f"{info.fingerprint}), not the {before.name!r} ({before.fingerprint}) this "
                "search measured on; restart it with the same settings"
            )
        self.sd = self.store.update_search_device(
            self.sd.id, device_id=device.id, status="running", clear_message=True
        )
        for other in self.store.search_devices(self.sd.search_id):
            if other.device_id == device.id and other.position < self.sd.position:
                raise AgentError(
                    f"agent {self.spec.label} is the same device as agent {other.agent} "
                    f"({name!r}, fingerprint {info.fingerprint}); list each device once"
                )
        self.device = device
        self._emit(device=name)
        return device, self.config.settings_for(info.defaults)

    async def _baselines(self, settings: MeasureSettings) -> dict[str, Evaluation]:
        self._emit(phase="baselines")
        space = self.config.search_space()
        cfgs = layer_scaled_baselines(
            space, self.config.baseline_layers, self.config.baseline_sizes
        )
        sid, did = self.sd.search_id, self.device.id
        self.store.add_candidates(sid, did, -1, [(c, "baseline", ()) for c in cfgs])
        evals = await self._evaluate(cfgs, settings)
        self.store.link_candidates(
            sid, did, -1, [(a, e.measurement.id, e.cache_hit) for a, e in evals.items()]
        )
        for e in evals.values():  # measured anyway: the cost model learns from them
            self.economy.observe(e.cfg, e)
        return evals

    def _algorithm(self) -> LTSSearch:
        cfg = self.config
        done = self.sd.iteration_done
        algo = LTSSearch(
            cfg.search_space(),
            cfg.algorithm(),
            cfg.rng(self.sd.position),
            proxy=get_proxy(cfg.proxy),
            bounds=cfg.bounds(),
            seeds=self._seeds() if done < 0 else (),
        )
        if done >= 0:
            history = self._history(done)
            algo.load_state(self.state["algorithm"], history)
            self._emit(
                iteration=algo.iteration,
                hypervolume=algo.hypervolume,
                frontier_size=len(algo.frontier()),
            )
        return algo

    def _seeds(self) -> list[ArchConfig]:
        """The layer-scaled baselines, which iteration 0 proposes first (they were measured
        at iteration -1 with the same settings, so they come from the cache). None for a
        search without baselines, or one begun before baselines were seeded: its iteration 0
        stored without them is asked again as it was."""
        if not self.config.baselines:
            return []
        begun = [c for c in self.store.candidates(self.sd.search_id, self.device.id)
                 if c.iteration == 0]  # fmt: skip
        if begun and not any(c.origin == "baseline" for c in begun):
            return []
        cfg = self.config
        return layer_scaled_baselines(cfg.search_space(), cfg.baseline_layers, cfg.baseline_sizes)

    async def _iterate(self, algo: LTSSearch, settings: MeasureSettings) -> None:
        it = algo.iteration
        self._emit(phase="search")
        proposals = algo.ask()
        sid, did = self.sd.search_id, self.device.id
        self.store.add_candidates(sid, did, it, [(p.cfg, p.origin, p.parents) for p in proposals])
        judged = await self.economy.evaluate(
            [p.cfg for p in proposals], algo.frontier(), on_phase=lambda ph: self._emit(phase=ph)
        )
        links = [(a, j.evaluation.measurement.id, j.evaluation.cache_hit)
                 for a, j in judged.items() if j.evaluation is not None]  # fmt: skip
        self.store.link_candidates(sid, did, it, links)
        self.store.set_candidate_measure(
            sid, did, it, [(a, j.measure, *j.predicted) for a, j in judged.items()]
        )
        hits = sum(1 for j in judged.values() if j.evaluation and j.evaluation.cache_hit)
        report = algo.tell({a: j.outcome for a, j in judged.items()})
        self.state = {
            **self.state,
            "algorithm": algo.state_dict(),
            "inflight": None,
            "cost_model": self.economy.summary(),
            "cost_scores": self.economy.state(),
        }
        self.store.complete_iteration(
            self.sd.id,
            it,
            hypervolume=report.hypervolume,
            frontier_size=report.frontier_size,
            n_measured=len(algo.points),
            state=self.state,
        )
        self._emit(
            iteration=it + 1,
            hypervolume=report.hypervolume,
            frontier_size=report.frontier_size,
            cache_hits=self.progress.cache_hits + hits,
            screened=self.economy.counts["screened"],
            cost_error=self.economy.latency_error,
        )

    async def _final(
        self, algo: LTSSearch, baselines: dict[str, Evaluation], settings: MeasureSettings
    ) -> None:
        """Measure the baselines and (up to ``final_max_members`` of) the frontier again with
        the final budget; store the figures the search reports (search-time and final
        measurement of each)."""
        members = algo.frontier()
        during = {a: m.id for a, m in self.store.find_measurements(
            [p.arch_id for p in members], self.device.id, settings.cache_key()
        ).items()}  # fmt: skip
        quick = [p for p in members if p.arch_id not in during]  # settled on a quick measurement
        for j in self.store.candidate_joins(self.sd.search_id, self.device.id):
            if j.arch.arch_id in {p.arch_id for p in quick} and j.measurement is not None:
                during[j.arch.arch_id] = j.measurement.id
        during.update((a, e.measurement.id) for a, e in baselines.items())
        final = self.config.final_settings(settings)
        if final == settings:
            after = dict(during)
            latency: dict[str, float | None] = {p.arch_id: p.latency_ms for p in members}
            latency.update((a, e.outcome().latency_ms) for a, e in baselines.items())
            if quick:  # the reported figures are full ones: measure those members in full
                self._emit(phase="final")
                evals = await self._evaluate([p.cfg for p in quick], settings)
                after.update((a, e.measurement.id) for a, e in evals.items())
                latency.update((a, e.outcome().latency_ms) for a, e in evals.items())
        else:
            self._emit(phase="final")
            refs = [(decoder_params(e.cfg), e.outcome().latency_ms) for e in baselines.values()]
            chosen = choose_final(members, refs, self.config.final_max_members)
            cfgs = [p.cfg for p in chosen] + [e.cfg for e in baselines.values()]
            evals = await self._evaluate(cfgs, final)
            after = {a: e.measurement.id for a, e in evals.items()}
            latency = {a: e.outcome().latency_ms for a, e in evals.items()}
        kept = unbeaten_seeds(algo, latency)
        entries = [(p.arch_id, "frontier") for p in members] + [(a, "frontier") for a in kept]
        entries += [(a, "baseline") for a in baselines]
        self.store.set_reported(
            self.sd.search_id,
            self.device.id,
            [(a, role, during.get(a), after.get(a)) for a, role in entries],
        )

    async def _retry_failed(self) -> None:
        """Measure again the failed measurements of this search's candidates on this device
        (those of completed iterations too: the resumed algorithm then sees the new figures,
        stored in place of the failures)."""
        failed = {  # by measurement: candidates may share one
            j.measurement.id: (j.measurement.settings_key, j.arch.to_config())
            for j in self.store.candidate_joins(self.sd.search_id, self.device.id)
            if j.measurement is not None and j.measurement.status == "failed"
        }
        if not failed:
            return
        self._emit(phase="retrying failed")
        by_key: dict[str, list[ArchConfig]] = {}
        for key, cfg in failed.values():
            by_key.setdefault(key, []).append(cfg)
        for key, cfgs in by_key.items():
            await self._evaluate(cfgs, MeasureSettings.model_validate_json(key))
        logger.info("device %s: measured %d failed candidate(s) again", self.spec.label,
                    len(failed))  # fmt: skip

    # ------------------------------------------------------------------------- helpers
    async def _evaluate(
        self, cfgs: Sequence[ArchConfig], settings: MeasureSettings
    ) -> dict[str, Evaluation]:
        evals = await self.evaluator.evaluate(cfgs, settings)
        hits = sum(e.cache_hit for e in evals.values())
        self._emit(cache_hits=self.progress.cache_hits + hits)
        return evals

    def _history(self, upto: int) -> list[tuple[int, Proposal, Outcome | None]]:
        """What the algorithm was told up to iteration ``upto``; the cost model is rebuilt
        from the same measurements (and the held-out scores in the state)."""
        sid, did = self.sd.search_id, self.device.id
        out: list[tuple[int, Proposal, Outcome | None]] = []
        measured = []
        quick: set[str] = set()
        for j in self.store.candidate_joins(sid, did):
            c, m = j.candidate, j.measurement
            if c.iteration > upto:
                continue
            proposal = Proposal(j.arch.to_config(), c.origin, c.parents)
            evaluation = None if m is None else Evaluation(proposal.cfg, m, True)
            if evaluation is not None:
                measured.append((proposal.cfg, evaluation))
            if c.iteration < 0:
                continue
            if c.measure == "quick" and m is not None:
                quick.add(j.arch.arch_id)
            outcome = self.economy.outcome_of(c.measure, evaluation)
            out.append((c.iteration, proposal, outcome))
        self.economy.restore(self.state.get("cost_scores", {}), measured, quick)
        return out

    def _on_measured(self, evaluation: Evaluation) -> None:
        self._emit(measured=self.progress.measured + 1)

    def _on_waiting(self, reason: str | None) -> None:
        status = "waiting" if reason else "running"
        self.sd = self.store.update_search_device(self.sd.id, status=status, message=reason,
                                                  clear_message=reason is None)  # fmt: skip
        self._emit(waiting=reason)

    def _on_jobs(self, jobs: Sequence[InFlight]) -> None:
        """Record the jobs in flight (each before it is sent, by key) so that a restart
        collects them: a list of ``{job_key, job, key}`` (a search stored by an older version
        may hold one such dict), None when there are none."""
        key = self.evaluator.settings_key  # the settings of the evaluation that sends them
        inflight = [{"job_key": j.key, "job": j.job_id, "key": key} for j in jobs]
        self._save_state(inflight=inflight or None)

    def _save_state(self, **changes: object) -> None:
        self.state = {**self.state, **changes}
        self.sd = self.store.update_search_device(self.sd.id, state=self.state)

    def _set_status(self, status: str, message: str | None) -> None:
        self.sd = self.store.update_search_device(
            self.sd.id, status=status, message=message, clear_message=message is None
        )

    def _emit(self, **changes: object) -> None:
        self.progress = replace(self.progress, **changes)  # type: ignore[arg-type]
        try:
            self.r.observer(self.progress)
        except Exception:  # a display must never stop a search
            logger.exception("progress observer failed")
