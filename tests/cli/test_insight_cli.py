"""`accolade simulate` and `accolade why` as an admin types them, on the demo config and events:
README's commands, their refusals (exit 2, one line naming file, line and field), and a store
left exactly as it was. SQLite only: every command is a process start, and both stores run the
same code in tests/insight and tests/api."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from config import parse_config
from identity.sync import sync_people
from intake.ingest import ingest_batch
from store.schema import metadata
from tests.cli.test_cli import run

EXAMPLES = Path(__file__).parents[2] / "examples"
EVENTS = str(EXAMPLES / "simulate-events.jsonl")
AT = ("--at", "2026-11-20T12:00:00Z")


pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # conftest's `engine` on SQLite


@pytest.fixture
def demo(engine: Engine, db_url: str, tmp_path: Path) -> tuple[str, ...]:
    text = (EXAMPLES / "accolade.yaml").read_text().replace("sqlite:///.accolade/accolade.db", db_url)
    path = tmp_path / "accolade.yaml"
    path.write_text(text)
    sync_people(engine, parse_config(text, file=str(path), env={}).tenants[0])
    return ("--config", str(path))


def _rows(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in metadata.sorted_tables}


def test_simulate_the_demo_events(engine: Engine, demo: tuple[str, ...]) -> None:
    before = _rows(engine)
    done = run("simulate", "--achievement", "green-week", "--events", EVENTS, *AT, *demo)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:4] == [
        "simulate green-week v1 (count) as of Fri 20 Nov 2026 13:00 Europe/Berlin: 6 event(s) "
        "(10 of other types); nothing was stored",
        "would grant:",
        "  demo-1 at Thu 19 Nov 2026 16:20 Europe/Berlin",
        "    5 green pipelines counted (rule green-week v1, count, hash 9f551a3997a09b1f)"]
    as_json = json.loads(run("simulate", "-a", "clean-resolver", "--events", EVENTS, "--json", *AT, *demo).stdout)
    assert as_json["grants"][0]["evidence"]["count"] == 5 and as_json["stored"] is False
    edited = Path(demo[1]).with_name("edited.yaml")  # not published: simulate never checks or publishes
    edited.write_text(Path(demo[1]).read_text().replace("{count: 5, of: ci.pipeline.completed", "{count: 6, of: "
                                                        "ci.pipeline.completed"))
    tried = run("simulate", "-a", "green-week", "--events", EVENTS, *AT, "--config", str(edited))
    assert "would grant: nothing" in tried.stdout and "5 of 6 green pipelines this week" in tried.stdout
    assert _rows(engine) == before


def test_simulate_replays_a_persons_history(engine: Engine, demo: tuple[str, ...]) -> None:
    config = parse_config(Path(demo[1]).read_text(), file=demo[1], env={})
    lines = [json.loads(x) for x in Path(EVENTS).read_text().splitlines() if x and not x.startswith("#")]
    ingest_batch(engine, config.tenants[0], lines)
    done = run("simulate", "-a", "deploy-streak", "--person", "github:Codertocat", *AT, *demo)
    assert done.returncode == 0, done.stderr
    assert "  demo-1 at Thu 19 Nov 2026 12:00 Europe/Berlin" in done.stdout.splitlines()


def test_simulate_refuses_with_one_line(demo: tuple[str, ...], tmp_path: Path) -> None:
    broken = tmp_path / "events.jsonl"
    broken.write_text('# one good, one without an actor\n'
                      '{"id": "1", "source": "/t", "type": "deploy.completed", "time": "2026-11-17T16:00:00Z", '
                      '"data": {"actor": {"system": "github", "id": "1"}}}\n'
                      '{"id": "2", "source": "/t", "type": "deploy.completed", "time": "2026-11-17T16:00:00Z", '
                      '"data": {"actor": {"system": "github"}, "n": 1}, "specversion": "0.3"}\n')
    cases = [
        (("-a", "green-week", "--events", str(broken)), f"accolade: {broken}:3: specversion: "),
        (("-a", "nope", "--events", EVENTS), "accolade: no achievement 'nope' in tenant demo (known: "),
        (("-a", "green-week"), "accolade: pass --events FILE, --person IDENTITY, or both"),
        (("-a", "green-week", "--events", EVENTS, "--at", "friday"), "accolade: --at 'friday': not an ISO 8601"),
    ]
    for args, message in cases:
        done = run("simulate", *args, *demo)
        assert (done.returncode, done.stdout) == (2, ""), done.stderr
        assert done.stderr.startswith(message) and len(done.stderr.strip().splitlines()) == 1, done.stderr
    unknown = run("simulate", "-a", "green-week", "--person", "github:nobody", *demo)
    assert unknown.returncode == 1 and "no person is linked to github:nobody" in unknown.stderr


def test_why_before_anything_and_its_refusals(demo: tuple[str, ...]) -> None:
    done = run("why", "github:Codertocat", "deploy-streak", *demo)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        'demo-1 · deploy-streak v1 "Deployed three days in a row" (streak): not yet',
        "  [--------------------] 0/3",
        "  no streak yet: successful deployments on 3 days in a row",
        "  no GitLab identity linked for this person: GitLab events cannot count"]
    assert run("identity", "link", "demo-2", "github:login=777", *demo).returncode == 0
    assert run("identity", "link", "demo-3", "github:id=777", *demo).returncode == 0
    ambiguous = run("why", "github:777", "deploy-streak", *demo)
    assert ambiguous.returncode == 2 and "demo-2" in ambiguous.stderr and "demo-3" in ambiguous.stderr
    missing = run("why", "github:Codertocat", "nope", *demo)
    assert missing.returncode == 2 and "no achievement 'nope'" in missing.stderr
    assert "Traceback" not in ambiguous.stderr + missing.stderr
