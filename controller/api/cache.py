"""Rendered frontier answers, kept while the search they describe has not changed.

A finished device's frontier never changes, and a running one changes once per store update
of its search; reading the frontier of a large search, however, costs a read of every
member's architecture and measurements. :class:`FrontierCache` keeps the rendered JSON per
(search, device filter) together with the search's version (:func:`reads.search_version`,
two small queries) and serves it again while the version is the same. (Clients that accept
gzip get it compressed by the app's ``GZipMiddleware``, :mod:`lts.controller.api.main`.)
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

from lts.controller.api import reads
from lts.controller.store import Store


class FrontierCache:
    """At most ``size`` rendered frontiers (least recently used dropped). Thread-safe."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[int, str, str | None], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def frontier_json(self, store: Store, search_id: int, device: str | None) -> bytes:
        """The JSON of :func:`reads.read_frontier` (raises what it raises)."""
        return self._kept(store, search_id, ("frontier", device), lambda: reads.read_frontier(
            store, search_id, device).model_dump_json().encode())  # fmt: skip

    def view_json(self, store: Store, search_id: int) -> bytes:
        """The JSON of :func:`reads.read_view` (the dashboard's compact view)."""
        return self._kept(
            store,
            search_id,
            ("view", None),
            lambda: json.dumps(reads.read_view(store, search_id)).encode(),
        )

    def _kept(
        self, store: Store, search_id: int, what: tuple[str, str | None],
        render: Callable[[], bytes],
    ) -> bytes:  # fmt: skip
        version = reads.search_version(store, search_id)
        key = (search_id, *what)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] == version:
                self._entries.move_to_end(key)
                return entry[1]
        body = render()
        entry = (version, body)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return body


#: (search version, JSON)
_Entry = tuple[Hashable, bytes]
