"""`docker-compose.yml` is a valid Compose file whose services are wired to each other.

Docker cannot run here, so nothing is started: the file is validated against the Compose
Specification's JSON schema (the current one, vendored in check-jsonschema's wheel, which
also accepts the top-level `name:` that the 2021 schema of docker-compose 1.29 rejects), and
`compose_wiring` compares every address, port, credential, database, namespace and search
attribute with the one place that defines it. The second half breaks copies on purpose and
expects the checks to say so: a check that cannot fail proves nothing.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from config import ConfigError, load_config
from tests.deploy.compose_wiring import (
    CHECKS,
    CLUSTER_ENV,
    COMPOSE,
    ROOT,
    Cluster,
    MissingVariable,
    _dockerfile_problems,
    interpolate,
    load_cluster,
    required_variables,
    wiring_problems,
)

CLUSTER_CONFIG = ROOT / "examples" / "cluster.yaml"
ENV = CLUSTER_ENV


def compose_spec() -> dict[str, Any]:
    resource = importlib.resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(resource.read_text(encoding="utf-8"))


def schema_errors(document: dict[str, Any]) -> list[str]:
    spec = compose_spec()
    validator = jsonschema.validators.validator_for(spec)
    validator.check_schema(spec)
    return [f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in validator(spec).iter_errors(document)]


@pytest.fixture
def cluster() -> Cluster:
    return load_cluster(COMPOSE, ENV)


# ------------------------------------------------------------------ the file as it is


def test_compose_file_matches_the_compose_specification(cluster: Cluster) -> None:
    assert compose_spec()["title"] == "Compose Specification"
    assert schema_errors(cluster.compose) == []
    assert "version" not in cluster.compose  # obsolete: Compose warns on every command


def test_the_schema_check_can_fail(cluster: Cluster) -> None:
    broken = copy.deepcopy(cluster.compose)
    broken["services"]["worker"]["depends_on"]["accolade-migrate"]["condition"] = "service_done"
    broken["services"]["worker"]["replica"] = 2
    errors = schema_errors(broken)
    assert any("service_done" in e for e in errors), errors
    assert any("replica" in e for e in errors), errors


@pytest.mark.parametrize("check", CHECKS, ids=[c.__name__ for c in CHECKS])
def test_cluster_is_wired(cluster: Cluster, check: Callable[[Cluster], list[str]]) -> None:
    assert check(cluster) == []


def test_secrets_have_no_defaults_and_the_readme_names_them() -> None:
    required = required_variables(COMPOSE.read_text())
    assert required == set(ENV)
    for name in required:
        with pytest.raises(MissingVariable, match=name):
            load_cluster(COMPOSE, {k: v for k, v in ENV.items() if k != name})
    section = readme_section()
    assert [name for name in sorted(required) if name not in section] == []


def test_cluster_config_is_the_demo_tenant_on_postgres_and_a_temporal_server() -> None:
    cluster_config = load_config(CLUSTER_CONFIG, env=ENV)
    demo = load_config(ROOT / "examples" / "accolade.yaml", env={})
    assert cluster_config.tenants[0].model_dump(exclude={"api_keys", "connectors", "channels"}) == \
        demo.tenants[0].model_dump(exclude={"api_keys", "connectors", "channels"})
    assert [c.id for c in cluster_config.tenants[0].connectors] == [c.id for c in demo.tenants[0].connectors]
    assert cluster_config.store.url == "postgresql+psycopg://accolade:pg0secret@postgres:5432/accolade"
    assert (cluster_config.temporal.address, cluster_config.api.listen) == ("temporal:7233", "0.0.0.0:8787")
    with pytest.raises(ConfigError) as caught:
        load_config(CLUSTER_CONFIG, env={})
    assert sorted(re.findall(r"variable (\w+) is not set", str(caught.value))) == sorted(ENV)


def readme_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Running on a real cluster")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_readme_shows_how_to_start_scale_and_find_the_ui(cluster: Cluster) -> None:
    section = readme_section()
    assert "docker compose up -d" in section
    assert "docker compose up -d --scale worker=2" in section
    ui_port = cluster.service("temporal-ui")["ports"][0].split(":")[-2]
    assert f"http://127.0.0.1:{ui_port}" in section
    for one_shot in ("temporal-schema", "temporal-namespace", "accolade-migrate"):
        assert one_shot in section


def test_interpolation_follows_compose() -> None:
    env = {"SET": "v", "EMPTY": ""}
    cases = {"$$SET": "$SET", "${SET}": "v", "$SET/x": "v/x", "${UNSET:-d}": "d", "${EMPTY:-d}": "d",
             "${EMPTY-d}": "", "${SET:+a}": "a", "${EMPTY+a}": "a", "${UNSET}": "", "a$${b:+c}": "a${b:+c}"}
    assert {text: interpolate(text, env) for text in cases} == cases
    with pytest.raises(MissingVariable, match="EMPTY: say so"):
        interpolate("${EMPTY:?say so}", env)


# ------------------------------------------------------------------ broken copies


def _set(path: str, value: Any) -> Callable[[Cluster], None]:
    """Set (or with value None, delete) `services.x.y` in the copy."""

    def mutate(cluster: Cluster) -> None:
        *parents, last = path.split(".")
        node = cluster.compose
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value

    return mutate


def _config(section: str, **fields: Any) -> Callable[[Cluster], None]:
    def mutate(cluster: Cluster) -> None:
        part = getattr(cluster.config, section).model_copy(update=fields)
        cluster.config = cluster.config.model_copy(update={section: part})

    return mutate


def _drop_visibility(cluster: Cluster) -> None:
    command = cluster.compose["services"]["temporal-schema"]["command"]
    command[-1] = "\n".join(line for line in command[-1].splitlines() if "visibility" not in line)


BROKEN = {
    "server publishes another port": (_set("services.temporal.ports", ["127.0.0.1:7233:7234"]),
                                      "does not publish its gRPC port 7233"),
    "frontend moves, clients stay": (_set("services.temporal.environment.FRONTEND_GRPC_PORT", "7234"),
                                     "but the frontend is temporal:7234"),
    "config points at another port": (_config("temporal", address="temporal:7000"), "temporal.address"),
    "UI points elsewhere": (_set("services.temporal-ui.environment.TEMPORAL_ADDRESS", "temporal:7000"),
                            "temporal-ui TEMPORAL_ADDRESS"),
    "server binds loopback": (_set("services.temporal.environment.BIND_ON_IP", "127.0.0.1"), "binds on loopback"),
    "server on another postgres port": (_set("services.temporal.environment.DB_PORT", "5433"), "DB_PORT='5433'"),
    "schema tool on another host": (_set("services.temporal-schema.environment.SQL_HOST", "db"), "SQL_HOST='db'"),
    "postgres user renamed": (_set("services.postgres.environment.POSTGRES_USER", "temporal"), "POSTGRES_USER="),
    "store database never created": (_config("store", url="postgresql+psycopg://accolade:pg0secret@postgres/hub"),
                                     "'hub' is never created"),
    "store shares Temporal's database": (
        _config("store", url="postgresql+psycopg://accolade:pg0secret@postgres/temporal"), "keep them separate"),
    "store on another host": (_config("store", url="postgresql+psycopg://accolade:pg0secret@db/accolade"),
                              "host is 'db'"),
    "visibility schema skipped": (_drop_visibility, "database temporal_visibility needs create"),
    "server reads another database": (_set("services.temporal.environment.DBNAME", "temporal_main"),
                                      "database temporal_main needs"),
    "unknown dependency": (_set("services.worker.depends_on.temporal-namespaces", {"condition": "service_started"}),
                           "not a service"),
    "server does not wait for its schema": (_set("services.temporal.depends_on.temporal-schema", None),
                                            "temporal must depend on temporal-schema"),
    "healthy wait without healthcheck": (_set("services.temporal.healthcheck", None), "has no healthcheck"),
    "one-shot that restarts forever": (_set("services.accolade-migrate.restart", "always"), "restarts forever"),
    "Dockerfile path wrong": (_set("services.receiver.build", {"context": ".", "dockerfile": "Dockerfile.prod"}),
                              "does not exist"),
    "receiver publishes another port": (_set("services.receiver.ports", ["8787:8788"]), "api.listen's port 8787"),
    "api listens on loopback": (_config("api", listen="127.0.0.1:8787"), "unreachable from outside"),
    "another namespace": (_set("services.temporal-namespace.environment.ACCOLADE_NAMESPACE", "default"),
                          "creates 'default'"),
    "a search attribute missing": (
        _set("services.temporal-namespace.environment.KEYWORD_SEARCH_ATTRIBUTES", "AccoladeTenant AccoladePerson"),
        "registers"),
    "retention differs": (_set("services.temporal-namespace.environment.NAMESPACE_RETENTION", "72h"),
                          "is not retention_days: 30"),
    "script variable undefined": (_set("services.temporal-namespace.environment.NAMESPACE_RETENTION", None),
                                  "reads $NAMESPACE_RETENTION"),
    "worker has a container name": (_set("services.worker.container_name", "worker"), "--scale worker=2"),
    "worker publishes a host port": (_set("services.worker.ports", ["9000:9000"]), "fixed host port"),
    "two services on one host port": (_set("services.temporal-ui.ports", ["127.0.0.1:7233:8080"]),
                                      "both publish 127.0.0.1:7233"),
    "auto-setup image": (_set("services.temporal.image", "temporalio/auto-setup:1.32.0"), "deprecated"),
    "schema and server releases differ": (_set("services.temporal-schema.image", "temporalio/admin-tools:1.29.0"),
                                          "one release"),
    "receiver runs a missing module": (
        _set("services.receiver.command", ["python", "-m", "api.server", "--config", "/etc/accolade/accolade.yaml"]),
        "module api.server is not in the package"),
    "worker lacks a secret": (_set("services.worker.environment.GITHUB_WEBHOOK_SECRET", None),
                              "worker: the config does not load"),
    "dynamic config not mounted": (_set("services.temporal.configs", None), "DYNAMIC_CONFIG_FILE_PATH"),
}


@pytest.mark.parametrize(("mutate", "expected"), BROKEN.values(), ids=list(BROKEN))
def test_checks_notice_a_broken_copy(cluster: Cluster, mutate: Callable[[Cluster], None], expected: str) -> None:
    broken = Cluster(copy.deepcopy(cluster.compose), cluster.config, cluster.root)
    mutate(broken)
    problems = wiring_problems(broken)
    assert any(expected in p for p in problems), problems


def test_a_port_changed_in_a_copy_of_the_file_fails(tmp_path: Path) -> None:
    text = COMPOSE.read_text()
    assert text.count('"127.0.0.1:7233:7233"') == 1
    copy_file = tmp_path / "docker-compose.yml"
    copy_file.write_text(text.replace('"127.0.0.1:7233:7233"', '"127.0.0.1:7233:7234"'))
    problems = wiring_problems(load_cluster(copy_file, ENV, root=ROOT))
    assert problems == ["temporal does not publish its gRPC port 7233"]


@pytest.mark.parametrize(("edit", "expected"), [
    (lambda d: d.replace("USER accolade", ""), "runs as root"),
    (lambda d: d.replace("FROM python:3.11-slim\n", "FROM python:3.9\n"), "not python:3.11-slim"),
    (lambda d: d.replace("pip wheel --no-deps --wheel-dir /wheels .", "true"), "does not install"),
], ids=["root", "old python", "no pip install"])
def test_dockerfile_checks_can_fail(tmp_path: Path, edit: Callable[[str], str], expected: str) -> None:
    original = (ROOT / "Dockerfile").read_text()
    (tmp_path / "Dockerfile").write_text(edit(original))
    (tmp_path / ".dockerignore").write_text(".git\n")
    problems = _dockerfile_problems(tmp_path)
    assert any(expected in p for p in problems), problems
    assert ".dockerignore must exclude .venv (it would be sent to the builder)" in problems


def test_the_yaml_merge_gives_every_accolade_service_the_same_image(cluster: Cluster) -> None:
    raw = yaml.safe_load(COMPOSE.read_text())
    images = {raw["services"][name]["image"] for name in ("accolade-migrate", "receiver", "worker")}
    assert images == {"accolade:local"}
