"""The idempotency store: a retried request gets the first response, never a second effect.

Written here rather than taken from a library because the key row must commit in the
same transaction as the effect it guards (an order and its stored 201 can never
disagree), and no kept library shares the caller's transaction.

Concurrency: on PostgreSQL a transaction-scoped advisory lock on (scope, key) is *tried*,
not waited for, so a request whose twin is still in flight is told so at once (409)
instead of queueing on the connection pool. On SQLite (embedded mode) writers are
serialised by the database and the unique constraint is the guard.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .errors import DomainError
from .models import IdempotencyKey

MAX_KEY_LENGTH = 255
RETRY_AFTER_SECONDS = 1


class IdempotencyKeyReused(DomainError):
    status = 422
    code = "idempotency-key-reused"
    title = "Idempotency-Key reused with another request"


class RequestInFlight(DomainError):
    status = 409
    code = "request-in-flight"
    title = "A request with this Idempotency-Key is in flight"

    def __init__(self) -> None:
        super().__init__(
            "A request with this Idempotency-Key is still being processed; "
            f"retry in {RETRY_AFTER_SECONDS} s to receive its response.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: Any
    replayed: bool


@dataclass(frozen=True)
class StoredKey:
    """A key row as a lean caller read it: its fingerprint, response, and whether it is live."""

    fingerprint: str
    status: int
    body: Any
    live: bool


REUSED_DETAIL = (
    "This Idempotency-Key was already used with a different request. "
    "Use a new key for a new request."
)


def lock_name(scope: str, key: str) -> str:
    """The advisory lock's name for (scope, key): ``hashtextextended(name, 0)`` is the lock id."""
    return f"{scope}\x1f{key}"


def new_expiry():
    """When a key row written now expires (IDEMPOTENCY_KEY_TTL_HOURS from now)."""
    return timezone.now() + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)


def replay_stored(stored: StoredKey, fingerprint: str) -> StoredResponse | None:
    """The rule for a key row found before running a request.

    A live row with the same fingerprint is replayed; with another fingerprint the request
    is refused (422). An expired row is no answer (None): the request runs anew, by a path
    that deletes the row first (:func:`run_idempotent`).
    """
    if not stored.live:
        return None
    if stored.fingerprint != fingerprint:
        raise IdempotencyKeyReused(REUSED_DETAIL)
    return StoredResponse(stored.status, stored.body, True)


def request_fingerprint(*, method: str, path: str, payload: Any) -> str:
    """Hash the request so that the same body in another key order or spacing matches."""
    canonical = json.dumps(
        [method.upper(), path, payload], sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def run_idempotent(
    *,
    scope: str,
    key: str,
    fingerprint: str,
    operation: Callable[[], tuple[int, Any]],
    redact: Callable[[Any], Any] | None = None,
) -> StoredResponse:
    """Run ``operation`` once per (scope, key); replay its stored response afterwards.

    ``operation`` runs inside this function's transaction and returns (status, body).
    Only a 2xx answer is stored: a rejected request wrote nothing, so a retry with a
    corrected body under the same key is still the first real attempt.

    ``redact`` turns the body into what is stored and replayed, for an answer that holds
    a secret to be shown once: the key row is kept for IDEMPOTENCY_KEY_TTL_HOURS in plain
    JSON, and a replay must not hand the secret to whoever holds the key later. The first
    answer still carries the whole body.
    """
    if getattr(settings, "FAULTS_UNSAFE_NO_IDEMPOTENCY", False):  # make faults' control only
        return StoredResponse(*operation(), replayed=False)
    with transaction.atomic():
        _lock_or_raise(scope, key)
        existing = IdempotencyKey.objects.filter(scope=scope, key=key).first()
        if existing is not None:
            stored = StoredKey(
                fingerprint=existing.fingerprint,
                status=existing.response_status,
                body=existing.response_body,
                live=existing.expires_at > timezone.now(),
            )
            replayed = replay_stored(stored, fingerprint)
            if replayed is not None:
                return replayed
            existing.delete()
        status, body = operation()
        if 200 <= status < 300:
            # No savepoint (two round trips on the hot path): a failed insert is never
            # recovered from, the error below rolls the whole transaction back.
            try:
                with transaction.atomic(savepoint=False):
                    IdempotencyKey.objects.create(
                        scope=scope,
                        key=key,
                        fingerprint=fingerprint,
                        response_status=status,
                        response_body=body if redact is None else redact(body),
                        expires_at=new_expiry(),
                    )
            except IntegrityError:
                # Only reachable without advisory locks (SQLite): a twin committed first.
                raise RequestInFlight() from None
        return StoredResponse(status, body, False)


def _lock_or_raise(scope: str, key: str) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))", [lock_name(scope, key)]
        )
        (locked,) = cursor.fetchone()
    if not locked:
        raise RequestInFlight()


def idempotency_keys_purge(*, batch_size: int = 5000) -> int:
    """Delete expired keys in batches, so a large purge never holds long locks."""
    deleted = 0
    now = timezone.now()
    while True:
        ids = list(
            IdempotencyKey.objects.filter(expires_at__lte=now).values_list("pk", flat=True)[
                :batch_size
            ]
        )
        if not ids:
            return deleted
        deleted += IdempotencyKey.objects.filter(pk__in=ids).delete()[0]
