"""SQL schema (SQLAlchemy Core). Alembic migrations in `store/migrations` create it.

The event log (`events`) is append-only. Work for the evaluators lives beside it:
`event_queue` holds log rows not yet evaluated (with their shard), `parked` holds rows whose
actor is unknown. Moving a row between them happens in one transaction, which is what makes
evaluation gap-safe on PostgreSQL (see `store.eventlog`).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "achievement_versions", "connector_health", "connector_incidents", "deliveries", "event_queue",
    "events", "feed", "first_seen", "grants", "identities", "identity_audit", "identity_conflicts",
    "metadata", "parked", "parked_keys", "persons", "person_preferences", "person_profiles",
    "poll_cursors", "progress", "quarantine", "rule_skips", "scim_changes", "scim_group_members",
    "scim_groups", "scim_users", "shard_state", "suspended_persons", "webhook_log", "webhook_rejections",
    "xapi_statements",
]

metadata = MetaData()
_Seq = BigInteger().with_variant(Integer(), "sqlite")

events = Table(
    "events",
    metadata,
    Column("seq", _Seq, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("source", String(512), nullable=False),
    Column("event_id", String(512), nullable=False),
    Column("type", String(128), nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("body", JSON, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "source", "event_id", name="uq_events_dedupe"),
)
Index("ix_events_tenant_type_time", events.c.tenant, events.c.type, events.c.time)

event_queue = Table(
    "event_queue",
    metadata,
    Column("seq", _Seq, ForeignKey("events.seq"), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("shard", Integer, nullable=False),
    Column("person_id", String(128), nullable=False),
    Column("decision", JSON, nullable=False),
)
Index("ix_event_queue_shard", event_queue.c.tenant, event_queue.c.shard, event_queue.c.seq)

parked = Table(
    "parked",
    metadata,
    Column("seq", _Seq, ForeignKey("events.seq"), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("parked_at", DateTime(timezone=True), nullable=False),
)
Index("ix_parked_tenant", parked.c.tenant, parked.c.seq)

# The identity keys a parked event's actor carries, so a new link finds its events fast.
parked_keys = Table(
    "parked_keys",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("system", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("value", String(320), primary_key=True),
    Column("seq", _Seq, ForeignKey("events.seq"), primary_key=True),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", _Seq, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("channel", String(128), nullable=False),  # connector id or "api"
    Column("delivery_id", String(512)),
    Column("reason", Text, nullable=False),
    Column("body", Text),  # a capped prefix (store.quarantine.body_prefix) of the bad input
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("body_size", BigInteger),  # bytes of the whole original body (0003)
    Column("body_sha256", String(64)),  # of the whole original body: compare without keeping it
    Column("body_truncated", Boolean),  # True when `body` is only the prefix
    # 0004: what `accolade quarantine retry` needs. `kind` is webhook (a verified delivery:
    # `headers` keeps the ones its parser reads, never a signature or token), item (one item
    # of a batch) or record (one record of a poll page); `retried_at`/`retry_outcome` say what
    # the last retry did.
    Column("kind", String(16)),
    Column("headers", JSON),
    Column("retried_at", DateTime(timezone=True)),
    Column("retry_outcome", Text),
)
Index("ix_quarantine_received", quarantine.c.received_at)

webhook_log = Table(
    "webhook_log",
    metadata,
    Column("id", _Seq, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("connector", String(64), nullable=False),
    Column("delivery_id", String(512)),
    Column("event", String(128)),
    Column("outcome", String(32), nullable=False),  # stored|duplicate|ignored|quarantined|unauthorized
    Column("accepted", Integer, nullable=False, default=0),
    Column("dropped", Integer, nullable=False, default=0),
    Column("detail", Text),
    Column("received_at", DateTime(timezone=True), nullable=False),
)
Index("ix_webhook_log_connector", webhook_log.c.tenant, webhook_log.c.connector, webhook_log.c.id)

# Requests refused before authentication (bad signature, over-long header, …) are counted here
# per connector and reason, with one sampled request's metadata: a flood updates a few rows,
# it never adds one per request (DESIGN §7 "Webhook routing"). Migration 0003.
webhook_rejections = Table(
    "webhook_rejections",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("connector", String(64), primary_key=True),
    Column("reason", String(200), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("first_at", DateTime(timezone=True), nullable=False),
    Column("last_at", DateTime(timezone=True), nullable=False),
    Column("sample_delivery_id", String(512)),
    Column("sample_at", DateTime(timezone=True)),
)

# --- connectors: poll cursors, health, incidents (migration 0004) ---

# The cursor of record of a polling connector. It lives in the event log's database and is
# advanced in the transaction that appends its page's events (store.cursors).
poll_cursors = Table(
    "poll_cursors",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("connector", String(64), primary_key=True),
    Column("position", DateTime(timezone=True)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Per connector instance: counters flushed from memory every few seconds (added, never one
# row per request), the last event, poll cycles and the last error.
connector_health = Table(
    "connector_health",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("connector", String(64), primary_key=True),
    Column("received", BigInteger, nullable=False, default=0),
    Column("accepted", BigInteger, nullable=False, default=0),
    Column("duplicate", BigInteger, nullable=False, default=0),
    Column("ignored", BigInteger, nullable=False, default=0),
    Column("quarantined", BigInteger, nullable=False, default=0),
    Column("rejected", BigInteger, nullable=False, default=0),
    Column("last_event_at", DateTime(timezone=True)),
    Column("poll_cycles", BigInteger, nullable=False, default=0),
    Column("last_poll_at", DateTime(timezone=True)),
    Column("last_poll_pages", Integer),
    Column("last_poll_events", Integer),
    Column("failures_in_row", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("last_error_at", DateTime(timezone=True)),
    Column("last_error_permanent", Boolean),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# An alarm's life: opened once (an `accolade.connector.<kind>` event and one admin message),
# resolved once (`accolade.connector.resolved` and one message). At most one open row per
# (tenant, connector, kind).
connector_incidents = Table(
    "connector_incidents",
    metadata,
    Column("id", _Seq, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("connector", String(64), nullable=False),
    Column("kind", String(16), nullable=False),  # silent | failing | drift
    Column("detail", Text, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
    Column("notified_open_at", DateTime(timezone=True)),
    Column("notified_resolved_at", DateTime(timezone=True)),
)
Index("ix_incidents_open", connector_incidents.c.tenant, connector_incidents.c.connector,
      connector_incidents.c.kind, connector_incidents.c.resolved_at)

persons = Table(
    "persons",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("person_id", String(128), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

identities = Table(
    "identities",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("system", String(64), primary_key=True),
    Column("kind", String(16), primary_key=True),
    Column("value", String(320), primary_key=True),
    Column("person_id", String(128), nullable=False),
    Column("origin", String(32), nullable=False),  # config | cli | api
    Column("linked_at", DateTime(timezone=True), nullable=False),
)
Index("ix_identities_person", identities.c.tenant, identities.c.person_id)

# --- evaluation: progress, grants with evidence, deliveries (migration 0002) ---

achievement_versions = Table(
    "achievement_versions",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("achievement", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("content_hash", String(64), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
)

progress = Table(
    "progress",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("person_id", String(128), primary_key=True),
    Column("achievement", String(64), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("first_events", JSON, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # migration 0008: the kind's state (NULL = a pre-0008 count row, read from the columns
    # above), the next instant it can change with no event, and the person's evaluator shard
    Column("state", JSON),
    Column("due_at", DateTime(timezone=True)),
    Column("shard", Integer),
)
Index("ix_progress_due", progress.c.tenant, progress.c.shard, progress.c.due_at)

# The `without` index (migration 0008): the earliest event time of an event of `type` whose
# `attribute` has `value`, in the tenant, any person. Kept at ingest for the (type, attribute)
# pairs the tenant's `without` rules name; `value` is `store.first_seen.index_value`.
first_seen = Table(
    "first_seen",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("type", String(128), primary_key=True),
    Column("attribute", String(128), primary_key=True),
    Column("value", String(64), primary_key=True),
    Column("first_at", DateTime(timezone=True), nullable=False),
)

# An event a rule could not evaluate (odd data: a string where a number was expected), kept
# for admins (`accolade shards`, store.skips); the event is not counted by that rule.
rule_skips = Table(
    "rule_skips",
    metadata,
    Column("id", _Seq, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("shard", Integer, nullable=False),
    Column("event_key", Text, nullable=False),  # source#id, as in evidence
    Column("achievement", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
Index("ix_rule_skips_shard", rule_skips.c.tenant, rule_skips.c.shard, rule_skips.c.id)

grants = Table(
    "grants",
    metadata,
    Column("grant_id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("person_id", String(128), nullable=False),
    Column("achievement", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("content_hash", String(64), nullable=False),
    Column("shard", Integer, nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Column("evidence", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("dispatched_at", DateTime(timezone=True)),
    # 0010: a grant an identity change (unlink, merge) took away is marked, never deleted
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_reason", Text),
)
Index("ix_grants_person", grants.c.tenant, grants.c.person_id)
Index("ix_grants_outbox", grants.c.tenant, grants.c.shard, grants.c.dispatched_at)

deliveries = Table(
    "deliveries",
    metadata,
    Column("grant_id", String(36), ForeignKey("grants.grant_id"), primary_key=True),
    Column("channel", String(64), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("person_id", String(128), nullable=False),
    Column("kind", String(16), nullable=False),
    # queued|waiting|retrying|sent|failed|suppressed|fell_back
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("detail", JSON),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    # when a person's throttle let this send through: counted toward their day before the
    # provider answered, so parallel sends cannot overrun it (migration 0009)
    Column("admitted_at", DateTime(timezone=True)),
)
Index("ix_deliveries_admitted", deliveries.c.tenant, deliveries.c.person_id, deliveries.c.admitted_at)
Index("ix_deliveries_status", deliveries.c.tenant, deliveries.c.status)

feed = Table(
    "feed",
    metadata,
    Column("id", _Seq, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("person_id", String(128), nullable=False),
    Column("grant_id", String(36), nullable=False),
    Column("channel", String(64), nullable=False),
    Column("title", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("grant_id", "channel", name="uq_feed_grant_channel"),
)
Index("ix_feed_person", feed.c.tenant, feed.c.person_id, feed.c.id)

shard_state = Table(
    "shard_state",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("shard", Integer, primary_key=True),
    Column("processed", BigInteger, nullable=False),
    Column("last_seq", BigInteger),
    Column("last_run_at", DateTime(timezone=True), nullable=False),
)

# --- xAPI: the statements as received, for GET and for §2.3.1 conflicts (migration 0005) ---

# One row per statement id per connector instance, written in the transaction that appends its
# events (intake.statements). `digest` is `connectors.xapi.model.content_digest`; `voided` is
# set by a voiding statement; `seq` orders the list query.
xapi_statements = Table(
    "xapi_statements",
    metadata,
    Column("seq", _Seq, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("connector", String(64), nullable=False),
    Column("statement_id", String(36), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("verb", String(512), nullable=False),
    Column("agent", String(600)),  # the actor's identifier as `agent_key` writes it
    Column("activity", String(512)),  # the object's IRI when it is an activity
    Column("registration", String(36)),
    Column("voids", String(36)),  # the target of a voiding statement
    Column("related_agents", Text),  # every agent key the statement names, each on its own line
    Column("related_activities", Text),  # every activity IRI it names, likewise
    Column("body", JSON, nullable=False),
    Column("stored", DateTime(timezone=True), nullable=False),
    Column("voided", Boolean, nullable=False, default=False),
    UniqueConstraint("tenant", "connector", "statement_id", name="uq_xapi_statements_id"),
)
Index("ix_xapi_statements_stored", xapi_statements.c.tenant, xapi_statements.c.connector,
      xapi_statements.c.stored)

# --- SCIM provisioning (0006): resources as the hub serves them, and who is deprovisioned ---

scim_users = Table(
    "scim_users",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),  # the hub's SCIM id (`scim:<id>`)
    Column("person_id", String(128), nullable=False),
    Column("user_name", String(320), nullable=False),
    Column("user_name_key", String(320), nullable=False),  # lower-cased: userName is caseExact false
    Column("external_id", String(320)),
    Column("active", Boolean, nullable=False),
    Column("resource", JSON, nullable=False),  # the SCIM body without id, meta, password
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "user_name_key", name="uq_scim_users_user_name"),
)
Index("ix_scim_users_external_id", scim_users.c.tenant, scim_users.c.external_id)

scim_groups = Table(
    "scim_groups",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("id", String(64), primary_key=True),
    Column("display_name", String(320), nullable=False),
    Column("external_id", String(320)),
    Column("version", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

scim_group_members = Table(
    "scim_group_members",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("group_id", String(64), primary_key=True),
    Column("user_id", String(64), primary_key=True),
)

# What a SCIM write changed about a user's identity values (userName, externalId, emails,
# employeeNumber, active), before and after: the old value of a moved link is kept here
# until the general identity audit (issue 11 item 6) takes over.
scim_changes = Table(
    "scim_changes",
    metadata,
    Column("id", _Seq, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("scim_id", String(64), nullable=False),
    Column("person_id", String(128), nullable=False),
    Column("action", String(32), nullable=False),  # provisioned | updated | deprovisioned | deleted
    Column("before", JSON),
    Column("after", JSON),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index("ix_scim_changes_user", scim_changes.c.tenant, scim_changes.c.scim_id, scim_changes.c.id)

# Persons no channel may reach (deprovisioned by SCIM); evaluation of their events goes on.
suspended_persons = Table(
    "suspended_persons",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("person_id", String(128), primary_key=True),
    Column("reason", String(64), nullable=False),  # deprovisioned
    Column("since", DateTime(timezone=True), nullable=False),
)

# A person's time zone and locale (migration 0007). Each value keeps its source, because sources
# rank: a person's own preference beats the IAM profile (SCIM `timezone`/`locale`), and neither
# is personal data in the sense of DESIGN §7 (no name, login or email).
person_profiles = Table(
    "person_profiles",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("person_id", String(128), primary_key=True),
    Column("time_zone", String(64), nullable=True),
    Column("time_zone_source", String(16), nullable=True),  # preferences | scim
    Column("locale", String(35), nullable=True),
    Column("locale_source", String(16), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# --- identity (0010): who changed which link, when and why; keys two sources claimed ---

# Every identity change (link, unlink, a moved link, merge, SCIM writes, erasure): `actor` is
# `cli:<user>`, `api:<tenant>/key-<n>` (never the key), `scim`, `config` or `system`;
# `identity` is `system:kind=value`. Erasure rewrites `identity`, `before` and `after` in place.
identity_audit = Table(
    "identity_audit",
    metadata,
    Column("id", _Seq, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("action", String(32), nullable=False),
    Column("person_id", String(128), nullable=False),
    Column("other_person_id", String(128)),
    Column("identity", String(420)),
    Column("reason", Text),
    Column("before", JSON),
    Column("after", JSON),
)
Index("ix_identity_audit_person", identity_audit.c.tenant, identity_audit.c.person_id, identity_audit.c.id)
Index("ix_identity_audit_identity", identity_audit.c.tenant, identity_audit.c.identity)

# Two sources claimed one key for different persons: the higher origin won (`moved`: the key
# left the loser), both claims kept (identity.precedence).
identity_conflicts = Table(
    "identity_conflicts",
    metadata,
    Column("id", _Seq, primary_key=True, autoincrement=True),
    Column("tenant", String(64), nullable=False),
    Column("system", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("value", String(320), nullable=False),
    Column("winner_person", String(128), nullable=False),
    Column("winner_origin", String(32), nullable=False),
    Column("loser_person", String(128), nullable=False),
    Column("loser_origin", String(32), nullable=False),
    Column("moved", Boolean, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)
Index("ix_identity_conflicts_tenant", identity_conflicts.c.tenant, identity_conflicts.c.id)
# A person's delivery preferences (migration 0009): channels opted out of, quiet hours in their
# zone (`person_profiles.time_zone`), a digest instead of single messages, a daily throttle.
person_preferences = Table(
    "person_preferences",
    metadata,
    Column("tenant", String(64), primary_key=True),
    Column("person_id", String(128), primary_key=True),
    Column("opt_out", JSON, nullable=False),  # channel ids
    Column("quiet_hours", String(11), nullable=True),  # "22:00-08:00"
    Column("digest", String(8), nullable=True),  # daily | weekly
    Column("throttle", Integer, nullable=True),  # at most N per day
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
