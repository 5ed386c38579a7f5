"""Why, why not, and simulate, over HTTP (the tenant's bearer key, that tenant only).

Routes:
    GET  /v1/persons/{identity}/achievements/{key}   progress and what is missing, or the
                                                     grants with their evidence in words
    POST /v1/simulate                                what a rule would grant on given events
                                                     (or a person's history); stores nothing

Both answer what `accolade why --json` and `accolade simulate --json` print: one read model,
built by `insight.why` and `insight.simulate`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from api.reads import IDENTITY_ERRORS, Tenant, find_identity
from api.spec import MAX_BATCH, ErrorDetail, bearer_responses
from config.models import LimitSettings, TenantSettings
from identity import AmbiguousIdentity, UnknownIdentity
from insight.eventfile import EventFileError, parse_event_items
from insight.simulate import SimulationError, SimulationRequest, simulate
from insight.why import UnknownAchievement, why
from rules.definitions import AchievementSpec

__all__ = ["SimulateBody", "insight_router"]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Explained(_Open):
    granted: bool
    hidden: bool
    lines: list[str] = Field(description="plain words, in the person's time zone (else the tenant's)")
    have: int
    need: int = Field(description="0: nothing to draw a progress bar for")
    next_deadline: str | None = None
    occurrences: list[str] = Field(default_factory=list)
    points: int | None = None


class GrantWhy(_Open):
    grant_id: str
    occurrence: str
    granted_at: str | None = None
    granted_local: str | None = None
    why: list[str] = Field(description="the evidence in words")


class Why(Explained):
    tenant: str
    person: str
    achievement: str
    version: int
    name: str
    kind: str
    time_zone: str
    unlinked: list[str] = Field(description='source systems without a link: "no GitLab identity linked"')
    grants: list[GrantWhy]


class PersonExplained(Explained):
    person: str


class SimulatedGrant(_Open):
    person: str
    grant_id: str = Field(description="the id the live evaluation would give it")
    occurrence: str
    granted_at: str
    why: list[str]
    evidence: dict[str, Any]


class Simulation(_Open):
    tenant: str
    achievement: str
    version: int
    kind: str
    at: str
    at_local: str = Field(description="the rule time in the tenant's zone")
    events: int = Field(description="events of the rule's types evaluated")
    from_history: int = Field(description="of them, read from the person's history")
    other_events: int = Field(description="given events of other types (a `without` rule's B, say)")
    later_events: int = Field(description="events after `at`, left out: not happened yet at that time")
    grants: list[SimulatedGrant]
    persons: list[PersonExplained]
    unlinked: list[dict[str, Any]] = Field(description="stand-in persons for actors nobody is linked to")
    skipped: list[dict[str, Any]]
    late: list[dict[str, Any]]
    stored: bool = Field(description="always false: a simulation changes nothing")


class SimulateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    achievement: str = Field(min_length=1, max_length=64)
    events: list[dict[str, Any]] = Field(default_factory=list, max_length=MAX_BATCH,
                                         description="CloudEvents, in arrival order")
    person: str | None = Field(default=None, max_length=400,
                               description="SYSTEM:VALUE: replay this person's history from the event log")
    achievements: list[dict[str, Any]] | None = Field(
        default=None, max_length=500, description="edited achievements (as in accolade.yaml) to try "
                                                  "instead of the published ones")
    at: AwareDatetime | None = Field(default=None, description="rule time (default: now)")


_WHY_ERRORS = {**IDENTITY_ERRORS,
               404: {"model": ErrorDetail, "description": "no such person, or no such achievement"}}
_SIMULATE_ERRORS: dict[int | str, dict[str, Any]] = {
    **IDENTITY_ERRORS,
    400: {"model": ErrorDetail, "description": "an event or achievement that does not validate (named by "
                                              "index and field), an unknown achievement, or no events"},
    413: {"model": ErrorDetail, "description": "the body is over `api.limits.events_body`"},
}


def insight_router(limits: LimitSettings) -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["read"], responses=bearer_responses())

    @router.get("/persons/{identity}/achievements/{key}", response_model=Why, responses=_WHY_ERRORS)
    async def get_why(identity: str, key: str, request: Request, tenant: Tenant) -> dict[str, Any]:
        """Why the person has the achievement (the evidence in words), or what is missing."""

        def read() -> dict[str, Any]:
            with request.app.state.engine.connect() as conn:
                person = find_identity(conn, tenant, identity)
                try:
                    return why(conn, tenant, person, key, now=datetime.now(UTC))
                except UnknownAchievement as exc:
                    raise HTTPException(404, str(exc)) from None

        return await run_in_threadpool(read)

    @router.post("/simulate", response_model=Simulation, responses=_SIMULATE_ERRORS,
                 max_body_size=int(limits.events_body))
    async def post_simulate(body: SimulateBody, request: Request, tenant: Tenant) -> dict[str, Any]:
        """What the achievement would grant on these events (or the person's history), when and
        why, and what is still missing. Runs the live evaluation's code; stores nothing."""
        simulation = _request(body)
        return await run_in_threadpool(_simulate, request, tenant, simulation)

    return router


def _request(body: SimulateBody) -> SimulationRequest:
    try:
        events = parse_event_items(body.events, name="events")
        edited = body.achievements
        specs = None if edited is None else [_spec(raw, i) for i, raw in enumerate(edited)]
    except (EventFileError, ValueError) as exc:
        raise HTTPException(400, str(exc)) from None
    return SimulationRequest(body.achievement, events, body.person, specs, body.at)


def _spec(raw: dict[str, Any], index: int) -> AchievementSpec:
    try:
        return AchievementSpec.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in (f"achievements[{index}]", *error["loc"]))
        raise ValueError(f"{where}: {str(error['msg']).removeprefix('Value error, ')}") from None


def _simulate(request: Request, tenant: TenantSettings, simulation: SimulationRequest) -> dict[str, Any]:
    with request.app.state.engine.connect() as conn:
        try:
            return simulate(conn, tenant, simulation, now=datetime.now(UTC))
        except (SimulationError, ValueError) as exc:
            raise HTTPException(400, str(exc)) from None
        except AmbiguousIdentity as exc:
            raise HTTPException(409, str(exc)) from None
        except UnknownIdentity as exc:
            raise HTTPException(404, str(exc)) from None
