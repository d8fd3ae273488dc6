"""The architecture config: one validated, immutable description of a candidate model.

:class:`ArchConfig` describes a model of a registered backbone (:mod:`lts.shared.backbones`: GPT-2
or Transformer-XL) with per-layer attention heads and feed-forward widths and an adaptive input
embedding / adaptive softmax. It is frozen and hashable; :meth:`ArchConfig.arch_id` is a stable
content id: the same architecture gives the same id whatever the key order or the scalar/list
spelling of homogeneous per-layer values.

Reading is lenient in the ways the published LTS tables need (``d_embed: -1``, ``d_head: -1``,
scalar or list ``n_head``/``d_inner``, cutoffs with the vocabulary size appended and boundaries
above it ignored, as the source code did); the stored form is canonical:

* ``n_head`` and ``d_inner`` are tuples of length ``n_layer``;
* ``d_embed`` is explicit; ``d_head`` is ``None`` when it equals ``d_model // n_head`` in
  every layer (the default), an explicit int otherwise;
* ``cutoffs`` holds only the cluster boundaries strictly inside ``(0, n_token)``, increasing;
* ``tie_projs`` has one flag per softmax cluster (``len(cutoffs) + 1``);
* ``mem_len`` is 0 for a backbone without segment memory (GPT-2).

Invalid input raises :class:`lts.shared.errors.ConfigError` naming the field and what is allowed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from typing import Any

from lts.shared.backbones import backbone_names, get_backbone
from lts.shared.errors import ConfigError

#: Sanity bound on depth (far above any model here): checked before a config's per-layer
#: lists are expanded, by the agent and by whatever names layer counts (baselines, spaces).
MAX_LAYERS = 1024

#: GPT-2's BPE vocabulary (the default vocabulary size).
GPT2_VOCAB = 50257
#: Cluster boundaries of the adaptive embedding/softmax the paper used for WikiText-103 GPT-2
#: (the third source boundary, 199997, lies above the vocabulary and is ignored).
DEFAULT_CUTOFFS: tuple[int, ...] = (19997, 39997)

# Flags of the source configs that are constant in the published tables. They are accepted on
# input with the one value this project implements and dropped from the canonical form.
_SOURCE_FLAGS: dict[str, Any] = {
    "adaptive": True,
    "attn_type": 0,
    "clamp_len": -1,
    "pre_lnorm": False,
    "same_length": False,
}


@dataclass(frozen=True)
class ArchConfig:
    """An immutable, validated architecture (construct through :meth:`from_dict` or directly).

    ``backbone`` names a registered backbone (:func:`lts.shared.backbones.get_backbone`). Sizes are
    in elements. ``tie_weight``: the softmax cluster weights share the embedding tables.
    ``tie_projs[i]``: the softmax projection of cluster ``i`` shares the embedding's.
    ``tgt_len`` is the sequence length (GPT-2: the size of the learned position table);
    ``mem_len`` the segment memory (Transformer-XL; 0 for a backbone without one).
    """

    backbone: str
    n_layer: int
    d_model: int
    n_head: tuple[int, ...]
    d_inner: tuple[int, ...]
    d_embed: int
    div_val: int = 1
    d_head: int | None = None
    n_token: int = GPT2_VOCAB
    cutoffs: tuple[int, ...] = DEFAULT_CUTOFFS
    tie_weight: bool = True
    tie_projs: tuple[bool, ...] = ()
    tgt_len: int = 192
    mem_len: int = 0

    def __post_init__(self) -> None:
        _validate(self)

    # ----------------------------------------------------------------------------- derived
    @property
    def n_clusters(self) -> int:
        """Number of adaptive softmax clusters (head cluster included)."""
        return len(self.cutoffs) + 1

    @property
    def cluster_bounds(self) -> tuple[int, ...]:
        """``(0, *cutoffs, n_token)``: cluster ``i`` holds token ids ``[b[i], b[i+1])``."""
        return (0, *self.cutoffs, self.n_token)

    def cluster_widths(self) -> tuple[int, ...]:
        """Embedding width of each cluster: ``d_embed // div_val**i`` (one table if div_val 1)."""
        if self.div_val == 1:
            return (self.d_embed,)
        return tuple(self.d_embed // self.div_val**i for i in range(self.n_clusters))

    def head_dim(self, layer: int) -> int:
        """Per-head width of ``layer``."""
        return self.d_head if self.d_head is not None else self.d_model // self.n_head[layer]

    def attn_dim(self, layer: int) -> int:
        """Total attention width (``n_head * d_head``) of ``layer``."""
        return self.n_head[layer] * self.head_dim(layer)

    # ---------------------------------------------------------------------------- encoding
    def to_dict(self) -> dict[str, Any]:
        """The canonical form as plain JSON types (lists, ints, bools)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    def canonical_json(self) -> str:
        """Canonical JSON: sorted keys, no spaces. Equal configs give equal strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def arch_id(self) -> str:
        """Stable content id: the first 16 hex digits of SHA-256 of :meth:`canonical_json`."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

    def to_table_arch(self) -> dict[str, Any]:
        """The config in the published tables' ``arch`` format (reads back to the same id)."""
        return {
            "adaptive": True,
            "attn_type": 0,
            "clamp_len": -1,
            "cutoffs": [*self.cutoffs, self.n_token],
            "d_embed": self.d_embed,
            "d_head": -1 if self.d_head is None else self.d_head,
            "d_inner": list(self.d_inner),
            "d_model": self.d_model,
            "div_val": self.div_val,
            "mem_len": self.mem_len,
            "n_head": list(self.n_head),
            "n_layer": self.n_layer,
            "n_token": self.n_token,
            "pre_lnorm": False,
            "same_length": False,
            "tgt_len": self.tgt_len,
            "tie_projs": list(self.tie_projs),
            "tie_weight": self.tie_weight,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, backbone: str | None = None) -> ArchConfig:
        """Parse a config from JSON-like data (canonical form, a table ``arch``, or partial).

        ``backbone`` supplies the backbone when ``data`` has none (the tables keep it beside
        ``arch``). Omitted fields take their defaults; unknown keys are an error.
        """
        if not isinstance(data, dict):
            raise ConfigError("arch", f"expected a JSON object, got {type(data).__name__}")
        data = dict(data)
        known = {f.name for f in fields(cls)}
        for key in list(data):
            if key in _SOURCE_FLAGS:
                value = data.pop(key)
                if value != _SOURCE_FLAGS[key]:
                    raise ConfigError(
                        key, f"only {json.dumps(_SOURCE_FLAGS[key])} is supported, got {value!r}"
                    )
            elif key not in known:
                raise ConfigError(key, f"unknown field; allowed: {', '.join(sorted(known))}")
        if backbone is not None:
            if "backbone" in data and data["backbone"] != backbone:
                raise ConfigError("backbone", f"{data['backbone']!r} conflicts with {backbone!r}")
            data["backbone"] = backbone
        return cls(**_normalise(data))

    @classmethod
    def from_json(cls, text: str, *, backbone: str | None = None) -> ArchConfig:
        """Parse :meth:`canonical_json` (or any JSON accepted by :meth:`from_dict`)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError("arch", f"not valid JSON: {exc}") from exc
        return cls.from_dict(data, backbone=backbone)

    def replace(self, **changes: Any) -> ArchConfig:
        """A new config with ``changes`` applied, normalised and validated again."""
        data = self.to_dict()
        data.update(changes)
        clusters_changed = "cutoffs" in changes or "n_token" in changes
        if clusters_changed and "tie_projs" not in changes:
            del data["tie_projs"]  # the default for the new cluster count
        return ArchConfig.from_dict(data)


# --------------------------------------------------------------------------------- helpers
def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int(data: dict[str, Any], name: str, *, minimum: int = 1) -> int:
    value = data[name]
    if not _is_int(value) or value < minimum:
        raise ConfigError(name, f"must be an integer >= {minimum}, got {value!r}")
    return value


def _per_layer(data: dict[str, Any], name: str, n_layer: int) -> tuple[int, ...]:
    value = data.get(name)
    if value is None:
        raise ConfigError(name, "is required (an integer, or a list of one per layer)")
    if _is_int(value):
        return (value,) * n_layer
    if not isinstance(value, list | tuple):
        raise ConfigError(name, f"must be an integer or a list of integers, got {value!r}")
    if len(value) != n_layer:
        raise ConfigError(name, f"has {len(value)} entries; must have n_layer = {n_layer}")
    for i, item in enumerate(value):
        if not _is_int(item) or item < 1:
            raise ConfigError(f"{name}[{i}]", f"must be a positive integer, got {item!r}")
    return tuple(value)


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    """Turn lenient input into canonical constructor arguments (validation follows)."""
    out = dict(data)
    if "backbone" not in out:
        raise ConfigError("backbone", f"is required; allowed: {', '.join(backbone_names())}")
    for name in ("n_layer", "d_model"):
        if name not in out:
            raise ConfigError(name, "is required")
        _int(out, name)
    n_layer = out["n_layer"]
    out["n_head"] = _per_layer(out, "n_head", n_layer)
    out["d_inner"] = _per_layer(out, "d_inner", n_layer)
    if out.get("d_embed", -1) == -1:
        out["d_embed"] = out["d_model"]
    if out.get("d_head", -1) in (-1, None):
        out["d_head"] = None
    elif _is_int(out["d_head"]) and all(
        h * out["d_head"] == out["d_model"] for h in out["n_head"]
    ):
        out["d_head"] = None  # the default spelled out: same architecture, same id
    n_token = out.setdefault("n_token", GPT2_VOCAB)
    cutoffs = out.get("cutoffs", DEFAULT_CUTOFFS)
    if not isinstance(cutoffs, list | tuple) or not all(_is_int(c) for c in cutoffs):
        raise ConfigError("cutoffs", f"must be a list of integers, got {cutoffs!r}")
    if _is_int(n_token):
        # The source appends n_token and ignores boundaries at or above it.
        cutoffs = [c for c in cutoffs if c < n_token]
    out["cutoffs"] = tuple(cutoffs)
    n_clusters = len(cutoffs) + 1
    if "tie_projs" not in out or out["tie_projs"] is None:
        out["tie_projs"] = (False,) + (True,) * (n_clusters - 1)
    else:
        tie = out["tie_projs"]
        if isinstance(tie, bool):
            tie = [tie] * n_clusters
        if not isinstance(tie, list | tuple) or not all(isinstance(t, bool) for t in tie):
            raise ConfigError("tie_projs", f"must be a list of booleans, got {tie!r}")
        if len(tie) < n_clusters:
            raise ConfigError(
                "tie_projs", f"has {len(tie)} entries; needs one per cluster ({n_clusters})"
            )
        out["tie_projs"] = tuple(tie[:n_clusters])
    if not get_backbone(out["backbone"]).segment_memory:
        out["mem_len"] = 0
    elif "mem_len" not in out:
        out["mem_len"] = out.get("tgt_len", 192)
    return out


def _validate(cfg: ArchConfig) -> None:
    """Check every invariant of a canonical config; raise ConfigError naming the field."""
    backbone = get_backbone(cfg.backbone)
    d = cfg.to_dict()
    for name in ("n_layer", "d_model", "d_embed", "div_val", "n_token", "tgt_len"):
        _int(d, name)
    _int(d, "mem_len", minimum=0)
    for name in ("n_head", "d_inner"):
        value = getattr(cfg, name)
        if not isinstance(value, tuple) or len(value) != cfg.n_layer:
            raise ConfigError(name, f"must have n_layer = {cfg.n_layer} entries")
        for i, item in enumerate(value):
            if not _is_int(item) or item < 1:
                raise ConfigError(f"{name}[{i}]", f"must be a positive integer, got {item!r}")
    if cfg.d_head is None:
        for i, h in enumerate(cfg.n_head):
            if cfg.d_model % h:
                raise ConfigError(
                    f"n_head[{i}]",
                    f"d_model = {cfg.d_model} is not divisible by {h} heads "
                    "(set d_head explicitly or pick a divisor of d_model)",
                )
    elif not _is_int(cfg.d_head) or cfg.d_head < 1:
        raise ConfigError("d_head", f"must be a positive integer or -1, got {cfg.d_head!r}")
    prev = 0
    for i, c in enumerate(cfg.cutoffs):
        if not _is_int(c) or c <= prev or c >= cfg.n_token:
            raise ConfigError(
                f"cutoffs[{i}]",
                f"must be increasing and strictly between 0 and n_token = {cfg.n_token}, got {c!r}",
            )
        prev = c
    if len(cfg.tie_projs) != cfg.n_clusters:
        raise ConfigError("tie_projs", f"must have one flag per cluster ({cfg.n_clusters})")
    if not isinstance(cfg.tie_weight, bool):
        raise ConfigError("tie_weight", f"must be a boolean, got {cfg.tie_weight!r}")
    for i, width in enumerate(cfg.cluster_widths()):
        if width < 1:
            raise ConfigError(
                "div_val",
                f"cluster {i} would have width d_embed // div_val^{i} = 0; "
                f"lower div_val or raise d_embed (d_embed = {cfg.d_embed})",
            )
    backbone.check_mem_len(cfg.mem_len)
