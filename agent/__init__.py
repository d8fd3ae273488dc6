"""The LTS agent: the on-device profiling service.

``agent serve`` starts a REST API (:mod:`lts.agent.main`) that queues measurement requests
(:mod:`lts.agent.jobs`) and measures them with :mod:`lts.agent.measure`, each build isolated in a
worker process. Importing this package never imports torch.
"""

from __future__ import annotations

from lts.shared import __version__

__all__ = ["__version__"]
