"""Pure core: the canonical event model and (from the evaluation work) the rule engine."""

from rules.events import RESERVED_SOURCE_PREFIX, Actor, CloudEvent, connector_source

__all__ = ["Actor", "CloudEvent", "RESERVED_SOURCE_PREFIX", "connector_source"]
