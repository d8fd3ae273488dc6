"""What the agent and the controller share: configs, the backbones' declarations
(:mod:`lts.shared.backbones`), search space, parameter accounting, wire schemas and errors.
Importing this package never imports torch (the builders in :mod:`lts.shared.models` import it
lazily)."""

from __future__ import annotations

from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError, LTSError
from lts.shared.params import ParamCounts, count_params, decoder_params

__version__ = "0.1.0"

__all__ = [
    "ArchConfig",
    "ConfigError",
    "LTSError",
    "ParamCounts",
    "__version__",
    "count_params",
    "decoder_params",
]
