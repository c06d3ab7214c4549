"""Webhooks on the wire: the body, Standard Webhooks signatures, one HTTP attempt, the schedule.

No database here: the services decide what to send and record what happened.

Signing follows https://www.standardwebhooks.com: ``webhook-id`` is the event id (the
same on every retry and replay, so receivers can deduplicate), ``webhook-timestamp`` the
Unix time of the attempt, and ``webhook-signature`` a space-separated list of
``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` — one per valid secret, so a
receiver keeps verifying through a secret rotation.
"""

import base64
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import ssl
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from functools import cache, lru_cache
from urllib.parse import urlsplit

import httpcore
from django.core.serializers.json import DjangoJSONEncoder

from .choices import AttemptOutcome
from .ssrf import GuardedBackend, UnresolvableHost, UnsafeUrl, normalize_url

SECRET_PREFIX = "whsec_"  # noqa: S105  (the standard prefix, not a secret)
SECRET_BYTES = 32
USER_AGENT = "OrderFlow-Webhooks/1.0"
#: one attempt's whole budget: connect, TLS, sending the body and reading the answer
TIMEOUT_SECONDS = 5.0
#: how much of a response body the delivery log keeps
RESPONSE_BODY_LIMIT = 1024
#: keep-alive: connections open at once per receiving origin, and how long an idle one is kept
CONNECTIONS_PER_HOST = 4
KEEPALIVE_SECONDS = 30.0
#: origins whose pools a process keeps; past this the least recently used pool is closed
MAX_POOLS = 256

#: The retry schedule: attempt n + 1 waits ``RETRY_BASE * RETRY_FACTOR ** (n - 1)``,
#: capped at ``RETRY_CAP``, plus up to 10 % jitter; after ``MAX_ATTEMPTS`` the delivery
#: has failed. That is: at once, then 5 s, 20 s, 80 s, 5 min 20 s, 21 min 20 s, 1 h 25 min,
#: 5 h 41 min, 8 h and 8 h later — the tenth and last attempt about 23 h 35 min after the first.
RETRY_BASE = timedelta(seconds=5)
RETRY_FACTOR = 4
RETRY_CAP = timedelta(hours=8)
RETRY_JITTER = 0.1
MAX_ATTEMPTS = 10
#: 408 Request Timeout and 429 Too Many Requests are worth retrying; other 4xx are final
RETRYABLE_STATUSES = frozenset({408, 429})


def retry_delay(attempt: int, *, jitter: float | None = None) -> timedelta:
    """How long to wait after failed attempt number ``attempt`` (1-based)."""
    delay = min(RETRY_CAP, RETRY_BASE * RETRY_FACTOR ** min(attempt - 1, 20))
    fraction = secrets.SystemRandom().uniform(0, RETRY_JITTER) if jitter is None else jitter
    return delay * (1 + fraction)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<signature>`` entry for ``webhook-signature``."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    message = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(
    *, secrets: list[str], msg_id: str, body: bytes, timestamp: int | None = None
) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            sign(secret=s, msg_id=msg_id, timestamp=timestamp, body=body) for s in secrets
        ),
    }


def encode_body(payload: dict) -> bytes:
    """The exact bytes that are signed and sent (compact JSON, keys in a fixed order)."""
    return json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()


@dataclass(frozen=True)
class AttemptResult:
    outcome: str  # an AttemptOutcome, before the attempt budget is taken into account
    status_code: int | None
    response_body: str
    duration_ms: int
    error: str

    @property
    def ok(self) -> bool:
        return self.outcome == AttemptOutcome.SENT


def classify(status_code: int) -> str:
    if 200 <= status_code < 300:
        return AttemptOutcome.SENT
    if status_code >= 500 or status_code in RETRYABLE_STATUSES:
        return AttemptOutcome.RETRY
    return AttemptOutcome.FAILED  # 3xx (redirects are not followed) and other 4xx


@cache
def _ssl_context() -> ssl.SSLContext:
    # one per process: building a context loads the CA store, which is slow
    return ssl.create_default_context()


def post(
    *,
    url: str,
    body: bytes,
    headers: dict[str, str],
    request_id: uuid.UUID,
    allow_private: bool,
    timeout: float = TIMEOUT_SECONDS,
) -> AttemptResult:
    """POST ``body`` once; never follow a redirect; give up after ``timeout`` seconds in all.

    The connection comes from the process's keep-alive pool for the URL's origin, so many
    POSTs to one receiver share one connection. A new connection is made only through the
    SSRF guard (:class:`ssrf.GuardedBackend`: resolved once, every address checked, the
    socket connected to a checked address); a kept one stays connected to the address that
    was checked. The URL is normalised again here: a URL stored before registration
    normalised them may hold characters the HTTP client refuses.
    """
    started = time.monotonic()
    request_headers = {
        **headers,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "x-request-id": str(request_id),
    }
    _attempt.deadline = started + timeout
    try:
        url = _normalized(url)
        # httpcore never follows redirects
        with pools.get(url, allow_private=allow_private).stream(
            "POST",
            url,
            headers=list(request_headers.items()),
            content=body,
            extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)},
        ) as response:
            received = _read_some(response, RESPONSE_BODY_LIMIT)
            status_code = response.status
    except UnresolvableHost as error:
        return _failure(AttemptOutcome.RETRY, str(error), started)
    except UnsafeUrl as error:
        return _failure(AttemptOutcome.FAILED, f"Refused: {error}", started)
    except httpcore.TimeoutException:
        return _failure(AttemptOutcome.RETRY, f"Timed out after {timeout:g} s.", started)
    except (httpcore.NetworkError, httpcore.ProtocolError) as error:
        return _failure(AttemptOutcome.RETRY, f"{type(error).__name__}: {error}", started)
    except httpcore.UnsupportedProtocol as error:
        return _failure(AttemptOutcome.FAILED, f"Unsupported URL: {error}", started)
    finally:
        _attempt.deadline = None
    outcome = classify(status_code)
    return AttemptResult(
        outcome=outcome,
        status_code=status_code,
        response_body=received.decode("utf-8", errors="replace"),
        duration_ms=_elapsed_ms(started),
        error="" if outcome == AttemptOutcome.SENT else f"HTTP {status_code}",
    )


#: normalize_url of the few URLs a process sends to, kept: it reads the URL a character
#: at a time (a URL it refuses is checked again each time: an exception is not kept)
_normalized = lru_cache(maxsize=4096)(normalize_url)

#: the deadline of the attempt this thread is making (None outside one)
_attempt = threading.local()


def _deadline() -> float | None:
    return getattr(_attempt, "deadline", None)


class Pools:
    """Keep-alive connection pools, one per receiving origin (and guard setting).

    A pool of a guard setting only ever holds connections made under that setting, so a
    connection opened while private addresses were allowed is never used once they are
    not. Thread-safe: a sender's threads share them.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._pools: OrderedDict[tuple, httpcore.ConnectionPool] = OrderedDict()

    def get(self, url: str, *, allow_private: bool) -> httpcore.ConnectionPool:
        parts = urlsplit(url)
        key = (parts.scheme, parts.hostname, parts.port, allow_private)
        with self._lock:
            pool = self._pools.get(key)
            if pool is not None:
                self._pools.move_to_end(key)
                return pool
            pool = self._pools[key] = httpcore.ConnectionPool(
                ssl_context=_ssl_context(),
                network_backend=_AttemptBackend(allow_private=allow_private),
                max_connections=CONNECTIONS_PER_HOST,
                keepalive_expiry=KEEPALIVE_SECONDS,
            )
            evicted = self._pools.popitem(last=False)[1] if len(self._pools) > MAX_POOLS else None
        if evicted is not None:
            evicted.close()
        return pool

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            pool.close()

    def forget(self) -> None:
        """Drop every pool without closing: a forked child must not touch its parent's sockets."""
        self._lock = threading.Lock()
        self._pools = OrderedDict()


pools = Pools()
os.register_at_fork(after_in_child=pools.forget)


class _AttemptBackend(GuardedBackend):
    """The guarded backend, with one deadline for everything an attempt does on the socket.

    httpcore's timeouts apply to each read or write; a receiver trickling a byte every few
    seconds would hold a worker far longer than ``TIMEOUT_SECONDS`` without this. The
    deadline is the current attempt's (a kept connection serves many attempts).
    """

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        timeout = _budget(_deadline(), timeout, httpcore.ConnectTimeout)
        stream = super().connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection's stream under the attempt's deadline, its request sent in one write.

    httpcore writes a request's head and body apart: two segments, two system calls. The
    writes are held until the connection next reads (for the answer) and leave as one.
    """

    def __init__(self, stream: httpcore.NetworkStream):
        self._stream = stream
        self._unsent: list[bytes] = []

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self._unsent:
            buffer, self._unsent = b"".join(self._unsent), []
            # as httpcore does when a request's write fails: read what the server answered
            # before it closed (a well-formed error), or fail reading
            with contextlib.suppress(httpcore.WriteError):
                self._stream.write(buffer, _budget(_deadline(), timeout, httpcore.WriteTimeout))
        return self._stream.read(max_bytes, _budget(_deadline(), timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if buffer:
            self._unsent.append(buffer)

    def close(self) -> None:
        self._unsent = []
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        timeout = _budget(_deadline(), timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str):
        return self._stream.get_extra_info(info)


def _budget(deadline: float | None, timeout: float | None, error: type[Exception]) -> float:
    if deadline is None:  # outside an attempt (the pool checking a kept connection)
        return timeout
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise error("The attempt ran out of time.")
    return remaining if timeout is None else min(timeout, remaining)


def _read_some(response, limit: int) -> bytes:
    """Keep the first ``limit`` bytes of the body and stop reading (the rest is not needed)."""
    received = b""
    for chunk in response.iter_stream():
        received += chunk
        if len(received) >= limit:
            break
    return received[:limit]


def _failure(outcome: str, error: str, started: float) -> AttemptResult:
    return AttemptResult(
        outcome=outcome,
        status_code=None,
        response_body="",
        duration_ms=_elapsed_ms(started),
        error=error[:1000],
    )


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
