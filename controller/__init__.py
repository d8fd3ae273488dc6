"""The controller: command line, search, store, results API (imports no torch to search)."""

from __future__ import annotations

from lts.shared import __version__

__all__ = ["__version__"]
