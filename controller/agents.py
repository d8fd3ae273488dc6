"""The agents registry: named agents (URL and token) in a TOML file.

The file (default ``$XDG_CONFIG_HOME/lts/agents.toml``, i.e. ``~/.config/lts/agents.toml``;
``--agents-file`` or ``LTS_AGENTS_FILE`` override it) holds one table per agent::

    [agents.pi]
    url = "http://192.168.1.20:8900"
    token_file = "~/.config/lts/pi.token"   # or: token = "..." (the file is safer)

    [agents.laptop]
    url = "http://127.0.0.1:8900"            # no token: an agent started with --no-auth

``--agents pi,laptop`` names agents from the file; an item that is a URL
(``http://host:port``) is used as it is (its token, if any, from ``--token-file``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import tomlkit

from lts.shared.errors import ConfigError
from lts.shared.tokens import read_token_file

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def default_agents_file() -> Path:
    """``$XDG_CONFIG_HOME/lts/agents.toml`` (``~/.config/lts/agents.toml`` without it)."""
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "lts" / "agents.toml"


@dataclass(frozen=True)
class AgentSpec:
    """One agent: ``name`` (None for a plain URL until the agent tells its own), ``url``, and
    a token given inline or, better, in ``token_file``."""

    name: str | None
    url: str
    token: str | None = None
    token_file: str | None = None

    @property
    def label(self) -> str:
        """How to refer to the agent in messages: its name, else its URL."""
        return self.name or self.url

    def resolve_token(self) -> str | None:
        """The bearer token (the file is read now), or None for a token-less agent.

        Raises :class:`ConfigError` if the token file cannot be read or is empty.
        """
        if self.token_file:
            path = Path(self.token_file).expanduser()
            return read_token_file(path, f"agents.{self.label}.token_file")
        return self.token or None


def check_url(url: str, field: str = "url") -> str:
    """``url`` without a trailing slash, if it is an http(s) URL with a host."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(field, f"must be an http:// or https:// URL with a host, got {url!r}")
    return url.rstrip("/")


def check_name(name: str) -> str:
    if not name or not set(name) <= _NAME_CHARS:
        raise ConfigError("name", f"use letters, digits, '-', '_' and '.'; got {name!r}")
    return name


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


class AgentsFile:
    """The agents file at ``path``. Reads and writes are whole-file; not safe against two
    writers at once (it is edited by hand or by ``controller agents``)."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_agents_file()

    def load(self) -> dict[str, AgentSpec]:
        """Every agent by name (an empty registry when the file does not exist)."""
        if not self.path.exists():
            return {}
        try:
            data = tomllib.loads(self.path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("agents", f"{self.path}: not valid TOML ({exc})") from None
        table = data.get("agents", {})
        if not isinstance(table, dict):
            raise ConfigError("agents", f"{self.path}: [agents] must be a table of agents")
        return {name: _parse(name, entry) for name, entry in table.items()}

    def get(self, name: str) -> AgentSpec:
        agents = self.load()
        if name not in agents:
            known = ", ".join(agents) or "none"
            raise ConfigError("agents", f"no agent named {name!r} in {self.path} (known: {known})")
        return agents[name]

    def add(self, spec: AgentSpec, *, replace: bool = False) -> None:
        """Add (or with ``replace``, overwrite) the agent ``spec.name``."""
        name = spec.name
        if name is None:
            raise ConfigError("name", "an agent in the file needs a name")
        check_name(name)
        check_url(spec.url)
        if name in self.load() and not replace:
            raise ConfigError(
                "name", f"{name!r} is already in {self.path} (use --replace to overwrite)"
            )
        entry = tomlkit.table()
        entry["url"] = spec.url
        if spec.token_file:
            entry["token_file"] = spec.token_file
        if spec.token:
            entry["token"] = spec.token
        self._edit(lambda tables: tables | {name: entry})

    def remove(self, name: str) -> None:
        if name not in self.load():
            raise ConfigError("agents", f"no agent named {name!r} in {self.path}")
        self._edit(lambda tables: {k: v for k, v in tables.items() if k != name})

    def _edit(self, change: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        """Rewrite the file with its agents' tables changed by ``change``, sorted by name; the
        rest of the file (comments, other tables, the layout of untouched agents) stays as the
        user wrote it. A comment just above an agent's header belongs to the agent before it."""
        if self.path.exists():
            doc = tomlkit.parse(self.path.read_text(encoding="utf-8"))
        else:
            doc = tomlkit.document()
            doc.add(tomlkit.comment("LTS agents (controller agents add/list/remove)"))
            doc.add(tomlkit.nl())
        old = doc.get("agents", {})
        tables = change({name: old[name] for name in old})
        agents = tomlkit.table(is_super_table=True)
        for name in sorted(tables):
            agents[name] = tables[name]
        doc["agents"] = agents
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".toml.tmp")
        # Owner only (0600), from its creation on: it names token files, or holds tokens.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(tomlkit.dumps(doc))
        tmp.chmod(0o600)  # a leftover temporary file keeps its old mode otherwise
        tmp.replace(self.path)


def resolve_agents(
    items: Iterable[str], registry: AgentsFile, token_file: str | None = None
) -> list[AgentSpec]:
    """``--agents`` items (names in the file or URLs) as agents, in order, without repeats.

    A URL item gets ``token_file`` (the token of agents given by URL).
    """
    out: list[AgentSpec] = []
    for raw in items:
        item = raw.strip()
        if not item:
            continue
        if is_url(item):
            spec = AgentSpec(None, check_url(item, "agents"), token_file=token_file)
        else:
            spec = registry.get(item)
        if any(s.url == spec.url for s in out):
            raise ConfigError("agents", f"{item!r} is listed twice")
        out.append(spec)
    if not out:
        raise ConfigError(
            "agents", "name at least one agent (a name from the agents file or a URL)"
        )
    return out


def check_tokens(specs: Iterable[AgentSpec]) -> None:
    """Read every agent's token now, so that a missing or empty token file is a one-line
    :class:`ConfigError` (naming the agent's ``token_file``) before anything is started."""
    for spec in specs:
        spec.resolve_token()


def _parse(name: str, entry: object) -> AgentSpec:
    field = f"agents.{name}"
    if not isinstance(entry, dict):
        raise ConfigError(field, "must be a table with url (and token_file or token)")
    unknown = set(entry) - {"url", "token", "token_file"}
    if unknown:
        raise ConfigError(field, f"unknown keys {sorted(unknown)}; allowed: url, token, token_file")
    url = entry.get("url")
    if not isinstance(url, str):
        raise ConfigError(f"{field}.url", "is required (a string)")
    for key in ("token", "token_file"):
        if key in entry and not isinstance(entry[key], str):
            raise ConfigError(f"{field}.{key}", "must be a string")
    return AgentSpec(
        name=name,
        url=check_url(url, f"{field}.url"),
        token=entry.get("token"),
        token_file=entry.get("token_file"),
    )
