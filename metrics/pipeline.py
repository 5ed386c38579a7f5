"""Worker series: evaluator rounds, grants with their event→grant latency, deliveries.

Event→grant latency is measured when a round's transaction has committed: now minus the
`received_at` of the event that completed the rule (`evidence.completed_by`). The evaluator
does not carry `received_at` in memory, so one read-only query by primary key fetches it,
after the commit and only in rounds that granted something; a failure there is logged and
never fails the round. Grant→delivery latency is a delivery's send time minus the grant's
`created_at`, observed once, when the channel reaches `sent` or `fell_back`.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Protocol, TypeVar

from prometheus_client import Counter, Histogram
from sqlalchemy import Engine, bindparam, select
from sqlalchemy.exc import SQLAlchemyError

from metrics._base import LATENCY_BUCKETS, ROUND_EVENT_BUCKETS, ROUND_SECONDS_BUCKETS, Children, as_utc
from store import read_only
from store.schema import events

__all__ = ["WORKER_METRICS", "delivered", "delivery_failed", "delivery_retrying", "grants_stored",
           "timed_round"]

log = logging.getLogger("accolade.metrics")

ROUND_SECONDS = Histogram(
    "accolade_evaluator_round_seconds", "Seconds per evaluator round (read, evaluate, store); "
    "the count is the number of rounds", ["tenant"], buckets=ROUND_SECONDS_BUCKETS, registry=None)
ROUND_EVENTS = Histogram(
    "accolade_evaluator_round_events", "Events evaluated per round; the sum is every event "
    "evaluated", ["tenant"], buckets=ROUND_EVENT_BUCKETS, registry=None)
ROUND_FAILURES = Counter(
    "accolade_evaluator_round_failures", "Evaluator rounds that raised (Temporal retries them)",
    ["tenant"], registry=None)
GRANTS = Counter("accolade_grants", "Grants stored by evaluator rounds", ["tenant"], registry=None)
EVENT_TO_GRANT = Histogram(
    "accolade_event_to_grant_seconds", "Seconds from receiving the event that completed a rule "
    "to its grant's commit", ["tenant"], buckets=LATENCY_BUCKETS, registry=None)
DELIVERIES = Counter(
    "accolade_deliveries", "Delivery outcomes per channel kind: sent, fell_back (to the feed), "
    "retrying (an attempt failed and may be retried), failed (given up)",
    ["tenant", "kind", "status"], registry=None)
GRANT_TO_DELIVERY = Histogram(
    "accolade_grant_to_delivery_seconds", "Seconds from a grant's creation to its delivery on "
    "one channel (sent or fell back)", ["tenant", "kind"], buckets=LATENCY_BUCKETS, registry=None)
WORKER_METRICS = (ROUND_SECONDS, ROUND_EVENTS, ROUND_FAILURES, GRANTS, EVENT_TO_GRANT, DELIVERIES,
                  GRANT_TO_DELIVERY)

_round_seconds, _round_events, _round_failures = (Children(ROUND_SECONDS), Children(ROUND_EVENTS),
                                                  Children(ROUND_FAILURES))
_grants, _event_to_grant = Children(GRANTS), Children(EVENT_TO_GRANT)
_deliveries, _grant_to_delivery = Children(DELIVERIES), Children(GRANT_TO_DELIVERY)

_RECEIVED_AT = select(events.c.seq, events.c.received_at).where(
    events.c.seq.in_(bindparam("seqs", expanding=True)))


class _RoundInput(Protocol):
    tenant: str


class _RoundResult(Protocol):
    processed: int


S = TypeVar("S")
I = TypeVar("I", bound=_RoundInput)  # noqa: E741 - the activity's input
R = TypeVar("R", bound=_RoundResult)


def timed_round(method: Callable[[S, I], R]) -> Callable[[S, I], R]:
    """Decorates an evaluator round: its seconds, its events, and rounds that raised."""

    @functools.wraps(method)
    def round_(self: S, input: I) -> R:
        started = time.perf_counter()
        try:
            result = method(self, input)
        except BaseException:
            _round_failures(input.tenant).inc()
            raise
        _round_seconds(input.tenant).observe(time.perf_counter() - started)
        _round_events(input.tenant).observe(result.processed)
        return result

    return round_


class _Evidence(Protocol):
    @property
    def completed_by(self) -> str | None: ...


class _Grant(Protocol):
    @property
    def evidence(self) -> _Evidence: ...


class _Evaluated(Protocol):
    @property
    def seq(self) -> int: ...

    @property
    def key(self) -> str: ...


def grants_stored(engine: Engine, tenant: str, grants: Sequence[_Grant],
                  evaluated: Sequence[_Evaluated]) -> None:
    """After a round's commit: count its grants and observe each one's event→grant latency."""
    if not grants:
        return
    _grants(tenant).inc(len(grants))
    wanted = {grant.evidence.completed_by for grant in grants}
    seq_of = {key: item.seq for item in evaluated if (key := item.key) in wanted}
    try:
        with read_only(engine) as conn:
            received = {seq: at for seq, at in conn.execute(_RECEIVED_AT, {"seqs": list(seq_of.values())})}
    except SQLAlchemyError as exc:  # the grants are stored; only their latency is lost
        log.warning("event→grant latency not measured: %s", exc)
        return
    now = datetime.now(UTC)
    histogram = _event_to_grant(tenant)
    for grant in grants:  # one event may complete several rules: one observation per grant
        at = received.get(seq_of.get(grant.evidence.completed_by, -1))
        if at is not None:
            histogram.observe((now - as_utc(at)).total_seconds())


def delivered(tenant: str, kind: str, status: str, grant_created_at: datetime) -> None:
    """A channel reached `sent` or `fell_back` just now."""
    _deliveries(tenant, kind, status).inc()
    seconds = (datetime.now(UTC) - as_utc(grant_created_at)).total_seconds()
    _grant_to_delivery(tenant, kind).observe(seconds)


def delivery_retrying(tenant: str, kind: str) -> None:
    _deliveries(tenant, kind, "retrying").inc()


def delivery_failed(tenant: str, kind: str) -> None:
    _deliveries(tenant, kind, "failed").inc()
