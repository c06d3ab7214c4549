"""Invariants: what must hold in the database whatever failed, checked on demand.

Each context declares the checks of its own tables in its ``invariants`` module with
``@invariant``; ``manage.py check_invariants`` discovers them (as the admin discovers
``admin`` modules) and runs each in its own read-only, time-limited transaction, so an
operator can run it against production at 3 a.m. without making things worse.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.module_loading import autodiscover_modules

#: how many offending rows a failed check names, so its line stays readable
EXAMPLES = 5


@dataclass(frozen=True)
class Window:
    """What the checks look at: rows since ``since``; work due before ``stuck_before``."""

    now: datetime
    since: datetime
    stuck_before: datetime
    max_rows: int

    @classmethod
    def ending_now(cls, *, hours: float, stuck_seconds: float, max_rows: int) -> "Window":
        now = timezone.now()
        return cls(
            now=now,
            since=now - timedelta(hours=hours),
            stuck_before=now - timedelta(seconds=stuck_seconds),
            max_rows=max_rows,
        )


@dataclass
class Result:
    """One invariant's verdict: how many rows it looked at and how many broke it."""

    name: str
    description: str
    checked: int = 0
    violations: int = 0
    examples: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def passed(self) -> bool:
        return self.violations == 0 and not self.error

    def found(self, count: int, examples) -> None:
        """Record ``count`` offending rows, naming the first few (``examples`` is lazy)."""
        self.violations += count
        if count:
            for example in examples:
                if len(self.examples) >= EXAMPLES:
                    break
                self.examples.append(str(example))


@dataclass(frozen=True)
class Invariant:
    name: str
    description: str
    check: Callable[[Window, Result], None]


_registry: dict[str, Invariant] = {}


def invariant(name: str, description: str):
    """Declare ``check(window, result)`` as the invariant ``name`` (``<context>.<what>``)."""

    def register(check: Callable[[Window, Result], None]):
        _registry[name] = Invariant(name=name, description=description, check=check)
        return check

    return register


def all_invariants() -> list[Invariant]:
    autodiscover_modules("invariants")
    return sorted(_registry.values(), key=lambda inv: inv.name)


def run_invariant(inv: Invariant, window: Window, *, timeout_seconds: float) -> Result:
    """Run one check in a read-only snapshot; a failing query is reported, never raised."""
    result = Result(name=inv.name, description=inv.description)
    # inside a caller's transaction (a test's) the snapshot is the caller's to choose
    own_transaction = not connection.in_atomic_block
    try:
        with transaction.atomic():
            _limit(timeout_seconds, read_only_snapshot=own_transaction)
            inv.check(window, result)
    except DatabaseError as error:
        result.error = f"{type(error).__name__}: {error}".strip()[:500]
    return result


def _limit(timeout_seconds: float, *, read_only_snapshot: bool) -> None:
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        if read_only_snapshot:
            # REPEATABLE READ: all queries of a check see one snapshot, so a row committed
            # between two of them (an order, then its outbox row) cannot look inconsistent.
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute("SET LOCAL statement_timeout = %s", [f"{int(timeout_seconds * 1000)}ms"])
