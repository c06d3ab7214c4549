"""The kernel's management commands: ``events``, ``outbox_status`` and ``replay_dead_letters``."""

import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from orderflow.events import event_types, publish
from orderflow.events import subscribers as subscriber_registry
from orderflow.events.relay import relay_batch
from orderflow.events.subscribers import all_subscribers, subscriber
from orderflow.models import Delivery, DeliveryStatus, OutboxEvent
from tests.probe.events import ProbeNoop, ProbePinged

RECORD = "probe.record_on_probe_pinged"
ORDERED = "probe.record_in_order_on_probe_pinged"
NOOP = "probe.nothing_on_probe_noop"
STATE = ("status", "attempts", "replayed_at")


def publish_one(event) -> OutboxEvent:
    with transaction.atomic():
        return publish(event)


def ping(*, shop_id: int = 1) -> OutboxEvent:
    return publish_one(ProbePinged(probe_id=uuid.uuid4(), shop_id=shop_id))


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- events ---
def table_rows(output: str) -> dict[str, tuple[str, str, list[str]]]:
    """Read the rich table back: event type -> (version, published by, subscribers)."""
    rows: dict[str, tuple[str, str, list[str]]] = {}
    current = None
    for line in output.splitlines():
        if "Projectors (" in line:
            break  # the projectors' own table follows the events'
        if not line.startswith("│"):
            continue
        event_type, version, publisher, subscribers = (c.strip() for c in line.split("│")[1:5])
        if event_type:
            current = event_type
            rows[current] = (version, publisher, [])
        if subscribers and subscribers != "—":
            rows[current][2].append(subscribers)
    return rows


def test_events_lists_every_declared_type_with_its_subscribers():
    rows = table_rows(run("events"))

    assert sorted(rows) == sorted(type_ for type_, _ in event_types())
    assert rows["probe.pinged"] == (
        "1",
        "tests.probe",
        [f"{ORDERED} (ordered)", RECORD],
    )
    assert rows["probe.noop"] == ("1", "tests.probe", [NOOP])
    assert rows["probe.ignored"] == ("1", "tests.probe", [])
    for type_ in ("order.placed", "order.cancelled"):
        declared = [
            s.name + (" (ordered)" if s.ordered else "")
            for s in all_subscribers()
            if s.event_type == type_
        ]
        assert rows[type_] == ("1", "orders", declared)


def test_events_flags_a_subscriber_to_an_undeclared_type(monkeypatch):
    monkeypatch.setattr(subscriber_registry, "_subscribers", dict(subscriber_registry._subscribers))

    @subscriber("probe.vanished", name="probe.orphan_on_probe_vanished")
    def orphan_on_probe_vanished(event, envelope):
        """Subscribe to a type nobody declares (a typo, or a removed event)."""

    rows = table_rows(run("events"))

    assert rows["probe.vanished"] == ("?", "nobody: undeclared", ["probe.orphan_on_probe_vanished"])


# --- outbox_status ---
def read_status(output: str) -> dict[str, str]:
    values = {}
    for line in output.splitlines():
        label, sep, value = line.partition("  ")
        if sep:
            values[label.strip()] = value.strip()
    return values


@pytest.mark.django_db
def test_outbox_status_prints_the_counts():
    ping()
    ping()
    relay_batch()
    ping()  # not relayed yet
    deliveries = list(Delivery.objects.order_by("pk"))
    Delivery.objects.filter(pk=deliveries[0].pk).update(
        status=DeliveryStatus.DEAD, dead_at=timezone.now()
    )
    Delivery.objects.filter(pk=deliveries[1].pk).update(
        status=DeliveryStatus.PENDING, attempts=1, available_at=timezone.now() + timedelta(hours=1)
    )
    Delivery.objects.filter(pk=deliveries[2].pk).update(
        status=DeliveryStatus.RUNNING, attempts=1, lease_until=timezone.now() + timedelta(hours=1)
    )

    output = run("outbox_status")

    values = read_status(output)
    assert {
        label: values[label]
        for label in values
        if "oldest" not in label and not label.startswith("projector ")
    } == {
        "events not yet relayed": "1",
        "deliveries in flight": "1",
        "deliveries due now": "1",
        "retries scheduled": "1",
        "dead letters": "1",
        "parked events": "0",
    }
    assert values["oldest not yet relayed"].endswith(" s")
    assert "Dead letters and parked events need a look" in output


@pytest.mark.django_db
def test_outbox_status_of_an_empty_outbox():
    output = run("outbox_status")

    values = read_status(output)
    assert {label: values[label] for label in values if not label.startswith("projector ")} == {
        "events not yet relayed": "0",
        "oldest not yet relayed": "—",
        "oldest undelivered": "—",
        "deliveries in flight": "0",
        "deliveries due now": "0",
        "retries scheduled": "0",
        "dead letters": "0",
        "parked events": "0",
    }
    assert "need a look" not in output


# --- replay_dead_letters ---
@pytest.fixture
def letters() -> dict[str, int]:
    """Four dead letters: two subscribers of a shop-1 ping (3 days ago and now), a shop-2 ping's
    record delivery and a noop's; plus a done delivery that no filter may touch."""
    now = timezone.now()
    shop_1 = ping(shop_id=1)
    shop_2 = ping(shop_id=2)
    noop = publish_one(ProbeNoop(probe_id=uuid.uuid4()))
    relay_batch()
    ids = {
        "old record": (shop_1, RECORD, now - timedelta(days=3)),
        "ordered": (shop_1, ORDERED, now),
        "shop 2 record": (shop_2, RECORD, now),
        "noop": (noop, NOOP, now),
    }
    for row, name, dead_at in ids.values():
        Delivery.objects.filter(event=row, subscriber=name).update(
            status=DeliveryStatus.DEAD, attempts=10, dead_at=dead_at, last_error="boom"
        )
    Delivery.objects.filter(event=shop_2, subscriber=ORDERED).update(status=DeliveryStatus.DONE)
    return {
        label: Delivery.objects.get(event=row, subscriber=name).pk
        for label, (row, name, _) in ids.items()
    }


def states() -> dict[int, tuple]:
    return {d[0]: d[1:] for d in Delivery.objects.values_list("pk", *STATE)}


def replayed(letters: dict[str, int]) -> list[str]:
    pending = set(
        Delivery.objects.filter(status=DeliveryStatus.PENDING).values_list("pk", flat=True)
    )
    return sorted(label for label, pk in letters.items() if pk in pending)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--subscriber", RECORD], ["old record", "shop 2 record"]),
        (["--type", "probe.noop"], ["noop"]),
        (["--shop", "2"], ["shop 2 record"]),
        (["--type", "probe.pinged", "--subscriber", ORDERED], ["ordered"]),
        ([], ["noop", "old record", "ordered", "shop 2 record"]),
    ],
)
def test_replay_dead_letters_replays_what_the_filters_select(letters, options, expected):
    output = run("replay_dead_letters", *options)

    assert replayed(letters) == expected
    assert f"Replayed {len(expected)} dead letter(s)." in output
    for label in expected:
        delivery = Delivery.objects.get(pk=letters[label])
        assert (delivery.attempts, delivery.replayed_at is not None) == (0, True)


@pytest.mark.django_db
def test_replay_dead_letters_since_takes_only_the_recent_ones(letters):
    since = (timezone.now() - timedelta(days=1)).isoformat()

    run("replay_dead_letters", "--since", since)

    assert replayed(letters) == ["noop", "ordered", "shop 2 record"]


@pytest.mark.django_db
def test_replay_dead_letters_dry_run_lists_and_changes_nothing(letters):
    before = states()

    output = run("replay_dead_letters", "--dry-run", "--subscriber", RECORD)

    assert states() == before
    lines = output.splitlines()
    assert [line.split("\t")[:3] for line in lines[:-1]] == [
        [str(letters["old record"]), "probe.pinged", RECORD],
        [str(letters["shop 2 record"]), "probe.pinged", RECORD],
    ]
    assert lines[-1] == "2 dead letter(s) would be replayed."


@pytest.mark.django_db
def test_replay_dead_letters_refuses_a_since_that_is_no_date(letters):
    before = states()

    with pytest.raises(CommandError, match="--since 'last tuesday' is not an ISO 8601 date-time"):
        run("replay_dead_letters", "--since", "last tuesday")

    assert states() == before


@pytest.mark.django_db
def test_replay_dead_letters_with_nothing_dead_replays_nothing():
    ping()
    relay_batch()
    before = states()

    output = run("replay_dead_letters")

    assert "Replayed 0 dead letter(s)." in output
    assert states() == before
    assert OutboxEvent.objects.count() == 1
