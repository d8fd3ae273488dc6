"""Runners: one inference of a built model, ready to be timed, for each runtime.

:func:`prepare` builds the model (``init="constant"`` by default: every weight page written,
no random-init cost), prepares the inputs and, for ONNX Runtime, exports the graph and opens
a session. :meth:`Runner.timed` runs one inference and returns its duration in seconds;
:meth:`Runner.run` returns its log-probabilities as a numpy array (for tests and checks).

Inputs: token ids drawn uniformly from ``[0, n_token)`` by ``numpy.random.default_rng(seed)``:
first the context ((B, seq_len) for prefill, (B, seq_len - 1) for decode), then the (B, 1)
next token.

Metrics:

* ``prefill``: ``model(idx, output=...)`` over (batch_size, seq_len) tokens.
* ``decode``: one ``decode_step`` of one token per sequence after a cache prefilled with
  ``seq_len - 1`` context tokens, i.e. generating token number ``seq_len``: ``seq_len`` is the
  total sequence length for both metrics, so the defaults fit GPT-2's position table
  (``seq_len <= tgt_len``). Every run starts from the same prefilled cache (the models never
  change the cache they are given). Transformer-XL's memory holds the last
  ``min(seq_len - 1, mem_len)`` positions.

With ``decode`` set on ``prefill`` settings, :func:`prepare` also makes the decode runner of
the same built model (:attr:`Prepared.decode`), timed after the prefill one.

Torch runners must be timed inside ``torch.inference_mode()`` (the worker enters it once).
"""

from __future__ import annotations

import abc
import gc
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lts.shared.backbones import get_backbone
from lts.shared.config import ArchConfig
from lts.shared.errors import ConfigError, MeasurementError
from lts.shared.schemas import MeasureSettings

log = logging.getLogger(__name__)


def check_settings(cfg: ArchConfig, settings: MeasureSettings) -> None:
    """Raise ConfigError (or MeasurementError for an unsupported combination) before any
    build when ``settings`` cannot be measured on ``cfg``."""
    if settings.device == "cuda" and settings.runtime != "torch":
        raise MeasurementError(
            f"not supported: runtime {settings.runtime!r} on cuda (only 'torch' runs on cuda)"
        )
    if (settings.metric == "decode" or settings.decode) and settings.seq_len < 2:
        raise ConfigError(
            "seq_len", "decode needs seq_len >= 2 (a context of seq_len - 1 tokens, then one)"
        )
    get_backbone(cfg.backbone).check_seq_len(cfg, settings.seq_len)


def decode_settings(settings: MeasureSettings) -> MeasureSettings:
    """The settings of the decode step that ``decode`` asks for beside a prefill."""
    return settings.model_copy(update={"metric": "decode", "output": "last", "decode": False})


def make_tokens(settings: MeasureSettings, n_token: int) -> tuple[np.ndarray, np.ndarray]:
    """(context, next token (B, 1)) int64 ids from the settings' seed; the context is
    (B, seq_len) for prefill and (B, seq_len - 1) for decode."""
    rng = np.random.default_rng(settings.seed)
    ctx_len = settings.seq_len - (1 if settings.metric == "decode" else 0)
    ctx = rng.integers(0, n_token, size=(settings.batch_size, ctx_len), dtype=np.int64)
    nxt = rng.integers(0, n_token, size=(settings.batch_size, 1), dtype=np.int64)
    return ctx, nxt


class Runner(abc.ABC):
    """One inference, repeatable. ``timed()`` -> seconds; ``run()`` -> log-probs (numpy)."""

    @abc.abstractmethod
    def timed(self) -> float:
        """Run one inference and return its duration in seconds."""

    @abc.abstractmethod
    def run(self) -> np.ndarray:
        """Run one inference and return its log-probabilities."""

    def close(self) -> None:  # noqa: B027 (an optional hook: nothing to release by default)
        """Release the model/session (the runner is unusable afterwards)."""


class TorchRunner(Runner):
    """PyTorch eager, on CPU or CUDA (synchronised around the timer on CUDA)."""

    def __init__(self, model: Any, settings: MeasureSettings, ctx: np.ndarray, nxt: np.ndarray):
        import torch

        self._torch = torch
        self._cuda = settings.device == "cuda"
        device = "cuda" if self._cuda else "cpu"
        self.model = model
        idx = torch.from_numpy(ctx).to(device)
        with torch.inference_mode():
            if settings.metric == "prefill":
                output = settings.output
                self._fn = lambda: model(idx, output=output)
                self.cache_len = 0
            else:
                _, cache = model.decode_step(idx)
                tok = torch.from_numpy(nxt).to(device)
                self._fn = lambda: model.decode_step(tok, cache)[0]
                self.cache_len = cache.length
        if self._cuda:
            torch.cuda.synchronize()

    def timed(self) -> float:
        if self._cuda:
            sync = self._torch.cuda.synchronize
            sync()
            t0 = time.perf_counter()
            out = self._fn()
            sync()
            t1 = time.perf_counter()
        else:
            t0 = time.perf_counter()
            out = self._fn()
            t1 = time.perf_counter()
        del out
        return t1 - t0

    def run(self) -> np.ndarray:
        with self._torch.inference_mode():
            return self._fn().float().cpu().numpy()

    def close(self) -> None:
        self.model = None
        self._fn = None  # type: ignore[assignment]


class OrtRunner(Runner):
    """ONNX Runtime CPU session over the exported graph; all outputs are fetched."""

    def __init__(self, session: Any, feeds: dict[str, np.ndarray], cache_len: int) -> None:
        self.session = session
        self.feeds = feeds
        self.cache_len = cache_len

    def timed(self) -> float:
        t0 = time.perf_counter()
        out = self.session.run(None, self.feeds)
        t1 = time.perf_counter()
        del out
        return t1 - t0

    def run(self) -> np.ndarray:
        return self.session.run(None, self.feeds)[0]

    def close(self) -> None:
        self.session = None
        self.feeds = {}


@dataclass
class Prepared:
    """A runner and what preparing it took (seconds; ``export_s``/``exporter`` for ONNX).
    ``decode``: the decode step's runner of the same build (settings ``decode``), or None."""

    runner: Runner
    build_s: float
    export_s: float | None = None
    session_s: float | None = None
    exporter: str | None = None
    onnx_path: Path | None = None
    cache_len: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    decode: Prepared | None = None

    def close(self) -> None:
        self.runner.close()
        if self.decode is not None:
            self.decode.close()


def prepare(
    cfg: ArchConfig,
    settings: MeasureSettings,
    *,
    export_dir: Path | None = None,
    init: str = "constant",
) -> Prepared:
    """Build ``cfg`` and make the runner of ``settings`` (runtime, device, metric, shape).

    For ``onnxruntime`` the graph is written to ``export_dir`` (required) and kept there: the
    memory pass loads the same file. ``init="random"`` (for checks, not timing) seeds torch
    with ``settings.seed`` first. Raises ConfigError or MeasurementError (unsupported).
    """
    import torch

    from lts.shared.models import build_model

    check_settings(cfg, settings)
    if settings.device == "cuda" and not torch.cuda.is_available():
        raise MeasurementError("not supported: device 'cuda' requested but CUDA is not available")
    torch.set_num_threads(settings.threads)
    ctx, nxt = make_tokens(settings, cfg.n_token)
    if init == "random":
        torch.manual_seed(settings.seed)  # the same settings build the same weights
    t0 = time.perf_counter()
    model = build_model(cfg, init=init, device=settings.device)
    if settings.device == "cuda":
        torch.cuda.synchronize()
    build_s = time.perf_counter() - t0
    also = decode_settings(settings) if settings.decode and settings.metric == "prefill" else None
    if settings.runtime == "torch":
        runner = TorchRunner(model, settings, ctx, nxt)
        prepared = Prepared(runner, build_s, cache_len=runner.cache_len)
        if also is not None:
            step = TorchRunner(model, also, *make_tokens(also, cfg.n_token))
            prepared.decode = Prepared(step, 0.0, cache_len=step.cache_len)
        return prepared
    if export_dir is None:
        raise ValueError("export_dir is required for the onnxruntime runtime")
    if init == "constant":
        make_distinct(model)
    decode = None
    if also is not None:  # exported first: the prefill export releases the model
        decode = _prepare_ort(cfg, also, model, *make_tokens(also, cfg.n_token), 0.0, export_dir,
                              release=False)  # fmt: skip
    prepared = _prepare_ort(cfg, settings, model, ctx, nxt, build_s, export_dir)
    prepared.decode = decode
    return prepared


def make_distinct(model: Any) -> None:
    """Give every parameter its own constant (``c * (1 + k * 1e-4)`` for the k-th one).

    The TorchScript ONNX exporter deduplicates initializers *by value* in eval mode: with
    ``init="constant"`` every same-shaped weight is equal, so the exported graph would hold
    one copy per shape instead of one per layer, and both its memory and its weight traffic
    would be those of a smaller model. Distinct constants keep one initializer per parameter.
    """
    import torch

    with torch.no_grad():
        for k, p in enumerate(model.parameters()):  # unique Parameters (tied ones once)
            p.mul_(1.0 + (k + 1) * 1e-4)


def _prepare_ort(
    cfg: ArchConfig,
    settings: MeasureSettings,
    model: Any,
    ctx: np.ndarray,
    nxt: np.ndarray,
    build_s: float,
    export_dir: Path,
    *,
    release: bool = True,
) -> Prepared:
    """Export ``model`` for ``settings`` and open its session (``release``: drop this
    function's reference to the model before the session opens)."""
    import torch

    from lts.shared.models.onnx_export import export_onnx, flatten_cache, make_session

    shape = f"b{settings.batch_size}-t{settings.seq_len}"
    path = Path(export_dir) / f"{cfg.arch_id}-{settings.metric}-{settings.output}-{shape}.onnx"
    feeds: dict[str, np.ndarray] = {}
    cache_len = 0
    # no_grad, not inference_mode: the tracer cannot take inference tensors as example inputs.
    with torch.no_grad():
        if settings.metric == "prefill":
            idx = torch.from_numpy(ctx)
            exporter, export_s = export_onnx(
                model, path, metric="prefill", output=settings.output, idx=idx
            )
            feeds["idx"] = ctx
        else:
            _, cache = model.decode_step(torch.from_numpy(ctx))
            cache_len = cache.length
            flat = flatten_cache(cache)
            exporter, export_s = export_onnx(
                model,
                path,
                metric="decode",
                output="last",
                idx=torch.from_numpy(nxt),
                cache=cache,
            )
            feeds["idx"] = nxt
            for i, t in enumerate(flat):
                feeds[f"cache_{i}"] = t.numpy().copy()
            del cache, flat
    if release:
        del model
        gc.collect()
    t0 = time.perf_counter()
    session = make_session(path, settings.threads)
    session_s = time.perf_counter() - t0
    return Prepared(
        OrtRunner(session, feeds, cache_len),
        build_s,
        export_s=export_s,
        session_s=session_s,
        exporter=exporter,
        onnx_path=path,
        cache_len=cache_len,
    )
