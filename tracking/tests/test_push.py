"""The background sender: pushes leave in order, off the caller's path, and never fail it."""

import asyncio
import logging
import threading
import uuid

import redis
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

from tracking import push


class RecordingLayer:
    """A channel layer outside the system's process: records or refuses group sends."""

    def __init__(self, *, fail_on: str | None = None) -> None:
        self.sent: list[tuple[str, dict]] = []
        self.fail_on = fail_on
        self.done = threading.Event()

    async def group_send(self, group: str, message: dict) -> None:
        await asyncio.sleep(0)  # yield, as a network send would
        if group == self.fail_on:
            raise ConnectionError("the layer is unreachable")
        self.sent.append((group, message))
        if message.get("last"):
            self.done.set()


def test_pushes_leave_in_the_order_they_were_sent(monkeypatch):
    layer = RecordingLayer()
    monkeypatch.setattr(push, "get_channel_layer", lambda: layer)

    for n in range(50):
        push.send([(f"order.{n}", {"n": n}), ("board.all", {"n": n, "last": n == 49})])

    assert layer.done.wait(5)
    assert [message["n"] for _, message in layer.sent] == [n for n in range(50) for _ in (1, 2)]


def test_a_failed_push_is_logged_and_the_next_one_still_leaves(monkeypatch, caplog):
    layer = RecordingLayer(fail_on="order.broken")
    monkeypatch.setattr(push, "get_channel_layer", lambda: layer)

    with caplog.at_level(logging.WARNING, logger="tracking.push"):
        push.send([("order.broken", {"n": 1})])  # returns at once, whatever happens later
        push.send([("order.fine", {"n": 2, "last": True})])
        assert layer.done.wait(5)

    assert layer.sent == [("order.fine", {"n": 2, "last": True})]
    assert "live push failed" in caplog.text


def test_a_batch_reaches_redis_subscribers_in_order_as_one_pipeline(monkeypatch):
    """On the Redis pub/sub layer a batch's pushes leave as one pipeline: on the channels
    group_send would use, the same messages, in order, and no group_send per message."""
    url = settings.REDIS_URL
    assert url, "the tests run against a real Redis (REDIS_URL)"
    prefix = f"pushtest{uuid.uuid4().hex[:8]}"
    layer = RedisPubSubChannelLayer(hosts=[url], prefix=prefix)

    async def one_by_one(group, message):
        raise AssertionError("a group_send per message")

    layer.group_send = one_by_one
    monkeypatch.setattr(push, "get_channel_layer", lambda: layer)
    groups = [f"order.{n}" for n in range(5)] + ["board.all"]
    channels = [f"{prefix}__group__{group}" for group in groups]  # group_send's names
    client = redis.Redis.from_url(url)
    listener = client.pubsub()
    listener.subscribe(*channels)
    for _ in channels:
        assert listener.get_message(timeout=2)["type"] == "subscribe"

    push.send([(group, {"type": "t", "n": n}) for n, group in enumerate(groups)])

    received = []
    while len(received) < len(groups):
        message = listener.get_message(timeout=5)
        assert message is not None, received
        if message["type"] == "message":
            received.append((message["channel"].decode(), layer.deserialize(message["data"])))
    assert received == [(name, {"type": "t", "n": n}) for n, name in enumerate(channels)]
    listener.close()
    client.close()
