"""The ``Idempotency-Key`` header contract for DRF views."""

from collections.abc import Callable
from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from orderflow.errors import FieldError, InputError
from orderflow.idempotency import MAX_KEY_LENGTH, request_fingerprint, run_idempotent

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"


def key_is_valid(key: str) -> bool:
    """1 to MAX_KEY_LENGTH printable ASCII characters."""
    return bool(key) and len(key) <= MAX_KEY_LENGTH and key.isprintable() and key.isascii()


def idempotency_key_from(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key_is_valid(key):
        raise InputError(
            f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
            errors=[FieldError(attr=HEADER, code="invalid", detail="Not a valid idempotency key.")],
        )
    return key


def idempotent(
    request: Request,
    *,
    scope: str,
    operation: Callable[[], tuple[int, Any]],
    redact: Callable[[Any], Any] | None = None,
) -> Response:
    """Answer a POST once per key: the first response is stored and replayed after.

    ``redact`` gives what is stored and replayed instead of the first body (see
    :func:`orderflow.idempotency.run_idempotent`).
    """
    key = idempotency_key_from(request)
    if key is None:
        status, body = operation()
        return Response(body, status=status)
    stored = run_idempotent(
        scope=scope,
        key=key,
        fingerprint=request_fingerprint(
            method=request.method, path=request.path, payload=request.data
        ),
        operation=operation,
        redact=redact,
    )
    response = Response(stored.body, status=stored.status)
    if stored.replayed:
        response[REPLAYED_HEADER] = "true"
    return response
