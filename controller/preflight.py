"""Checks before a search is stored (``controller search`` and ``POST /searches``): what can
be known before measuring anything is checked first, and a search that cannot succeed is
refused in one line with nothing stored.

* :func:`check_bounds`: the decoder-parameter bounds leave at least the space's smallest or
  largest architecture in reach (otherwise, e.g. ``--max-params 1000`` under a smallest
  architecture of 265,216, the search would measure every baseline, propose nothing, and end
  with an empty frontier).
* :func:`check_agents`: every agent answers ``GET /device`` with its token, all at once,
  each within ``timeout_s`` (otherwise a wrong token would store a failed search, and an agent
  that is not running would cost the whole ``--fail-after-s`` wait).

The cost of a space itself is bounded where the space is read
(:data:`lts.shared.space_checks.MAX_SPACE_WORK`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from lts.controller.agents import AgentSpec
from lts.controller.client import AgentClient
from lts.controller.search import runner
from lts.controller.search.config import SearchConfig
from lts.shared.errors import ConfigError, LTSError
from lts.shared.params import decoder_params
from lts.shared.schemas import DeviceInfo

#: How long each agent has to answer the check.
CHECK_TIMEOUT_S = 10.0

ClientFactory = Callable[[AgentSpec], AgentClient]


def check_bounds(config: SearchConfig) -> None:
    """Raise :class:`ConfigError` (naming ``min_params`` or ``max_params``) when no
    architecture of the search's space can lie within its decoder-parameter bounds."""
    bounds = config.bounds()
    if bounds.min_params is None and bounds.max_params is None:
        return
    space = config.search_space()
    smallest, largest = decoder_params(space.smallest()), decoder_params(space.largest())
    if bounds.max_params is not None and bounds.max_params < smallest:
        raise ConfigError(
            "max_params",
            f"{bounds.max_params:,} is below the smallest architecture of the space "
            f"({smallest:,} decoder parameters): no candidate could be proposed",
        )
    if bounds.min_params is not None and bounds.min_params > largest:
        raise ConfigError(
            "min_params",
            f"{bounds.min_params:,} is above the largest architecture of the space "
            f"({largest:,} decoder parameters): no candidate could be proposed",
        )


def check_agents(
    specs: Sequence[AgentSpec],
    *,
    client_factory: ClientFactory | None = None,
    timeout_s: float = CHECK_TIMEOUT_S,
) -> list[DeviceInfo]:
    """Every agent's device, asked all at once; raise :class:`ConfigError` (field
    ``agents``) naming each agent that cannot be reached, refuses its token or answers
    something else, in one line. ``client_factory``: as the search's runner makes clients."""
    return asyncio.run(_check_agents(specs, client_factory, timeout_s))


async def _check_agents(
    specs: Sequence[AgentSpec], client_factory: ClientFactory | None, timeout_s: float
) -> list[DeviceInfo]:
    answers = await asyncio.gather(
        *(_device(spec, client_factory or runner.default_client, timeout_s) for spec in specs)
    )
    problems = [a for a in answers if isinstance(a, str)]
    if problems:
        raise ConfigError("agents", "; ".join(problems) + "; nothing was stored")
    return [a for a in answers if isinstance(a, DeviceInfo)]


async def _device(spec: AgentSpec, factory: ClientFactory, timeout_s: float) -> DeviceInfo | str:
    """The agent's device, or why it cannot be had (one phrase naming the agent)."""
    try:
        client = factory(spec)
    except LTSError as exc:  # its token file cannot be read
        return str(exc)
    try:
        async with asyncio.timeout(timeout_s):
            return await client.device()
    except TimeoutError:
        return f"agent {spec.label}: no answer to GET /device within {timeout_s:g} s"
    except LTSError as exc:
        text = str(exc)
        return text if text.startswith("agent ") else f"agent {spec.label}: {text}"
    finally:
        await client.aclose()
