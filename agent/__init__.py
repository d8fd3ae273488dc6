"""The LTS agent: the on-device profiling service.

``agent serve`` starts a REST API (:mod:`agent.main`) that queues measurement requests
(:mod:`agent.jobs`) and measures them with :mod:`agent.measure`, each build isolated in a
worker process. Importing this package never imports torch.
"""

from __future__ import annotations

from lts.shared import __version__

__all__ = ["__version__"]
