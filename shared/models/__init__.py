"""PyTorch builders of the backbones. Importing this package does not import torch; calling
:func:`build_model` or :func:`module_param_counts` does.

The model of a config is its backbone's (:meth:`lts.shared.backbones.Backbone.model_class`:
:class:`lts.shared.models.gpt2.GPT2`, :class:`lts.shared.models.transxl.TransXL`), a
:class:`lts.shared.models.base.LanguageModel`. They share one API:

* ``model(idx, targets=None, *, output="last")``: ``idx`` (B, T) int64 token ids. Returns
  log-probabilities (B, 1, V) of the last position (``output="last"``, the default: only that
  position goes through the softmax), (B, T, V) for ``output="all"``, or the scalar mean NLL
  over all positions when ``targets`` (B, T) are given.
* ``logp, cache = model.decode_step(idx, cache=None)``: appends ``idx`` (B, t) to the cache and
  returns the log-probabilities (B, 1, V) of the last position and a *new* cache; the cache
  passed in is never changed, so one prefilled cache can be decoded from repeatedly.
* ``model.cfg``: the :class:`lts.shared.config.ArchConfig` it was built from.
* ``model.param_groups()``: the modules of each parameter group (see :mod:`lts.shared.params`).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from lts.shared.backbones import get_backbone
from lts.shared.config import ArchConfig
from lts.shared.errors import BuildError, ConfigError

if TYPE_CHECKING:
    import torch

    from lts.shared.models.base import LanguageModel

INIT_MODES = ("random", "constant", "meta")
#: Value that ``init="constant"`` writes into every parameter but the layer-norm weights (1).
CONSTANT_FILL = 0.02
#: Standard deviation of ``init="random"`` (GPT-2's).
INIT_STD = 0.02

_GROUPS = ("embedding", "attention", "feed_forward", "layer_norm", "softmax")


def build_model(
    cfg: ArchConfig,
    *,
    init: str = "random",
    device: str | torch.device = "cpu",
    dtype: torch.dtype | None = None,
) -> LanguageModel:
    """Build the model of ``cfg`` in eval mode. Every mode first constructs it on the meta
    device (no memory, no initialisation cost), then materialises it once on ``device``.

    ``init``: ``"random"``: GPT-2-like (normal(0, 0.02) weights, the residual output
    projections scaled by 1/sqrt(2 n_layer), zero biases, unit layer-norm weights).
    ``"meta"``: parameters on the meta device, no memory (for counting and planning;
    ``device`` is ignored). ``"constant"``: built on the meta device, then materialised on
    ``device`` and every parameter written with :data:`CONSTANT_FILL` (layer-norm weights 1):
    no random-init cost, and every weight page is really written. The models have no buffers.
    ``dtype``: the parameter dtype (default: torch's default dtype).

    Raises ConfigError for an unknown ``init`` or a backbone without a model, and BuildError
    when memory runs out.
    """
    import torch

    if init not in INIT_MODES:
        raise ConfigError("init", f"must be one of {', '.join(INIT_MODES)}, got {init!r}")
    model_cls = get_backbone(cfg.backbone).model_class()
    with torch.device("meta"), _skip_meta_init():
        model = model_cls(cfg)
    if dtype is not None:
        model = model.to(dtype=dtype)
    if init != "meta":
        try:
            model.to_empty(device=device)
            model.tie_weights()  # to_empty gives every module its own new Parameters
            with torch.no_grad():
                _write_parameters(model, init)
        except (MemoryError, torch.OutOfMemoryError) as exc:
            raise BuildError(f"out of memory materialising {cfg.arch_id} on {device}") from exc
    return model.eval()


# torch.nn.init functions that nn.Linear, nn.Embedding and nn.LayerNorm call when constructed.
_INIT_FUNCTIONS = ("kaiming_uniform_", "uniform_", "normal_", "ones_", "zeros_")
_init_lock = threading.Lock()
_init_depth = 0
_init_saved: dict[str, Callable[..., Any]] = {}


@contextmanager
def _skip_meta_init() -> Iterator[None]:
    """Make torch.nn.init a no-op on meta tensors while a model is constructed.

    Meta tensors hold no data, so initialising them has no effect, but each call still goes
    through torch's meta kernels, which would be most of the time of a meta build. build_model
    writes every parameter itself. Tensors on real devices are initialised as usual, so the
    (process-wide) patch changes nothing that another thread could observe; nested and
    concurrent uses are counted and the original functions restored by the last one out.
    """
    global _init_depth
    from torch.nn import init

    with _init_lock:
        if _init_depth == 0:
            for name in _INIT_FUNCTIONS:
                _init_saved[name] = getattr(init, name)
                setattr(init, name, _unless_meta(_init_saved[name]))
        _init_depth += 1
    try:
        yield
    finally:
        with _init_lock:
            _init_depth -= 1
            if _init_depth == 0:
                for name, fn in _init_saved.items():
                    setattr(init, name, fn)
                _init_saved.clear()


def _unless_meta(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(tensor: Any, *args: Any, **kwargs: Any) -> Any:
        return tensor if tensor.is_meta else fn(tensor, *args, **kwargs)

    return wrapper


def _write_parameters(model: LanguageModel, init: str) -> None:
    """Write every parameter (a tied one once per module that holds it, harmlessly)."""
    from torch import nn

    resid_std = INIT_STD / (2 * model.cfg.n_layer) ** 0.5
    residual_out = model.residual_out
    for module_name, module in model.named_modules():
        for name, p in module.named_parameters(recurse=False):
            if isinstance(module, nn.LayerNorm):
                p.fill_(1.0 if name == "weight" else (CONSTANT_FILL if init == "constant" else 0.0))
            elif init == "constant":
                p.fill_(CONSTANT_FILL)
            elif name.endswith("bias") and p.dim() == 1:
                p.zero_()  # linear and cluster biases (r_w_bias / r_r_bias are 2-D: random)
            elif name == "weight" and module_name.endswith(residual_out):
                p.normal_(0.0, resid_std)  # GPT-2: projections into the residual stream
            else:
                p.normal_(0.0, INIT_STD)


def module_param_counts(model: LanguageModel) -> dict[str, int]:
    """Parameter counts of a built model by group, with the keys of
    :class:`lts.shared.params.ParamCounts`, from its modules (``model.param_groups()``).

    Each unique Parameter is counted once: a tied one in the first group that holds it
    (embedding before softmax). ``total`` counts every unique parameter of the model, so a
    parameter outside every group shows as ``total != decoder + embedding + softmax``.
    """
    groups = model.param_groups()
    seen: set[int] = set()
    counts: dict[str, int] = {}
    for group in _GROUPS:
        n = 0
        for module in groups[group]:
            for p in module.parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    n += p.numel()
        counts[group] = n
    decoder = counts["attention"] + counts["feed_forward"] + counts["layer_norm"]
    total = sum(p.numel() for p in model.parameters())  # unique Parameters
    return {
        "decoder": decoder,
        "attention": counts["attention"],
        "feed_forward": counts["feed_forward"],
        "layer_norm": counts["layer_norm"],
        "embedding": counts["embedding"],
        "softmax": counts["softmax"],
        "total": total,
    }


__all__ = ["CONSTANT_FILL", "INIT_MODES", "build_model", "module_param_counts"]
