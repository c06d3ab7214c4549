"""Live tracking across processes: a real Celery worker records the history and pushes over
the Redis channel layer to sockets served in this process."""

import itertools

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from orderflow.asgi import application
from orderflow.events.projectors import projector_apply
from orders import services
from orders.models import Order
from testkit.factories import ProductFactory, ShopFactory, order_for
from tests.fixtures import wait_for
from tests.sockets import Communicator
from tracking.live_status import live_status_get
from tracking.models import TrackedOrder, TrackingEntry
from tracking.services import tracked_order_ensure
from tracking.tests.feed import Story

pytestmark = pytest.mark.django_db(transaction=True)


#: the statuses a paid order goes through up to confirmed, by the order's event sequence
ORDER_PATH = ["placed", "reserved", "paid", "confirmed"]


@pytest.fixture(autouse=True)
def _fresh_layer():
    channel_layers.backends.clear()  # a layer bound to this test's event loop
    yield
    channel_layers.backends.clear()


def test_a_worker_records_each_event_and_its_push_reaches_the_sockets(event_workers):
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90")
    staff = get_user_model().objects.create_user(username="ops", password="x", is_staff=True)
    staff.groups.add(Group.objects.get(name="viewer"))
    client = Client()
    client.force_login(staff)
    headers = [
        (b"origin", b"http://localhost"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]

    async def scenario():
        board = Communicator(application, f"/ws/board/{shop.id}/", headers=headers)
        assert (await board.connect())[0]
        assert (await board.receive_json_from(timeout=5))["rows"] == []

        order = await sync_to_async(order_for)(shop)
        steps = []
        while sum(after - before for before, after in steps) < len(ORDER_PATH):
            message = await board.receive_json_from(timeout=20)
            assert message["type"] == "rows"
            for item in message["rows"]:
                assert item["row"]["order_id"] == str(order.id)
                steps.append((item["previous_sequence"], item["row"]["sequence"]))
                assert item["row"]["status"] == ORDER_PATH[item["row"]["sequence"] - 1]
        # one push per projector batch: the steps may come together (a batch that saw
        # several of the order's events moves its row once), but they chain from 0 to the
        # last, each once. Two batches commit in order, yet each pushes after its own commit,
        # so a later batch's push can overtake an earlier one's on a loaded machine (the page
        # tells it by previous_sequence and resyncs): the chain is checked in sequence order
        steps.sort()
        assert steps[0][0] == 0
        assert all(after == before for (_, after), (before, _) in itertools.pairwise(steps))

        public = Communicator(
            application, f"/ws/track/{order.tracking_token}/", headers=headers[:1]
        )
        assert (await public.connect())[0]
        assert (await public.receive_json_from(timeout=5))["view"]["status"] == "confirmed"
        await sync_to_async(services.order_ship)(
            order_id=order.id,
            shop=None,
            actor=services.Actor(kind="staff", name="ops"),
            carrier="demo-post",
            tracking_number="DP-LIVE-1",
        )
        # the invoice's entry may reach the projector after the socket's snapshot: its push
        # carries no public step (staff-only words), so read on to the shipment's
        shipped = await public.receive_json_from(timeout=20)
        while not shipped["steps"]:
            shipped = await public.receive_json_from(timeout=20)
        # the public page gets its words: the view and the steps (tracking/public_page.py)
        assert [e["status"] for e in shipped["steps"]] == ["shipped"]
        assert shipped["view"]["tracking_number"] == "DP-LIVE-1"
        await board.disconnect()
        await public.disconnect()
        return order

    order = async_to_sync(scenario)()

    wait_for(
        lambda: TrackingEntry.objects.filter(order_id=order.id, status="invoice_issued").exists(),
        what="the invoice entry",
    )
    tracked = TrackedOrder.objects.get(pk=order.id)
    assert (tracked.status, tracked.sequence) == ("shipped", 5)
    assert Order.objects.get(pk=order.id).status == "shipped"
    assert (live_status_get(order.id).status, live_status_get(order.id).sequence) == ("shipped", 5)


def test_a_batch_of_one_orders_events_reaches_each_socket_as_one_push_in_order():
    """Over the Redis channel layer: six events of an order applied in one projector batch
    are one push to its timeline, one to its public page and one to each board."""
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90")
    order = order_for(shop)
    staff = get_user_model().objects.create_user(username="ops", password="x", is_staff=True)
    staff.groups.add(Group.objects.get(name="viewer"))
    client = Client()
    client.force_login(staff)
    headers = [
        (b"origin", b"http://localhost"),
        (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
    ]
    batch = Story(order).to_confirmed()
    tracking_order_ensure(order)

    async def scenario():
        timeline = Communicator(application, f"/ws/orders/{order.id}/", headers=headers)
        public = Communicator(
            application, f"/ws/track/{order.tracking_token}/", headers=headers[:1]
        )
        boards = [
            Communicator(application, "/ws/board/", headers=headers),
            Communicator(application, f"/ws/board/{shop.id}/", headers=headers),
        ]
        sockets = [timeline, public, *boards]
        for socket in sockets:
            assert (await socket.connect())[0]
            assert (await socket.receive_json_from(timeout=10))["type"] == "snapshot"

        await sync_to_async(projector_apply)("tracking", batch)

        staff_push = await timeline.receive_json_from(timeout=20)
        assert staff_push["type"] == "entries"
        assert [(e["status"], e["sequence"]) for e in staff_push["entries"]] == [
            ("placed", 1),
            ("reserved", 2),
            ("payment_captured", 1),
            ("paid", 3),
            ("confirmed", 4),
            ("invoice_issued", 1),
        ]
        assert (staff_push["order"]["status"], staff_push["order"]["sequence"]) == (
            "confirmed",
            4,
        )
        public_push = await public.receive_json_from(timeout=20)
        assert [e["status"] for e in public_push["steps"]] == [
            "placed",
            "reserved",
            "paid",
            "confirmed",
        ]
        for board in boards:
            rows = await board.receive_json_from(timeout=20)
            assert rows["type"] == "rows"
            assert [
                (item["previous_sequence"], item["row"]["sequence"], item["row"]["status"])
                for item in rows["rows"]
            ] == [(0, 4, "confirmed")]
        # the same batch again: recorded once, pushed once
        await sync_to_async(projector_apply)("tracking", batch)
        for socket in sockets:
            assert await socket.receive_nothing(timeout=0.5)
            await socket.disconnect()

    async_to_sync(scenario)()

    assert TrackingEntry.objects.filter(order_id=order.id).count() == 6
    assert (live_status_get(order.id).status, live_status_get(order.id).sequence) == (
        "confirmed",
        4,
    )


def tracking_order_ensure(order) -> None:
    """The sockets need the order's row to open: made from the orders context at sequence 0
    (as when a page comes before the projector), so every event of the batch applies."""
    tracked_order_ensure(order_id=order.id)
