"""Searches the API runs in the background: one thread per search, with its own event loop
and its own :class:`Store` (a Store is used by one thread only).

:meth:`SearchRuns.start` checks a ``POST /searches`` body the way ``controller search``
checks its options (same names, same errors), stores the new search (or finds the one to
resume) and starts :class:`~lts.controller.search.runner.SearchRunner` on it. :meth:`stop`
cancels the runner's task: the runner's own cancellation path then marks the search
``interrupted`` (nothing measured is lost; ``POST /searches {"resume": id}`` or ``controller
search --resume id`` continues it), exactly as Ctrl-C does for the CLI.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from lts.controller.agents import AgentsFile, AgentSpec, check_url, is_url, resolve_agents
from lts.controller.api.schemas import SearchCreate
from lts.controller.preflight import check_agents, check_bounds
from lts.controller.search.lease import holder_gone
from lts.controller.search.options import build_config, refuse_on_resume
from lts.controller.search.runner import ClientFactory, SearchRunner, start_search
from lts.controller.store import Store
from lts.shared.errors import ConfigError, LTSError, SearchConflict, StoreUnavailable

logger = logging.getLogger(__name__)


@dataclass
class _Run:
    """One search running in its thread."""

    search_id: int
    thread: threading.Thread | None = None
    loop: asyncio.AbstractEventLoop | None = None
    task: asyncio.Task[Any] | None = None
    stop_requested: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


class SearchRuns:
    """The searches this server runs. Thread-safe: routes call it from worker threads.

    ``url`` is the store's URL (each run opens its own Store on it); ``registry`` the agents
    file; ``agent_token_file`` the token of agents given by URL, which must be among
    ``allow_agent_urls``; ``client_factory`` replaces the agent client (tests)."""

    def __init__(
        self,
        url: str,
        registry: AgentsFile,
        *,
        agent_token_file: str | None = None,
        allow_agent_urls: tuple[str, ...] = (),
        client_factory: ClientFactory | None = None,
    ) -> None:
        self.url = url
        self.registry = registry
        self.agent_token_file = agent_token_file
        self.allow_agent_urls = {check_url(u, "allow_agent_urls") for u in allow_agent_urls}
        self.client_factory = client_factory
        self._runs: dict[int, _Run] = {}
        self._lock = threading.Lock()

    def running(self) -> set[int]:
        """Ids of the searches running in this server now."""
        with self._lock:
            return {sid for sid, run in self._runs.items() if run.thread and run.thread.is_alive()}

    def start(self, store: Store, body: SearchCreate) -> int:
        """Store (or find) the search of ``body``, start it in the background; return its id.

        Raises :class:`ConfigError` for invalid options, bounds no architecture meets, or
        agents that do not answer with their token (nothing is stored then),
        :class:`SearchConflict` for a search to resume that runs here already or is done,
        :class:`NotFoundError` for a search to resume that does not exist.
        """
        if body.resume is not None:
            search_id, specs = self._resume(store, body)
        else:
            if not body.agents:
                raise ConfigError("agents", "name the agents: a list of names or URLs")
            specs = self._agents(body.agents)
            config = build_config([s.name or s.url for s in specs], body.given())
            check_bounds(config)
        # every agent answers with its token, or nothing is stored (or changed)
        check_agents(specs, client_factory=self.client_factory)
        if body.resume is None:
            search_id = start_search(store, config, body.name).id
        self._launch(search_id, specs)
        return search_id

    def stop(self, search_id: int, wait_s: float) -> bool:
        """Ask the search to stop; wait up to ``wait_s`` for it; whether it has ended.
        Raises :class:`SearchConflict` when this server does not run it."""
        with self._lock:
            run = self._runs.get(search_id)
        if run is None or run.thread is None or not run.thread.is_alive():
            raise SearchConflict(f"search {search_id} is not running in this server")
        with run.lock:
            run.stop_requested = True
            if run.loop is not None and run.task is not None:
                run.loop.call_soon_threadsafe(run.task.cancel)
        run.thread.join(wait_s)
        return not run.thread.is_alive()

    def close(self, wait_s: float = 10.0) -> None:
        """Stop every search (they end ``interrupted``, resumable) and wait for them."""
        for search_id in sorted(self.running()):
            try:
                if not self.stop(search_id, wait_s):
                    logger.warning("search %d did not stop within %.0f s", search_id, wait_s)
            except SearchConflict:  # it ended meanwhile
                pass

    # ------------------------------------------------------------------------ internals
    def _resume(self, store: Store, body: SearchCreate) -> tuple[int, list[AgentSpec]]:
        from lts.controller.api.reads import require_search

        refuse_on_resume(body.given())
        if body.name is not None:
            raise ConfigError("name", "a resumed search keeps its name")
        search = require_search(store, body.resume or 0)
        if search.id in self.running():
            raise SearchConflict(f"search {search.id} is already running in this server")
        _check_lease(store, search.id)
        if search.status == "done":
            raise SearchConflict(f"search {search.id} is done; there is nothing to resume")
        stored = [d.agent for d in store.search_devices(search.id)]
        specs = self._agents(body.agents or stored)
        if len(specs) != len(stored):
            raise ConfigError("agents", f"search {search.id} ran on {len(stored)} agents: {stored}")
        return search.id, specs

    def _agents(self, items: list[str]) -> list[AgentSpec]:
        """The agents of a request: names from the agents file, or URLs this server allows
        (so that no request chooses where the agents' token goes); every token read now."""
        for item in items:
            if is_url(item.strip()) and item.strip().rstrip("/") not in self.allow_agent_urls:
                raise ConfigError(
                    "agents",
                    f"{item[:200]!r} is not an agent of this server: name one of its agents "
                    f"file ({self.registry.path}), or start the server with "
                    "--allow-agent-url for that URL",
                )
        specs = resolve_agents(items, self.registry, self.agent_token_file)
        _check_tokens(specs)
        return specs

    def _launch(self, search_id: int, specs: list[AgentSpec]) -> None:
        run = _Run(search_id)
        run.thread = threading.Thread(
            target=self._main, args=(run, specs), name=f"search-{search_id}", daemon=True
        )
        with self._lock:  # checked and registered at once: never two runners on one search
            before = self._runs.get(search_id)
            if before is not None and before.thread is not None and before.thread.is_alive():
                raise SearchConflict(f"search {search_id} is already running in this server")
            self._runs[search_id] = run
            run.thread.start()
        logger.info("search %d started in the background on %s", search_id,
                    ", ".join(s.label for s in specs))  # fmt: skip

    def _main(self, run: _Run, specs: list[AgentSpec]) -> None:
        sid = run.search_id
        try:
            with Store(self.url) as store:
                try:
                    runner = SearchRunner(store, sid, specs, client_factory=self.client_factory)
                    asyncio.run(self._run(run, runner, store))
                except asyncio.CancelledError:
                    logger.info("search %d stopped", sid)
                except SearchConflict as exc:  # another process runs it: its records stay
                    logger.error("search %d: %s", sid, exc)
                except StoreUnavailable as exc:  # the runner stored it as interrupted
                    logger.error("search %d stopped, resumable: %s", sid, exc)
                except Exception as exc:
                    logger.exception("search %d failed", sid)
                    _mark_failed(store, sid, exc)
        except LTSError as exc:  # the store could not be opened
            logger.error("search %d could not start: %s", sid, exc)
        finally:
            with self._lock:
                if self._runs.get(sid) is run:
                    del self._runs[sid]

    @staticmethod
    async def _run(run: _Run, runner: SearchRunner, store: Store) -> None:
        with run.lock:
            if run.stop_requested:  # stopped before it began
                store.set_search_status(run.search_id, "interrupted", _stopped(run.search_id))
                return
            run.loop = asyncio.get_running_loop()
            run.task = asyncio.current_task()
        outcome = await runner.run()
        logger.info("search %d ended: %s", run.search_id, outcome.status)


def _check_lease(store: Store, search_id: int) -> None:
    """Refuse (409) to resume a search that another live controller process runs."""
    held = store.lease(search_id)
    if held is not None and not holder_gone(held):
        raise SearchConflict(
            f"search {search_id} is being run by process {held.pid} on {held.host}; stop it first"
        )


def _check_tokens(specs: list[AgentSpec]) -> None:
    """Read every agent's token now, so that a bad token file is a 422, not a failed run."""
    for spec in specs:
        spec.resolve_token()


def _stopped(search_id: int) -> str:
    return f"interrupted; resume with --resume {search_id}"


def _mark_failed(store: Store, search_id: int, exc: Exception) -> None:
    try:
        store.set_search_status(search_id, "failed", f"the search stopped on an error: {exc}")
    except LTSError:
        logger.exception("could not mark search %d failed", search_id)
