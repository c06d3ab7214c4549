"""The sockets against misuse: roles, logout, resync floods, too many sockets, junk input."""

import pytest
import redis
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import channel_layers
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from tracking import consumers, socket_slots

from .conftest import staff_member
from .test_board import many
from .test_consumers import run, socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def in_memory_layer(settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.TRACKING_HEARTBEAT_SECONDS = 3600
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


def logged_in(user) -> tuple[Client, bytes]:
    client = Client()
    client.force_login(user)
    return client, f"sessionid={client.cookies['sessionid'].value}".encode()


def with_client(communicator, address: str):
    communicator.scope["client"] = (address, 50000)
    return communicator


class FrozenClock:
    """The consumers' clock, moved by the test alone."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- roles (finding 4) ---------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/ws/board/", "/ws/board/{shop}/", "/ws/orders/{order}/"])
def test_a_staff_socket_refuses_a_staff_user_without_a_role(place, shop, path):
    order = place()
    _, cookie = logged_in(staff_member("nora"))

    async def scenario():
        refused = socket(path.format(shop=shop.id, order=order.id), cookie=cookie)
        assert await refused_with(refused) == consumers.FORBIDDEN

    run(scenario)


async def refused_with(communicator) -> int:
    """Connect, and return the code the socket was closed with before it sent anything.

    A login is refused by accepting and closing at once: a handshake refused outright
    reaches the browser as 1006, which a page cannot tell from a network drop.
    """
    assert await communicator.connect() == (True, None)
    closed = await communicator.receive_output(timeout=5)
    assert closed["type"] == "websocket.close", closed
    return closed["code"]


@pytest.mark.parametrize("path", ["/ws/board/", "/ws/orders/{order}/"])
def test_a_staff_socket_without_a_login_is_closed_as_a_session_that_ended(place, path):
    order = place()
    _, cookie = logged_in(staff_member("vera", "viewer"))

    async def scenario():
        anonymous = socket(path.format(order=order.id))
        assert await refused_with(anonymous) == consumers.SESSION_ENDED
        await sync_to_async(Session.objects.all().delete)()  # the cookie's session expired
        expired = socket(path.format(order=order.id), cookie=cookie)
        assert await refused_with(expired) == consumers.SESSION_ENDED

    run(scenario)


@pytest.mark.parametrize("path", ["/ws/board/", "/ws/orders/{order}/"])
def test_a_viewer_may_open_the_staff_sockets(place, path):
    order = place()
    _, cookie = logged_in(staff_member("vera", "viewer"))

    async def scenario():
        communicator = socket(path.format(order=order.id), cookie=cookie)
        assert (await communicator.connect())[0]
        assert (await communicator.receive_json_from(timeout=5))["type"] == "snapshot"
        await communicator.disconnect()

    run(scenario)


# --- a socket stops serving when its login ends (finding 9) --------------------------------
def test_logout_closes_the_staff_sockets_of_that_session_and_no_other(place):
    order = place()
    user = staff_member("vera", "viewer")
    leaving, cookie = logged_in(user)
    _, other_cookie = logged_in(user)  # the same person in another browser

    async def scenario():
        board = socket("/ws/board/", cookie=cookie)
        timeline = socket(f"/ws/orders/{order.id}/", cookie=cookie)
        elsewhere = socket("/ws/board/", cookie=other_cookie)
        for communicator in (board, timeline, elsewhere):
            assert (await communicator.connect())[0]
            await communicator.receive_json_from(timeout=5)

        response = await sync_to_async(leaving.post)("/admin/logout/")

        assert response.status_code == 200
        for communicator in (board, timeline):
            assert await communicator.receive_output(timeout=5) == {
                "type": "websocket.close",
                "code": consumers.SESSION_ENDED,
            }
        await elsewhere.send_json_to({"type": "resync"})
        assert (await elsewhere.receive_json_from(timeout=5))["type"] == "snapshot"
        await elsewhere.disconnect()

    run(scenario)


def test_a_socket_whose_session_ended_without_a_logout_closes_on_its_next_message(db):
    _, cookie = logged_in(staff_member("vera", "viewer"))

    async def scenario():
        board = socket("/ws/board/", cookie=cookie)
        assert (await board.connect())[0]
        await board.receive_json_from(timeout=5)
        await sync_to_async(Session.objects.all().delete)()  # expired, or flushed elsewhere

        await board.send_json_to({"type": "resync"})

        assert await board.receive_output(timeout=5) == {
            "type": "websocket.close",
            "code": consumers.SESSION_ENDED,
        }

    run(scenario)


def test_a_socket_closes_at_its_heartbeat_once_the_role_is_taken_away(settings):
    user = staff_member("vera", "viewer")
    _, cookie = logged_in(user)
    settings.TRACKING_HEARTBEAT_SECONDS = 3600

    async def scenario():
        board = socket("/ws/board/", cookie=cookie)
        assert (await board.connect())[0]
        await board.receive_json_from(timeout=5)
        await sync_to_async(user.groups.clear)()
        settings.TRACKING_HEARTBEAT_SECONDS = 0.01  # the next heartbeat comes at once

        await board.send_json_to({"type": "resync"})  # the message in flight is checked too

        assert await board.receive_output(timeout=5) == {
            "type": "websocket.close",
            "code": consumers.FORBIDDEN,
        }

    run(scenario)


def test_a_password_change_ends_the_sockets_opened_before_it(db):
    user = staff_member("vera", "viewer")
    _, cookie = logged_in(user)

    async def scenario():
        board = socket("/ws/board/", cookie=cookie)
        assert (await board.connect())[0]
        await board.receive_json_from(timeout=5)

        def change_password():
            user.set_password("another-long-password-7")
            user.save()

        await sync_to_async(change_password)()
        await board.send_json_to({"type": "resync"})

        assert await board.receive_output(timeout=5) == {
            "type": "websocket.close",
            "code": consumers.SESSION_ENDED,
        }

    run(scenario)


# --- public socket limits (finding 10) -----------------------------------------------------
def test_the_public_socket_closes_past_its_resyncs_per_minute(place, settings, monkeypatch):
    order = place()
    settings.TRACKING_RESYNCS_PER_MINUTE = 3
    clock = FrozenClock()
    monkeypatch.setattr(consumers, "clock", clock)

    async def scenario():
        page = socket(f"/ws/track/{order.tracking_token}/")
        assert (await page.connect())[0]
        await page.receive_json_from(timeout=5)
        for _ in range(3):
            await page.send_json_to({"type": "resync"})
            assert (await page.receive_json_from(timeout=5))["type"] == "snapshot"
        clock.now += 59  # still inside the minute of the first

        await page.send_json_to({"type": "resync"})

        assert await page.receive_output(timeout=5) == {
            "type": "websocket.close",
            "code": consumers.TOO_MANY,
        }

    run(scenario)


def test_the_resync_limit_is_a_sliding_minute(place, settings, monkeypatch):
    order = place()
    settings.TRACKING_RESYNCS_PER_MINUTE = 2
    clock = FrozenClock()
    monkeypatch.setattr(consumers, "clock", clock)

    async def scenario():
        page = socket(f"/ws/track/{order.tracking_token}/")
        assert (await page.connect())[0]
        await page.receive_json_from(timeout=5)
        # at 1061 the one of 1000 has left the window; at 1062 those of 1030 and 1061 fill it
        for now in (1000.0, 1030.0, 1061.0):
            clock.now = now
            await page.send_json_to({"type": "resync"})
            assert (await page.receive_json_from(timeout=5))["type"] == "snapshot"
        clock.now = 1062.0

        await page.send_json_to({"type": "resync"})

        assert await page.receive_output(timeout=5) == {
            "type": "websocket.close",
            "code": consumers.TOO_MANY,
        }

    run(scenario)


def test_sockets_per_client_address_are_bounded(place, settings):
    order = place()
    settings.TRACKING_SOCKETS_PER_CLIENT = 2
    path = f"/ws/track/{order.tracking_token}/"

    async def scenario():
        first = with_client(socket(path), "203.0.113.7")
        second = with_client(socket(path), "203.0.113.7")
        assert (await first.connect())[0]
        assert (await second.connect())[0]

        third = with_client(socket(path), "203.0.113.7")
        assert await third.connect() == (False, consumers.TOO_MANY)
        neighbour = with_client(socket(path), "203.0.113.8")
        assert (await neighbour.connect())[0]

        await first.disconnect()  # gives its slot back
        again = with_client(socket(path), "203.0.113.7")
        assert (await again.connect())[0]
        for communicator in (second, neighbour, again):
            await communicator.disconnect()

    run(scenario)


def test_a_slot_expires_unless_refreshed_so_a_dead_process_leaks_none(db, settings):
    settings.TRACKING_SOCKETS_PER_CLIENT = 1
    store = redis.Redis.from_url(django_settings.CACHES["default"]["LOCATION"])

    key = socket_slots.slot_claim(client="198.51.100.1", owner="channel-a")

    assert key is not None
    assert 0 < store.ttl(cache.make_key(key)) <= socket_slots.slot_ttl()
    assert socket_slots.slot_claim(client="198.51.100.1", owner="channel-b") is None
    socket_slots.slot_release(key=key, owner="channel-b")  # not its slot: nothing happens
    assert socket_slots.slot_claim(client="198.51.100.1", owner="channel-b") is None
    cache.delete(key)  # what the expiry does to a slot its dead process never gave back
    assert socket_slots.slot_claim(client="198.51.100.1", owner="channel-b") == key


# --- junk input is a clean close, never an error (finding 7) -------------------------------
@pytest.mark.parametrize("token", ["%00", "abc%00def", "x" * 65, "%C3%BC", "..%2F..%2Fetc"])
def test_a_junk_tracking_token_is_a_clean_close(db, token):
    async def scenario():
        page = socket(f"/ws/track/{token}/")
        assert await page.connect() == (False, consumers.NOT_FOUND)

    run(scenario)


@pytest.mark.parametrize("frame", ["not json", "[" * 5000, "null", '"resync"', '{"type": 1}'])
def test_junk_frames_are_ignored_and_the_socket_keeps_serving(place, frame):
    order = place()

    async def scenario():
        page = socket(f"/ws/track/{order.tracking_token}/")
        assert (await page.connect())[0]
        await page.receive_json_from(timeout=5)

        await page.send_to(text_data=frame)
        await page.send_to(bytes_data=b"\x00\xff")
        await page.send_json_to({"type": "resync"})

        assert (await page.receive_json_from(timeout=5))["type"] == "snapshot"
        await page.disconnect()

    run(scenario)


def test_junk_board_filters_on_the_socket_are_dropped(place, settle):
    order = place()
    settle()
    _, cookie = logged_in(staff_member("vera", "viewer"))

    async def scenario():
        board = socket("/ws/board/?q=%00&status=%00pla", cookie=cookie)
        assert (await board.connect())[0]
        snapshot = await board.receive_json_from(timeout=5)
        assert [row["number"] for row in snapshot["rows"]] == [order.number]
        await board.disconnect()
        huge = socket("/ws/board/99999999999999999999999/", cookie=cookie)
        assert await huge.connect() == (False, consumers.NOT_FOUND)

    run(scenario)


@pytest.mark.parametrize("path", ["/ws/nope/", "/ws/orders/not-a-uuid/", "/ws/track/a/b/", "/ws/"])
def test_a_path_no_socket_serves_is_a_clean_close(db, path):
    async def scenario():
        communicator = socket(path)
        assert await communicator.connect() == (False, consumers.NOT_FOUND)

    run(scenario)


@pytest.mark.parametrize(
    ("query", "page", "anchored"),
    [
        ("page=2&until={until}", 2, True),
        ("page=2&until=yesterday", 2, False),
        ("page=2&until=2026-01-01T00:00:00", 2, False),  # naive: not an anchor
        ("page=%00&until={until}", 1, False),
        ("page=99999999999999999999&until={until}", 2, True),
    ],
)
def test_the_board_socket_serves_the_page_and_anchor_it_names(db, query, page, anchored):
    many(60)
    until = timezone.now()
    _, cookie = logged_in(staff_member("vera", "viewer"))
    path = "/ws/board/?" + query.format(until=until.isoformat().replace("+", "%2B"))

    async def scenario():
        board = socket(path, cookie=cookie)
        assert (await board.connect())[0]
        snapshot = await board.receive_json_from(timeout=5)
        await board.disconnect()
        return snapshot

    snapshot = async_to_sync(scenario)()
    assert snapshot["page"]["number"] == page
    assert snapshot["page"]["until"] == (until.isoformat() if anchored else "")
    assert len(snapshot["rows"]) == (50 if page == 1 else 10)
