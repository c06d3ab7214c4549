"""The tracking projector: a batch of the feed, set-based, idempotent, one push per order."""

import contextlib
import uuid

import psycopg
import pytest
from django.db import transaction

from orderflow.events import PermanentError
from testkit.factories import order_for
from tracking import push, repository
from tracking.choices import TrackingSource
from tracking.live_status import live_status_forget, live_status_get
from tracking.models import TrackedOrder, TrackingEntry
from tracking.reactions import REACTIONS
from tracking.services.projection import tracking_project

from .feed import Story, feed_event


@pytest.fixture
def sent(monkeypatch):
    """The pushes handed to the channel layer, in order (the sender is replaced)."""
    messages: list[tuple[str, dict]] = []
    monkeypatch.setattr(push, "send", messages.extend)
    return messages


@pytest.fixture(params=["sql", "orm"])
def statements_path(request, monkeypatch):
    """Both ways the repository runs: set-based SQL (PostgreSQL) and the ORM (SQLite's)."""
    if request.param == "orm":
        monkeypatch.setattr(repository, "_postgres", lambda: False)
    return request.param


def project(events, capture):
    """Apply a batch in one transaction, as the engine does, running its on-commit work."""
    with capture(execute=True), transaction.atomic():
        return tracking_project(events=events)


@contextlib.contextmanager
def statements(monkeypatch):
    """Count the statements sent to PostgreSQL (Django's cursors and the prepared ones)."""
    counted: list[str] = []
    execute = psycopg.Cursor.execute

    def counting(self, query, *args, **kwargs):
        counted.append(str(query)[:80])
        return execute(self, query, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "execute", counting)
    yield counted
    monkeypatch.setattr(psycopg.Cursor, "execute", execute)


def test_the_reactions_cover_every_event_tracking_records():
    assert set(REACTIONS) == {
        "order.placed",
        "stock.reserved",
        "order.rejected",
        "order.paid",
        "order.confirmed",
        "order.cancelled",
        "order.remainder_cancelled",
        "shipment.dispatched",
        "shipment.in_transit",
        "shipment.out_for_delivery",
        "shipment.delivery_failed",
        "shipment.held",
        "shipment.returned_to_sender",
        "shipment.cancelled",
        "shipment.delivered",
        "shipment.issue_resolved",
        "order.shipping_address_changed",
        "order.customer_changed",
        "payment.captured",
        "payment.failed",
        "payment.refunded",
        "invoice.issued",
        "stock.restocked",
        "return.requested",
        "return.approved",
        "return.rejected",
        "return.received",
        "return.refunded",
        "return.closed",
    }


def test_a_batch_records_the_history_and_moves_the_status_from_the_facts(
    place, django_capture_on_commit_callbacks, sent, statements_path
):
    order = place()
    TrackedOrder.objects.filter(pk=order.id).delete()  # only the batch makes it
    story = Story(order)

    project(story.to_confirmed(), django_capture_on_commit_callbacks)

    tracked = TrackedOrder.objects.get(pk=order.id)
    assert (tracked.status, tracked.sequence) == ("confirmed", 4)
    assert (tracked.shop_name, tracked.tracking_token) == (order.shop.name, order.tracking_token)
    entries = list(TrackingEntry.objects.filter(order=tracked).order_by("id"))
    assert [e.status for e in entries] == [
        "placed",
        "reserved",
        "payment_captured",
        "paid",
        "confirmed",
        "invoice_issued",
    ]
    by_status = {e.status: e for e in entries}
    assert by_status["placed"].note == "2 items, 24.90 EUR"
    assert by_status["placed"].source == TrackingSource.SHOP
    assert by_status["confirmed"].source == TrackingSource.SYSTEM
    assert by_status["payment_captured"].note == "24.90 EUR captured (gw_1)"
    assert not by_status["payment_captured"].public
    assert not by_status["invoice_issued"].public
    assert by_status["confirmed"].public
    live = live_status_get(order.id)
    assert (live.status, live.sequence) == ("confirmed", 4)


def test_who_acted_and_the_carrier_facts_come_from_the_events(
    place, django_capture_on_commit_callbacks, sent, statements_path
):
    order = place()
    story = Story(order)
    project(story.to_confirmed(), django_capture_on_commit_callbacks)

    project(
        [story.shipped(actor="staff:ana", tracking_number="DP-77"), story.in_transit("Porto")],
        django_capture_on_commit_callbacks,
    )

    entries = {e.status: e for e in TrackingEntry.objects.filter(order_id=order.id)}
    assert entries["shipped"].source == TrackingSource.STAFF
    assert entries["shipped"].note == "Handed to demo-post, tracking number DP-77"
    assert (entries["in_transit"].source, entries["in_transit"].location) == ("carrier", "Porto")
    tracked = TrackedOrder.objects.get(pk=order.id)
    # in transit leaves the status as it was, and is the newest event applied
    assert (tracked.status, tracked.sequence) == ("shipped", 6)
    assert (tracked.carrier, tracked.tracking_number) == ("demo-post", "DP-77")


def test_events_stored_before_the_facts_read_the_rest_from_the_orders_context(
    place, django_capture_on_commit_callbacks, sent
):
    order = place()
    TrackedOrder.objects.filter(pk=order.id).delete()
    story = Story(order, legacy=True)

    project(story.to_confirmed(), django_capture_on_commit_callbacks)

    tracked = TrackedOrder.objects.get(pk=order.id)
    assert (tracked.status, tracked.sequence) == ("confirmed", 4)
    assert tracked.tracking_token == order.tracking_token
    assert tracked.entries.get(status="placed").source == TrackingSource.SHOP


def test_the_newest_event_of_an_order_wins_within_a_batch(
    place, django_capture_on_commit_callbacks, sent
):
    order = place()
    story = Story(order)
    events = story.to_confirmed()
    # the feed is in commit order; even shuffled, the highest sequence sets the status
    shuffled = [events[0], events[4], events[1], events[3], events[2], events[5]]

    project(shuffled, django_capture_on_commit_callbacks)

    tracked = TrackedOrder.objects.get(pk=order.id)
    assert (tracked.status, tracked.sequence) == ("confirmed", 4)


def test_a_stale_event_is_kept_in_history_but_moves_nothing(
    place, django_capture_on_commit_callbacks, sent, statements_path
):
    order = place()
    story = Story(order)
    project(story.to_confirmed(), django_capture_on_commit_callbacks)
    sent.clear()
    stale = feed_event(
        "stock.reserved",
        {**story.reserved().data, "status": "reserved"},
        sequence=2,
    )

    project([stale], django_capture_on_commit_callbacks)

    tracked = TrackedOrder.objects.get(pk=order.id)
    assert (tracked.status, tracked.sequence) == ("confirmed", 4)
    assert TrackingEntry.objects.filter(event_id=stale.event_id).exists()
    assert [group for group, _ in sent] == [push.order_group(order.id), push.public_group(order.id)]
    assert not any(group.startswith("board.") for group, _ in sent)  # no row moved


def test_replaying_the_same_batch_changes_nothing_and_pushes_nothing(
    place, django_capture_on_commit_callbacks, sent, statements_path
):
    order = place()
    events = Story(order).to_confirmed()
    project(events, django_capture_on_commit_callbacks)
    tracked_before = TrackedOrder.objects.values().get(pk=order.id)
    entries_before = list(TrackingEntry.objects.values().order_by("id"))
    sent.clear()

    changed = project(events, django_capture_on_commit_callbacks)

    assert changed == {}
    assert sent == []
    assert TrackedOrder.objects.values().get(pk=order.id) == tracked_before
    assert list(TrackingEntry.objects.values().order_by("id")) == entries_before


def test_a_batch_takes_a_fixed_number_of_statements_whatever_its_size(
    shop, products, django_capture_on_commit_callbacks, sent, monkeypatch
):
    small = [Story(order_for(shop)).to_confirmed()]
    large = [Story(order_for(shop)).to_confirmed() for _ in range(20)]

    counts = []
    for stories in (small, large):
        batch = [event for story in stories for event in story]
        with (
            django_capture_on_commit_callbacks(execute=True),
            transaction.atomic(),
            statements(monkeypatch) as counted,  # inside the atomic: not the test's savepoint
        ):
            tracking_project(events=batch)
        counts.append(len(counted))
        assert TrackingEntry.objects.filter(
            event_id__in=[event.event_id for event in batch]
        ).count() == len(batch)

    # insert placed rows, lock the orders, insert the entries, move the statuses
    assert counts == [4, 4]


def test_an_event_with_the_pages_facts_reads_nothing_more_even_when_one_is_empty(
    shop, products, django_capture_on_commit_callbacks, sent, monkeypatch
):
    # a shop without a contact address: an empty fact is a fact, not a reason to read the
    # orders context (which every batch of such a shop did)
    shop.contact_email = ""
    shop.save(update_fields=["contact_email"])
    order = order_for(shop)

    with (
        django_capture_on_commit_callbacks(execute=True),
        transaction.atomic(),
        statements(monkeypatch) as counted,
    ):
        tracking_project(events=[Story(order).placed()])

    assert len(counted) == 4
    tracked = TrackedOrder.objects.get(pk=order.id)
    assert (tracked.shop_email, [item["name"] for item in tracked.items]) == (
        "",
        ["Coffee beans, 1 kg"],
    )


def test_one_push_per_order_group_and_per_board_group_with_every_entry_in_order(
    place, django_capture_on_commit_callbacks, sent
):
    first, second = place(), place()
    a, b = Story(first), Story(second)
    batch = [a.placed(), b.placed(), a.reserved(), a.captured(), b.reserved(), a.paid()]

    project(batch, django_capture_on_commit_callbacks)

    groups = [group for group, _ in sent]
    assert sorted(groups) == sorted(
        [
            push.order_group(first.id),
            push.public_group(first.id),
            push.order_group(second.id),
            push.public_group(second.id),
            push.board_group(None),
            push.board_group(first.shop_id),
        ]
    )
    messages = dict(sent)
    staff = messages[push.order_group(first.id)]
    assert staff["type"] == "tracking.entries"
    assert [e["status"] for e in staff["entries"]] == [
        "placed",
        "reserved",
        "payment_captured",
        "paid",
    ]
    assert (staff["order"]["status"], staff["order"]["sequence"]) == ("paid", 3)
    public = messages[push.public_group(first.id)]
    assert [e["status"] for e in public["entries"]] == ["placed", "reserved", "paid"]
    assert "id" not in public["entries"][0]
    assert "source" not in public["entries"][0]
    board = messages[push.board_group(None)]
    assert board["type"] == "board.rows"
    rows = {item["row"]["order_id"]: item for item in board["rows"]}
    assert (rows[str(first.id)]["row"]["sequence"], rows[str(first.id)]["row"]["status"]) == (
        3,
        "paid",
    )
    assert (rows[str(second.id)]["row"]["sequence"], rows[str(second.id)]["row"]["status"]) == (
        2,
        "reserved",
    )
    # the status and sequence before the batch: the page tells a step from a gap
    assert (
        rows[str(first.id)]["previous_sequence"],
        rows[str(second.id)]["previous_sequence"],
    ) == (
        0,
        0,
    )
    assert messages[push.board_group(first.shop_id)] == board


def test_nothing_is_pushed_or_stored_in_redis_when_the_batch_rolls_back(
    place, django_capture_on_commit_callbacks, sent
):
    order = place()
    live_status_forget(order.id)

    with (
        django_capture_on_commit_callbacks(execute=True),
        contextlib.suppress(RuntimeError),
        transaction.atomic(),
    ):
        tracking_project(events=Story(order).to_confirmed())
        raise RuntimeError("the batch fails after applying")

    assert sent == []
    assert live_status_get(order.id) is None
    assert not TrackingEntry.objects.filter(order_id=order.id, sequence=4).exists()


def test_an_event_of_an_order_that_does_not_exist_is_permanent(db, sent):
    missing = uuid.uuid4()
    event = feed_event(
        "stock.reserved",
        {"order_id": str(missing), "shop_id": 1, "number": "X", "total": "1", "currency": "EUR"},
        sequence=2,
    )

    with pytest.raises(PermanentError), transaction.atomic():
        tracking_project(events=[event])
