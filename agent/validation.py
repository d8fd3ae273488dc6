"""Validation of measurement requests, before anything is queued: one bad item refuses its
whole batch with the field named (``items[1].arch.n_head[3]``), and what is accepted is a
canonical architecture with complete settings (:class:`ItemRequest`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lts.agent.device import Capabilities
from lts.agent.measure import check_settings
from lts.shared.config import MAX_LAYERS, ArchConfig
from lts.shared.errors import ConfigError, LTSError, MeasurementError
from lts.shared.schemas import JobItemCreate, MeasureSettings


class TooManyItemsError(LTSError):
    """One request holds more items than this agent accepts in a job."""


@dataclass(frozen=True)
class ItemRequest:
    """One validated measurement request: a canonical architecture and complete settings."""

    arch: ArchConfig
    settings: MeasureSettings


def prepare_item(item: JobItemCreate, defaults: MeasureSettings, caps: Capabilities) -> ItemRequest:
    """Validate one request against the config rules and this agent's capabilities.

    Raises :class:`ConfigError` whose field is relative to the item (``arch.n_head[3]``,
    ``settings.threads``).
    """
    n_layer = item.arch.get("n_layer")
    if isinstance(n_layer, int) and n_layer > MAX_LAYERS:  # before expanding per-layer lists
        raise ConfigError("arch.n_layer", f"at most {MAX_LAYERS} layers, got {n_layer}")
    try:
        arch = ArchConfig.from_dict(item.arch)
    except ConfigError as exc:
        raise ConfigError(f"arch.{exc.field}", exc.message) from None
    settings = item.settings.resolve(defaults)
    try:
        check_settings(arch, settings)
    except ConfigError as exc:
        raise ConfigError(f"settings.{exc.field}", exc.message) from None
    except MeasurementError as exc:  # a combination no runtime supports
        raise ConfigError("settings", str(exc)) from None
    if settings.runtime not in caps.runtimes:
        raise ConfigError("settings.runtime", f"{settings.runtime} is not installed on this agent")
    if settings.device == "cuda" and not caps.cuda:
        raise ConfigError("settings.device", "this agent has no CUDA device")
    if settings.threads > caps.max_threads:
        raise ConfigError(
            "settings.threads",
            f"{settings.threads} threads, but a measurement slot here has {caps.max_threads} CPUs",
        )
    return ItemRequest(arch, settings)


def prepare_items(
    items: Sequence[JobItemCreate],
    defaults: MeasureSettings,
    caps: Capabilities,
    max_items: int,
) -> list[ItemRequest]:
    """Validate a whole batch up front: one invalid item refuses all of it.

    Raises :class:`TooManyItemsError` over ``max_items``, :class:`ConfigError` naming the
    field as ``items[i].arch.<field>`` or ``items[i].settings.<field>``.
    """
    if len(items) > max_items:
        raise TooManyItemsError(
            f"the job has {len(items)} items; this agent takes at most {max_items} per job"
        )
    out = []
    for i, item in enumerate(items):
        try:
            out.append(prepare_item(item, defaults, caps))
        except ConfigError as exc:
            raise ConfigError(f"items[{i}].{exc.field}", exc.message) from None
    return out
