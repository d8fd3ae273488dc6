"""Plots of a search, per device: the paper's 2-D slices, the 3-D frontier, the hypervolume.

* one slice per measured objective of the search, named as the objective (``latency``,
  ``decode_latency``, ``memory``; PNG, matplotlib): decoder parameters (the perplexity proxy)
  against that objective, with three series: every measured candidate (search-time figures),
  the Pareto frontier (the figures the search reports) and the layer-scaled baselines
  (annotated with their depth). The frontier is the multi-objective one, so in a 2-D slice
  some members may look dominated: they win on another objective.
* ``hypervolume`` (PNG): the hypervolume after each completed iteration.
* ``frontier3d`` (HTML, plotly): the proxy and the first two measured objectives in one
  interactive 3-D scatter (a fourth objective, where there is one, colours the points; rotate,
  zoom, hover for each model's id and figures). The file embeds plotly.js: it opens offline.

The figures are built as :class:`matplotlib.figure.Figure` objects without pyplot (no global
state, no display: safe in a server thread) and rendered with the Agg backend. Importing this
module imports neither matplotlib nor plotly; building a figure does.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lts.controller.report import ModelRow, build_report
from lts.controller.store import HypervolumeRecord, Store
from lts.shared.errors import ConfigError
from lts.shared.objectives import get as objective

if TYPE_CHECKING:
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

#: PNG plots per device besides the slices of its measured objectives (``{name}.png``).
PNG_PLOTS: tuple[str, ...] = ("hypervolume",)
#: HTML plots per device (``{name}.html``).
HTML_PLOTS: tuple[str, ...] = ("frontier3d",)
#: Series labels of the 2-D slices, in legend order.
SERIES: tuple[str, ...] = ("candidates", "Pareto frontier", "layer-scaled baselines")

#: matplotlib is not thread-safe (its font cache, text layout): one figure at a time.
_RENDER_LOCK = threading.Lock()


@dataclass(frozen=True)
class Point:
    """One measured candidate: its search-time values by objective (a prediction stands in
    where the report's rule says so). A screened candidate is never a point."""

    arch_id: str
    n_layer: int
    d_model: int
    decoder_params: int
    values: dict[str, float]

    def value(self, name: str) -> float | None:
        return self.values.get(name)


@dataclass(frozen=True)
class DevicePlotData:
    """What the plots of one device show. ``failed`` counts candidates without figures."""

    search_id: int
    device: str
    status: str
    candidates: list[Point]
    failed: int
    frontier: list[ModelRow]
    baselines: list[ModelRow]
    hypervolumes: list[HypervolumeRecord]
    objectives: tuple[str, ...] = ("params", "latency", "memory")

    @property
    def title(self) -> str:
        return f"search {self.search_id} on {self.device} ({self.status})"

    @property
    def measured(self) -> list[str]:
        """The measured objectives, in the search's order: one 2-D slice each."""
        return [n for n in self.objectives if objective(n).measured]

    @property
    def plots(self) -> tuple[str, ...]:
        """Every plot of this device: the slices, then :data:`PNG_PLOTS` and
        :data:`HTML_PLOTS`."""
        return (*self.measured, *PNG_PLOTS, *HTML_PLOTS)


def plot_data(store: Store, search_id: int, device: str | None = None) -> list[DevicePlotData]:
    """The plot data of every device of the search that was reached (only ``device``, an
    agent or device name, if given). Raises StoreError for an unknown search and
    ConfigError for a device the search did not run on."""
    report = build_report(store, search_id, device)
    out = []
    for d in report.devices:
        if d.device_id is None:
            logger.warning("search %d: agent %s was never reached; no plots", search_id, d.agent)
            continue
        points, failed = _candidate_points(store, search_id, d.device_id, d.objectives)
        out.append(
            DevicePlotData(
                search_id=search_id,
                device=d.device or d.agent,
                status=d.status,
                candidates=points,
                failed=failed,
                frontier=[r for r in d.frontier if r.error is None],
                baselines=[c.baseline for c in d.comparisons if c.baseline.error is None],
                hypervolumes=store.hypervolumes(search_id, d.device_id),
                objectives=d.objectives,
            )
        )
    return out


def one_device(data: list[DevicePlotData], device: str | None) -> DevicePlotData:
    """The one device of ``data``; ``device`` must name it when there are several."""
    if not data:
        raise ConfigError("device", "no device of this search has been reached yet")
    if device is None and len(data) > 1:
        names = ", ".join(d.device for d in data)
        raise ConfigError("device", f"the search ran on several devices; name one of: {names}")
    return data[0]


def _candidate_points(
    store: Store, search_id: int, device_id: int, objectives: tuple[str, ...]
) -> tuple[list[Point], int]:
    points: dict[str, Point] = {}
    failed = 0
    names = [n for n in objectives if objective(n).measured]
    for c in store.candidate_figures(search_id, device_id):
        if c.iteration < 0 or c.measurement_id is None:  # a screened one has no measurement
            continue
        if not c.ok:
            failed += 1
            continue
        values, _ = c.filled(names)
        points[c.arch_id] = Point(c.arch_id, c.n_layer, c.d_model, c.decoder_params, values)
    return list(points.values()), failed


# ---------------------------------------------------------------------------------- PNG
def slice_figure(data: DevicePlotData, y: str) -> Figure:
    """Decoder parameters against measured objective ``y``: candidates, frontier and
    baselines as three labelled series (a series with no point is left out)."""
    if y not in data.measured:
        raise ConfigError("plot", f"no 2-D slice {y!r}; choose from {', '.join(data.measured)}")
    o = objective(y)
    fig, ax = _new_figure()
    cand = [(p.decoder_params, v) for p in data.candidates if (v := p.value(y)) is not None]
    front = [(r.decoder_params, v) for r in data.frontier if (v := r.value(y)) is not None]
    base = sorted(
        ((r.decoder_params, v, r.n_layer) for r in data.baselines if (v := r.value(y)) is not None),
        key=lambda t: t[0],
    )
    if cand:
        ax.scatter(*_mxy(cand), s=14, color="0.65", alpha=0.7, label=SERIES[0], zorder=2)
    if front:
        ax.scatter(*_mxy(front), s=46, color="tab:red", edgecolor="black", linewidth=0.6,
                   label=SERIES[1], zorder=4)  # fmt: skip
    if base:
        xs, ys = _mxy([(x, v) for x, v, _ in base])
        ax.plot(xs, ys, marker="s", color="tab:blue", linewidth=1.2, label=SERIES[2], zorder=3)
        for (x, v), (_, _, n) in zip(zip(xs, ys, strict=True), base, strict=True):
            ax.annotate(f"{n}L", (x, v), textcoords="offset points", xytext=(4, 4), fontsize=7,
                        color="tab:blue")  # fmt: skip
    ax.set_xlabel("decoder parameters (millions)")
    ax.set_ylabel(("median " if o.timed else "") + o.heading)
    failed = f", {data.failed} failed" if data.failed else ""
    ax.set_title(f"{data.title}: {len(data.candidates)} candidates{failed}", fontsize=10)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    return fig


def hypervolume_figure(data: DevicePlotData) -> Figure:
    """The hypervolume after each completed iteration (one series)."""
    fig, ax = _new_figure()
    pts = [(h.iteration, h.hypervolume) for h in data.hypervolumes if h.hypervolume is not None]
    if pts:
        xs, ys = zip(*pts, strict=True)
        ax.plot(xs, ys, marker="o", color="tab:green", label="hypervolume")
        ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("iteration")
    ax.set_ylabel("hypervolume (normalised objectives)")
    ax.set_title(data.title, fontsize=10)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.grid(True, alpha=0.3)
    return fig


def figure(data: DevicePlotData, name: str) -> Figure:
    """The PNG plot ``name`` (a slice or one of :data:`PNG_PLOTS`) of one device."""
    if name == "hypervolume":
        return hypervolume_figure(data)
    if name in data.measured:
        return slice_figure(data, name)
    choices = ", ".join(p for p in data.plots if p not in HTML_PLOTS)
    raise ConfigError("plot", f"no plot {name!r}; choose from {choices}")


def png_bytes(fig: Figure, dpi: int = 120) -> bytes:
    """The figure as PNG bytes (Agg)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _new_figure() -> tuple[Figure, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.0, 4.6), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _mxy(pairs: list[tuple[int, float]]) -> tuple[list[float], list[float]]:
    return [x / 1e6 for x, _ in pairs], [y for _, y in pairs]


# --------------------------------------------------------------------------------- HTML
def frontier3d_figure(data: DevicePlotData) -> Any:
    """A plotly figure: decoder parameters and the first two measured objectives of the
    candidates, the frontier and the baselines (a third measured objective colours the
    frontier); a ``plotly.graph_objects.Figure``."""
    import plotly.graph_objects as go

    names = data.measured
    y, z = names[0], names[1] if len(names) > 1 else names[0]
    extra = names[2] if len(names) > 2 else None
    oy, oz = objective(y), objective(z)
    fig = go.Figure()
    front_marker: dict[str, Any] = {"size": 6, "color": "#d62728"}
    if extra is not None:
        scale = {"title": objective(extra).heading}
        front_marker = {"size": 6, "color": [r.value(extra) for r in data.frontier],
                        "colorscale": "Viridis", "colorbar": scale}  # fmt: skip
    groups = (
        (SERIES[0], data.candidates, {"size": 3, "color": "#a0a0a0", "opacity": 0.6}, "markers"),
        (SERIES[1], data.frontier, front_marker, "markers"),
        (SERIES[2], sorted(data.baselines, key=lambda r: r.decoder_params),
         {"size": 5, "color": "#1f77b4", "symbol": "square"}, "lines+markers"),
    )  # fmt: skip
    for label, series, marker, mode in groups:
        rows = [r for r in series if r.value(y) is not None and r.value(z) is not None]
        if not rows:
            continue
        fig.add_trace(
            go.Scatter3d(
                name=label,
                mode=mode,
                x=[r.decoder_params / 1e6 for r in rows],
                y=[float(r.value(y) or 0.0) for r in rows],
                z=[float(r.value(z) or 0.0) for r in rows],
                text=[r.arch_id for r in rows],
                customdata=[[r.n_layer, r.d_model, r.decoder_params] for r in rows],
                hovertemplate=(
                    "%{text}<br>%{customdata[0]} layers, d_model %{customdata[1]}<br>"
                    f"%{{customdata[2]:,}} decoder params<br>%{{y:.3f}} {oy.unit} {oy.label}, "
                    f"%{{z:.1f}} {oz.unit} {oz.label}<extra>{label}</extra>"
                ),
                marker=marker,
            )
        )
    fig.update_layout(
        title=plot_text(f"{data.title}: Pareto frontier in 3-D"),
        scene={
            "xaxis_title": "decoder parameters (M)",
            "yaxis_title": ("median " if oy.timed else "") + oy.heading,
            "zaxis_title": ("median " if oz.timed else "") + oz.heading,
        },
        margin={"l": 0, "r": 0, "t": 40, "b": 0},
    )
    return fig


def plot_text(text: str) -> str:
    """``text`` as plotly shows it literally: plotly renders a subset of HTML in its texts
    (links among them), and a device's name comes from its agent."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def frontier3d_html(data: DevicePlotData) -> str:
    """The 3-D frontier as one self-contained HTML page (plotly.js embedded)."""
    return str(frontier3d_figure(data).to_html(full_html=True, include_plotlyjs=True))


# --------------------------------------------------------------------------------- files
def render(data: DevicePlotData, name: str) -> bytes:
    """Plot ``name`` (PNG or HTML) of one device as bytes. Thread-safe (PNGs are rendered one
    at a time)."""
    if name in HTML_PLOTS:
        return frontier3d_html(data).encode()
    with _RENDER_LOCK:
        return png_bytes(figure(data, name))


def safe_name(text: str) -> str:
    """``text`` as a file-name part (letters, digits, ``.``, ``_``, ``-``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "device"


def write_plots(
    store: Store, search_id: int, out_dir: str | Path, device: str | None = None
) -> list[Path]:
    """Write every plot of every reached device (or of ``device``) under ``out_dir`` as
    ``{device}-{name}.png`` / ``.html``; return the paths in the order written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for data in plot_data(store, search_id, device):
        stem = safe_name(data.device)
        for name in data.plots:
            ext = "html" if name in HTML_PLOTS else "png"
            path = out / f"{stem}-{name}.{ext}"
            path.write_bytes(render(data, name))
            paths.append(path)
    return paths
