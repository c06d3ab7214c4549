from typing import ClassVar
from uuid import UUID

from pydantic.dataclasses import dataclass

from orderflow.events import Event


@dataclass(frozen=True, kw_only=True)
class ProbePinged(Event):
    """Tells the probe handlers how to behave: ok, flaky, broken, permanent or held."""

    type: ClassVar[str] = "probe.pinged"
    aggregate: ClassVar[str] = "probe"
    aggregate_id_field: ClassVar[str] = "probe_id"

    probe_id: UUID
    shop_id: int
    behaviour: str = "ok"
    fail_times: int = 0


@dataclass(frozen=True, kw_only=True)
class ProbeNoop(Event):
    """Handled by a subscriber that does nothing: the delivery machinery's own cost."""

    type: ClassVar[str] = "probe.noop"
    aggregate: ClassVar[str] = "probe"
    aggregate_id_field: ClassVar[str] = "probe_id"
    tenant_field: ClassVar[str | None] = None

    probe_id: UUID


@dataclass(frozen=True, kw_only=True)
class ProbeChained(Event):
    """Handled by a subscriber that publishes ``probe.noop``: an event caused by another."""

    type: ClassVar[str] = "probe.chained"
    aggregate: ClassVar[str] = "probe"
    aggregate_id_field: ClassVar[str] = "probe_id"
    tenant_field: ClassVar[str | None] = None

    probe_id: UUID


@dataclass(frozen=True, kw_only=True)
class ProbeIgnored(Event):
    """Declared with no subscriber at all: it is relayed into the feed and delivered nowhere."""

    type: ClassVar[str] = "probe.ignored"
    aggregate: ClassVar[str] = "probe"
    aggregate_id_field: ClassVar[str] = "probe_id"

    probe_id: UUID
    shop_id: int


@dataclass(frozen=True, kw_only=True)
class ProbeUrgent(Event):
    """Handled by a high-priority subscriber that commits without waiting for the disk."""

    type: ClassVar[str] = "probe.urgent"
    aggregate: ClassVar[str] = "probe"
    aggregate_id_field: ClassVar[str] = "probe_id"
    tenant_field: ClassVar[str | None] = None

    probe_id: UUID
