"""Export of a built model to ONNX for one measurement shape, and ONNX Runtime sessions.

The graph is exported for exactly the requested metric, output choice and input shape (static
shapes: the measured graph is the one that would be deployed for that shape):

* ``prefill``: input ``idx`` (B, T) int64 -> output ``logp`` (B, 1, V) or (B, T, V).
* ``decode``: one step with the cache as inputs and outputs: inputs ``idx`` (B, 1) and
  ``cache_0 .. cache_{k-1}``, outputs ``logp`` (B, 1, V) and ``new_cache_0 ..``, in the order
  of the model's cache type's ``flatten()``: GPT-2's cache is, per layer, keys then values
  (B, n_head, P, d_head); Transformer-XL's is the memory of each layer (B, M, d_model).
  Heterogeneous heads need nothing special: each layer's shapes are traced from its own
  modules.

The TorchScript exporter (``dynamo=False``) is tried first (fast, robust on these models); the
``torch.export``-based exporter is the fallback. Both write every weight into the file.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lts.shared.models import LanguageModel

log = logging.getLogger(__name__)

OPSET = 17


def flatten_cache(cache: Any) -> list[Any]:
    """The tensors of a decode cache in the order of the decode graph's inputs (its own
    ``flatten()``: GPT-2's ``KVCache`` k0, v0, k1, v1, ...; Transformer-XL's ``XLMemory``
    m0, m1, ...)."""
    return list(cache.flatten())


def unflatten_cache(model: LanguageModel, flat: list[Any]) -> Any:
    """The inverse of :func:`flatten_cache` for ``model``'s cache type."""
    return model.cache_class.unflatten(flat)


def _wrappers() -> tuple[type, type]:
    from torch import nn

    class Prefill(nn.Module):
        def __init__(self, model: LanguageModel, output: str) -> None:
            super().__init__()
            self.model = model
            self.output = output

        def forward(self, idx: Any) -> Any:
            return self.model(idx, output=self.output)

    class DecodeStep(nn.Module):
        def __init__(self, model: LanguageModel) -> None:
            super().__init__()
            self.model = model

        def forward(self, idx: Any, *flat: Any) -> tuple[Any, ...]:
            logp, new = self.model.decode_step(idx, unflatten_cache(self.model, list(flat)))
            return (logp, *flatten_cache(new))

    return Prefill, DecodeStep


def export_onnx(
    model: Any,
    path: Path,
    *,
    metric: str,
    output: str,
    idx: Any,
    cache: Any | None = None,
) -> tuple[str, float]:
    """Export ``model`` for one measurement to ``path``; returns (exporter name, seconds).

    ``idx`` is the example input ((B, T) for prefill, (B, 1) for decode); ``cache`` the
    prefilled cache for decode. Raises RuntimeError when both exporters fail.
    """
    import torch

    prefill_cls, decode_cls = _wrappers()
    if metric == "prefill":
        module = prefill_cls(model, output)
        args: tuple[Any, ...] = (idx,)
        input_names = ["idx"]
        output_names = ["logp"]
    else:
        flat = flatten_cache(cache)
        module = decode_cls(model)
        args = (idx, *flat)
        input_names = ["idx", *[f"cache_{i}" for i in range(len(flat))]]
        output_names = ["logp", *[f"new_cache_{i}" for i in range(len(flat))]]
    module.eval()
    errors = []
    for name, dynamo in (("torchscript", False), ("dynamo", True)):
        t0 = time.perf_counter()
        try:
            with warnings.catch_warnings():
                # Static-shape export: the tracer's notes about Python values are expected.
                warnings.simplefilter("ignore")
                with torch.no_grad():
                    torch.onnx.export(
                        module,
                        args,
                        str(path),
                        dynamo=dynamo,
                        input_names=input_names,
                        output_names=output_names,
                        opset_version=OPSET,
                        do_constant_folding=True,
                    )
            return name, time.perf_counter() - t0
        except Exception as exc:  # try the other exporter, report both
            log.warning("ONNX export with the %s exporter failed: %s", name, exc)
            errors.append(f"{name}: {type(exc).__name__}: {exc}")
    raise RuntimeError("ONNX export failed: " + "; ".join(errors))


def make_session(path: Path | str, threads: int) -> Any:
    """An ONNX Runtime CPU session: ``threads`` intra-op threads, one inter-op thread,
    sequential execution, every graph optimisation (ORT_ENABLE_ALL)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
