"""``publish()``: one outbox row per event, inside the caller's transaction, or nothing at all."""

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import ClassVar
from uuid import UUID

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone
from pydantic import ValidationError
from pydantic.dataclasses import dataclass
from rest_framework.test import APIClient

from orderflow.events import Event, base, event_published, publish
from orderflow.events.base import EventDeclarationError, UnknownEventType
from orderflow.events.kick import kick_after_commit
from orderflow.events.lane import claim_batch, run_delivery
from orderflow.events.publish import PublishOutsideTransaction
from orderflow.events.relay import relay_batch
from orderflow.models import OutboxEvent
from orders.events import OrderPlaced, PlacedLine
from orders.models import Order
from testkit.factories import ProductFactory, ShopFactory, api_key_for
from tests.probe.events import ProbeChained, ProbeNoop, ProbePinged

CHAINED = "probe.publish_noop_on_probe_chained"


def an_order_placed(**overrides) -> OrderPlaced:
    fields = {
        "order_id": UUID("0b7e4e57-5f5c-4d1e-9a43-6d2f1c7a9e01"),
        "shop_id": 7,
        "number": "ORD-1",
        "currency": "EUR",
        "subtotal": Decimal("59.70"),
        "total": Decimal("59.70"),
        "customer_name": "Ana Souza",
        "customer_email": "ana@example.com",
        "lines": [PlacedLine(product_id=3, sku="MUG", quantity=6, unit_price=Decimal("9.95"))],
    }
    return OrderPlaced(**{**fields, **overrides})


@pytest.fixture
def signals() -> Iterator[list[dict]]:
    """Collect every ``event_published`` signal sent during the test."""
    received = []

    def receiver(sender, **kwargs):
        received.append({"sender": sender, "event": kwargs["event"], "row": kwargs["row"]})

    event_published.connect(receiver)
    try:
        yield received
    finally:
        event_published.disconnect(receiver)


# --- commit and rollback ---
@pytest.mark.django_db
def test_commit_writes_one_row_with_the_envelope_and_json_data(
    correlation_id, django_capture_on_commit_callbacks
):
    event = an_order_placed()
    before = timezone.now()

    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        row = publish(event, sequence=1, idempotency_key="key-1")

    stored = OutboxEvent.objects.get()
    assert stored.event_id == row.event_id
    assert (
        stored.type,
        stored.version,
        stored.aggregate,
        stored.aggregate_id,
        stored.sequence,
        stored.tenant_id,
        stored.correlation_id,
        stored.causation_id,
        stored.idempotency_key,
        stored.published_at,
        stored.position,
    ) == (
        "order.placed",
        1,
        "order",
        "0b7e4e57-5f5c-4d1e-9a43-6d2f1c7a9e01",
        1,
        "7",
        "corr-test-1",
        "",
        "key-1",
        None,
        None,
    )
    assert before <= stored.occurred_at <= timezone.now()
    assert stored.data == {
        "order_id": "0b7e4e57-5f5c-4d1e-9a43-6d2f1c7a9e01",
        "shop_id": 7,
        "number": "ORD-1",
        "currency": "EUR",
        "subtotal": "59.70",
        "total": "59.70",
        "customer_name": "Ana Souza",
        "customer_email": "ana@example.com",
        "lines": [
            {
                "product_id": 3,
                "sku": "MUG",
                "quantity": 6,
                "unit_price": "9.95",
                # pricing per line, at their defaults when the publisher has none
                "name": "",
                "discount_amount": "0.00",
                "line_total": None,
                "tax_rate": "0",
                "tax_amount": "0.00",
            }
        ],
        # the facts order events carry (orders.events), empty when the publisher has none
        "status": "",
        "actor": "",
        "shop_name": "",
        "tracking_token": "",
        # the shop's own reference and metadata, empty when it sent none
        "external_reference": "",
        "metadata": {},
        # pricing, payment and the customer's page: their defaults (orders.events)
        "discount_total": "0.00",
        "discount_codes": [],
        "shipping_method": "",
        "shipping_total": "0.00",
        "tax_total": "0.00",
        "prices_include_tax": True,
        "customer_locale": "",
        "payment_mode": "charge",
        "shop_email": "",
    }
    # the relay is told after commit, never before (and the metrics count the event then:
    # the kernel's by type, orders' its order counters)
    assert callbacks[0] == kick_after_commit
    assert [getattr(c, "func", c).__name__ for c in callbacks[1:]] == [
        "_event_committed",
        "_order_event_committed",
    ]


def failing_use_case(*events: Event) -> None:
    """Publish ``events``, then fail before the transaction commits."""
    with transaction.atomic():
        for event in events:
            publish(event)
        raise RuntimeError("the use case failed after publishing")


@pytest.mark.django_db
def test_rollback_publishes_nothing_and_kicks_nobody(django_capture_on_commit_callbacks):
    events = [ProbeNoop(probe_id=uuid.uuid4()), ProbeNoop(probe_id=uuid.uuid4())]

    with (
        django_capture_on_commit_callbacks() as callbacks,
        pytest.raises(RuntimeError, match="use case failed"),
    ):
        failing_use_case(*events)

    assert OutboxEvent.objects.count() == 0
    assert callbacks == []


@pytest.mark.django_db
def test_without_a_correlation_id_a_new_one_is_made_per_event():
    with transaction.atomic():
        first = publish(ProbeNoop(probe_id=uuid.uuid4()))
        second = publish(ProbeNoop(probe_id=uuid.uuid4()))

    assert len(first.correlation_id) == 32
    assert int(first.correlation_id, 16) >= 0  # a uuid4 hex
    assert first.correlation_id != second.correlation_id
    assert (first.causation_id, second.causation_id) == ("", "")


@pytest.mark.django_db(transaction=True)
def test_publish_outside_a_transaction_is_refused():
    with pytest.raises(PublishOutsideTransaction):
        publish(ProbeNoop(probe_id=uuid.uuid4()))

    assert OutboxEvent.objects.count() == 0


# --- declarations and payloads ---
@pytest.fixture
def scratch_registry(monkeypatch) -> None:
    """Let a test declare event types without leaving them in the process-wide registry."""
    monkeypatch.setattr(base, "_registry", dict(base._registry))


def declare_probe_forgotten() -> type[Event]:
    @dataclass(frozen=True, kw_only=True)
    class ProbeForgotten(Event):
        type: ClassVar[str] = "probe.forgotten"
        aggregate: ClassVar[str] = "probe"
        aggregate_id_field: ClassVar[str] = "probe_id"
        tenant_field: ClassVar[str | None] = None

        probe_id: UUID

    return ProbeForgotten


@pytest.mark.django_db
def test_an_event_class_that_is_not_the_declared_one_is_refused(scratch_registry):
    # given a class superseded by a second declaration of the same name (a module reload)
    stale = declare_probe_forgotten()
    current = declare_probe_forgotten()
    assert base.event_types()[("probe.forgotten", 1)] is current

    with (
        pytest.raises(UnknownEventType, match="ProbeForgotten is not a declared event type"),
        transaction.atomic(),
    ):
        publish(stale(probe_id=uuid.uuid4()))

    assert OutboxEvent.objects.count() == 0


def test_an_event_class_without_type_is_refused_at_declaration(scratch_registry):
    declared_before = base.event_types()

    with pytest.raises(EventDeclarationError, match="must declare 'type'"):

        class Nameless(Event):
            aggregate: ClassVar[str] = "probe"
            aggregate_id_field: ClassVar[str] = "probe_id"

    assert base.event_types() == declared_before


def test_a_second_class_for_a_declared_type_and_version_is_refused(scratch_registry):
    declared_before = base.event_types()

    with pytest.raises(EventDeclarationError, match=r"probe\.noop v1 is declared twice"):

        class NoopAgain(Event):
            type: ClassVar[str] = "probe.noop"
            aggregate: ClassVar[str] = "probe"
            aggregate_id_field: ClassVar[str] = "probe_id"

    assert base.event_types() == declared_before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"probe_id": "not-a-uuid", "shop_id": 1}, ("uuid_parsing", ("probe_id",))),
        ({"probe_id": uuid.uuid4(), "shop_id": "seven"}, ("int_parsing", ("shop_id",))),
        ({"probe_id": uuid.uuid4()}, ("missing", ("shop_id",))),
    ],
)
def test_a_malformed_payload_is_refused_when_the_event_is_built(fields, error):
    with pytest.raises(ValidationError) as refused, transaction.atomic():
        publish(ProbePinged(**fields))

    assert [(e["type"], e["loc"]) for e in refused.value.errors()] == [error]
    assert OutboxEvent.objects.count() == 0


# --- sequences ---
@pytest.mark.django_db
def test_sequence_counts_up_per_aggregate(publish_one):
    first, second = uuid.uuid4(), uuid.uuid4()

    for probe_id in (first, first, second, first):
        publish_one(ProbeNoop(probe_id=probe_id))

    rows = OutboxEvent.objects.order_by("created_at").values_list("aggregate_id", "sequence")
    assert list(rows) == [(str(first), 1), (str(first), 2), (str(second), 1), (str(first), 3)]


@pytest.mark.django_db
def test_a_duplicate_sequence_of_an_aggregate_is_refused(publish_one):
    probe_id = uuid.uuid4()
    kept = publish_one(ProbeNoop(probe_id=probe_id), sequence=1)

    with pytest.raises(IntegrityError, match="outbox_unique_aggregate_sequence"):
        publish_one(ProbeNoop(probe_id=probe_id), sequence=1)

    assert list(OutboxEvent.objects.values_list("event_id", flat=True)) == [kept.event_id]


# --- the in-process signal ---
@pytest.mark.django_db
def test_the_published_signal_is_sent_once_with_the_event_and_its_row(signals):
    event = ProbeNoop(probe_id=uuid.uuid4())

    with transaction.atomic():
        row = publish(event)

    assert signals == [{"sender": ProbeNoop, "event": event, "row": row}]


# --- correlation and causation ---
@pytest.mark.django_db
def test_api_order_carries_the_request_correlation_id():
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="MUG")
    client_headers = {
        "HTTP_AUTHORIZATION": f"Bearer {api_key_for(shop)}",
        "HTTP_X_CORRELATION_ID": "abc-123",
    }
    body = {
        "customer": {"name": "Ana Souza", "email": "ana@example.com"},
        "shipping_address": {
            "line1": "Rua A 1",
            "city": "São Paulo",
            "postal_code": "01000-000",
            "country": "BR",
        },
        "lines": [{"sku": "MUG", "quantity": 1}],
        "payment": {"token": "tok_ok"},
    }

    response = APIClient().post("/api/v1/orders", body, format="json", **client_headers)

    assert response.status_code == 201, response.content
    row = OutboxEvent.objects.get()
    assert (row.type, row.aggregate_id) == ("order.placed", str(Order.objects.get().pk))
    assert (row.correlation_id, row.causation_id) == ("abc-123", "")


@pytest.mark.django_db
def test_an_event_published_by_a_handler_is_caused_by_the_handled_event(
    correlation_id, publish_one
):
    probe_id = uuid.uuid4()
    handled = publish_one(ProbeChained(probe_id=probe_id), sequence=1)
    relay_batch()
    (delivery,) = claim_batch()
    assert delivery.subscriber == CHAINED

    outcome = run_delivery(delivery)

    assert outcome == "done"
    caused = OutboxEvent.objects.exclude(pk=handled.pk).get()
    assert (caused.type, caused.aggregate_id, caused.sequence) == ("probe.noop", str(probe_id), 2)
    assert caused.causation_id == str(handled.event_id)
    assert caused.correlation_id == handled.correlation_id == "corr-test-1"


@pytest.mark.django_db
def test_the_handled_event_stops_being_the_cause_once_its_handler_returns(publish_one):
    handled = publish_one(ProbeChained(probe_id=uuid.uuid4()))
    relay_batch()
    run_delivery(*claim_batch())

    later = publish_one(ProbeNoop(probe_id=uuid.uuid4()))

    assert later.causation_id == ""
    assert later.correlation_id != handled.correlation_id


@pytest.mark.django_db
def test_an_explicit_causation_id_is_kept():
    cause = str(uuid.uuid4())

    with transaction.atomic():
        row = publish(ProbeNoop(probe_id=uuid.uuid4()), causation_id=cause)

    assert OutboxEvent.objects.get(pk=row.pk).causation_id == cause
