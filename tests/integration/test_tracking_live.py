"""Live tracking across processes: a real Celery worker records the history and pushes over
the Redis channel layer to sockets served in this process."""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from orderflow.asgi import application
from orders import services
from orders.models import Order
from orders.tests.factories import ProductFactory, ShopFactory, order_for
from tests.fixtures import wait_for
from tests.sockets import Communicator
from tracking.models import TrackedOrder, TrackingEntry
from tracking.snapshots import live_status_get

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
        pushed = []
        while len(pushed) < len(ORDER_PATH):
            message = await board.receive_json_from(timeout=20)
            assert message["row"]["order_id"] == str(order.id)
            pushed.append((message["row"]["sequence"], message["row"]["status"]))
        # each worker process sends its pushes in its own commit order, but the two
        # processes' pushes may cross on the way (the board drops a stale row and resyncs
        # on a gap, by sequence): by sequence, they are the whole path, each step once
        assert sorted(pushed) == list(enumerate(ORDER_PATH, start=1))

        public = Communicator(
            application, f"/ws/track/{order.tracking_token}/", headers=headers[:1]
        )
        assert (await public.connect())[0]
        assert (await public.receive_json_from(timeout=5))["order"]["status"] == "confirmed"
        await sync_to_async(services.order_ship)(
            order_id=order.id,
            shop=None,
            actor=services.Actor(kind="staff", name="ops"),
            carrier="demo-post",
            tracking_number="DP-LIVE-1",
        )
        shipped = await public.receive_json_from(timeout=20)
        assert (shipped["entry"]["status"], shipped["order"]["tracking_number"]) == (
            "shipped",
            "DP-LIVE-1",
        )
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
