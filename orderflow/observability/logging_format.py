"""Log formats: JSON lines in full mode, readable console lines in embedded mode.

Both read the same context — the correlation id, the current trace and span, and what
the log scope knows (``order_id``, ``shop_id``; see
:mod:`orderflow.observability.logging_context`) — and both scrub secrets from every line
they write, whatever logged it: API keys, ``Authorization`` headers, card tokens, webhook
secrets, passwords in URLs, tracking tokens in ``/track/<token>`` and
``/ws/track/<token>/`` paths (a token is the key to an order's page: customer name,
address, parcels) and any field named like a secret. A formatter is
the one place every record passes through, access lines included (daphne's through
:mod:`orderflow.asgi_server`, gunicorn's through its ``gunicorn.access`` logger).

A JSON line::

    {"timestamp": "2026-11-25T10:53:32.345268Z", "level": "info", "logger": "orders",
     "message": "order placed", "correlation_id": "189d…", "trace_id": "4bf9…",
     "span_id": "00f0…", "order_id": "9ecf…", "shop_id": "3"}
"""

import re
from typing import Any

import structlog
from django.conf import settings

from orderflow.correlation import get_correlation_id
from orderflow.observability import tracing
from orderflow.observability.logging_context import current_log_context

REDACTED = "[REDACTED]"

#: Names of fields whose whole value is a secret.
SECRET_FIELD = re.compile(
    r"pass(word|wd)?|secret|api[_-]?key|token|authorization|cookie|card|signature", re.I
)
_SCRUBBERS: list[tuple[re.Pattern, Any]] = [
    # /track/<token> (the public page) and /ws/track/<token>/ (its socket), in any URL
    (re.compile(r"(/(?:ws/)?track/)[^/\s?#\"'&]+"), rf"\1{REDACTED}"),
    # Authorization: Bearer <key>
    (
        re.compile(r"\b(Bearer|Basic)\s+(?!\[REDACTED\])[A-Za-z0-9._~+/=-]+", re.I),
        rf"\1 {REDACTED}",
    ),
    # a shop's API key, <8-character prefix>.<32-character secret>: the prefix names it
    (re.compile(r"\b([A-Za-z0-9]{8})\.[A-Za-z0-9]{32}\b"), rf"\1.{REDACTED}"),
    # Standard Webhooks signing secrets
    (re.compile(r"\bwhsec_[A-Za-z0-9+/=_-]+"), f"whsec_{REDACTED}"),
    # card tokens: the last four characters are enough for support
    (
        re.compile(r"\btok_([A-Za-z0-9_]+)"),
        lambda m: f"tok_****{m[1][-4:]}" if len(m[1]) > 8 else f"tok_{REDACTED}",
    ),
    # user:password@host in URLs (a DATABASE_URL in an error message)
    (re.compile(r"\b([a-z][a-z0-9+.-]*://[^:/@\s]+):[^@\s/]+@", re.I), rf"\1:{REDACTED}@"),
    # key=value and "key": "value" pairs named like a secret
    (
        re.compile(
            r"(\b[\w-]*(?:pass(?:word|wd)|secret|api[_-]?key|token|authorization)[\w-]*)"
            r"([\"']?\s*[:=]\s*[\"']?)(?!\[REDACTED\]|Bearer\s|Basic\s)([^\s\"',;&}]+)",
            re.I,
        ),
        rf"\1\2{REDACTED}",
    ),
]


def scrub(text: str) -> str:
    """Return ``text`` with every secret it carries replaced."""
    for pattern, replacement in _SCRUBBERS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any, key: str = "") -> Any:
    """Redact a structured value: secret-named fields whole, secrets inside strings."""
    if key and SECRET_FIELD.search(key):
        return REDACTED
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


def context_fields() -> dict[str, str]:
    """The correlation id, trace and span ids and log scope of the current work."""
    scope = current_log_context()
    fields = {"correlation_id": get_correlation_id() or scope.pop("correlation_id", None) or "-"}
    ids = tracing.current_ids()
    if ids:
        fields["trace_id"], fields["span_id"] = ids
    return {**fields, **scope}


# --- the shared pipeline ------------------------------------------------------------------
def _add_context(logger, method_name: str, event_dict: dict) -> dict:
    fields = context_fields()
    correlation_id = fields.pop("correlation_id")
    request = event_dict.pop("request", None)
    if request is not None and hasattr(request, "path"):
        # django.request logs a 4xx/5xx response after the middleware has unbound the
        # request's correlation id; the request still knows it. The request object itself
        # (headers, cookies) stays out of the line.
        if correlation_id == "-":
            correlation_id = getattr(request, "correlation_id", None) or "-"
        event_dict.setdefault("http_method", request.method)
        event_dict.setdefault("path", request.path)
    # ours, not the "-" that the correlation log filter put on the record
    event_dict["correlation_id"] = correlation_id
    for key, value in fields.items():
        event_dict.setdefault(key, value)  # a caller's explicit extra wins
    return event_dict


def _redact(logger, method_name: str, event_dict: dict) -> dict:
    return {
        key: scrub(str(value)) if key == "event" else redact(value, key)
        for key, value in event_dict.items()
    }


#: the keys every line starts with, in this order; the rest follow as they come
_LEADING_KEYS = ("timestamp", "level", "logger", "message", "correlation_id", "trace_id", "span_id")


def _order_keys(logger, method_name: str, event_dict: dict) -> dict:
    leading = {key: event_dict.pop(key) for key in _LEADING_KEYS if key in event_dict}
    return {**leading, **event_dict}


def _processors(renderer) -> list:
    return [
        _add_context,
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info,
        _redact,
        structlog.processors.EventRenamer("message"),
        _order_keys,
        renderer,
    ]


def _pre_chain(timestamp_format: str) -> list:
    """What a standard-library record becomes before the shared pipeline."""
    return [
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt=timestamp_format, utc=True, key="timestamp"),
    ]


class JsonFormatter(structlog.stdlib.ProcessorFormatter):
    """One JSON object per line: timestamp, level, logger, message, ids, context, extras."""

    def __init__(self, *args, **kwargs):
        configure_structlog()
        super().__init__(
            foreign_pre_chain=_pre_chain("iso"),
            processors=_processors(structlog.processors.JSONRenderer(default=repr)),
        )


class ConsoleFormatter(structlog.stdlib.ProcessorFormatter):
    """``time level logger [correlation id] message key=value…`` — for people, not machines."""

    def __init__(self, *args, **kwargs):
        configure_structlog()
        super().__init__(
            foreign_pre_chain=_pre_chain("%Y-%m-%d %H:%M:%S"),
            processors=_processors(_render_console),
        )


def _render_console(logger, method_name: str, event_dict: dict) -> str:
    head = (
        f"{event_dict.pop('timestamp', '')} {event_dict.pop('level', '').upper():<7} "
        f"{event_dict.pop('logger', '')} [{event_dict.pop('correlation_id', '-')}] "
        f"{event_dict.pop('message', '')}"
    )
    exception = event_dict.pop("exception", None)
    tail = " ".join(f"{key}={value}" for key, value in event_dict.items())
    line = f"{head} {tail}" if tail else head
    return f"{line}\n{exception}" if exception else line


def configure_structlog() -> None:
    """Send ``structlog.get_logger()`` loggers through the standard library's handlers.

    So a module that prefers structlog's key-value style gets the same format, context
    and scrubbing as every other line.
    """
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


class ServerLogsRequestsFilter:
    """One line per request: drop django.request's 4xx warning where the server logs requests.

    ``runserver`` (embedded mode) and daphne write an access line for every request,
    status included, so Django's own "Not Found: /x" warning for the same 4xx request was
    a second line. With ``REQUEST_LINE_BY_SERVER`` on (embedded mode's default) only the
    access line is kept; a 5xx still logs its error and traceback. Off (full mode, where
    the HTTP API runs behind granian without an access log) Django's warning is the line.
    """

    def filter(self, record) -> bool:
        if not getattr(settings, "REQUEST_LINE_BY_SERVER", False):
            return True
        return getattr(record, "status_code", 500) >= 500


#: django-axes' bookkeeping after every successful login ("Reset 0 access attempts", "Cleaned
#: up 0 expired access attempts", "Deleted 0 failed login attempts"): three lines that say
#: nothing happened
_AXES_BOOKKEEPING = ("AXES: Reset ", "AXES: Cleaned up ", "AXES: Deleted ")


class AxesBookkeepingFilter:
    """Drop django-axes' lines that report it cleared nothing; keep the rest (a successful
    login, a failure, a lockout, a reset that did clear attempts)."""

    def filter(self, record) -> bool:
        if not isinstance(record.msg, str) or not record.msg.startswith(_AXES_BOOKKEEPING):
            return True
        return not (record.args and record.args[0] == 0)
