"""The untrained model files of an export (:mod:`lts.controller.exports`): ``.pt`` (config and
state dict) and ``.onnx`` (the agent's exporter), built from a config with
:func:`lts.shared.models.build_model`'s random initialisation drawn from a seed. They need PyTorch
(the ``agent`` extra) and import it only when called.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lts.shared.config import ArchConfig
from lts.shared.errors import BuildError, ConfigError

if TYPE_CHECKING:
    import torch

#: The ``format`` tag of a ``.pt`` file.
PT_FORMAT = "lts-model/1"
#: Measurement settings that shape the ONNX graph when the store has none.
DEFAULT_SHAPE: dict[str, Any] = {"batch_size": 1, "seq_len": 192, "output": "last"}


def require_torch(fmt: str) -> None:
    """Raise BuildError (one line: what to install) when ``fmt`` needs PyTorch and it is
    missing."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise BuildError(
            f"--format {fmt} needs PyTorch (and ONNX for onnx): pip install 'lts[agent]'"
        ) from None


def build_untrained(cfg: ArchConfig, seed: int = 0) -> torch.nn.Module:
    """The model of ``cfg`` with :func:`lts.shared.models.build_model`'s random initialisation,
    drawn from ``seed`` (torch's global generator is left as it was)."""
    import torch

    from lts.shared.models import build_model

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_model(cfg, init="random")


def write_pt(cfg: ArchConfig, path: Path, *, seed: int = 0, **_: Any) -> None:
    """Save the untrained model of ``cfg`` as a ``.pt`` file (see the module docstring)."""
    import torch

    model = build_untrained(cfg, seed)
    torch.save(
        {"format": PT_FORMAT, "arch_id": cfg.arch_id, "config": cfg.to_dict(),
         "init": "random", "seed": seed, "state_dict": model.state_dict()},
        path,
    )  # fmt: skip


def write_onnx(
    cfg: ArchConfig, path: Path, *, seed: int = 0, shape: dict[str, Any] | None = None
) -> None:
    """Export the untrained model of ``cfg`` to ONNX with the agent's exporter (prefill graph,
    static ``shape``: ``batch_size``, ``seq_len``, ``output``)."""
    import torch

    from lts.shared.models.onnx_export import export_onnx

    shape = {**DEFAULT_SHAPE, **(shape or {})}
    model = build_untrained(cfg, seed)
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, cfg.n_token, (shape["batch_size"], shape["seq_len"]), generator=gen)
    try:
        export_onnx(model, path, metric="prefill", output=shape["output"], idx=idx)
    except RuntimeError as exc:
        raise BuildError(f"{cfg.arch_id}: {exc}") from exc


def load_model(path: str | Path) -> torch.nn.Module:
    """The model saved by :func:`write_pt`, in eval mode (its config is ``model.cfg``)."""
    import torch

    from lts.shared.models import build_model

    ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(ckpt, dict) or ckpt.get("format") != PT_FORMAT:
        raise ConfigError("pt", f"{path} is not an LTS model file ({PT_FORMAT})")
    cfg = ArchConfig.from_dict(ckpt["config"])
    model = build_model(cfg, init="constant")
    model.load_state_dict(ckpt["state_dict"])
    return model.eval()
