"""Plots of a real small search: the figures' series, valid PNGs, the 3-D HTML, the CLI.

The store comes from :func:`real_search`: two real agents on loopback (1 and 2 threads: two
devices) and a 3-iteration search of a tiny space, about a minute on two busy cores, run once
per session and shared with ``test_exports*.py``.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from testkit import SERVER_START_S
from typer.testing import CliRunner

from lts.controller.agents import AgentSpec
from lts.controller.cli import app
from lts.controller.plots import (
    HTML_PLOTS,
    PNG_PLOTS,
    SERIES,
    frontier3d_figure,
    frontier3d_html,
    hypervolume_figure,
    one_device,
    plot_data,
    plot_text,
    png_bytes,
    slice_figure,
)
from lts.controller.report import build_report
from lts.controller.search.config import SearchConfig
from lts.controller.search.local_agent import LocalAgent
from lts.controller.search.runner import SearchRunner, start_search
from lts.controller.search.small_spaces import TINY_SPACE
from lts.controller.store import Store
from lts.shared.errors import ConfigError, StoreError

DEVICES = ("plots-one", "plots-two")
SEQ_LEN = 32
_DONE: dict[str, Path] = {}
cli = CliRunner()


def real_search(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The store of one finished search on two real agents (run once per session)."""
    if "db" in _DONE:
        return _DONE["db"]
    home = tmp_path_factory.mktemp("real-search")
    agents = [
        LocalAgent(name=name, threads=i + 1, log_path=home / f"{name}.log",
                   start_timeout_s=SERVER_START_S)
        for i, name in enumerate(DEVICES)
    ]
    try:
        for agent in agents:
            agent.launch()
        for agent in agents:
            agent.wait_ready()
        config = SearchConfig.build(
            agents=[a.url for a in agents], space=TINY_SPACE, seed=1, iterations=3, population=6,
            parents=2, baseline_sizes="space", baseline_layers=[1, 3], final_budget_factor=2.0,
            final_share=1.0, batch_size=4, fail_after_s=60.0,
            measure={"time_budget_s": 0.3, "min_time_s": 0.1, "warmup_s": 0.02,
                     "seq_len": SEQ_LEN},
        )  # fmt: skip
        db = home / "lts.sqlite"
        with Store.open(db) as store:
            sid = start_search(store, config, "plots-and-exports").id
            specs = [AgentSpec(None, a.url) for a in agents]
            outcome = asyncio.run(SearchRunner(store, sid, specs).run())
        assert outcome.status == "done", outcome
    finally:
        for agent in agents:
            agent.stop()
    _DONE["db"] = db
    return db


@pytest.fixture(scope="session")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return real_search(tmp_path_factory)


@pytest.fixture
def store(searched: Path):
    with Store.open(searched) as s:
        yield s


def _png_size(data: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img.verify()
        assert img.format == "PNG"
        return img.size


def test_importing_the_cli_imports_no_plotting_library() -> None:
    code = (
        "import sys, lts.controller.cli, lts.controller.plots, lts.controller.exports; "
        "sys.exit(sorted({'torch', 'matplotlib', 'plotly'} & set(sys.modules)) or 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_plot_data_per_device(store: Store) -> None:
    data = plot_data(store, 1)
    assert [d.device for d in data] == list(DEVICES)
    report = build_report(store, 1)
    for d, rep in zip(data, report.devices, strict=True):
        assert d.status == "done"
        assert len(d.candidates) == rep.counts.proposed - d.failed
        assert {r.arch_id for r in d.frontier} == {r.arch_id for r in rep.frontier}
        assert sorted(r.n_layer for r in d.baselines) == [1, 3]
        assert [h.iteration for h in d.hypervolumes] == [0, 1, 2]
    (two,) = plot_data(store, 1, "plots-two")
    assert two.device == "plots-two"
    assert one_device([two], None) is two
    with pytest.raises(ConfigError, match="several devices; name one of: plots-one, plots-two"):
        one_device(data, None)
    with pytest.raises(ConfigError, match="no device named 'nope'"):
        plot_data(store, 1, "nope")
    with pytest.raises(StoreError, match="no search with id 99"):
        plot_data(store, 99)


@pytest.mark.parametrize("y", ["latency", "memory"])
def test_slices_show_candidates_frontier_and_baselines(store: Store, y: str) -> None:
    for d in plot_data(store, 1):
        fig = slice_figure(d, y)
        (ax,) = fig.axes
        _, labels = ax.get_legend_handles_labels()
        assert labels == list(SERIES)  # three series, in this order
        assert [t.get_text() for t in ax.get_legend().get_texts()] == list(SERIES)
        cands, front = ax.collections  # the two scatter series
        assert len(cands.get_offsets()) == len(d.candidates)
        assert len(front.get_offsets()) == len(d.frontier)
        got = sorted(tuple(p) for p in front.get_offsets().tolist())
        want = sorted((r.decoder_params / 1e6, r.value(y)) for r in d.frontier)
        # approx compares arrays of any shape (it rejects nested tuples since pytest 9.2)
        assert np.array(got) == pytest.approx(np.array(want))
        (line,) = ax.lines  # the baselines, by decoder parameters
        assert list(line.get_xdata()) == pytest.approx(
            sorted(r.decoder_params / 1e6 for r in d.baselines)
        )
        assert ax.get_ylabel() == {"latency": "median prefill latency (ms)",
                                   "memory": "peak memory (MiB)"}[y]  # fmt: skip
        width, height = _png_size(png_bytes(fig))
        assert width > 400 and height > 300


def test_hypervolume_per_iteration(store: Store) -> None:
    d = plot_data(store, 1)[0]
    fig = hypervolume_figure(d)
    (line,) = fig.axes[0].lines
    assert list(line.get_xdata()) == [0, 1, 2]
    assert list(line.get_ydata()) == pytest.approx([h.hypervolume for h in d.hypervolumes])
    _png_size(png_bytes(fig))


def test_frontier3d_html_holds_the_frontier(store: Store) -> None:
    d = plot_data(store, 1)[1]
    fig = frontier3d_figure(d)
    traces = {t.name: t for t in fig.data}
    assert set(traces) == set(SERIES)
    front = traces["Pareto frontier"]
    assert list(front.text) == [r.arch_id for r in d.frontier]
    assert list(front.x) == pytest.approx([r.decoder_params / 1e6 for r in d.frontier])
    assert list(front.y) == pytest.approx([r.value("latency") for r in d.frontier])
    assert list(front.z) == pytest.approx([r.value("memory") for r in d.frontier])
    html = frontier3d_html(d)  # ~5 MB: compare through booleans, not pytest's diff
    assert html.lower().startswith("<!doctype html>")
    assert ("Plotly.newPlot" in html) is True
    # plotly.js is embedded (the file opens offline), not loaded from a CDN
    assert (re.search(r"<script[^>]*src=", html) is None) is True
    data = json.loads(re.search(r"Plotly\.newPlot\(\s*\S+,\s*(\[.*?\]),\s*\{", html, re.S)[1])
    (shown,) = [t for t in data if t["name"] == "Pareto frontier"]
    assert shown["text"] == [r.arch_id for r in d.frontier]
    assert shown["y"] == pytest.approx([r.value("latency") for r in d.frontier])
    assert shown["z"] == pytest.approx([r.value("memory") for r in d.frontier])


def test_markup_in_a_device_name_reaches_plotly_as_text(store: Store) -> None:
    """Review 2026-12-07, F10: an agent's name put live links into the 3-D page's title."""
    from dataclasses import replace

    name = "evil<img src=x onerror=alert(1)><a href='https://evil.example/'>phish</a>&amp;"
    d = replace(plot_data(store, 1)[1], device=name)
    title = frontier3d_figure(d).layout.title.text
    assert "<" not in title and ">" not in title
    assert "&lt;a href='https://evil.example/'&gt;phish&lt;/a&gt;&amp;amp;" in title
    assert plot_text("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_the_dashboard_escapes_device_names_for_plotly() -> None:
    """The dashboard's compare chart names both devices in its title, axes and legend."""
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the dashboard script's helper cannot be run")
    from lts.controller.dashboard import SCRIPTS, Assets

    script = "\n".join(Assets().get(name).body.decode() for name in SCRIPTS)
    helper = re.search(r"^function plotText\(s\) \{.*?^\}", script, re.S | re.M)
    assert helper is not None
    compare = script[script.index("updateCompare() {"):script.index("this.clickable(this.compare")]
    shown = "\n".join(line for line in compare.splitlines() if "values[" not in line)  # not keys
    assert "plotText(nameA)" in shown and "plotText(nameB)" in shown
    assert not re.search(r"\$\{name[AB]\}", shown)  # every name shown goes through plotText
    code = helper[0] + '\nprocess.stdout.write(plotText("<a href=x>&</a>"));'
    out = subprocess.run([node, "-e", code], capture_output=True, text=True, check=True).stdout
    assert out == "&lt;a href=x&gt;&amp;&lt;/a&gt;"


def test_plot_cli_writes_every_plot(searched: Path, tmp_path: Path) -> None:
    r = cli.invoke(app, ["plot", "1", "--db", str(searched), "--out", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    files = [Path(p) for p in json.loads(r.stdout)["files"]]
    names = [f"{d}-{n}.png" for d in DEVICES for n in ("latency", "memory", *PNG_PLOTS)]
    names += [f"{d}-{n}.html" for d in DEVICES for n in HTML_PLOTS]
    assert sorted(p.name for p in files) == sorted(names)
    for p in files:
        assert p.parent == tmp_path
        if p.suffix == ".png":
            _png_size(p.read_bytes())
        else:
            assert "Plotly.newPlot" in p.read_text()
    r = cli.invoke(app, ["plot", "1", "--db", str(searched), "--out", str(tmp_path / "two"),
                         "--device", "plots-two"])  # fmt: skip
    assert r.exit_code == 0, r.output
    assert [Path(line).name for line in r.stdout.split()] == [
        f"plots-two-{n}.{'html' if n in HTML_PLOTS else 'png'}"
        for n in ("latency", "memory", *PNG_PLOTS, *HTML_PLOTS)
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["99"], "error: no search with id 99"),
        (["1", "--device", "nope"], "error: device: search 1 has no device named 'nope'"),
    ],
)
def test_plot_cli_errors(searched: Path, tmp_path: Path, args: list[str], message: str) -> None:
    r = cli.invoke(app, ["plot", *args, "--db", str(searched), "--out", str(tmp_path)])
    assert r.exit_code == 1
    assert r.stderr.strip() == message
    assert not list(tmp_path.iterdir())


def test_plot_in_a_real_process(searched: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-c", "from lts.controller.cli import main; main()", "plot", "1",
           "--device", "plots-one", "--db", str(searched), "--out", str(tmp_path)]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    paths = [Path(line) for line in r.stdout.splitlines()]
    assert len(paths) == 2 + len(PNG_PLOTS) + len(HTML_PLOTS)  # a slice per measured objective
    assert all(p.is_file() and p.stat().st_size > 1000 for p in paths)
