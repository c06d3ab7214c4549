"""The notifications context's reactions to events: each calls one of its own services.

Two families, registered in loops because each covers many event types:

* ``notifications.webhook_on_<type>`` for every event type that belongs to a shop: the
  event is recorded for each of the shop's endpoints that wants it;
* ``notifications.email_on_<type>`` for every event type in ``emails.TRIGGERS``.

The other contexts' ``events`` modules are imported first, so every type they declare is
known whatever order the apps are loaded in.

Both only queue rows that the senders' own loops send later, so their transactions
commit without waiting for the disk (``synchronous_commit=False``): one lost in a
PostgreSQL crash is queued again when its delivery's lease ends. Nothing is sent from a
row that could still be lost: a sender claims rows in a synchronous commit, which flushes
the log up to it, and so the rows' own earlier commits, before it sends
(``services.dispatch.claim_due``).
"""

import orders.events  # noqa: F401  (declares the order, stock and shipment events)
import payments.events  # noqa: F401  (declares the payment and invoice events)
from orderflow.events import Envelope, Event, event_types, subscriber

from . import emails, services
from . import events as own_events  # noqa: F401  (declares webhook_endpoint.disabled)


def _handler_name(prefix: str, event_type: str) -> str:
    return f"{prefix}_on_{event_type.replace('.', '_')}"


def _webhook_handler(event_type: str):
    def handle(event: Event, envelope: Envelope) -> None:
        services.webhook_deliveries_create_for_event(envelope=envelope, data=event.to_data())

    handle.__name__ = handle.__qualname__ = _handler_name("webhook", event_type)
    return handle


def _email_handler(event_type: str):
    def handle(event: Event, envelope: Envelope) -> None:
        services.email_notifications_queue_for_event(
            event_type=envelope.type,
            event_id=envelope.event_id,
            shop_id=int(envelope.tenant_id),
            data=event.to_data(),
        )

    handle.__name__ = handle.__qualname__ = _handler_name("email", event_type)
    return handle


for _type in sorted({cls.type for cls in event_types().values() if cls.tenant_field}):
    subscriber(
        _type,
        name=f"notifications.{_handler_name('webhook', _type)}",
        synchronous_commit=False,
    )(_webhook_handler(_type))

for _type in emails.trigger_event_types():
    subscriber(
        _type,
        name=f"notifications.{_handler_name('email', _type)}",
        synchronous_commit=False,
    )(_email_handler(_type))
