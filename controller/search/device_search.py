"""The search on one device: one task of a :class:`~lts.controller.search.runner.SearchRunner`.

:class:`DeviceSearch` connects to the device's agent, measures the layer-scaled baselines within
the search's bounds, runs the search's algorithm (:mod:`lts.controller.search.algorithms`, by
name) iteration by iteration through the measurement economy (cache, screening, quick
measurements: :mod:`lts.controller.search.economy`), then ends with the final phase
(:mod:`lts.controller.search.final`): what can change the frontier is measured again with the
final settings, and the frontier is recomputed from the figures it reports. After every
iteration it stores its state (:class:`~lts.controller.search.state.DeviceState`), and before
each job the jobs in flight, so that a resumed search starts where this one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from lts.controller.agents import AgentSpec
from lts.controller.client import AgentClient
from lts.controller.proxies import get_proxy
from lts.controller.search.algorithms import (
    History,
    Outcome,
    Proposal,
    SearchAlgorithm,
    get_algorithm,
)
from lts.controller.search.baselines import layer_scaled_baselines
from lts.controller.search.dispatch import Dispatcher, InFlight
from lts.controller.search.economy import Economy, quick_settings
from lts.controller.search.evaluation import DeviceEvaluator, Evaluation
from lts.controller.search.final_phase import FinalPhase
from lts.controller.search.progress import DeviceProgress, stopped_by
from lts.controller.search.state import DeviceState, StoredJob, load_state
from lts.controller.store import DeviceRecord, SearchDeviceRecord
from lts.shared.config import ArchConfig
from lts.shared.errors import AgentError, LTSError
from lts.shared.params import decoder_params
from lts.shared.schemas import MeasureSettings

if TYPE_CHECKING:
    from lts.controller.search.runner import SearchRunner

logger = logging.getLogger(__name__)


class DeviceSearch:
    """The search on one device (one task of ``runner``)."""

    def __init__(self, runner: SearchRunner, sd: SearchDeviceRecord, spec: AgentSpec) -> None:
        self.runner = runner
        self.store = runner.store
        self.config = runner.config
        self.objectives = runner.config.objective_set()
        self.sd = sd
        self.spec = spec
        self.state: DeviceState = load_state(sd.state)
        now = time.monotonic()
        self.progress = DeviceProgress(
            position=sd.position,
            agent=spec.label,
            iteration=sd.iteration_done + 1,
            iterations=self.config.iterations,
            started_s=now,
            phase_s=now,
        )

    # ---------------------------------------------------------------------------- flow
    async def run(self) -> None:
        try:
            client = self._open()
        except LTSError as exc:  # e.g. its token file cannot be read: this device cannot start
            message = f"{exc} (the other devices go on; --resume {self.sd.search_id} retries)"
            self._set_status("failed", message)
            self._emit(phase="failed", message=message)
            return
        try:
            await self.guarded(self._search)
        finally:
            await client.aclose()

    def _open(self) -> AgentClient:
        """The agent's client, and the dispatcher that uses it (raises LTSError when the
        client cannot be made, e.g. an unreadable token file)."""
        client = self.runner.client_factory(self.spec)
        self.dispatcher = Dispatcher(
            client,
            self.runner.policy,
            batch_size=self.config.batch_size,
            on_waiting=self._on_waiting,
            on_jobs=self._on_jobs,
        )
        return client

    @contextlib.asynccontextmanager
    async def opened(self) -> AsyncIterator[None]:
        """The agent's client and the dispatcher for the ``with`` block (the joint search's
        and the cross step's sessions; raises LTSError as :meth:`_open` does)."""
        client = self._open()
        try:
            yield
        finally:
            await client.aclose()

    async def guarded(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` (on an open session), recording how it ends: an agent that fails
        fails this device (the others go on); a cancel interrupts it (the jobs in flight
        cancelled on the agent); any other error is recorded and raised."""
        try:
            await work()
        except AgentError as exc:
            message = f"{exc} (the other devices go on; --resume {self.sd.search_id} retries)"
            logger.error("device %s failed: %s", self.spec.label, message)
            self._set_status("failed", message)
            self._emit(phase="failed", message=message, waiting=None)
        except asyncio.CancelledError:
            await self.dispatcher.cancel_current()
            if not self.runner.lease.lost:
                self._set_status("interrupted", "interrupted")
            self._emit(phase="interrupted")
            raise
        except Exception as exc:  # a store error or a bug: record it if the store still works
            await self.dispatcher.cancel_current()
            with contextlib.suppress(Exception):
                self._set_status(*stopped_by(exc, self.sd.search_id))
            raise

    async def prepare(self, *, status: str | None = "running") -> MeasureSettings:
        """Connect to the device (``status``: the device's status once connected; None
        leaves it), set up its evaluator and measurement economy, and collect the jobs a
        previous run left in flight; return the search's measurement settings there."""
        device, settings = await self._connect(status)
        self.evaluator = DeviceEvaluator(
            self.store, device, self.dispatcher, on_measured=self._on_measured,
            retry_failed=self.runner.retry_failed,
        )  # fmt: skip
        cfg = self.config
        self.economy = Economy(
            store=self.store, evaluator=self.evaluator, settings=settings,
            proxy=get_proxy(cfg.proxy), objectives=self.objectives, bounds=cfg.bounds(),
            screen=cfg.screen, measure_mode=cfg.measure_mode,
        )  # fmt: skip
        if self.state.inflight:
            self._emit(phase="collecting")
            for entry in self.state.inflight:
                await self.evaluator.harvest(InFlight(entry.job_key, entry.job), entry.key)
            self._save_state(inflight=[])
        if self.runner.retry_failed:
            await self._retry_failed()
        self.settings = settings
        return settings

    async def _search(self) -> None:
        settings = await self.prepare()
        baselines = await self._baselines(settings) if self.config.baselines else {}
        algo = self._algorithm()
        while not algo.done:
            await self._iterate(algo, settings)
        await FinalPhase(self, algo, baselines, settings,
                         quick_baselines=self._quick_baselines).run()  # fmt: skip
        self._set_status("done", None)
        self._emit(phase="done", waiting=None)

    async def _connect(
        self, status: str | None = "running"
    ) -> tuple[DeviceRecord, MeasureSettings]:
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
            self.sd.id, device_id=device.id, status=status, clear_message=status is not None
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

    def baseline_configs(self) -> list[ArchConfig]:
        """The layer-scaled baselines within the search's decoder-parameter bounds."""
        cfg = self.config
        bounds = cfg.bounds()
        found = layer_scaled_baselines(cfg.search_space(), cfg.baseline_layers, cfg.baseline_sizes)
        return [c for c in found if bounds.params_ok(decoder_params(c))]

    async def _baselines(self, settings: MeasureSettings) -> dict[str, Evaluation]:
        self._emit(phase="baselines")
        cfgs = self.baseline_configs()
        sid, did = self.sd.search_id, self.device.id
        self.store.add_candidates(sid, did, -1, [(c, "baseline", ()) for c in cfgs])
        # Measured as the search's candidates are (quick by default): the final phase takes
        # the comparisons' figures with the full protocol, as far as its time allows.
        evals = await self.evaluate(cfgs, quick_settings(settings) if self._quick_baselines
                                    else settings)  # fmt: skip
        self.store.link_candidates(
            sid, did, -1, [(a, e.measurement.id, e.cache_hit) for a, e in evals.items()]
        )
        measure = "quick" if self._quick_baselines else "full"
        self.store.set_candidate_measure(sid, did, -1, [(a, measure, {}) for a in evals])
        for e in evals.values():  # measured anyway: the cost model learns from them
            self.economy.observe(e.cfg, e)
        return evals

    @property
    def _quick_baselines(self) -> bool:
        """Whether the baselines are measured with the quick protocol (``measure_mode``
        ``quick``: as every candidate is)."""
        return self.config.measure_mode == "quick"

    def _algorithm(self) -> SearchAlgorithm:
        cfg = self.config
        done = self.sd.iteration_done
        algo = get_algorithm(cfg.algorithm)(
            cfg.search_space(),
            cfg.algorithm_params(),
            cfg.rng(self.sd.position),
            objectives=self.objectives,
            proxy=get_proxy(cfg.proxy),
            bounds=cfg.bounds(),
            seeds=self._seeds() if done < 0 else (),
        )
        if done >= 0 and self.state.algorithm is not None:
            algo.load_state(self.state.algorithm, self._history(done))
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
        return self.baseline_configs()

    async def _iterate(self, algo: SearchAlgorithm, settings: MeasureSettings) -> None:
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
            sid, did, it, [(a, j.measure, j.predicted) for a, j in judged.items()]
        )
        hits = sum(1 for j in judged.values() if j.evaluation and j.evaluation.cache_hit)
        report = algo.tell({a: j.outcome for a, j in judged.items()})
        self.state = self.state.model_copy(update={
            "algorithm": algo.state_dict(),
            "inflight": [],
            "cost_model": self.economy.summary(),
            "cost_scores": self.economy.state(),
        })  # fmt: skip
        self.store.complete_iteration(
            self.sd.id,
            it,
            hypervolume=report.hypervolume,
            frontier_size=report.frontier_size,
            n_measured=len(algo.points),
            state=self.state.to_json(),
        )
        self._emit(
            iteration=it + 1,
            hypervolume=report.hypervolume,
            frontier_size=report.frontier_size,
            cache_hits=self.progress.cache_hits + hits,
            screened=self.economy.counts["screened"],
            cost_error=self.economy.latency_error,
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
            await self.evaluate(cfgs, MeasureSettings.model_validate_json(key))
        logger.info("device %s: measured %d failed candidate(s) again", self.spec.label,
                    len(failed))  # fmt: skip

    # ------------------------------------------------------------------------- helpers
    async def evaluate(
        self, cfgs: Sequence[ArchConfig], settings: MeasureSettings
    ) -> dict[str, Evaluation]:
        evals = await self.evaluator.evaluate(cfgs, settings)
        hits = sum(e.cache_hit for e in evals.values())
        self._emit(cache_hits=self.progress.cache_hits + hits)
        return evals

    def _history(self, upto: int) -> History:
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
            outcome = self.economy.outcome_of(c.measure, evaluation, c.predicted)
            out.append((c.iteration, proposal, outcome if outcome.ok else None))
        self.economy.restore(self.state.cost_scores, measured, quick)
        return out

    def _on_measured(self, evaluation: Evaluation) -> None:
        p = self.progress
        final = p.final_done + (p.phase in ("final", "cross"))
        self._emit(measured=p.measured + 1, final_done=min(final, p.final_total))

    def _on_waiting(self, reason: str | None) -> None:
        status = "waiting" if reason else "running"
        self.sd = self.store.update_search_device(self.sd.id, status=status, message=reason,
                                                  clear_message=reason is None)  # fmt: skip
        self._emit(waiting=reason)

    def _on_jobs(self, jobs: Sequence[InFlight]) -> None:
        """Record the jobs in flight (each before it is sent, by key) so that a restart
        collects them, each under the settings key of the evaluation that sends it."""
        key = self.evaluator.settings_key or ""
        self._save_state(inflight=[StoredJob(job_key=j.key, job=j.job_id, key=key) for j in jobs])

    def _save_state(self, **changes: object) -> None:
        self.state = self.state.model_copy(update=changes)
        self.sd = self.store.update_search_device(self.sd.id, state=self.state.to_json())

    def _set_status(self, status: str, message: str | None) -> None:
        self.sd = self.store.update_search_device(
            self.sd.id, status=status, message=message, clear_message=message is None
        )

    def _emit(self, **changes: object) -> None:
        if "phase" in changes and changes["phase"] != self.progress.phase:
            changes["phase_s"] = time.monotonic()
        self.progress = replace(self.progress, **changes)  # type: ignore[arg-type]
        try:
            self.runner.observer(self.progress)
        except Exception:  # a display must never stop a search
            logger.exception("progress observer failed")
