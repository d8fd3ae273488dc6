"""The live check of the named agents: ``GET /device`` on each, all at once, time-bounded."""

from __future__ import annotations

import asyncio

from lts.controller.agents import AgentsFile, AgentSpec
from lts.controller.api.schemas import AgentPublic, AgentsPublic
from lts.controller.client import AgentClient
from lts.shared.errors import LTSError


async def probe_agents(registry: AgentsFile, timeout_s: float) -> AgentsPublic:
    """Every agent of ``registry`` and whether it answered within ``timeout_s``. An agents
    file that does not parse raises :class:`ConfigError`."""
    specs = list(registry.load().values())
    data = list(await asyncio.gather(*(probe_agent(s, timeout_s) for s in specs)))
    return AgentsPublic(data=data, count=len(data), file=str(registry.path))


async def probe_agent(spec: AgentSpec, timeout_s: float) -> AgentPublic:
    """One agent: reachable with its device, or unreachable with the reason (its token
    never appears in the answer)."""
    auth = "token_file" if spec.token_file else ("token" if spec.token else "none")
    base = {"name": spec.name or spec.url, "url": spec.url, "auth": auth}
    try:
        token = spec.resolve_token()
        async with AgentClient(spec.url, token, label=spec.label, timeout_s=timeout_s) as client:
            info = await asyncio.wait_for(client.device(), timeout_s)
    except TimeoutError:
        return AgentPublic(**base, reachable=False, error=f"no answer within {timeout_s:g} s")
    except LTSError as exc:
        error = str(exc).removeprefix(f"agent {spec.label}: ")
        return AgentPublic(**base, reachable=False, error=error)
    return AgentPublic(**base, reachable=True, device=info)
