"""The live sockets' metrics: open connections by consumer, and the pushes forwarded to pages."""

import pytest
from asgiref.sync import sync_to_async

from orderflow.events.pump import drain
from orderflow.tests.observability import sample
from orders import services as orders_services

from .test_consumers import (  # noqa: F401  (in_memory_layer: an autouse fixture)
    STAFF,
    in_memory_layer,
    receive_until,
    run,
    session_cookie,
    socket,
)

pytestmark = pytest.mark.django_db(transaction=True)

OPEN = "orderflow_websocket_connections"
PUSHES = "orderflow_websocket_pushes_total"
CONSUMERS = ("BoardConsumer", "OrderTimelineConsumer", "PublicTrackingConsumer")


class Deltas:
    """How far each consumer's sample of ``name`` moved since this object was made."""

    def __init__(self, name: str):
        self.name = name
        self.before = {c: sample(name, consumer=c) for c in CONSUMERS}

    def __call__(self) -> dict[str, float]:
        return {c: sample(self.name, consumer=c) - self.before[c] for c in CONSUMERS}


def only(consumer: str, value: float) -> dict[str, float]:
    return {c: value if c == consumer else 0 for c in CONSUMERS}


@pytest.fixture
def staff_cookie(staff_user) -> bytes:
    return session_cookie(staff_user)


@pytest.mark.parametrize(
    ("path", "consumer"),
    [
        ("/ws/board/", "BoardConsumer"),
        ("/ws/board/{shop_id}/", "BoardConsumer"),
        ("/ws/orders/{order_id}/", "OrderTimelineConsumer"),
        ("/ws/track/{token}/", "PublicTrackingConsumer"),
    ],
)
def test_an_accepted_socket_counts_as_open_until_it_closes(place, staff_cookie, path, consumer):
    order = place()
    path = path.format(shop_id=order.shop_id, order_id=order.id, token=order.tracking_token)
    opened = Deltas(OPEN)

    async def scenario():
        first, second = socket(path, cookie=staff_cookie), socket(path, cookie=staff_cookie)
        assert (await first.connect())[0]
        assert (await second.connect())[0]
        await first.receive_json_from(timeout=5)  # the snapshot
        assert opened() == only(consumer, 2)

        await first.disconnect()
        assert opened() == only(consumer, 1)
        await second.disconnect()

    run(scenario)

    assert opened() == only(consumer, 0)


@pytest.mark.parametrize(
    ("path", "with_cookie"),
    [("/ws/board/", False), ("/ws/orders/{order_id}/", False), ("/ws/track/not-a-token/", True)],
)
def test_a_refused_socket_is_never_counted_open_or_closed(place, staff_cookie, path, with_cookie):
    order = place()
    opened = Deltas(OPEN)

    async def scenario():
        refused = socket(
            path.format(order_id=order.id), cookie=staff_cookie if with_cookie else b""
        )
        if with_cookie:
            assert (await refused.connect())[0] is False
        else:  # a refused login is accepted only to carry its close code (see consumers)
            assert (await refused.connect())[0] is True
            assert (await refused.receive_output(timeout=5))["type"] == "websocket.close"
        assert opened() == dict.fromkeys(CONSUMERS, 0)
        await refused.disconnect()  # the server tells the app of the closed socket all the same

    run(scenario)

    assert opened() == dict.fromkeys(CONSUMERS, 0)


def test_each_push_forwarded_to_the_board_counts_one_and_snapshots_none(place, staff_cookie):
    pushed = Deltas(PUSHES)
    forwarded = {}

    async def scenario():
        board = socket("/ws/board/", cookie=staff_cookie)
        assert (await board.connect())[0]
        assert (await board.receive_json_from(timeout=5))["type"] == "snapshot"
        order = await sync_to_async(place)()
        await sync_to_async(drain)()
        pushes = await receive_until(
            board, lambda m: any(item["row"]["status"] == "confirmed" for item in m["rows"])
        )
        assert await board.receive_nothing(timeout=0.2)
        rows = [item["row"] for m in pushes for item in m["rows"]]
        # a push carries one projector batch's rows: the steps come in order, maybe together
        statuses = [row["status"] for row in rows]
        assert statuses == [s for s in ["placed", "reserved", "paid", "confirmed"] if s in statuses]
        assert statuses[-1] == "confirmed"
        assert {row["order_id"] for row in rows} == {str(order.id)}
        assert pushed() == only("BoardConsumer", len(pushes))
        forwarded["board"] = len(pushes)

        await board.send_json_to({"type": "resync"})
        assert (await board.receive_json_from(timeout=5))["type"] == "snapshot"
        await board.disconnect()

    run(scenario)

    assert pushed() == only("BoardConsumer", forwarded["board"])  # the snapshot counted none


def test_each_push_forwarded_to_a_timeline_or_tracking_page_counts_one(place, settle, staff_cookie):
    order = place()
    settle()
    pushed = Deltas(PUSHES)
    forwarded = {}

    async def scenario():
        timeline = socket(f"/ws/orders/{order.id}/", cookie=staff_cookie)
        public = socket(f"/ws/track/{order.tracking_token}/")
        for page in (timeline, public):
            assert (await page.connect())[0]
            await page.receive_json_from(timeout=5)  # the snapshot

        def ship_and_deliver():
            orders_services.order_ship(
                order_id=order.id, shop=None, actor=STAFF, carrier="demo-post",
                tracking_number="DP-0003",
            )  # fmt: skip
            orders_services.shipment_report(
                carrier="demo-post", event_id="e-1", tracking_number="DP-0003", status="in_transit",
                location="Porto hub",
            )  # fmt: skip
            orders_services.shipment_report(
                carrier="demo-post", event_id="e-2", tracking_number="DP-0003", status="delivered",
            )  # fmt: skip
            drain()

        await sync_to_async(ship_and_deliver)()
        # the public page's pushes are its words: its view and steps (tracking/public_page.py)
        for page, consumer, order_key, entries_key in (
            (timeline, "OrderTimelineConsumer", "order", "entries"),
            (public, "PublicTracking", "view", "steps"),
        ):
            pushes = await receive_until(page, lambda m, k=order_key: m[k]["status"] == "delivered")
            assert await page.receive_nothing(timeout=0.2)
            entries = [entry for m in pushes for entry in m[entries_key]]
            assert [e["status"] for e in entries] == ["shipped", "in_transit", "delivered"]
            forwarded[consumer] = len(pushes)
            await page.disconnect()

    run(scenario)

    assert pushed() == {
        "BoardConsumer": 0,
        "OrderTimelineConsumer": forwarded["OrderTimelineConsumer"],
        "PublicTrackingConsumer": forwarded["PublicTracking"],
    }
