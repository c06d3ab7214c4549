"""One webhook POST on the wire: a request in one write, the URL normalised once per URL."""

import uuid

import httpcore
import pytest
from httpcore._backends.sync import SyncStream

from notifications import webhooks

BODY = b'{"event_id":"e","type":"order.placed","data":{}}'


class _Stream(httpcore.NetworkStream):
    """A stream that notes what the connection does with it."""

    def __init__(self, *, write_error: Exception | None = None):
        self.calls: list[tuple[str, bytes]] = []
        self.write_error = write_error

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.calls.append(("write", buffer))
        if self.write_error:
            raise self.write_error

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.calls.append(("read", b""))
        return b"HTTP/1.1 200 OK\r\n"

    def close(self) -> None:
        self.calls.append(("close", b""))


def test_a_requests_head_and_body_leave_in_one_write_before_the_answer_is_read():
    inner = _Stream()
    stream = webhooks._DeadlineStream(inner)

    stream.write(b"POST / HTTP/1.1\r\n\r\n")
    stream.write(BODY)
    stream.write(b"")
    assert inner.calls == []
    answer = stream.read(1024)

    assert inner.calls == [("write", b"POST / HTTP/1.1\r\n\r\n" + BODY), ("read", b"")]
    assert answer == b"HTTP/1.1 200 OK\r\n"
    stream.read(1024)  # nothing more to send
    assert [c[0] for c in inner.calls] == ["write", "read", "read"]


def test_a_failed_write_still_reads_what_the_server_answered():
    # as httpcore does: a server may answer (413, 400) and close before the body is sent
    inner = _Stream(write_error=httpcore.WriteError("broken pipe"))
    stream = webhooks._DeadlineStream(inner)
    stream.write(b"POST / HTTP/1.1\r\n\r\n")

    assert stream.read(1024) == b"HTTP/1.1 200 OK\r\n"
    assert [c[0] for c in inner.calls] == ["write", "read"]


def test_a_write_past_the_attempts_deadline_is_a_write_timeout():
    inner = _Stream()
    stream = webhooks._DeadlineStream(inner)
    stream.write(b"POST / HTTP/1.1\r\n\r\n")
    webhooks._attempt.deadline = 0.0  # long past
    try:
        with pytest.raises(httpcore.WriteTimeout):
            stream.read(1024)
    finally:
        webhooks._attempt.deadline = None
    assert inner.calls == []


def test_closing_drops_what_was_not_sent():
    inner = _Stream()
    stream = webhooks._DeadlineStream(inner)
    stream.write(b"POST / HTTP/1.1\r\n\r\n")

    stream.close()

    assert inner.calls == [("close", b"")]


def test_each_post_is_one_write_on_the_socket(receiver, monkeypatch):
    # given a receiver, and every write to a socket noted
    writes: list[int] = []
    write = SyncStream.write

    def noting(self, buffer, timeout=None):
        writes.append(len(buffer))
        return write(self, buffer, timeout)

    monkeypatch.setattr(SyncStream, "write", noting)

    # when two webhooks are posted to it over its kept connection
    results = [
        webhooks.post(
            url=receiver.url + "/in",
            body=BODY,
            headers={"webhook-id": "e"},
            request_id=uuid.uuid4(),
            allow_private=True,
        )
        for _ in range(2)
    ]

    # then each left in one write, and both arrived whole
    assert [r.status_code for r in results] == [200, 200]
    assert len(writes) == 2
    assert [r.body for r in receiver.received] == [BODY, BODY]
    assert receiver.connections == 1


def test_a_url_is_normalised_once_and_a_refused_one_is_refused_every_time(receiver):
    # given a URL with a host in another script and one with a space
    webhooks._normalized.cache_clear()
    refused = "http://exa mple.com/in"

    # when each is posted to twice
    for _ in range(2):
        result = webhooks.post(
            url=refused, body=BODY, headers={}, request_id=uuid.uuid4(), allow_private=True
        )
        # then the refused one fails each time, with its reason
        assert (result.outcome, result.status_code) == ("failed", None)
        assert result.error.startswith("Refused: ")
    for _ in range(2):
        webhooks.post(
            url=receiver.url + "/ação",
            body=BODY,
            headers={},
            request_id=uuid.uuid4(),
            allow_private=True,
        )

    # and the other was normalised once, the same both times
    assert [r.path for r in receiver.received] == ["/a%C3%A7%C3%A3o", "/a%C3%A7%C3%A3o"]
    info = webhooks._normalized.cache_info()
    assert (info.hits, info.currsize) == (1, 1)
