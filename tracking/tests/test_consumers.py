"""The live sockets through the real ASGI stack (origin check, session auth, routing)."""

import itertools
import json
from collections.abc import Callable

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers, get_channel_layer
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client
from django.utils import timezone

from orderflow.asgi import application
from orderflow.events.pump import drain
from orderflow.models import Delivery, DeliveryStatus, OutboxEvent
from orders import services as orders_services
from testkit.factories import ProductFactory, ShopFactory
from tests.sockets import Communicator
from tracking import consumers, push, services

from .feed import feed_event

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = b"http://localhost"
STAFF = orders_services.Actor(kind="staff", name="ana")


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.TRACKING_HEARTBEAT_SECONDS = 3600
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


@pytest.fixture
def staff_cookie(staff_user) -> bytes:
    return session_cookie(staff_user)


def socket(path: str, *, cookie: bytes = b"", origin: bytes = ORIGIN) -> Communicator:
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    return Communicator(application, path, headers=headers)


def run(scenario: Callable) -> None:
    async_to_sync(scenario)()


async def receive_until(communicator, condition, *, limit: int = 50) -> list[dict]:
    """Receive messages until one satisfies ``condition``; return all of them."""
    received = []
    for _ in range(limit):
        message = await communicator.receive_json_from(timeout=5)
        received.append(message)
        if condition(message):
            return received
    pytest.fail(f"no matching message in {received}")


def board_rows(messages: list[dict]) -> list[dict]:
    """The rows of the board's pushes, in order (a push carries a projector batch's rows)."""
    return [item for m in messages if m["type"] == "rows" for item in m["rows"]]


def has_row(order_id, status: str) -> Callable[[dict], bool]:
    return lambda m: (
        m["type"] == "rows"
        and any(
            item["row"]["order_id"] == str(order_id) and item["row"]["status"] == status
            for item in m["rows"]
        )
    )


def assert_steps_once_each(items: list[dict], *, to: int) -> None:
    """One order's pushed rows step from sequence 0 to ``to``, each step once, no gap."""
    steps = [(item["previous_sequence"], item["row"]["sequence"]) for item in items]
    assert steps[0][0] == 0, steps
    assert steps[-1][1] == to, steps
    assert all(after == before for (_, after), (before, _) in itertools.pairwise(steps)), steps
    assert all(before < after for before, after in steps), steps


# --- refused -------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/ws/board/", "/ws/board/1/", "/ws/orders/{order_id}/"])
def test_staff_sockets_refuse_anonymous_users(place, path):
    order = place()

    async def scenario():
        communicator = socket(path.format(order_id=order.id))
        assert (await communicator.connect())[0]  # only to say why it closes (see consumers)
        assert await communicator.receive_output(timeout=5) == {
            "type": "websocket.close",
            "code": consumers.SESSION_ENDED,
        }

    run(scenario)


@pytest.mark.parametrize("path", ["/ws/board/", "/ws/orders/{order_id}/"])
def test_staff_sockets_refuse_users_who_are_not_staff(place, path):
    order = place()
    customer = get_user_model().objects.create_user(username="bob", password="x-long-pass-9")
    cookie = session_cookie(customer)

    async def scenario():
        communicator = socket(path.format(order_id=order.id), cookie=cookie)
        assert (await communicator.connect())[0]
        assert await communicator.receive_output(timeout=5) == {
            "type": "websocket.close",
            "code": consumers.FORBIDDEN,
        }

    run(scenario)


@pytest.mark.parametrize("path", ["/ws/board/", "/ws/orders/{order_id}/", "/ws/track/{token}/"])
def test_sockets_refuse_a_foreign_origin(place, staff_cookie, path):
    order = place()
    path = path.format(order_id=order.id, token=order.tracking_token)

    async def scenario():
        communicator = socket(path, cookie=staff_cookie, origin=b"https://evil.example")
        connected, _ = await communicator.connect()
        assert connected is False

    run(scenario)


def test_public_socket_refuses_an_unknown_token(place):
    place()

    async def scenario():
        connected, _ = await socket("/ws/track/not-a-real-token/").connect()
        assert connected is False

    run(scenario)


# --- snapshot on connect, updates after commit ----------------------------------------------
def test_a_public_socket_reads_its_orders_snapshot_once_on_connect(place, settle, monkeypatch):
    """Before it joins the order's group the socket needs only the order (and its
    language); the snapshot is read once, after the join, so no push falls between."""
    from tracking.services import pages

    order = place()
    settle()
    read = []
    snapshot = pages.public_snapshot
    monkeypatch.setattr(pages, "public_snapshot", lambda **kw: read.append(1) or snapshot(**kw))

    async def scenario():
        public = socket(f"/ws/track/{order.tracking_token}/")
        assert (await public.connect())[0]
        message = await public.receive_json_from(timeout=5)
        assert message["type"] == "snapshot"
        assert message["view"]["status"] == "confirmed"
        await public.disconnect()

    run(scenario)
    assert read == [1]


def test_board_sends_a_snapshot_then_each_order_as_it_moves(place, staff_cookie, settle):
    first = place()
    settle()

    async def scenario():
        board = socket("/ws/board/", cookie=staff_cookie)
        assert (await board.connect())[0]
        snapshot = await board.receive_json_from(timeout=5)
        assert snapshot["type"] == "snapshot"
        assert [row["number"] for row in snapshot["rows"]] == [first.number]
        assert snapshot["counts"] == {"confirmed": 1}
        assert snapshot["watermark"] > 0

        second = await sync_to_async(place)()
        await sync_to_async(drain)()

        messages = await receive_until(board, has_row(second.id, "confirmed"))
        mine = [item for item in board_rows(messages) if item["row"]["order_id"] == str(second.id)]
        # a push carries what one projector batch moved: the steps may come together, but
        # each comes once and in order, and the last says confirmed at sequence 4
        assert_steps_once_each(mine, to=4)
        assert mine[-1]["row"]["status"] == "confirmed"
        assert mine[0]["row"]["number"] == second.number
        await board.disconnect()

    run(scenario)


def test_a_shops_board_gets_only_that_shops_orders(place, staff_cookie, shop):
    other = ShopFactory()
    ProductFactory(shop=other, sku="COFFEE-1KG")

    async def scenario():
        board = socket(f"/ws/board/{shop.id}/", cookie=staff_cookie)
        assert (await board.connect())[0]
        await board.receive_json_from(timeout=5)
        await sync_to_async(place)(shop=other)
        mine = await sync_to_async(place)()
        await sync_to_async(drain)()
        messages = await receive_until(board, has_row(mine.id, "confirmed"))
        assert {item["row"]["order_id"] for item in board_rows(messages)} == {str(mine.id)}
        await board.disconnect()

    run(scenario)


def test_timeline_update_arrives_only_after_the_entry_commits(place, staff_cookie, settle):
    order = place()
    settle()

    async def scenario():
        timeline = socket(f"/ws/orders/{order.id}/", cookie=staff_cookie)
        assert (await timeline.connect())[0]
        snapshot = await timeline.receive_json_from(timeout=5)
        assert snapshot["order"]["status"] == "confirmed"
        assert {e["status"] for e in snapshot["entries"]} >= {"placed", "confirmed"}

        block = transaction.atomic()

        def ship_uncommitted():
            block.__enter__()
            orders_services.order_ship(
                order_id=order.id, shop=None, actor=STAFF, carrier="demo-post",
                tracking_number="DP-0001",
            )  # fmt: skip
            row = OutboxEvent.objects.get(aggregate_id=str(order.id), type="shipment.dispatched")
            services.tracking_project(
                events=[
                    feed_event(
                        row.type,
                        row.data,
                        sequence=row.sequence,
                        event_id=str(row.event_id),
                        occurred_at=row.occurred_at,
                    )
                ]
            )

        await sync_to_async(ship_uncommitted)()
        assert await timeline.receive_nothing(timeout=0.3)  # not committed: nothing pushed
        await sync_to_async(block.__exit__)(None, None, None)

        update = await timeline.receive_json_from(timeout=5)
        assert update["type"] == "entries"
        assert [(e["status"], e["sequence"]) for e in update["entries"]] == [("shipped", 5)]
        assert (update["order"]["status"], update["order"]["sequence"]) == ("shipped", 5)
        await timeline.disconnect()

    run(scenario)


def test_a_page_can_ask_for_a_fresh_snapshot_and_hears_heartbeats(place, staff_cookie, settings):
    order = place()
    settings.TRACKING_HEARTBEAT_SECONDS = 0.2

    async def scenario():
        timeline = socket(f"/ws/orders/{order.id}/", cookie=staff_cookie)
        assert (await timeline.connect())[0]
        first = await timeline.receive_json_from(timeout=5)
        assert first["entries"] == []
        await sync_to_async(drain)()
        messages = await receive_until(timeline, lambda m: m["type"] == "heartbeat")
        heartbeat = messages[-1]
        assert heartbeat["watermark"] > first["watermark"]

        await timeline.send_json_to({"type": "resync"})
        fresh = await receive_until(timeline, lambda m: m["type"] == "snapshot")
        assert fresh[-1]["watermark"] == heartbeat["watermark"]
        assert fresh[-1]["order"]["status"] == "confirmed"
        await timeline.disconnect()

    run(scenario)


def test_the_boards_heartbeat_carries_the_stuck_work_count_no_push_can_tell(
    place, settle, staff_cookie, settings, shop
):
    settings.TRACKING_HEARTBEAT_SECONDS = 0.2
    order = place()
    settle()

    async def scenario():
        board = socket(f"/ws/board/{shop.id}/?queue=to-ship", cookie=staff_cookie)
        assert (await board.connect())[0]
        snapshot = await board.receive_json_from(timeout=5)
        assert snapshot["queues"] == {
            "to-ship": 1,
            "delivery-exceptions": 0,
            "payment-failed": 0,
            "returns": 0,
            "stuck": 0,
        }
        assert [row["queues"] for row in snapshot["rows"]] == [["to-ship"]]

        # a delivery of the order's events fails for good: no tracking push says so
        def one_dead_letter():
            delivery = Delivery.objects.filter(event__aggregate_id=str(order.id)).first()
            Delivery.objects.filter(pk=delivery.pk).update(
                status=DeliveryStatus.DEAD, dead_at=timezone.now()
            )

        await sync_to_async(one_dead_letter)()

        messages = await receive_until(
            board, lambda m: m["type"] == "heartbeat" and m["queues"] == {"stuck": 1}
        )
        assert messages[-1]["watermark"] == snapshot["watermark"]  # nothing else moved
        await board.disconnect()

    run(scenario)


# --- the public socket ------------------------------------------------------------------------
def test_public_socket_sends_the_snapshot_and_updates_and_nothing_private(place, settle):
    order = place()
    settle()

    async def scenario():
        public = socket(f"/ws/track/{order.tracking_token}/")
        assert (await public.connect())[0]
        received = [await public.receive_json_from(timeout=5)]
        assert received[0]["type"] == "snapshot"
        assert received[0]["view"]["status"] == "confirmed"

        def ship_and_deliver():
            orders_services.order_ship(
                order_id=order.id, shop=None, actor=STAFF, carrier="demo-post",
                tracking_number="DP-0002",
            )  # fmt: skip
            orders_services.shipment_report(
                carrier="demo-post", event_id="e-1", tracking_number="DP-0002", status="in_transit",
                location="Porto hub",
            )  # fmt: skip
            orders_services.shipment_report(
                carrier="demo-post", event_id="e-2", tracking_number="DP-0002", status="delivered",
                location="Lisbon", note="Left with the neighbour",
            )  # fmt: skip
            drain()

        await sync_to_async(ship_and_deliver)()
        received += await receive_until(public, lambda m: m["view"]["status"] == "delivered")
        await public.disconnect()

        entries = [entry for m in received if m["type"] == "steps" for entry in m["steps"]]
        assert [(e["status"], e["location"]) for e in entries] == [
            ("shipped", ""),
            ("in_transit", "Porto hub"),
            ("delivered", ""),
        ]
        assert received[-1]["view"]["carrier"] == "demo-post"
        assert received[-1]["view"]["tracking_number"] == "DP-0002"
        [parcel] = received[-1]["view"]["parcels"]
        assert (parcel["tracking_number"], parcel["status"], parcel["status_label"]) == (
            "DP-0002",
            "delivered",
            "Delivered",
        )
        text = json.dumps(received)
        for private in (
            order.customer_email,
            order.customer_name,
            "Rua A 1",
            "01000-000",
            str(order.total),
            "payment",
            "invoice",
            "ana",
        ):
            assert private not in text, private
        for message in received:
            # the page's words, written by the socket in the page's language (public_page)
            assert set(message["view"]) == {
                "status", "sequence", "updated_at", "updated_text", "status_label",
                "sentences", "next_step", "carrier", "tracking_number", "tone", "parcel_shown",
                "parcels", "returns",
            }  # fmt: skip
            for entry in message["steps"]:
                assert set(entry) == {
                    "status", "label", "sequence", "occurred_at", "when", "location",
                    "location_text", "note",
                }  # fmt: skip

    run(scenario)


def test_pushes_of_the_previous_release_reach_the_pages_as_lists(place, staff_cookie, settle):
    """A worker still running the previous release pushes one entry or row per message: the
    sockets forward it in the new list shape, so pages keep working during a deploy."""
    order = place()
    settle()

    async def scenario():
        timeline = socket(f"/ws/orders/{order.id}/", cookie=staff_cookie)
        board = socket("/ws/board/", cookie=staff_cookie)
        for page in (timeline, board):
            assert (await page.connect())[0]
            await page.receive_json_from(timeout=5)  # the snapshot
        layer = get_channel_layer()
        entry = {"id": 1, "status": "shipped", "aggregate": "order", "sequence": 5}
        order_payload = {"status": "shipped", "sequence": 5}
        await layer.group_send(
            push.order_group(order.id),
            {"type": "tracking.entry", "entry": entry, "order": order_payload},
        )
        row = {"order_id": str(order.id), "status": "shipped", "sequence": 5}
        await layer.group_send(
            push.board_group(None),
            {"type": "board.row", "row": row, "previous_status": "confirmed"},
        )

        assert await timeline.receive_json_from(timeout=5) == {
            "type": "entries",
            "entries": [entry],
            "order": order_payload,
        }
        assert await board.receive_json_from(timeout=5) == {
            "type": "rows",
            "rows": [{"row": row, "previous_status": "confirmed", "previous_sequence": 4}],
        }
        for page in (timeline, board):
            await page.disconnect()

    run(scenario)
