"""What every backbone's PyTorch model offers (:class:`LanguageModel`); imports torch.

A backbone's model subclasses it, and its declaration (:mod:`lts.shared.backbones`) names the
subclass. The builder (:func:`lts.shared.models.build_model`), the ONNX exporter and the
proxies use only what is declared here.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import torch
from torch import nn

from lts.shared.config import ArchConfig
from lts.shared.models.adaptive import AdaptiveEmbedding, ProjectedAdaptiveLogSoftmax


class LanguageModel(nn.Module, abc.ABC):
    """A language model over token ids, built from ``cfg`` (the API: :mod:`lts.shared.models`).

    ``word_emb``: the token embedding (the decoder's input); ``crit``: the adaptive softmax
    over the decoder's output, tied to ``word_emb``. ``residual_out``: the name endings of the
    layers that write into the residual stream (their weights are scaled at random
    initialisation). ``cache_class``: the type of its decode cache, immutable, with ``length``
    (positions held), ``flatten()`` (its tensors in the order of the ONNX decode graph's cache
    inputs) and the classmethod ``unflatten(tensors)``, the inverse.
    """

    cfg: ArchConfig
    word_emb: AdaptiveEmbedding
    crit: ProjectedAdaptiveLogSoftmax
    residual_out: ClassVar[tuple[str, ...]]
    cache_class: ClassVar[Any]

    @abc.abstractmethod
    def tie_weights(self) -> None:
        """Tie the softmax to the embedding again (needed after ``Module.to_empty``)."""

    @abc.abstractmethod
    def param_groups(self) -> dict[str, list[nn.Module]]:
        """The modules of each parameter group of :class:`lts.shared.params.ParamCounts`."""

    @abc.abstractmethod
    def decode_step(self, idx: torch.Tensor, cache: Any = None) -> tuple[torch.Tensor, Any]:
        """Append ``idx`` (B, t) to ``cache``: the log-probs (B, 1, V) of the last position
        and a new cache; ``cache`` is not changed."""
