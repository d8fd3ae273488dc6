"""docker-compose.yml and the Dockerfiles against the code they run (no Docker engine here).

What the files say is checked against the real services: every command is parsed by the real
Typer app of its console script; every environment variable is an option's ``envvar`` or a
field of the service's pydantic ``Settings`` (whose prefix is read from the class) and its
value validates there; ports agree between the command, ``ports``/``expose``, the health
check, the Dockerfile and the app's routes (``/health`` exists); the extras the Dockerfiles
install exist in pyproject.toml and hold every library the controller image imports; COPY
sources exist. Where Debian's ``docker-compose`` (v1) is installed, ``docker-compose config``
validates the file as well.
"""

from __future__ import annotations

import fnmatch
import importlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCS = ROOT / "docs" / "plots_exports_docker.md"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
_VAR = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")
_HEALTH_URL = re.compile(r"http://(?:127\.0\.0\.1|localhost):(\d+)(/[\w/-]*)")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(value: str) -> str:
    """Compose's ``${VAR:-default}`` with every variable unset."""
    return _VAR.sub(lambda m: m[2] or "", value)


# ------------------------------------------------------------------ the real programs
@dataclass
class Program:
    """A console script: its Typer app (as a click group) and its package's Settings."""

    name: str
    group: Any  # typer's (vendored) click Group
    settings: list[type[BaseSettings]]

    def command(self, argv: list[str]) -> tuple[Any, dict[str, Any]]:
        """The subcommand of ``argv`` (``[program, sub, options...]``) and the options it
        parses them into (click does the parsing: unknown options and bad values raise)."""
        assert argv[0] == self.name, argv
        sub = self.group.commands.get(argv[1])
        assert sub is not None, f"{self.name} has no command {argv[1]!r}"
        with sub.make_context(argv[1], list(argv[2:])) as ctx:
            return sub, dict(ctx.params)

    def envvars(self) -> set[str]:
        """Every option's environment variable, over all the program's commands."""
        out: set[str] = set()
        for sub in self.group.commands.values():
            for param in sub.params:
                env = getattr(param, "envvar", None)
                out.update([env] if isinstance(env, str) else env or [])
        return out

    def settings_env(self) -> dict[str, type[BaseSettings]]:
        return {
            f"{cls.model_config.get('env_prefix', '')}{field}".upper(): cls
            for cls in self.settings
            for field in cls.model_fields
        }


def program(name: str) -> Program:
    """The program of console script ``name`` (from pyproject.toml's [project.scripts])."""
    module_name = PYPROJECT["project"]["scripts"][name].split(":")[0]
    module = importlib.import_module(module_name)
    (app,) = [v for v in vars(module).values() if isinstance(v, typer.Typer)]
    group = typer.main.get_command(app)
    package = module_name.split(".")[1]  # lts.<folder>.cli
    settings = []
    for path in sorted((ROOT / package).rglob("settings.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        mod = importlib.import_module("lts." + ".".join(rel.parts))
        settings += [
            v for v in vars(mod).values()
            if isinstance(v, type) and issubclass(v, BaseSettings) and v.__module__ == mod.__name__
        ]  # fmt: skip
    assert settings, f"no pydantic Settings under {package}/"
    return Program(name, group, settings)


def service_port(prog: Program, argv: list[str]) -> int:
    """The port the command listens on: its --port, else the Settings default."""
    _, params = prog.command(argv)
    if params.get("port") is not None:
        return int(params["port"])
    (cls,) = [c for c in prog.settings if "port" in c.model_fields]
    return int(cls.model_fields["port"].default)


def health_target(test: list[str] | str) -> tuple[int, str]:
    text = " ".join(test) if isinstance(test, list) else test
    match = _HEALTH_URL.search(text)
    assert match, f"health check calls no local URL: {text}"
    return int(match[1]), match[2]


def app_paths(prog: Program, tmp_path: Path) -> set[str]:
    """The routes of the service's FastAPI app (``create_app`` in the module beside its
    Settings), built without starting it."""
    (cls,) = [c for c in prog.settings if "port" in c.model_fields]
    main = importlib.import_module(cls.__module__.rsplit(".", 1)[0] + ".main")
    kwargs: dict[str, Any] = {"no_auth": True}
    if "db" in cls.model_fields:
        kwargs["db"] = str(tmp_path / "health.sqlite")
    app = main.create_app(cls(**kwargs))
    return set(app.openapi()["paths"])


# ---------------------------------------------------------------------------- Dockerfiles
@dataclass
class Dockerfile:
    path: Path
    instructions: list[tuple[str, str]]

    @classmethod
    def read(cls, path: Path) -> Dockerfile:
        text = re.sub(r"\\\n", " ", path.read_text())
        out = []
        for line in text.splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                word, _, rest = line.partition(" ")
                out.append((word.upper(), rest.strip()))
        return cls(path, out)

    def all(self, word: str) -> list[str]:
        return [rest for w, rest in self.instructions if w == word]

    def exec_form(self, word: str) -> list[str]:
        """The JSON array of the last ``word`` (CMD, or HEALTHCHECK's CMD)."""
        rest = self.all(word)[-1]
        if word == "HEALTHCHECK":
            rest = rest.split(" CMD ", 1)[1]
        return json.loads(rest)


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _program_of(service: dict[str, Any]) -> Program:
    return program(service["command"][0])


# ---------------------------------------------------------------------------------- tests
def test_services_and_build_contexts(compose: dict[str, Any]) -> None:
    services = _services(compose)
    assert {"controller", "agent-1", "agent-2"} <= set(services)
    assert [n for n, s in services.items() if s["command"][0] == "agent"] == ["agent-1", "agent-2"]
    for name, service in services.items():
        context = ROOT / service["build"]["context"]
        assert context.is_dir(), name
        assert (context / service["build"]["dockerfile"]).is_file(), name


def test_commands_parse_with_the_real_clis(compose: dict[str, Any]) -> None:
    for name, service in _services(compose).items():
        prog = _program_of(service)
        sub, params = prog.command(service["command"])
        assert sub.name == "serve", name
        assert params["host"] == "0.0.0.0", f"{name} must listen beyond its container"


def test_environment_matches_options_and_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, service in _services(compose).items():
        prog = _program_of(service)
        env = {k: interpolate(str(v)) for k, v in service["environment"].items()}
        by_settings = prog.settings_env()
        known = prog.envvars() | set(by_settings)
        unknown = sorted(set(env) - known)
        assert not unknown, f"{name}: no option or setting reads {unknown}"
        for key in list(env):
            monkeypatch.delenv(key, raising=False)
        for cls in {by_settings[k] for k in env if k in by_settings}:
            for key, value in env.items():
                monkeypatch.setenv(key, value)
            cls()  # the values validate (types, ranges)
        for key, value in env.items():
            if value.startswith("/run/secrets/"):
                secret = value.removeprefix("/run/secrets/")
                assert secret in service.get("secrets", []), f"{name}: {key} needs {secret}"
                assert secret in compose["secrets"], secret


def test_tokens_come_from_secret_files(compose: dict[str, Any]) -> None:
    """Agents refuse to start without a token; the controller's API must have one to serve
    reads on 0.0.0.0 (see controller.api.auth)."""
    for name, service in _services(compose).items():
        prog = _program_of(service)
        token_files = {k for k in prog.settings_env() if k.endswith("_TOKEN_FILE")}
        assert token_files & set(service["environment"]), f"{name} has no token file"
    for secret in compose["secrets"].values():
        assert set(secret) == {"file"} and _VAR.fullmatch(secret["file"])


def test_ports_health_checks_and_routes_agree(compose: dict[str, Any], tmp_path: Path) -> None:
    for name, service in _services(compose).items():
        prog = _program_of(service)
        port = service_port(prog, service["command"])
        published = [int(interpolate(str(p)).rsplit(":", 1)[-1]) for p in service.get("ports", [])]
        exposed = [int(p) for p in service.get("expose", [])]
        assert published + exposed and set(published + exposed) == {port}, name
        health_port, path = health_target(service["healthcheck"]["test"])
        assert (health_port, path) == (port, "/health"), name
        assert path in app_paths(prog, tmp_path), f"{name}: the app has no {path}"
        build = service["build"]
        dockerfile = Dockerfile.read(ROOT / build["context"] / build["dockerfile"])
        assert dockerfile.all("EXPOSE") == [str(port)], name
        assert health_target(dockerfile.exec_form("HEALTHCHECK")) == (port, "/health")
        # The image's own CMD is the same service.
        assert service_port(prog, dockerfile.exec_form("CMD")) == port


def test_volume_holds_the_store(compose: dict[str, Any]) -> None:
    controller = _services(compose)["controller"]
    db = controller["environment"]["LTS_DB"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in controller["volumes"]}
    assert str(Path(db).parent) in mounts
    assert mounts[str(Path(db).parent)] in compose["volumes"]  # a named volume
    dockerfile = Dockerfile.read(ROOT / "docker" / "controller.Dockerfile")
    assert any(str(Path(db).parent) in v for v in dockerfile.all("VOLUME"))
    for host, target in ((v.split(":")[0], v.split(":")[1]) for v in controller["volumes"]):
        if host.startswith("."):
            assert (ROOT / host).is_file(), host
            if target == controller["environment"].get("LTS_AGENTS_FILE"):
                from lts.controller.agents import AgentsFile

                agents = AgentsFile(ROOT / host).load()
                services = _services(compose)
                for spec in agents.values():
                    svc, _, port = spec.url.removeprefix("http://").partition(":")
                    assert svc in services, spec.url
                    assert int(port) == service_port(
                        _program_of(services[svc]), services[svc]["command"]
                    )


@pytest.mark.parametrize("path", sorted((ROOT / "docker").glob("*.Dockerfile")), ids=str)
def test_dockerfiles(path: Path) -> None:
    dockerfile = Dockerfile.read(path)
    assert dockerfile.all("FROM")[0].startswith("python:3.11")
    extras = PYPROJECT["project"]["optional-dependencies"]
    installs = re.findall(r"""["']?\.\[([\w,-]+)\]["']?""", " ".join(dockerfile.all("RUN")))
    assert installs, f"{path.name} installs no extra of this project"
    for group in installs:
        for extra in group.split(","):
            assert extra in extras, f"{path.name} installs .[{extra}], not in pyproject.toml"
    for rest in dockerfile.all("COPY"):
        *sources, _ = shlex.split(rest)
        sources = [s for s in sources if not s.startswith("--")]
        matched = 0
        for source in sources:
            hits = fnmatch.filter([p.name for p in ROOT.iterdir()], source)
            if not any(c in source for c in "*?["):
                assert (ROOT / source).exists(), f"{path.name}: COPY {source}: not in the repo"
            matched += len(hits) or (ROOT / source).exists()
        assert matched, f"{path.name}: COPY {rest} matches nothing"
    user = dockerfile.all("USER")
    assert user and user[-1] not in ("root", "0"), f"{path.name} runs as root"
    prog = program(dockerfile.exec_form("CMD")[0])
    sub, params = prog.command(dockerfile.exec_form("CMD"))
    assert sub.name == "serve" and params["host"] == "0.0.0.0"


def test_controller_image_needs_no_more_than_its_extra(tmp_path: Path) -> None:
    """The controller image holds shared/ and controller/ and installs .[controller] (no
    agent/, no torch): its CLI, API and plots must work without agent/ and torch, and every
    library that shared/ and controller/ import must come with the controller extra (or the
    base dependencies), except those of the agent extra, which only exports to pt/onnx use
    (behind a one-line error)."""
    code = """
import sys
sys.modules["lts.agent"] = None
sys.modules["torch"] = None
import lts.controller.cli, lts.controller.api.main
from lts.controller import plots
point = plots.Point("a", 1, 64, 1000, {"latency": 1.0, "memory": 2.0})
data = plots.DevicePlotData(1, "d", "done", [point], 0, [], [], [])
plots.render(data, "latency"); plots.render(data, "frontier3d")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                            "MPLCONFIGDIR": str(tmp_path)})  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    from importlib.metadata import packages_distributions

    dists = packages_distributions()
    extras = PYPROJECT["project"]["optional-dependencies"]
    base = PYPROJECT["project"]["dependencies"]
    controller = _closure(base + extras["controller"])
    agent_only = _closure(base + extras["agent"]) - controller
    missing, unknown = set(), set()
    for module in _imports(ROOT / "shared", ROOT / "controller"):
        names = {_norm(d) for d in dists.get(module, [])}
        if not names:
            unknown.add(module)
        elif not names & (controller | agent_only):
            missing.add(f"{module} ({', '.join(sorted(names))})")
    assert not unknown, f"imported by shared/ or controller/ but not installed here: {unknown}"
    assert not missing, f"imported by shared/ or controller/, not in .[controller]: {missing}"


def _imports(*folders: Path) -> set[str]:
    """Top-level names of the third-party modules the code in ``folders`` imports."""
    import ast

    first_party = {"lts"}  # the folders are the packages lts.<folder> (setup.py)
    out: set[str] = set()
    for folder in folders:
        for path in folder.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    out.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    out.add(node.module.split(".")[0])
    return out - first_party - set(sys.stdlib_module_names) - {"__future__"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _closure(requirements: list[str]) -> set[str]:
    """The distributions these requirements install (as installed here), transitively."""
    from importlib.metadata import PackageNotFoundError, requires

    todo = [re.split(r"[ ;<>=!~\[]", r, maxsplit=1)[0] for r in requirements]
    seen: set[str] = set()
    while todo:
        name = _norm(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = requires(name) or []
        except PackageNotFoundError:
            continue
        todo += [re.split(r"[ ;<>=!~\[(]", r, maxsplit=1)[0] for r in reqs if "extra ==" not in r]
    return seen


def test_documented_one_liner_runs_a_search_on_the_compose_agents(
    compose: dict[str, Any],
) -> None:
    lines = [
        line.strip().removeprefix("$ ")
        for line in DOCS.read_text().splitlines()
        if "compose exec controller controller search" in line
    ]
    assert lines, f"{DOCS.name} has no one-liner"
    services = _services(compose)
    from lts.controller.agents import AgentsFile

    (volume,) = [v for v in services["controller"]["volumes"] if v.endswith("agents.toml:ro")]
    agents = AgentsFile(ROOT / volume.split(":")[0]).load()
    for line in lines:
        argv = shlex.split(line)
        argv = argv[argv.index("controller", argv.index("exec") + 2) :]
        _, params = program("controller").command(argv)
        names = params["agents"].split(",")
        assert set(names) <= set(agents), line
        assert {agents[n].url.split("//")[1].split(":")[0] for n in names} <= set(services)


def test_docker_compose_v1_validates_the_file(tmp_path: Path) -> None:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("Debian's docker-compose (v1) is not installed: apt-get install docker-compose")
    r = subprocess.run([exe, "-f", str(COMPOSE), "config", "--quiet"], capture_output=True,
                       text=True, cwd=ROOT, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stderr
