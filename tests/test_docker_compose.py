"""docker-compose.yml and the Dockerfiles against the code they run (no Docker engine needed).

What the files say is checked against the real services: every command is parsed by the real
Typer app of its console script; every environment variable is an option's ``envvar`` or a
field of the service's pydantic ``Settings`` (whose prefix is read from the class) and its
value validates there; ports agree between the command, ``ports``/``expose``, the health
check, the Dockerfile and the app's routes (``/health`` exists); the extras the Dockerfiles
install exist in pyproject.toml and hold every library the controller image imports; the
images install from requirements.lock (docker/lock_install.py, unit-tested here); COPY sources
exist and .dockerignore lets them (and no secret) into the build context; the build arguments
compose passes are declared by the Dockerfiles; the `postgres` profile's controller reaches its
server with the password file both share. Where Debian's ``docker-compose`` (v1) is installed,
``docker-compose config`` validates the file, with and without the profile.

scripts/docker-smoke builds the images and runs all of it for real (a Docker engine, root).
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import json
import os
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
DOCKERIGNORE = ROOT / ".dockerignore"
#: LTS's own images (the others, e.g. PostgreSQL's, run no LTS program).
LTS_DOCKERFILES = [ROOT / "docker" / "agent.Dockerfile", ROOT / "docker" / "controller.Dockerfile"]
#: Environment variables read by a library rather than by LTS's options or settings.
LIBRARY_ENV = {"PGPASSFILE"}  # libpq (psycopg): the PostgreSQL password file
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

    def args(self) -> dict[str, str | None]:
        """Every ARG and its default (None: none)."""
        out: dict[str, str | None] = {}
        for rest in self.all("ARG"):
            name, eq, default = rest.partition("=")
            out[name] = default if eq else None
        return out

    def base(self) -> str:
        """The image of the first FROM, its ``${ARG}`` replaced by the ARG's default."""
        args = self.args()
        return re.sub(r"\$\{?(\w+)\}?", lambda m: args[m[1]] or "", self.all("FROM")[0].split()[0])

    def lock_installs(self) -> list[list[str]]:
        """The extras of each ``python lock_install.py deps EXTRAS`` of its RUN lines."""
        runs = " ".join(self.all("RUN"))
        return [g.split(",") for g in re.findall(r"lock_install\.py deps ([\w,-]+)", runs)]

    def exec_form(self, word: str) -> list[str]:
        """The JSON array of the last ``word`` (CMD, or HEALTHCHECK's CMD)."""
        rest = self.all(word)[-1]
        if word == "HEALTHCHECK":
            rest = rest.split(" CMD ", 1)[1]
        return json.loads(rest)


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run an LTS program (the PostgreSQL server's is not one)."""
    return {n: s for n, s in compose["services"].items() if "command" in s}


def _program_of(service: dict[str, Any]) -> Program:
    return program(service["command"][0])


# ---------------------------------------------------------------------------------- tests
def test_services_and_build_contexts(compose: dict[str, Any]) -> None:
    services = _services(compose)
    assert {"controller", "agent-1", "agent-2"} <= set(services)
    assert [n for n, s in services.items() if s["command"][0] == "agent"] == ["agent-1", "agent-2"]
    assert set(compose["services"]) - set(services) == {"postgres"}
    for name, service in compose["services"].items():
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
        known = prog.envvars() | set(by_settings) | LIBRARY_ENV
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


def _copy_sources(dockerfile: Dockerfile) -> list[str]:
    """The sources of every COPY, checked to exist in the repository."""
    out = []
    for rest in dockerfile.all("COPY"):
        *sources, _ = shlex.split(rest)
        sources = [s for s in sources if not s.startswith("--")]
        matched = 0
        for source in sources:
            hits = fnmatch.filter([str(p.relative_to(ROOT)) for p in ROOT.glob("*/*")]
                                  + [p.name for p in ROOT.iterdir()], source)  # fmt: skip
            if not any(c in source for c in "*?["):
                assert (ROOT / source).exists(), f"{dockerfile.path.name}: COPY {source}: none"
            matched += len(hits) or (ROOT / source).exists()
            out += hits or [source]
        assert matched, f"{dockerfile.path.name}: COPY {rest} matches nothing"
    return out


@pytest.mark.parametrize("path", LTS_DOCKERFILES, ids=lambda p: p.name)
def test_lts_dockerfiles(path: Path) -> None:
    dockerfile = Dockerfile.read(path)
    assert dockerfile.base().startswith("python:3.11"), "the default base: the official image"
    extras = PYPROJECT["project"]["optional-dependencies"]
    installs = dockerfile.lock_installs()
    assert installs, f"{path.name} installs no extra of this project through lock_install.py"
    for group in installs:
        for extra in group:
            assert extra in extras, f"{path.name} installs .[{extra}], not in pyproject.toml"
    # From the lock: the dependency layer needs pyproject.toml and the lock, nothing more, and
    # the project is installed (without dependencies) after the code is copied.
    runs = dockerfile.all("RUN")
    assert "python lock_install.py project" in runs
    copied = _copy_sources(dockerfile)
    assert {"requirements.lock", "pyproject.toml", "docker/lock_install.py"} <= set(copied)
    first_copy = dockerfile.all("COPY")[0]
    assert "shared" not in first_copy and "requirements.lock" in first_copy
    user = dockerfile.all("USER")
    assert user and user[-1] not in ("root", "0"), f"{path.name} runs as root"
    prog = program(dockerfile.exec_form("CMD")[0])
    sub, params = prog.command(dockerfile.exec_form("CMD"))
    assert sub.name == "serve" and params["host"] == "0.0.0.0"


def test_postgres_dockerfile_and_entry_point(compose: dict[str, Any]) -> None:
    """The PostgreSQL image: Debian's server on a Debian 12 base, the entry point in the image,
    its health check the service's, its password file the secret both sides read."""
    dockerfile = Dockerfile.read(ROOT / "docker" / "postgres.Dockerfile")
    assert dockerfile.base() == "debian:bookworm-slim"
    assert "postgresql-15" in " ".join(dockerfile.all("RUN"))
    assert "docker/postgres-entrypoint" in _copy_sources(dockerfile)
    assert os.access(ROOT / "docker" / "postgres-entrypoint", os.X_OK)
    entry = (ROOT / "docker" / "postgres-entrypoint").read_text()
    assert "exec setpriv --reuid=postgres" in entry, "the server must not run as root"
    r = subprocess.run(["sh", "-n", str(ROOT / "docker" / "postgres-entrypoint")],
                       capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0, r.stderr
    env = dict(e.split("=", 1) for e in " ".join(dockerfile.all("ENV")).split() if "=" in e)
    service = compose["services"]["postgres"]
    assert service["healthcheck"]["test"][1:] == dockerfile.exec_form("HEALTHCHECK")
    assert dockerfile.all("EXPOSE") == [str(p) for p in service["expose"]] == ["5432"]
    (passfile,) = service["secrets"]
    assert env["POSTGRES_PASSFILE"] == f"/run/secrets/{passfile}"
    (volume,) = service["volumes"]
    assert volume.split(":")[1] == env["PGDATA"] and volume.split(":")[0] in compose["volumes"]
    # The controller on it: user, database, host and port of the server; the same file.
    pg = compose["services"]["controller-pg"]
    assert pg["profiles"] == service["profiles"] == ["postgres"]
    assert "postgres" in pg["depends_on"]
    url = pg["environment"]["LTS_DB"]
    assert url == (f"postgresql+psycopg://{env['POSTGRES_USER']}@postgres:5432/"
                   f"{env['POSTGRES_DB']}")  # fmt: skip
    assert pg["environment"]["PGPASSFILE"] == f"/run/secrets/{passfile}"
    assert passfile in pg["secrets"]


def test_build_arguments_are_declared(compose: dict[str, Any]) -> None:
    """Every build argument compose passes is an ARG of its Dockerfile (the classic builder
    ignores, with a warning, one that is not), and BASE defaults to the same image in both."""
    for name, service in compose["services"].items():
        build = service["build"]
        dockerfile = Dockerfile.read(ROOT / build["context"] / build["dockerfile"])
        declared = dockerfile.args()
        for arg, value in build.get("args", {}).items():
            assert arg in declared, f"{name}: {arg} is not an ARG of {build['dockerfile']}"
            if arg in ("BASE", "TORCH_INDEX_URL"):
                assert interpolate(value) == declared[arg], f"{name}: {arg} defaults differ"


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regular expression over paths relative to the context
    (``*`` and ``?`` within one folder, ``**`` any number of folders)."""
    text = ""
    for seg in pattern.strip("/").split("/"):
        if seg == "**":
            text += "(?:[^/]+/)*"
        else:
            text += "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c)
                            for c in seg) + "/"  # fmt: skip
    return re.compile(text.removesuffix("/"))


def _ignored(rel: str, patterns: list[str]) -> bool:
    """Whether .dockerignore's ``patterns`` leave ``rel`` out of the build context: the last
    pattern that matches the path or a folder above it wins; ``!`` lets it in again."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    out = False
    for pattern in patterns:
        regex = _dockerignore_regex(pattern.removeprefix("!"))
        if any(regex.fullmatch(p) for p in prefixes):
            out = not pattern.startswith("!")
    return out


def test_dockerignore_keeps_the_context_to_what_the_images_copy() -> None:
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")]  # fmt: skip
    for path in sorted((ROOT / "docker").glob("*.Dockerfile")):
        for source in _copy_sources(Dockerfile.read(path)):
            assert not _ignored(source, patterns), f"{path.name}: COPY {source} is ignored"
            if (ROOT / source).is_dir():
                for file in (ROOT / source).rglob("*.py"):
                    if "__pycache__" not in file.parts:
                        rel = str(file.relative_to(ROOT))
                        assert not _ignored(rel, patterns), rel
    for secret in (".env", "docker/secrets/agent.token", ".venv/bin/python", "lts.sqlite",
                   ".git/config", "agent/__pycache__/x.pyc", "lts-demo/demo.sqlite"):
        assert _ignored(secret, patterns), f"{secret} would be sent to the engine"


def _lock_install() -> Any:
    path = ROOT / "docker" / "lock_install.py"
    spec = importlib.util.spec_from_file_location("lock_install", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("machine", ["x86_64", "aarch64"])
def test_lock_install_pins_every_package(
    machine: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What the images' dependency layer asks pip for: the base dependencies and the extras'
    (as pyproject.toml lists them), under the lock as constraints; torch from PyTorch's index
    alone on x86-64, torch==2.9.1 in the lock's place on aarch64."""
    li = _lock_install()
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copy(ROOT / "requirements.lock", tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(li.platform, "machine", lambda: machine)
    monkeypatch.setattr(li, "CONSTRAINTS", tmp_path / "constraints.txt")
    monkeypatch.setenv("TORCH_INDEX_URL", "https://download.pytorch.org/whl/cpu")
    monkeypatch.delenv("TORCH_AARCH64", raising=False)
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(li, "pip", lambda *args: calls.append(args))
    li.install_deps(["agent"])
    project = PYPROJECT["project"]
    expected = [*project["dependencies"], *project["optional-dependencies"]["agent"], "setuptools"]
    lock = (ROOT / "requirements.lock").read_text()
    torch_pin = re.search(r"^torch==\S+", lock, re.M)[0]
    constraints = (tmp_path / "constraints.txt").read_text().splitlines()
    if machine == "x86_64":
        assert calls == [
            ("--no-deps", "--index-url", "https://download.pytorch.org/whl/cpu", torch_pin),
            ("--constraint", str(tmp_path / "constraints.txt"), *expected),
        ]
        assert torch_pin in constraints
    else:
        assert calls == [("--constraint", str(tmp_path / "constraints.txt"), *expected)]
        assert "torch==2.9.1" in constraints and torch_pin not in constraints
    pins = [line for line in lock.splitlines() if "==" in line and not line.startswith("#")]
    assert len(constraints) == len(pins)
    assert set(constraints) - {"torch==2.9.1"} == set(pins) - {torch_pin} | (
        {torch_pin} if machine == "x86_64" else set()
    )
    calls.clear()
    li.install_deps(["controller", "postgres"])
    assert calls == [("--constraint", str(tmp_path / "constraints.txt"), *project["dependencies"],
                      *project["optional-dependencies"]["controller"],
                      *project["optional-dependencies"]["postgres"], "setuptools")]  # fmt: skip
    assert li.requirements(["dev"])[: len(project["dependencies"])] == project["dependencies"]
    with pytest.raises(SystemExit):
        li.install_deps(["no-such-extra"])


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


def test_documented_one_liners_run_a_search_on_the_compose_agents(
    compose: dict[str, Any],
) -> None:
    """Every command line `docker compose exec SERVICE controller search ...` in the docs, the
    README and the compose file's comments: SERVICE runs the controller, the command parses
    with the real CLI, and its agents are compose services named in the agents file."""
    lines = [
        line.strip().lstrip("#$ ")
        for path in (DOCS, ROOT / "README.md", COMPOSE)
        for line in path.read_text().splitlines()
        if re.search(r"compose exec \S+ controller search", line)
        and line.strip().lstrip("#$ ").startswith(("docker ", "docker-compose "))
    ]
    assert lines, f"{DOCS.name} has no one-liner"
    services = _services(compose)
    from lts.controller.agents import AgentsFile

    (volume,) = [v for v in services["controller"]["volumes"] if v.endswith("agents.toml:ro")]
    agents = AgentsFile(ROOT / volume.split(":")[0]).load()
    for line in lines:
        argv = shlex.split(line.split(" && ")[-1])
        match = re.search(r"compose exec (\S+) controller search", line)
        assert match, line
        service = match[1]
        assert services[service]["command"][0] == "controller", line
        assert any(v.endswith(":/etc/lts/agents.toml:ro") for v in services[service]["volumes"])
        argv = argv[argv.index("controller", argv.index(service) + 1) :]
        _, params = program("controller").command(argv)
        names = params["agents"].split(",")
        assert set(names) <= set(agents), line
        assert {agents[n].url.split("//")[1].split(":")[0] for n in names} <= set(services)


def test_docker_compose_v1_validates_the_file(tmp_path: Path) -> None:
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.skip("Debian's docker-compose (v1) is not installed: apt-get install docker-compose")
    for profile in ([], ["--profile", "postgres"]):
        r = subprocess.run([exe, "-f", str(COMPOSE), *profile, "config", "--quiet"],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)  # fmt: skip
        assert r.returncode == 0, r.stderr
