"""The three top-level folders are installed as ``lts.shared``, ``lts.agent`` and
``lts.controller`` (setup.py), so no other distribution's top-level ``agent`` or ``controller``
can clash with them; every import in the repository uses those names."""

from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("shared", "agent", "controller")


def _python_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
        text=True, check=True,
    ).stdout.split()  # fmt: skip
    out = []
    for name in listed:
        path = ROOT / name
        if not path.is_file():
            continue
        if path.suffix == ".py" or path.read_bytes()[:22] == b"#!/usr/bin/env python3":
            out.append(path)
    return out


def _bare_imports(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [n for n in _code_imports(node.value) if n.split(".")[0] in FOLDERS]
            continue
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [n for n in names if n.split(".")[0] in FOLDERS]
    return found


def _code_imports(text: str) -> list[str]:
    """Module names imported by the statements in ``text`` (``import a, b`` gives both)."""
    out = []
    for stmt in re.split(r"[;\n]", text):
        words = stmt.strip().replace(",", " ").split()
        if len(words) >= 2 and words[0] == "from":
            out.append(words[1])
        elif len(words) >= 2 and words[0] == "import":
            out += words[1:]
    return out


def test_no_file_imports_a_folder_by_its_bare_name() -> None:
    files = _python_files()
    assert len(files) > 100, "the repository's Python files were not found"
    offenders = {
        str(f.relative_to(ROOT)): bad
        for f in files
        if f != Path(__file__).resolve()
        and (bad := _bare_imports(ast.parse(f.read_text(), filename=str(f))))
    }
    assert offenders == {}


def test_the_scan_finds_a_bare_import() -> None:
    assert _bare_imports(ast.parse("from controller.store import Store\nimport agent.cli")) == [
        "controller.store",
        "agent.cli",
    ]
    assert _bare_imports(ast.parse("from lts.controller.store import Store\nfrom . import x")) == []
    code = 'run("import sys, shared.params; from agent.main import app")'
    assert _bare_imports(ast.parse(code)) == ["shared.params", "agent.main"]


def test_the_installed_packages_are_the_folders() -> None:
    for folder in FOLDERS:
        spec = importlib.util.find_spec(f"lts.{folder}")
        assert spec is not None and spec.origin is not None
        assert Path(spec.origin).resolve() == ROOT / folder / "__init__.py"
