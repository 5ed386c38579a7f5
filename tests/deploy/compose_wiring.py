"""What `docker compose up` would find out the hard way, checked without Docker.

Docker is not available where the suite runs, so the cluster in `docker-compose.yml` is
checked as data: Compose's own variable interpolation is reproduced (`interpolate`), the
Accolade config the services mount is loaded with exactly the environment those services
get, and every place that names a host, port, user, password, database, namespace or search
attribute is compared with the one place that defines it. Each `check_*` function returns
problems as sentences (empty = wired), so a test can also break a copy on purpose and see
the check notice.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy.engine import make_url

from cli.up import SEARCH_ATTRIBUTES
from config import Config, load_config

__all__ = [
    "CHECKS",
    "CLUSTER_ENV",
    "COMPOSE",
    "Cluster",
    "MissingVariable",
    "interpolate",
    "load_cluster",
    "required_variables",
    "wiring_problems",
]

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
# What a user exports before `docker compose up` (README "Running on a real cluster").
CLUSTER_ENV = {"POSTGRES_PASSWORD": "pg0secret", "ACCOLADE_API_KEY": "api-key", "GITHUB_WEBHOOK_SECRET": "gh-secret",
               "GITLAB_WEBHOOK_TOKEN": "gl-token", "JIRA_WEBHOOK_SECRET": "jira-secret",
               "OKTA_HOOK_AUTHORIZATION": "okta-auth", "XAPI_KEY": "xapi-key", "XAPI_SECRET": "xapi-secret",
               "SCIM_TOKEN": "scim-token"}

# Service names are part of the interface: README commands (`--scale worker=2`,
# `docker compose exec receiver …`) and the host names in examples/cluster.yaml use them.
POSTGRES, SCHEMA, SERVER, NAMESPACE, UI = "postgres", "temporal-schema", "temporal", "temporal-namespace", "temporal-ui"
MIGRATE, RECEIVER, WORKER = "accolade-migrate", "receiver", "worker"
ACCOLADE_SERVICES = (MIGRATE, RECEIVER, WORKER)
IMAGES = {POSTGRES: "postgres", SCHEMA: "temporalio/admin-tools", SERVER: "temporalio/server",
          NAMESPACE: "temporalio/admin-tools", UI: "temporalio/ui"}
HEALTHY, COMPLETED = "service_healthy", "service_completed_successfully"
# The start-up order the hub needs; extra edges are allowed, missing ones are not.
REQUIRED_ORDER = {
    (SCHEMA, POSTGRES): HEALTHY,
    (SERVER, SCHEMA): COMPLETED,
    (NAMESPACE, SERVER): HEALTHY,
    (UI, SERVER): HEALTHY,
    (MIGRATE, POSTGRES): HEALTHY,
    (RECEIVER, MIGRATE): COMPLETED,
    (RECEIVER, NAMESPACE): COMPLETED,
    (WORKER, MIGRATE): COMPLETED,
    (WORKER, NAMESPACE): COMPLETED,
}
ACCOLADE_CONFIG = "accolade-config"   # the top-level `configs` entry the Accolade services mount


class MissingVariable(Exception):
    """A `${NAME:?message}` whose variable is unset: Compose refuses to start."""


_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_]\w*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>.*))?", re.S)


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's interpolation of every string in `value`: `$$`, `$X`, `${X}`, `${X:-d}`,
    `${X-d}`, `${X:?e}`, `${X?e}`, `${X:+a}`, `${X+a}`."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if isinstance(value, str):
        return _VARIABLE.sub(lambda match: _substitute(match, env), value)
    return value


def _substitute(match: re.Match[str], env: Mapping[str, str]) -> str:
    if match["escaped"]:
        return "$"
    if match["named"]:
        return env.get(match["named"], "")
    parts = _BRACED.fullmatch(match["braced"])
    if parts is None:
        raise ValueError(f"invalid interpolation ${{{match['braced']}}}")
    name, op, arg = parts["name"], parts["op"] or "", parts["arg"] or ""
    present = name in env and (env[name] != "" or not op.startswith(":"))
    if op.endswith("-"):
        return env[name] if present else arg
    if op.endswith("?"):
        if not present:
            raise MissingVariable(f"{name}: {arg}")
        return env[name]
    if op.endswith("+"):
        return arg if present else ""
    return env.get(name, "")


def required_variables(text: str) -> set[str]:
    """Variables the file requires (`${X:?…}` or `${X?…}`): the user must set them."""
    return set(re.findall(r"(?<!\$)\$\{([A-Za-z_]\w*):?\?", text))


@dataclass
class Cluster:
    compose: dict[str, Any]   # after interpolation, as Compose would run it
    config: Config            # the Accolade config the services mount, loaded with their environment
    root: Path                # where `build.context` and `configs.*.file` are relative to

    def service(self, name: str) -> dict[str, Any]:
        return self.compose["services"].get(name) or {}

    def env(self, name: str) -> dict[str, str]:
        return _environment(self.service(name))


def _environment(service: Mapping[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):  # ["KEY=value", …]
        raw = dict(item.split("=", 1) if "=" in item else (item, "") for item in raw)
    return {key: "" if value is None else str(value) for key, value in raw.items()}


def load_cluster(compose_file: Path, env: Mapping[str, str], *, root: Path = ROOT) -> Cluster:
    """The cluster as Compose would run it with `env` exported (raises MissingVariable)."""
    compose = interpolate(yaml.safe_load(compose_file.read_text(encoding="utf-8")), env)
    config_file = root / compose["configs"][ACCOLADE_CONFIG]["file"]
    config = load_config(config_file, env=_environment(compose["services"][RECEIVER]))
    return Cluster(compose, config, root)


# ----------------------------------------------------------------------------- helpers


def _ports(service: Mapping[str, Any]) -> list[tuple[str, int | None, int]]:
    """(host ip, published port or None, container port) of each `ports` entry."""
    out: list[tuple[str, int | None, int]] = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            published = entry.get("published")
            out.append((entry.get("host_ip", ""), int(published) if published else None, int(entry["target"])))
        else:
            out.append(_short_port(str(entry)))
    return out


def _short_port(entry: str) -> tuple[str, int | None, int]:
    """`[ip:][published:]target[/protocol]`, the ip possibly `[ipv6]`."""
    spec, ip = entry.split("/")[0], ""
    if spec.startswith("["):
        ip, spec = spec[1:].split("]:", 1)
    parts = spec.split(":")
    if len(parts) == 3:
        ip, published, target = parts
    else:
        published, target = parts if len(parts) == 2 else ("", parts[0])
    return ip, int(published) if published else None, int(target)


def _healthcheck_ports(service: Mapping[str, Any]) -> set[int]:
    test = (service.get("healthcheck") or {}).get("test") or []
    text = test if isinstance(test, str) else " ".join(test)
    return {int(n) for n in re.findall(r"(?<![\d.])(\d{2,5})(?![\d.])", text)}


def _script(service: Mapping[str, Any]) -> str:
    command = service.get("command") or []
    if isinstance(command, str):
        return command
    return command[-1] if command and str(command[0]).endswith("sh") else shlex.join(command)


def _script_lines(script: str) -> list[list[str]]:
    """Shell lines as words, with the script's own `name=value` variables expanded."""
    local: dict[str, str] = {}
    lines: list[list[str]] = []
    for raw in script.replace("\\\n", " ").splitlines():
        line = re.sub(r"\$\{?(\w+)\}?", lambda m: local.get(m[1], m[0]), raw.strip())
        if assignment := re.fullmatch(r"(\w+)=([^\s'\"]+)", line):
            local[assignment[1]] = assignment[2]
        elif line and not line.startswith("#"):
            lines.append(shlex.split(line, comments=True))
    return lines


def _flag(words: list[str], *names: str) -> str | None:
    for i, word in enumerate(words[:-1]):
        if word in names:
            return words[i + 1]
    return None


def _postgres(cluster: Cluster) -> dict[str, Any]:
    env = cluster.env(POSTGRES)
    user = env.get("POSTGRES_USER", "postgres")
    return {"host": POSTGRES, "port": int(env.get("PGPORT", "5432")), "user": user,
            "password": env.get("POSTGRES_PASSWORD", ""), "database": env.get("POSTGRES_DB", user)}


def _temporal_databases(cluster: Cluster) -> tuple[str, str]:
    env = cluster.env(SERVER)
    return env.get("DBNAME", "temporal"), env.get("VISIBILITY_DBNAME", "temporal_visibility")


def _schema_commands(cluster: Cluster) -> list[list[str]]:
    return [w for w in _script_lines(_script(cluster.service(SCHEMA))) if w[:1] == ["temporal-sql-tool"]]


def _created_databases(cluster: Cluster) -> set[str]:
    created = {_postgres(cluster)["database"]}
    return created | {_flag(w, "--db", "--database") or "temporal"
                      for w in _schema_commands(cluster) if "create" in w}


def _grpc_port(cluster: Cluster) -> int:
    return int(cluster.env(SERVER).get("FRONTEND_GRPC_PORT", "7233"))


def _frontend(cluster: Cluster) -> str:
    return f"{SERVER}:{_grpc_port(cluster)}"


def _config_target(service: Mapping[str, Any]) -> str | None:
    for entry in service.get("configs") or []:
        if isinstance(entry, dict) and entry.get("source") == ACCOLADE_CONFIG:
            return entry.get("target", f"/{ACCOLADE_CONFIG}")
    return None


# ----------------------------------------------------------------------------- checks


def check_services(cluster: Cluster) -> list[str]:
    problems = []
    for name, image in IMAGES.items():
        actual = cluster.service(name).get("image", "")
        if actual.split(":")[0] != image:
            problems.append(f"service {name} must run image {image}, not {actual or 'nothing'}")
    for name in ACCOLADE_SERVICES:
        if "build" not in cluster.service(name):
            problems.append(f"service {name} must run the Accolade image built from the Dockerfile")
    for name, service in cluster.compose["services"].items():
        if "temporalio/auto-setup" in str(service.get("image", "")):
            problems.append(f"service {name} uses temporalio/auto-setup, which is deprecated")
    tags = {cluster.service(n).get("image", "").partition(":")[2] for n in (SCHEMA, SERVER, NAMESPACE)}
    if len(tags) != 1:
        problems.append(f"temporalio/server and admin-tools must be one release (schema = server), got {tags}")
    return problems


def check_order(cluster: Cluster) -> list[str]:
    services = cluster.compose["services"]
    problems = []
    graph: dict[str, set[str]] = {}
    for name, service in services.items():
        depends = service.get("depends_on") or {}
        depends = {d: {"condition": "service_started"} for d in depends} if isinstance(depends, list) else depends
        graph[name] = set(depends)
        for target, spec in depends.items():
            condition = (spec or {}).get("condition", "service_started")
            if target not in services:
                problems.append(f"{name} depends on {target}, which is not a service")
            elif condition == HEALTHY and not (services[target].get("healthcheck") or {}).get("test"):
                problems.append(f"{name} waits for {target} to be healthy, but {target} has no healthcheck")
            elif condition == COMPLETED and services[target].get("restart", "no") not in ("no", "on-failure"):
                problems.append(f"{name} waits for {target} to complete, but {target} restarts forever")
    for (name, target), condition in REQUIRED_ORDER.items():
        actual = ((services.get(name) or {}).get("depends_on") or {})
        actual_condition = (actual.get(target) or {}).get("condition") if isinstance(actual, dict) else None
        if actual_condition != condition:
            problems.append(f"{name} must depend on {target} with condition {condition}")
    return problems + _cycles(graph)


def _cycles(graph: dict[str, set[str]]) -> list[str]:
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> list[str]:
        if node in path:
            return [f"depends_on cycle: {' -> '.join((*path, node))}"]
        if node in done:
            return []
        done.add(node)
        return [p for nxt in sorted(graph.get(node, ())) for p in visit(nxt, (*path, node))]

    return [p for node in sorted(graph) for p in visit(node, ())]


def check_postgres(cluster: Cluster) -> list[str]:
    pg = _postgres(cluster)
    problems = []
    if pg["port"] not in _healthcheck_ports(cluster.service(POSTGRES)):
        problems.append(f"the postgres healthcheck does not probe its port {pg['port']}")
    if not pg["password"]:
        problems.append("postgres has no POSTGRES_PASSWORD")
    server = cluster.env(SERVER)
    expected = {"POSTGRES_SEEDS": pg["host"], "DB_PORT": str(pg["port"]), "POSTGRES_USER": pg["user"],
                "POSTGRES_PWD": pg["password"]}
    problems += [f"{SERVER}: {key}={server.get(key)!r} but the postgres service has {want!r}"
                 for key, want in expected.items() if server.get(key) != want]
    schema = cluster.env(SCHEMA)
    expected = {"SQL_HOST": pg["host"], "SQL_PORT": str(pg["port"]), "SQL_USER": pg["user"],
                "SQL_PASSWORD": pg["password"]}
    problems += [f"{SCHEMA}: {key}={schema.get(key)!r} but the postgres service has {want!r}"
                 for key, want in expected.items() if schema.get(key) != want]
    return problems


def check_temporal_schema(cluster: Cluster) -> list[str]:
    """Both databases the server reads get created, set up and updated, in that order."""
    plugin = cluster.env(SERVER).get("DB", "")
    problems = [] if plugin == "postgres12" else [f"{SERVER}: DB={plugin!r}, expected postgres12"]
    commands = _schema_commands(cluster)
    for words in commands:
        if _flag(words, "--plugin", "--pl") != plugin:
            problems.append(f"{SCHEMA}: {shlex.join(words)} does not use the server's plugin {plugin}")
    for database, kind in zip(_temporal_databases(cluster), ("temporal", "visibility"), strict=True):
        steps = [w for w in commands if _flag(w, "--db", "--database") == database]
        verbs = [next((v for v in ("create", "setup-schema", "update-schema") if v in w), "?") for w in steps]
        if verbs != ["create", "setup-schema", "update-schema"]:
            problems.append(f"{SCHEMA}: database {database} needs create, setup-schema, update-schema; got {verbs}")
            continue
        directory = _flag(steps[2], "-d", "--schema-dir") or ""
        if not directory.endswith(f"/postgresql/v12/{kind}/versioned"):
            problems.append(f"{SCHEMA}: {database} is updated from {directory!r}, not the {kind} schema")
    return problems


def check_frontend_address(cluster: Cluster) -> list[str]:
    grpc, frontend = _grpc_port(cluster), _frontend(cluster)
    server = cluster.service(SERVER)
    problems = []
    if grpc not in [target for _, _, target in _ports(server)]:
        problems.append(f"{SERVER} does not publish its gRPC port {grpc}")
    if grpc not in _healthcheck_ports(server):
        problems.append(f"the {SERVER} healthcheck does not probe its gRPC port {grpc}")
    if cluster.env(SERVER).get("BIND_ON_IP", "") in ("127.0.0.1", "localhost", "::1"):
        problems.append(f"{SERVER} binds on loopback: no other container can reach {frontend}")
    users = {"examples config temporal.address": cluster.config.temporal.address,
             f"{UI} TEMPORAL_ADDRESS": cluster.env(UI).get("TEMPORAL_ADDRESS"),
             f"{NAMESPACE} TEMPORAL_ADDRESS": cluster.env(NAMESPACE).get("TEMPORAL_ADDRESS")}
    problems += [f"{who} is {address!r}, but the frontend is {frontend}"
                 for who, address in users.items() if address != frontend]
    dynamic = cluster.env(SERVER).get("DYNAMIC_CONFIG_FILE_PATH")
    mounted = [c.get("target") for c in server.get("configs") or [] if isinstance(c, dict)]
    if dynamic not in mounted:
        problems.append(f"{SERVER}: DYNAMIC_CONFIG_FILE_PATH {dynamic!r} is not mounted (the server would not start)")
    return problems


def check_namespace(cluster: Cluster) -> list[str]:
    env, temporal = cluster.env(NAMESPACE), cluster.config.temporal
    problems = []
    if env.get("ACCOLADE_NAMESPACE") != temporal.namespace:
        problems.append(f"{NAMESPACE} creates {env.get('ACCOLADE_NAMESPACE')!r}, the config uses {temporal.namespace!r}")
    if env.get("NAMESPACE_RETENTION") != f"{temporal.retention_days * 24}h":
        problems.append(f"{NAMESPACE} retention {env.get('NAMESPACE_RETENTION')!r} is not "
                        f"retention_days: {temporal.retention_days}")
    attributes = env.get("KEYWORD_SEARCH_ATTRIBUTES", "").split()
    if sorted(attributes) != sorted(SEARCH_ATTRIBUTES):
        problems.append(f"{NAMESPACE} registers {attributes}, the hub uses {list(SEARCH_ATTRIBUTES)}")
    if cluster.env(UI).get("TEMPORAL_DEFAULT_NAMESPACE") != temporal.namespace:
        problems.append(f"{UI} does not open on namespace {temporal.namespace}")
    return problems + _namespace_script(cluster)


def _namespace_script(cluster: Cluster) -> list[str]:
    lines = [" ".join(w) for w in _script_lines(_script(cluster.service(NAMESPACE)))]
    wanted = {
        "creates the namespace with the retention": r"operator namespace create .*--retention \$NAMESPACE_RETENTION",
        "creates each search attribute as Keyword": r"operator search-attribute create .*--type Keyword",
        "loops over the search attributes": r"for \w+ in \$KEYWORD_SEARCH_ATTRIBUTES",
    }
    return [f"{NAMESPACE}: the script no longer {what}" for what, pattern in wanted.items()
            if not any(re.search(pattern, line) for line in lines)]


def check_script_variables(cluster: Cluster) -> list[str]:
    """A one-shot script reads only variables its service defines (or the script sets)."""
    problems = []
    for name in (SCHEMA, NAMESPACE):
        script = _script(cluster.service(name))
        local = set(re.findall(r"(?m)^\s*(\w+)=", script)) | set(re.findall(r"\bfor (\w+) in", script))
        used = set(re.findall(r"\$\{?([A-Za-z_]\w*)", script))
        problems += [f"{name}: its script reads ${v}, which its environment does not set"
                     for v in sorted(used - local - set(cluster.env(name)))]
    return problems


def check_store(cluster: Cluster) -> list[str]:
    url, pg = make_url(cluster.config.store.url), _postgres(cluster)
    problems = [] if url.get_backend_name() == "postgresql" else [f"store.url {url} is not PostgreSQL"]
    actual = {"host": url.host, "port": url.port or 5432, "user": url.username, "password": url.password}
    problems += [f"store.url {key} is {actual[key]!r}, the postgres service has {pg[key]!r}"
                 for key in actual if actual[key] != pg[key]]
    if url.database not in _created_databases(cluster):
        problems.append(f"store.url database {url.database!r} is never created "
                        f"(created: {sorted(_created_databases(cluster))})")
    if url.database in _temporal_databases(cluster):
        problems.append(f"store.url uses Temporal's database {url.database!r}: keep them separate")
    return problems


def check_accolade_image(cluster: Cluster) -> list[str]:
    problems = []
    for name in ACCOLADE_SERVICES:
        build = cluster.service(name).get("build") or {}
        build = {"context": build} if isinstance(build, str) else build
        dockerfile = cluster.root / build.get("context", ".") / build.get("dockerfile", "Dockerfile")
        if not dockerfile.is_file():
            problems.append(f"{name} builds {dockerfile}, which does not exist")
    return problems + _dockerfile_problems(cluster.root)


def _dockerfile_problems(root: Path) -> list[str]:
    path = root / "Dockerfile"
    if not path.is_file():
        return ["no Dockerfile at the repository root"]
    stripped = [line.strip() for line in path.read_text().splitlines()]
    lines = [line for line in stripped if line and not line.startswith("#")]
    final = lines[max(i for i, line in enumerate(lines) if line.upper().startswith("FROM ")):]
    problems = []
    if not re.fullmatch(r"FROM python:3\.1[12]-slim(\s.*)?", final[0]):
        problems.append(f"the image starts {final[0]!r}, not python:3.11-slim or 3.12-slim")
    users = [line.split(None, 1)[1] for line in final if line.upper().startswith("USER ")]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        problems.append("the image runs as root: add a USER")
    if not any(re.search(r"pip (wheel|install)\b.*\s\.$", line) for line in lines):
        problems.append("the Dockerfile does not install this repository with pip")
    ignored = set((root / ".dockerignore").read_text().split()) if (root / ".dockerignore").exists() else set()
    problems += [f".dockerignore must exclude {p} (it would be sent to the builder)"
                 for p in (".venv", ".git") if p not in ignored]
    return problems


def check_accolade_commands(cluster: Cluster) -> list[str]:
    """Each service runs a module the installed package has, with the config it mounts."""
    pyproject = tomllib.loads((cluster.root / "pyproject.toml").read_text())["tool"]["setuptools"]
    packaged = set(pyproject.get("packages", [])) | set(pyproject.get("py-modules", []))
    expected = {MIGRATE: ["accolade", "migrate"], RECEIVER: ["python", "-m", "api.serve"],
                WORKER: ["python", "-m", "worker"]}
    problems = []
    for name, start in expected.items():
        service, target = cluster.service(name), _config_target(cluster.service(name))
        command = service.get("command") or []
        if command != [*start, "--config", target]:
            problems.append(f"{name} runs {command}, expected {[*start, '--config', target]}")
        if cluster.env(name).get("ACCOLADE_CONFIG") != target:
            problems.append(f"{name}: ACCOLADE_CONFIG is not the mounted config {target}")
        module = command[2] if command[:2] == ["python", "-m"] and len(command) > 2 else None
        if module and (module.split(".")[0] not in packaged or find_spec(module) is None):
            problems.append(f"{name}: module {module} is not in the package pyproject.toml installs")
    if not _cli_has("migrate"):
        problems.append("`accolade migrate` is not a registered command")
    return problems


def _cli_has(command: str) -> bool:
    from cli import app

    return any((c.name or c.callback.__name__) == command for c in app.registered_commands if c.callback)


def check_accolade_env(cluster: Cluster) -> list[str]:
    """The config loads in every Accolade container, with only that container's environment."""
    config_file = cluster.root / cluster.compose["configs"][ACCOLADE_CONFIG]["file"]
    problems = []
    for name in ACCOLADE_SERVICES:
        try:
            load_config(config_file, env=cluster.env(name))
        except Exception as exc:  # noqa: BLE001 - any failure is the problem to report
            problems.append(f"{name}: the config does not load with its environment: {exc}")
    return problems


def check_receiver(cluster: Cluster) -> list[str]:
    api, receiver = cluster.config.api, cluster.service(RECEIVER)
    problems = []
    if api.host not in ("0.0.0.0", "::"):
        problems.append(f"api.listen {api.listen} is unreachable from outside the container")
    if api.port not in [target for _, published, target in _ports(receiver) if published]:
        problems.append(f"{RECEIVER} does not publish api.listen's port {api.port}")
    if api.port not in _healthcheck_ports(receiver):
        problems.append(f"the {RECEIVER} healthcheck does not probe api.listen's port {api.port}")
    return problems


def check_scaling_and_ports(cluster: Cluster) -> list[str]:
    worker = cluster.service(WORKER)
    problems = [f"{WORKER} sets {key}: `--scale worker=2` would collide" for key in
                ("container_name", "hostname") if key in worker]
    if any(published for _, published, _ in _ports(worker)):
        problems.append(f"{WORKER} publishes a fixed host port: `--scale worker=2` would collide")
    ui = cluster.service(UI)
    ui_port = int(cluster.env(UI).get("TEMPORAL_UI_PORT", "8080"))
    if ui_port not in [target for _, _, target in _ports(ui)]:
        problems.append(f"{UI} does not publish its port {ui_port}")
    seen: dict[tuple[str, int], str] = {}
    for name, service in cluster.compose["services"].items():
        for ip, published, _ in _ports(service):
            if published and (clash := seen.get((ip, published))):
                problems.append(f"{name} and {clash} both publish {ip or '*'}:{published}")
            if published:
                seen[(ip, published)] = name
    return problems


CHECKS: tuple[Callable[[Cluster], list[str]], ...] = (
    check_services, check_order, check_postgres, check_temporal_schema, check_frontend_address,
    check_namespace, check_script_variables, check_store, check_accolade_image,
    check_accolade_commands, check_accolade_env, check_receiver, check_scaling_and_ports,
)


def wiring_problems(cluster: Cluster) -> list[str]:
    return [problem for check in CHECKS for problem in check(cluster)]
