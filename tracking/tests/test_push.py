"""The background sender: pushes leave in order, off the caller's path, and never fail it."""

import asyncio
import logging
import threading

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
