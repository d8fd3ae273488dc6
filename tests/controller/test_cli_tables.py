"""CLI tables at 80 columns: optional columns go, no cell is cut ("st…", "dev…")."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console
from testkit import screening_search

from lts.controller.commands._tables import Col, fitted
from lts.controller.commands.report import render_report
from lts.controller.report import build_report
from lts.controller.store import Store, database_url


def console(width: int) -> Console:
    return Console(width=width, file=io.StringIO(), record=True, color_system=None)


def test_fitted_drops_optional_columns_until_the_table_fits() -> None:
    cols = [Col("arch_id"), Col("note", drop=2), Col("decoder params", "right"),
            Col("p10-p90", "right", 3), Col("memory", "right", 1)]  # fmt: skip
    rows = [["0123456789abcdef", "a long note " * 4, "1,234,567", "12.3-45.6", "120.5"]]
    wide = console(200)
    wide.print(fitted(wide, cols, rows))
    text = wide.export_text()
    assert "p10-p90" in text and "a long note" in text
    narrow = console(60)
    narrow.print(fitted(narrow, cols, rows, caption="the frontier"))
    text = narrow.export_text()
    assert "…" not in text
    assert "0123456789abcdef" in text and "1,234,567" in text and "120.5" in text
    assert "left out to fit p10-p90, note" in text.replace("\n", " ")


def test_results_at_80_columns_cut_nothing(tmp_path: Path) -> None:
    db = database_url(tmp_path / "lts.sqlite")
    ids = screening_search(db)
    with Store.open(db) as store:
        report = build_report(store, ids["search"])
    out = console(80)
    render_report(out, report)
    text = out.export_text()
    assert "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    for row in report.devices[0].frontier:
        assert row.arch_id in text
