"""The board's work queues: their declarations, the pages and exports they filter, their
counts in the snapshot, the push that moves the counts, and the heartbeat's stuck count."""

import csv
import io
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from django.db import transaction
from django.utils import timezone

from orderflow.models import Delivery, DeliveryStatus
from tracking import push, queues, selectors
from tracking.models import TrackedOrder
from tracking.reactions import open_returns
from tracking.services.projection import tracking_project

from .feed import Story

START = timezone.now() - timedelta(days=1)


def tracked(n: int, **fields) -> TrackedOrder:
    placed_at = START + timedelta(minutes=n)
    values = {
        "order_id": uuid4(),
        "shop_id": 1,
        "shop_name": "Demo Coffee",
        "number": f"OF-Q{n:05d}",
        "customer_email": f"c{n}@example.com",
        "total": Decimal("24.90"),
        "currency": "EUR",
        "tracking_token": uuid4().hex,
        "status": "confirmed",
        "sequence": 4,
        "placed_at": placed_at,
        "updated_at": placed_at,
        **fields,
    }
    return TrackedOrder.objects.create(**values)


PAYMENT = {"cause": "payment", "reason": "Card declined", "short_items": [], "charged": False}
BY_SHOP = {"cause": "shop", "reason": "Customer asked", "short_items": [], "charged": False}


def _returns(*statuses: str) -> dict:
    """A delivered order's row with returns R1, R2… in ``statuses`` (the last the latest)."""
    known = [
        {"number": n, "status": status, "lines": [{"sku": "MUG", "name": "Mug", "quantity": 1}]}
        for n, status in enumerate(statuses, start=1)
    ]
    return {
        "status": "delivered",
        "return_status": statuses[-1],
        "returns": known,
        "open_returns": open_returns(known),
    }


#: a row of every kind a queue tells apart, and the queues it is in
KINDS = {
    "confirmed": ({"status": "confirmed"}, ["to-ship"]),
    "partly shipped": ({"status": "partially_shipped"}, ["to-ship"]),
    "shipped": ({"status": "shipped"}, []),
    "attempt failed": (
        {"status": "out_for_delivery", "delivery_issue": "delivery_failed"},
        ["delivery-exceptions"],
    ),
    "held": ({"status": "shipped", "delivery_issue": "held"}, ["delivery-exceptions"]),
    "returning": (
        {"status": "shipped", "delivery_issue": "returned_to_sender"},
        ["delivery-exceptions"],
    ),
    "payment failed": ({"status": "cancelled", "outcome": PAYMENT}, ["payment-failed"]),
    "cancelled by the shop": ({"status": "cancelled", "outcome": BY_SHOP}, []),
    "rejected": ({"status": "rejected"}, []),
    "delivered": ({"status": "delivered"}, []),
    "return asked for": (_returns("requested"), ["returns"]),
    "return approved": (_returns("approved"), ["returns"]),
    "return received": (_returns("received"), ["returns"]),
    "return refunded": (_returns("refunded"), []),
    "return rejected": (_returns("rejected"), []),
    "return closed": (_returns("closed"), []),
    # the latest return settled, an earlier one still open: the order stays in the queue
    "first return open, second rejected": (_returns("approved", "rejected"), ["returns"]),
}


def rows_of_every_kind() -> dict[str, TrackedOrder]:
    return {name: tracked(n, **fields) for n, (name, (fields, _)) in enumerate(KINDS.items())}


# --- the declarations ------------------------------------------------------------------------
def test_each_rows_queues_are_the_ones_its_facts_put_it_in(db):
    rows = rows_of_every_kind()

    assert {name: queues.row_queues(row) for name, row in rows.items()} == {
        name: expected for name, (_, expected) in KINDS.items()
    }


def test_the_database_filter_and_the_rows_test_of_each_queue_agree(db):
    rows = rows_of_every_kind()

    for queue in queues.ROW_QUEUES:
        in_database = set(TrackedOrder.objects.filter(queue.where).values_list("pk", flat=True))
        by_test = {row.pk for row in rows.values() if queue.holds(row)}
        assert in_database == by_test, queue.slug
        assert by_test, f"no row of the kinds is in {queue.slug}"


# --- counts ----------------------------------------------------------------------------------
def dead_letter(place, settle) -> Delivery:
    order = place()
    settle()
    delivery = Delivery.objects.filter(event__aggregate_id=str(order.id)).first()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.DEAD, dead_at=timezone.now(), attempts=10, last_error="boom"
    )
    return delivery


def test_the_snapshot_counts_each_queue_in_the_boards_shop(db):
    rows_of_every_kind()
    tracked(50, shop_id=2, status="confirmed")

    everything = selectors.board_snapshot()
    one_shop = selectors.board_snapshot(shop_id=2)

    assert everything["queues"] == {
        "to-ship": 3,
        "delivery-exceptions": 3,
        "payment-failed": 1,
        "returns": 4,
        "stuck": 0,
    }
    assert one_shop["queues"] == {
        "to-ship": 1,
        "delivery-exceptions": 0,
        "payment-failed": 0,
        "returns": 0,
        "stuck": 0,
    }
    assert everything["counts"]["confirmed"] == 2


def test_stuck_work_counts_the_dead_letters_of_the_boards_shop(place, settle, shop):
    dead_letter(place, settle)

    assert queues.other_counts(shop_id=None) == {"stuck": 1}
    assert queues.other_counts(shop_id=shop.id) == {"stuck": 1}
    assert queues.other_counts(shop_id=shop.id + 1) == {"stuck": 0}


# --- the page --------------------------------------------------------------------------------
def test_a_queue_is_a_board_page_of_its_rows_with_a_heading_and_totals(staff_client):
    rows = rows_of_every_kind()

    response = staff_client.get("/staff/", {"queue": "delivery-exceptions"})

    assert response.status_code == 200
    snapshot = response.context["snapshot"]
    assert {row["order_id"] for row in snapshot["rows"]} == {
        str(rows[name].pk) for name in ("attempt failed", "held", "returning")
    }
    assert snapshot["page"]["total"] == 3
    page = response.content.decode()
    assert "<h1>Delivery exceptions</h1>" in page
    assert "<title>Delivery exceptions · Board · OrderFlow</title>" in page
    # the socket serves the same queue; the filter form keeps it
    assert response.context["socket_path"] == "/ws/board/?queue=delivery-exceptions"
    assert '<input type="hidden" name="queue" value="delivery-exceptions">' in page
    # a parcel's problem is said on its row
    assert "Delivery attempt failed" in page


def test_the_navigation_links_each_queue_with_its_count_keeping_shop_and_search(
    staff_client, place, settle, shop
):
    dead_letter(place, settle)

    response = staff_client.get("/staff/", {"shop": str(shop.id), "q": "OF", "status": "shipped"})

    links = {link["slug"]: link for link in response.context["queue_links"]}
    assert list(links) == ["to-ship", "delivery-exceptions", "payment-failed", "returns", "stuck"]
    assert links["to-ship"]["url"] == f"?shop={shop.id}&queue=to-ship&q=OF"
    assert links["to-ship"]["count"] == 1
    assert links["stuck"]["url"] == f"/staff/failed-events?shop={shop.id}"
    assert links["stuck"]["count"] == 1
    page = response.content.decode()
    assert '<nav aria-label="Work queues" class="queues">' in page
    assert f'href="?shop={shop.id}&amp;queue=to-ship&amp;q=OF"' in page
    assert 'data-queue-count="stuck">1</span>' in page


def test_the_current_queue_is_marked_and_its_status_tiles_leave_it(staff_client):
    tracked(1)

    page = staff_client.get("/staff/", {"queue": "to-ship"}).content.decode()

    assert 'data-queue="to-ship" aria-current="page"' in page
    assert 'href="?status=confirmed"' in page  # a status tile is a view of its own
    assert 'aria-current="true"' not in page


@pytest.mark.parametrize("junk", ["stuck", "TO-SHIP", "to-ship\x00", "x" * 500])
def test_a_queue_that_is_not_one_of_rows_is_the_whole_board_never_an_error(staff_client, junk):
    rows_of_every_kind()

    response = staff_client.get("/staff/", {"queue": junk})

    assert response.status_code == 200
    assert response.context["snapshot"]["page"]["total"] == len(KINDS)
    assert response.context["queue"] is None


# --- the export ------------------------------------------------------------------------------
def test_the_export_of_a_queue_holds_its_rows_and_is_named_for_it(staff_client):
    rows = rows_of_every_kind()

    response = staff_client.get("/staff/orders.csv", {"queue": "payment-failed"})

    assert response.status_code == 200
    assert 'filename="orders-payment-failed-' in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    lines = list(csv.reader(io.StringIO(body)))
    assert [line[0] for line in lines[1:]] == [rows["payment failed"].number]
    page = staff_client.get("/staff/", {"queue": "payment-failed"}).content.decode()
    assert 'href="/staff/orders.csv?queue=payment-failed"' in page


# --- the push moves the counts ---------------------------------------------------------------
def test_a_batchs_board_push_names_the_queues_each_row_left_and_joined(
    place, django_capture_on_commit_callbacks
):
    told = Story(place())
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        tracking_project(events=told.to_confirmed())

    def pushed(*events) -> dict:
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            changes = tracking_project(events=list(events))
        (board,) = [m for group, m in push.batch_messages(changes.values()) if group == "board.all"]
        (item,) = board["rows"]
        return {"before": item["previous_queues"], "after": item["row"]["queues"]}

    assert pushed(told.shipped()) == {"before": ["to-ship"], "after": []}
    assert pushed(told.delivery_failed()) == {"before": [], "after": ["delivery-exceptions"]}
    assert pushed(told.out_for_delivery()) == {"before": ["delivery-exceptions"], "after": []}
