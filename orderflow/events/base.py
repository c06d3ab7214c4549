"""The base of every domain event and the registry of declared event types.

A context declares what it publishes in its ``events.py``::

    @dataclass(frozen=True, kw_only=True)      # pydantic.dataclasses.dataclass
    class OrderPlaced(Event):
        type: ClassVar[str] = "order.placed"
        aggregate: ClassVar[str] = "order"
        order_id: UUID
        ...

The pydantic dataclass validates the payload when the event is built, so a malformed
event is refused before it can reach the outbox, and its JSON Schema is derived from
the same declaration.
"""

from functools import cache
from typing import Any, ClassVar

from pydantic import TypeAdapter


class EventDeclarationError(TypeError):
    """An event class is declared wrongly (missing type, duplicate type and version)."""


class UnknownEventType(LookupError):
    """A type/version pair that no context declares."""


_registry: dict[tuple[str, int], type["Event"]] = {}


class Event:
    """Base of all domain events; subclasses are frozen pydantic dataclasses."""

    type: ClassVar[str]
    version: ClassVar[int] = 1
    aggregate: ClassVar[str]
    #: the payload field holding the aggregate's id
    aggregate_id_field: ClassVar[str]
    #: the payload field naming the shop (tenant) the event belongs to, if any
    tenant_field: ClassVar[str | None] = "shop_id"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for attr in ("type", "aggregate", "aggregate_id_field"):
            if not isinstance(getattr(cls, attr, None), str):
                raise EventDeclarationError(f"{cls.__qualname__} must declare {attr!r}.")
        key = (cls.type, cls.version)
        existing = _registry.get(key)
        if existing is not None and existing.__qualname__ != cls.__qualname__:
            raise EventDeclarationError(
                f"{cls.type} v{cls.version} is declared twice: "
                f"{existing.__module__}.{existing.__qualname__} and "
                f"{cls.__module__}.{cls.__qualname__}."
            )
        _registry[key] = cls

    @property
    def aggregate_id(self) -> str:
        return str(getattr(self, self.aggregate_id_field))

    @property
    def tenant_id(self) -> str:
        return str(getattr(self, self.tenant_field)) if self.tenant_field else ""

    def to_data(self) -> dict[str, Any]:
        """Return the payload as JSON-ready values (Decimal and UUID become strings)."""
        return _adapter(type(self)).dump_python(self, mode="json")

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> "Event":
        return _adapter(cls).validate_python(data)

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        # serialization mode describes the wire: Decimals and UUIDs as strings
        schema = _adapter(cls).json_schema(mode="serialization")
        schema["title"] = f"{cls.type} v{cls.version}"
        return schema


@cache
def _adapter(cls: type) -> TypeAdapter:
    return TypeAdapter(cls)


def event_types() -> dict[tuple[str, int], type[Event]]:
    """Every declared (type, version) and its class."""
    return dict(_registry)


def get_event_class(type_: str, version: int = 1) -> type[Event]:
    try:
        return _registry[(type_, version)]
    except KeyError:
        raise UnknownEventType(f"No event type {type_!r} version {version} is declared.") from None
