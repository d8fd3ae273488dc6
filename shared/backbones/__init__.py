"""The backbones: one declaration each (:class:`Backbone`) and the one lookup
(:func:`get_backbone`). Importing this package does not import torch.

Registered here: ``gpt2`` (:mod:`.gpt2`) and ``transxl`` (:mod:`.transxl`). Every consumer
reads the part it needs from the declaration; an unknown name is a
:class:`~lts.shared.errors.ConfigError` (field ``backbone``, naming the choices) wherever it
appears, in a config, a space or a lookup.

Adding a backbone: write its PyTorch model (a :class:`lts.shared.models.base.LanguageModel`,
in ``shared/models/``), declare it in a module here (the formulas of its parts, its rules,
``model="lts.shared.models.<module>:<Class>"``), and register it below. Its parameter counts
must then equal ``sum(p.numel())`` of the built model: ``tests/shared/test_models.py`` checks
every registered backbone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from lts.shared.backbones.base import Backbone, backbone_names, get_backbone, register
from lts.shared.backbones.gpt2 import GPT2_BACKBONE
from lts.shared.backbones.transxl import TRANSXL_BACKBONE

register(GPT2_BACKBONE)
register(TRANSXL_BACKBONE)

if TYPE_CHECKING:
    BackboneName = str
else:
    #: A backbone name, as the CLI's and the API's choices: the names registered above.
    BackboneName = Literal[backbone_names()]

__all__ = ["Backbone", "BackboneName", "backbone_names", "get_backbone", "register"]
