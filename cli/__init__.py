"""The `accolade` command line."""

from __future__ import annotations

import json
import os
import sys
from typing import Annotated

import typer

from cli._common import RUN_DIR, die, find_config_path, load, parse_time, pick_tenant
from cli.migrate import migrate

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Accolade achievement hub.")
app.command()(migrate)
config_app = typer.Typer(no_args_is_help=True, help="Check the configuration file.")
connectors_app = typer.Typer(no_args_is_help=True, help="Connectors: parse payloads, poll now, status.")
app.add_typer(config_app, name="config")
app.add_typer(connectors_app, name="connectors")
person_app = typer.Typer(no_args_is_help=True, help="People: progress, grants, evidence.")
identity_app = typer.Typer(no_args_is_help=True, help="Link identities to persons.")
app.add_typer(person_app, name="person")
app.add_typer(identity_app, name="identity")
quarantine_app = typer.Typer(no_args_is_help=True, help="Bad input kept for inspection.")
app.add_typer(quarantine_app, name="quarantine")
preferences_app = typer.Typer(no_args_is_help=True, help="A person's delivery preferences.")
app.add_typer(preferences_app, name="preferences")

ConfigOpt = Annotated[str | None, typer.Option("--config", "-c", help="path to accolade.yaml")]
TenantOpt = Annotated[str | None, typer.Option("--tenant", help="tenant id (default: the only one)")]


@app.command()
def up(config: ConfigOpt = None) -> None:
    """Run the hub: Temporal dev server, worker and receiver, until Ctrl-C or SIGTERM."""
    from cli.up import run_up
    from store import private_dir

    path, cfg = load(config)
    _warn_demo_defaults(path, prefix="accolade up: ")
    private_dir(RUN_DIR, ours=True)  # Temporal's database and the up record: owner only
    raise SystemExit(run_up(path, cfg, RUN_DIR))


def _warn_demo_defaults(path: str, *, prefix: str = "") -> None:
    """Say on stderr which demo default secrets are in effect: they are public knowledge."""
    from config import demo_default_warnings

    for line in demo_default_warnings(path):
        print(f"{prefix}{line}", file=sys.stderr, flush=True)


@config_app.command("check")
def config_check(file: Annotated[str | None, typer.Argument(help="config file")] = None) -> None:
    """Print `file:line: field: message` for every error; exit 2 if there is any.

    Demo default secrets in effect are warned about on stderr, without failing the check.
    """
    from config import check_config

    path = find_config_path(file)
    _warn_demo_defaults(path)
    problems = check_config(path) or _published_version_problems(path)
    for line in problems:
        print(line)
    if problems:
        raise SystemExit(2)
    print(f"{path}: ok")


def _published_version_problems(path: str) -> list[str]:
    """A changed rule under a published version, when the configured store is reachable."""
    from pathlib import Path as FsPath

    from sqlalchemy.exc import DBAPIError

    from cli.up import version_issues
    from config import load_config
    from config._yaml import ConfigIssue, load_with_lines
    from store import create_store_engine

    config = load_config(path)
    if config.store.url.startswith("sqlite") and not FsPath(config.store.url.split("///", 1)[-1]).exists():
        return []  # nothing published yet
    engine = create_store_engine(config.store.url)
    try:
        issues = version_issues(engine, config, publish=False)
    except DBAPIError:
        return []  # store unreachable or not migrated: nothing to compare against
    finally:
        engine.dispose()
    loaded = load_with_lines(FsPath(path).read_text())
    return [ConfigIssue(loaded.line_of(p), p, m).render(path) for p, m in issues]


@connectors_app.command("poll-now")
def connectors_poll_now(
    connector: Annotated[str, typer.Argument(help="connector id, e.g. jira")],
    config: ConfigOpt = None,
) -> None:
    """Ask a polling connector to poll now instead of at its next interval."""
    from cli.poll import poll_now

    poll_now(connector, config)


@connectors_app.command("parse")
def connectors_parse(
    connector: Annotated[str, typer.Argument(help="vendor slug, e.g. github")],
    file: Annotated[str, typer.Argument(help="payload file (JSON)")],
    header: Annotated[list[str] | None, typer.Option("--header", "-H", help="'Name: value'")] = None,
    event: Annotated[str | None, typer.Option(
        "--event", help="vendor event, e.g. 'Pipeline Hook'; default: -H, else the file's folder")] = None,
) -> None:
    """Print the canonical events a vendor payload maps to, as JSON lines."""
    from cli.parse import parse_file

    raise SystemExit(parse_file(connector, file, header or [], event=event))


@connectors_app.command("status")
def connectors_status(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    config: ConfigOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Per connector: counters, last event, poll cycles, cursor age, last error, and a state
    (healthy, silent, failing or paused)."""
    from cli.connectors import show_status

    _, cfg = load(config)
    show_status(cfg, pick_tenant(cfg, tenant), as_json=as_json)


@app.command()
def emit(
    event_type: Annotated[str, typer.Argument(metavar="TYPE", help="e.g. deploy.completed")],
    actor: Annotated[str, typer.Option("--actor", help="SYSTEM:VALUE, e.g. github:octocat")],
    data: Annotated[list[str] | None, typer.Option("--data", help="KEY=VALUE (JSON values)")] = None,
    event_id: Annotated[str | None, typer.Option("--id", help="stable event id")] = None,
    event_time: Annotated[str | None, typer.Option(
        "--time", help="when it happened, ISO 8601 with offset (default: now)")] = None,
    source: Annotated[str, typer.Option("--source", help="CloudEvents source")] = "/cli/emit",
    api_key: Annotated[str | None, typer.Option("--api-key", help="tenant API key")] = None,
    url: Annotated[str | None, typer.Option("--url", help="hub URL")] = None,
    config: ConfigOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Post one event to the running hub (for scripts and CI jobs)."""
    import httpx

    from cli.emit import build_event, post_event

    _, cfg = load(config)
    chosen = pick_tenant(cfg, tenant)
    try:
        event = build_event(event_type, actor, data or [], event_id=event_id, source=source,
                            env=dict(os.environ), time=parse_time(event_time, option="--time"))
        answer = post_event(cfg, chosen, event, api_key=api_key, url=url)
    except (ValueError, RuntimeError) as exc:
        die(str(exc))
    except httpx.TransportError as exc:
        die(f"cannot reach the hub: {exc}", 1)
    status = answer.get("results", [{}])[0].get("status", "?")
    print(json.dumps({"id": event["id"], "status": status}))


JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


@person_app.command("show")
def person_show(
    identity: Annotated[str, typer.Argument(help="SYSTEM:VALUE, e.g. github:Codertocat")],
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Progress, grants with evidence, and deliveries of the person IDENTITY names."""
    from cli.people import show_person

    _, cfg = load(config)
    show_person(cfg, pick_tenant(cfg, tenant), identity, as_json=as_json)


@app.command()
def simulate(
    achievement: Annotated[str, typer.Option("--achievement", "-a", help="achievement key")],
    events: Annotated[str | None, typer.Option(
        "--events", help="CloudEvents as JSON lines (arrival order)")] = None,
    person: Annotated[str | None, typer.Option(
        "--person", help="SYSTEM:VALUE: replay this person's history from the event log")] = None,
    at: Annotated[str | None, typer.Option(
        "--at", help="rule time, ISO 8601 with offset (default: now)")] = None,
    as_json: JsonOpt = False,
    config: Annotated[str | None, typer.Option(
        "--config", "-c", help="accolade.yaml, or an edited copy not yet published")] = None,
    tenant: TenantOpt = None,
) -> None:
    """What ACHIEVEMENT would grant on these events, when and why, and what is still missing.

    Runs the live evaluation's code on an empty state and stores nothing. Exit 2 on a bad
    events file (file:line: field: message), an unknown achievement or identity.
    """
    from cli.insight import run_simulate

    _, cfg = load(config)
    run_simulate(cfg, pick_tenant(cfg, tenant), achievement=achievement, events_file=events, person=person,
                 at=parse_time(at, option="--at"), as_json=as_json)


@app.command()
def why(
    identity: Annotated[str, typer.Argument(help="SYSTEM:VALUE, e.g. github:Codertocat")],
    achievement: Annotated[str, typer.Argument(help="achievement key")],
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Why IDENTITY has ACHIEVEMENT (the evidence in words), or what is still missing."""
    from cli.insight import run_why

    _, cfg = load(config)
    run_why(cfg, pick_tenant(cfg, tenant), identity, achievement, as_json=as_json)


@identity_app.command("link")
def identity_link(
    person: Annotated[str, typer.Argument(help="person id")],
    identity: Annotated[str, typer.Argument(help="SYSTEM:VALUE to link")],
    reason: Annotated[str | None, typer.Option("--reason", help="why: kept in the identity audit")] = None,
    config: ConfigOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Link IDENTITY to PERSON; its parked events are evaluated once, in order."""
    from cli.people import link

    _, cfg = load(config)
    link(cfg, pick_tenant(cfg, tenant), person, identity, reason=reason)


ReasonOpt = Annotated[str, typer.Option("--reason", help="why: kept in the identity audit")]
YesOpt = Annotated[bool, typer.Option("--yes", help="apply (without it: show what would change)")]


@identity_app.command("unlink")
def identity_unlink(
    person: Annotated[str, typer.Argument(help="person id")],
    identity: Annotated[str, typer.Argument(help="SYSTEM:VALUE to unlink")],
    reason: ReasonOpt = "unlinked by an admin",
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Unlink IDENTITY from PERSON: shows the grants gained and lost; --yes applies."""
    from cli.identity import unlink_identity

    _, cfg = load(config)
    unlink_identity(cfg, pick_tenant(cfg, tenant), person, identity, reason=reason, yes=yes, as_json=as_json)


@identity_app.command("merge")
def identity_merge(
    source: Annotated[str, typer.Argument(metavar="FROM", help="person id whose links move")],
    into: Annotated[str, typer.Argument(metavar="INTO", help="person id that keeps them")],
    reason: ReasonOpt = "merged by an admin",
    yes: YesOpt = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Merge person FROM into INTO: shows the grants gained and lost; --yes applies."""
    from cli.identity import merge_persons

    _, cfg = load(config)
    merge_persons(cfg, pick_tenant(cfg, tenant), source, into, reason=reason, yes=yes, as_json=as_json)


@identity_app.command("conflicts")
def identity_conflicts(as_json: JsonOpt = False, config: ConfigOpt = None, tenant: TenantOpt = None) -> None:
    """Keys two sources claimed for different persons: both claims, their origins, who won."""
    from cli.identity import show_conflicts

    _, cfg = load(config)
    show_conflicts(cfg, pick_tenant(cfg, tenant), as_json=as_json)


@identity_app.command("history")
def identity_history(
    identity: Annotated[str, typer.Argument(help="SYSTEM:VALUE or person:ID")],
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """The audit trail of IDENTITY's person (and of the key itself): who, when, why, before/after."""
    from cli.identity import show_history

    _, cfg = load(config)
    show_history(cfg, pick_tenant(cfg, tenant), identity, as_json=as_json)


@identity_app.command("erase")
def identity_erase(
    person: Annotated[str, typer.Argument(help="person id")],
    reason: ReasonOpt = "erasure request",
    yes: YesOpt = False,
    config: ConfigOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Pseudonymise PERSON's logins, emails, names and message texts in the store (--yes)."""
    from cli.identity import erase

    _, cfg = load(config)
    erase(cfg, pick_tenant(cfg, tenant), person, reason=reason, yes=yes)


deliveries_app = typer.Typer(help="Delivery status per grant and channel; re-drive failed ones.")
app.add_typer(deliveries_app, name="deliveries")


@deliveries_app.callback(invoke_without_command=True)
def deliveries(
    ctx: typer.Context,
    failed: Annotated[bool, typer.Option("--failed", help="only failed ones (the dead letters)")] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Delivery status per grant and channel, newest first; `retry ID` re-drives a failed one."""
    if ctx.invoked_subcommand is not None:
        return
    from cli.people import show_deliveries

    _, cfg = load(config)
    show_deliveries(cfg, pick_tenant(cfg, tenant), failed=failed, as_json=as_json)


IdentityArg = Annotated[str, typer.Argument(help="SYSTEM:VALUE, e.g. github:Codertocat")]
_CLEAR = "; `off` clears it"


@preferences_app.command("set")
def preferences_set(
    identity: IdentityArg,
    opt_out: Annotated[list[str] | None, typer.Option(help="channel id to stop using (repeat)")] = None,
    opt_in: Annotated[list[str] | None, typer.Option(help="channel id to use again (repeat)")] = None,
    quiet_hours: Annotated[str | None, typer.Option(help="HH:MM-HH:MM in the person's zone" + _CLEAR)] = None,
    time_zone: Annotated[str | None, typer.Option(help="IANA zone, e.g. Europe/Berlin" + _CLEAR)] = None,
    digest: Annotated[str | None, typer.Option(help="daily or weekly" + _CLEAR)] = None,
    throttle: Annotated[str | None, typer.Option(help="at most N messages a day" + _CLEAR)] = None,
    locale: Annotated[str | None, typer.Option(help="e.g. de, pt_BR, ar" + _CLEAR)] = None,
    config: ConfigOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Change the options given; the rest stay as they are."""
    from cli.preferences import set_preferences

    _, cfg = load(config)
    options = {"quiet_hours": quiet_hours, "time_zone": time_zone, "digest": digest, "throttle": throttle,
               "locale": locale}
    set_preferences(cfg, pick_tenant(cfg, tenant), identity, opt_out=opt_out or [], opt_in=opt_in or [],
                    options=options)


@preferences_app.command("show")
def preferences_show(identity: IdentityArg, as_json: JsonOpt = False, config: ConfigOpt = None,
                     tenant: TenantOpt = None) -> None:
    """Opt-outs, quiet hours, digest, throttle, time zone and locale (with their source)."""
    from cli.preferences import show_preferences

    _, cfg = load(config)
    show_preferences(cfg, pick_tenant(cfg, tenant), identity, as_json=as_json)


@deliveries_app.command("retry")
def deliveries_retry(
    delivery: Annotated[str | None, typer.Argument(
        help="<grant-id>/<channel>, as `accolade deliveries --failed` shows it")] = None,
    everything: Annotated[bool, typer.Option("--all", help="every failed delivery")] = False,
    channel: Annotated[str | None, typer.Option("--channel", help="with --all: one channel's")] = None,
    wait: Annotated[float, typer.Option("--wait", help="seconds to wait for each outcome")] = 30.0,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Re-drive failed deliveries once their cause is fixed, in `deliver/<grant>/<channel>/retry-<n>`.

    A delivery that is not failed (sent meanwhile, or being re-driven) is refused with its status.

    Exit 0 when every chosen delivery was sent; 1 when one failed again, is still running or was
    refused; 2 on usage errors.
    """
    from cli.deliveries import retry

    if (delivery is None) == (not everything):
        die("pass a delivery id or --all, not both")
    if channel is not None and delivery is not None:
        die("--channel narrows --all; leave it out with a delivery id")
    _, cfg = load(config)
    raise SystemExit(retry(cfg, pick_tenant(cfg, tenant), delivery, channel=channel, wait=wait,
                           as_json=as_json))


@app.command()
def shards(as_json: JsonOpt = False, config: ConfigOpt = None, tenant: TenantOpt = None) -> None:
    """Evaluator lag per shard: events waiting, oldest waiting, last round."""
    from cli.people import show_shards

    _, cfg = load(config)
    show_shards(cfg, pick_tenant(cfg, tenant), as_json=as_json)


@quarantine_app.command("list")
def quarantine_list(
    limit: Annotated[int, typer.Option("--limit", help="newest N items")] = 50,
    connector: Annotated[str | None, typer.Option(
        "--connector", help="one connector's items (api: the batch API)")] = None,
    everything: Annotated[bool, typer.Option("--all", help="also items a retry resolved")] = False,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Quarantined items, newest first: where from, kind, why, whether the size cap cut them,
    and what the last retry did."""
    from cli.quarantine import list_items

    _, cfg = load(config)
    list_items(cfg, pick_tenant(cfg, tenant), limit=limit, as_json=as_json, connector=connector,
               everything=everything)


@quarantine_app.command("show")
def quarantine_show(
    item: Annotated[int, typer.Argument(help="item number from `quarantine list`")],
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """One quarantined item with the body prefix that was kept."""
    from cli.quarantine import show_item

    _, cfg = load(config)
    show_item(cfg, pick_tenant(cfg, tenant), item, as_json=as_json)


@quarantine_app.command("purge")
def quarantine_purge(config: ConfigOpt = None) -> None:
    """Delete items older than store.quarantine.keep (the receiver also does it as it goes)."""
    from cli.quarantine import purge

    _, cfg = load(config)
    purge(cfg)


@quarantine_app.command("retry")
def quarantine_retry(
    item: Annotated[int | None, typer.Argument(help="item number from `quarantine list`")] = None,
    everything: Annotated[bool, typer.Option("--all", help="every unresolved item")] = False,
    connector: Annotated[str | None, typer.Option(
        "--connector", help="with --all: one connector's items")] = None,
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    tenant: TenantOpt = None,
) -> None:
    """Parse kept bodies again with the current code and store what now parses (once).

    Exit 0 when every chosen item was stored, a duplicate or ignored.

    Exit 1 when some still fail or were refused (a body cut by the size cap, a connector gone).

    Exit 2 on usage errors.
    """
    from cli.quarantine import retry

    if (item is None) == (not everything):
        die("pass an item number or --all, not both")
    if connector is not None and item is not None:
        die("--connector narrows --all; leave it out with an item number")
    _, cfg = load(config)
    raise SystemExit(retry(cfg, pick_tenant(cfg, tenant), item, connector=connector, as_json=as_json))


def main() -> None:  # pragma: no cover - the console entry (`accolade`, `python -m cli`)
    """Run the command; after one that used a Temporal client, leave without interpreter
    teardown: the SDK's Rust threads can abort a finalizing interpreter ("PyGILState_Release:
    thread state must be current", temporalio/sdk-python#300), turning a finished command's
    exit status into SIGABRT."""
    try:
        app(prog_name="accolade")
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    status = code if isinstance(code, int) else (0 if code is None else 1)
    if isinstance(code, str):
        print(code, file=sys.stderr)
    temporal_client = sys.modules.get("activities.temporal_client")  # imported only when used
    if temporal_client is not None and temporal_client.used():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    raise SystemExit(status)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
