"""The payment gateway: a small protocol a real provider could implement, and a simulation.

The simulated gateway is what the platform talks to in every mode: outcomes are chosen by
the card token (deterministic, for tests and demos) or at random by configured rates. It
keeps its own records in the cache — outside our database transactions, as a real
provider's would be — and honours idempotency keys: the same call with the same key
returns the first answer and charges nothing more.

Deterministic tokens:

=====================  ====================================================================
``tok_ok``             authorised and captured
``tok_declined``       declined: ``card_declined`` (final)
``tok_insufficient``   declined: ``insufficient_funds`` (final)
``tok_flaky``          the first two calls fail transiently, then it succeeds
``tok_timeout``        every call times out (transient; the payment fails after retries)
anything else          succeeds, unless ``PAYMENT_DECLINE_RATE`` / ``PAYMENT_ERROR_RATE`` say
=====================  ====================================================================

Gates (test-only): a test drives a race — a cancel landing while a capture is in flight —
by closing a gate with ``GatewayGate.close(operation, idempotency_key)``, or for every key
of the operation (``ANY_KEY``, the default) when the test cannot know the key before the
call starts. The call then waits at the gate, before it decides anything, inside the
caller's transaction (the charge holds its payment row), until the test has done its part
and calls ``GatewayGate.open``; ``GatewayGate.held(operation, key)`` tells the test that
the call with that key is waiting. The gate is a cache key, so it holds a Celery worker's
call as well as a thread's (in full mode; the embedded local-memory cache reaches threads
of one process only). Gates are consulted only when ``settings.PAYMENT_GATES`` is on,
which only ``tests/settings.py`` does: it has no environment variable, so production
never reads a gate, and a closed gate without that setting holds nothing. A gate left
closed fails the call after ``GATE_TIMEOUT_SECONDS`` rather than holding a worker for ever.
"""

import json
import random
import time
import uuid
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

RECORD_TTL = 7 * 24 * 3600

#: a gate closed with this key holds every call of its operation
ANY_KEY = "*"
#: how long a call waits at a closed gate before it fails (a test that forgot to open it)
GATE_TIMEOUT_SECONDS = 120
#: how often a held call looks at its gate
GATE_POLL_SECONDS = 0.005

#: card tokens with a fixed outcome (see the table above)
TEST_TOKENS = {
    "tok_ok": "ok",
    "tok_declined": "declined",
    "tok_insufficient": "insufficient",
    "tok_flaky": "flaky",
    "tok_timeout": "timeout",
}


class TransientGatewayError(Exception):
    """Timeout or server error: retry later with the same idempotency key."""


class GateNeverOpened(RuntimeError):
    """A test closed a gate and never opened it: fail loudly instead of holding a worker."""


@dataclass(frozen=True)
class GatewayResult:
    ok: bool
    reference: str = ""
    decline_code: str = ""
    message: str = ""


class PaymentGateway(Protocol):
    def authorize(
        self, *, token: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult: ...

    def capture(
        self, *, authorization: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult: ...

    def refund(
        self, *, capture: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> GatewayResult: ...

    def void(self, *, authorization: str, idempotency_key: str) -> GatewayResult: ...


class SimulatedGateway:
    def __init__(
        self,
        *,
        latency_ms: int = 0,
        decline_rate: float = 0.0,
        error_rate: float = 0.0,
    ):
        self.latency_ms = latency_ms
        self.decline_rate = decline_rate
        self.error_rate = error_rate

    # --- the protocol ---
    def authorize(self, *, token, amount, currency, idempotency_key) -> GatewayResult:
        return self._call(
            "authorize", idempotency_key, lambda: self._authorize(token, idempotency_key)
        )

    def capture(self, *, authorization, amount, currency, idempotency_key) -> GatewayResult:
        return self._call("capture", idempotency_key, lambda: self._approve("cap"))

    def refund(self, *, capture, amount, currency, idempotency_key) -> GatewayResult:
        return self._call("refund", idempotency_key, lambda: self._approve("ref"))

    def void(self, *, authorization, idempotency_key) -> GatewayResult:
        """Release an authorisation that will never be captured (nothing was charged)."""
        return self._call("void", idempotency_key, lambda: self._approve("void"))

    # --- what tests and support may ask the simulation ---
    @staticmethod
    def effects(operation: str, idempotency_key: str) -> int:
        """How many times the operation really took effect for this key (never more than 1)."""
        return int(cache.get(_key("effects", operation, idempotency_key)) or 0)

    @staticmethod
    def calls(operation: str, idempotency_key: str) -> int:
        return int(cache.get(_key("calls", operation, idempotency_key)) or 0)

    # --- the simulation ---
    def _call(self, operation: str, idempotency_key: str, decide) -> GatewayResult:
        if settings.PAYMENT_GATES:
            GatewayGate.wait(operation, idempotency_key)
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)
        # The answer is decided first and offered to the record in one step: the first
        # answer stored under the key wins for every call (a replay, or two concurrent first
        # calls); a transient error offers nothing and is raised unless an answer is stored.
        try:
            offered: GatewayResult | None = decide()
        except TransientGatewayError as error:
            offered, transient = None, error
        stored = _record(operation, idempotency_key, offered)
        if stored is None:
            raise transient
        return stored

    def _authorize(self, token: str, idempotency_key: str) -> GatewayResult:
        behaviour = TEST_TOKENS.get(token, "random")
        if behaviour == "declined":
            return GatewayResult(
                ok=False, decline_code="card_declined", message="The card was declined."
            )
        if behaviour == "insufficient":
            return GatewayResult(
                ok=False, decline_code="insufficient_funds", message="Insufficient funds."
            )
        if behaviour == "timeout":
            raise TransientGatewayError("gateway timeout")
        if behaviour == "flaky":
            failures = _incr(_key("flaky", "authorize", idempotency_key))
            if failures <= 2:
                raise TransientGatewayError(f"gateway error 503 (flaky call {failures})")
        if behaviour == "random":
            roll = random.random()
            if roll < self.error_rate:
                raise TransientGatewayError("gateway error 503 (simulated)")
            if roll < self.error_rate + self.decline_rate:
                return GatewayResult(
                    ok=False, decline_code="card_declined", message="The card was declined."
                )
        return self._approve("auth")

    @staticmethod
    def _approve(prefix: str) -> GatewayResult:
        return GatewayResult(ok=True, reference=f"sim_{prefix}_{uuid.uuid4().hex[:20]}")


class GatewayGate:
    """Hold a simulated call until a test lets it go (see the module's docstring).

    Test-only machinery: nothing reads a gate unless ``settings.PAYMENT_GATES`` is on.
    """

    @staticmethod
    def close(operation: str, idempotency_key: str = ANY_KEY) -> None:
        """Make the next calls of ``operation`` (with this key, or any) wait until ``open``."""
        cache.set(_key("gate", operation, idempotency_key), "closed", RECORD_TTL)

    @staticmethod
    def open(operation: str, idempotency_key: str = ANY_KEY) -> None:
        """Let the calls held by this gate (and any later one) through."""
        cache.delete(_key("gate", operation, idempotency_key))

    @staticmethod
    def held(operation: str, idempotency_key: str) -> bool:
        """Whether the call of ``operation`` with this key is waiting at a gate now."""
        return cache.get(_key("held", operation, idempotency_key)) is not None

    @staticmethod
    def wait(operation: str, idempotency_key: str) -> None:
        """Wait while a gate of this call is closed, marked held meanwhile for the test to see.

        Polling the cache keeps one mechanism for threads and worker processes alike; the
        wait is bounded, so a gate left closed fails the call instead of hanging a worker.
        """
        gates = [_key("gate", operation, key) for key in (idempotency_key, ANY_KEY)]
        if not cache.get_many(gates):
            return
        held = _key("held", operation, idempotency_key)
        cache.set(held, "held", RECORD_TTL)
        try:
            deadline = time.monotonic() + GATE_TIMEOUT_SECONDS
            while cache.get_many(gates):
                if time.monotonic() > deadline:
                    raise GateNeverOpened(
                        f"the {operation} gate for {idempotency_key} stayed closed "
                        f"for {GATE_TIMEOUT_SECONDS} s"
                    )
                time.sleep(GATE_POLL_SECONDS)
        finally:
            cache.delete(held)


def _key(kind: str, operation: str, idempotency_key: str) -> str:
    return f"gateway:{kind}:{operation}:{idempotency_key}"


def _incr(key: str) -> int:
    cache.add(key, 0, RECORD_TTL)
    return cache.incr(key)


#: One call's bookkeeping as one Redis command (EVALSHA): count the call, return the answer
#: stored under the key, or store the offered one (ARGV[1], "" for none) and, if it took
#: effect (ARGV[3] = "1"), count the effect. Counters are plain integers, which the Django
#: cache reads back (``effects``, ``calls``).
_RECORD_SCRIPT = """
local calls = redis.call('INCR', KEYS[1])
if calls == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
local stored = redis.call('GET', KEYS[2])
if stored then return stored end
if ARGV[1] == '' then return false end
redis.call('SET', KEYS[2], ARGV[1], 'EX', ARGV[2])
if ARGV[3] == '1' then
  if redis.call('INCR', KEYS[3]) == 1 then redis.call('EXPIRE', KEYS[3], ARGV[2]) end
end
return ARGV[1]
"""
_scripts: dict[int, object] = {}


def _record(operation: str, idempotency_key: str, offered: GatewayResult | None):
    """Count the call; return the stored answer, else store ``offered`` (None: nothing)."""
    keys = [_key(kind, operation, idempotency_key) for kind in ("calls", "result", "effects")]
    payload = json.dumps(asdict(offered)) if offered is not None else ""
    backend = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(backend, DjangoRedisCache):
        client = backend._cache.get_client(write=True)
        script = _scripts.get(id(client))
        if script is None:
            script = _scripts.setdefault(id(client), client.register_script(_RECORD_SCRIPT))
        answer = script(
            keys=[backend.make_and_validate_key(key) for key in keys],
            args=[payload, RECORD_TTL, "1" if offered is not None and offered.ok else "0"],
        )
        return GatewayResult(**json.loads(answer)) if answer else None
    # the local-memory cache (embedded mode): the same steps, through the cache API
    calls_key, result_key, effects_key = keys
    _incr(calls_key)
    stored = cache.get(result_key)
    if stored is None and offered is not None:
        if cache.add(result_key, payload, RECORD_TTL):
            if offered.ok:
                _incr(effects_key)
            return offered
        stored = cache.get(result_key)
    return GatewayResult(**json.loads(stored)) if stored is not None else None


def get_gateway() -> PaymentGateway:
    """The configured gateway (only the simulation exists today)."""
    return SimulatedGateway(
        latency_ms=settings.PAYMENT_LATENCY_MS,
        decline_rate=settings.PAYMENT_DECLINE_RATE,
        error_rate=settings.PAYMENT_ERROR_RATE,
    )
