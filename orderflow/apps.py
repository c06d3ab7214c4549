import contextlib
import json
import re
from typing import Any

import orjson
from django.apps import AppConfig
from django.db.models.signals import post_migrate

#: twenty digits in a row: maybe an integer past 64 bits, which orjson reads as a float
_LONG_NUMBER = re.compile(rb"\d{20}")


def json_loads(data: bytes) -> Any:
    """JSON as ``json.loads`` decodes it, by orjson where that gives the same: not for
    an integer past 64 bits (jsonb holds any; orjson would round it to a float), nor for
    what orjson refuses."""
    if _LONG_NUMBER.search(data) is None:
        with contextlib.suppress(orjson.JSONDecodeError):
            return orjson.loads(data)
    return json.loads(data)


class OrderFlowConfig(AppConfig):
    """The shared kernel: event envelope, outbox, idempotency store, correlation ids."""

    name = "orderflow"
    verbose_name = "OrderFlow kernel"

    def ready(self) -> None:
        # Register the kernel's Celery tasks in every process, not only in workers (where
        # autodiscovery imports them lazily): kicks look the pump task up by name after
        # commit, in web processes and management commands too.
        from . import tasks  # noqa: F401  (imported to register them)
        from .events import event_published
        from .observability import tracing
        from .observability.logging_context import bind_published_event
        from .observability.metrics import receivers

        # Observability: metrics and log context from published events and Celery's
        # signals (best effort), and tracing when the settings enable it.
        receivers.connect()
        event_published.connect(
            bind_published_event, dispatch_uid="orderflow.logging_context.bind_published_event"
        )
        tracing.configure()
        # jsonb read in binary (a projector's batch of the feed) is decoded by orjson: the
        # standard library's json.loads was a fifth of a projector pass's time
        from psycopg.types.json import set_json_loads

        set_json_loads(json_loads)
        # Staff roles: every migrate leaves the groups and their permissions as
        # ``orderflow.roles`` defines them (a test database's flush included).
        from .roles import sync_roles_after_migrate

        post_migrate.connect(sync_roles_after_migrate, sender=self)
