"""Real processes for integration tests: a Celery worker and beat on the test database; a
private redis-server."""

import os
import tempfile
from collections.abc import Callable, Iterator

import pytest
import redis
from django.conf import settings
from django.db import connection, transaction

from devtools.processes import ProcessFailedToStart, celery_beat, celery_worker, wait_until
from faults.infra import PrivateRedis
from orderflow.events import get_event_class
from orderflow.events.projectors import projectors_due
from orderflow.events.pump import drain
from orderflow.events.subscribers import Envelope, get_subscriber
from orderflow.models import Delivery, DeliveryStatus, OutboxEvent

#: Short timings so that retries and sweeps happen within a test's patience. The lease is
#: long: a claim should expire only when its worker died, and on a loaded machine a short
#: one would hand a batch still running (or a call a test holds at a gate) to another
#: process. The test that kills a worker asks for a short lease itself.
WORKER_ENV = {
    "EVENTS_LEASE_SECONDS": "120",
    "EVENTS_RETRY_BASE_SECONDS": "0.2",
    "EVENTS_RETRY_MAX_SECONDS": "1",
    "EVENTS_MAX_ATTEMPTS": "4",
    "EVENTS_SWEEP_INTERVAL": "0.5",
    "EVENTS_DRAIN_SECONDS": "5",
    # The simulated gateway answers at once, and a charge gives up on its own after three
    # transient errors, one attempt before its delivery would (EVENTS_MAX_ATTEMPTS).
    "PAYMENT_LATENCY_MS": "0",
    "PAYMENT_MAX_ATTEMPTS": "3",
}


def event_work_settled() -> bool:
    """Whether every committed event is relayed, every delivery is done or dead, and every
    projector has read the feed (or waits for a retry of a failing event)."""
    return not (
        OutboxEvent.objects.filter(published_at__isnull=True).exists()
        or Delivery.objects.filter(
            status__in=[DeliveryStatus.PENDING, DeliveryStatus.RUNNING]
        ).exists()
        or projectors_due()
    )


def handle_again(row: OutboxEvent, subscriber_name: str, *, attempt: int = 1) -> None:
    """Run a subscriber's handler once more for an event, past the inbox.

    The inbox already makes a redelivered (event, subscriber) pair a no-op; this asks the
    handler's own service to be idempotent too, as a second delivery path (a replayed
    dead letter after a manual fix, an event published twice) would.
    """
    sub = get_subscriber(subscriber_name)
    assert sub is not None, subscriber_name
    event = get_event_class(row.type, row.version).from_data(row.data)
    envelope = Envelope.from_row(row, attempt=attempt)
    with transaction.atomic():
        sub.handler(event, envelope)


def statements_in_transaction(step: Callable[[], object]) -> list[str]:
    """Run ``step`` in a transaction, as the saga lane runs a step; return what it sent.

    Every statement on the connection is recorded through an execute wrapper (the ORM's
    and the prepared ones alike), whitespace folded, cut at 60 characters: a regression —
    one more query, an ORM fallback, a savepoint — changes the list.
    """
    sent: list[str] = []

    def record(execute, sql, params, many, context):
        sent.append(" ".join(sql.split())[:60])
        return execute(sql, params, many, context)

    with transaction.atomic(), connection.execute_wrapper(record):
        step()
    return sent


def wait_for(condition: Callable[[], object], *, timeout: float = 30, what: str = "") -> object:
    """Poll ``condition`` until it returns something truthy; fail the test on timeout."""
    value = wait_until(condition, timeout=timeout)
    if not value:
        pytest.fail(f"timed out after {timeout}s waiting for {what or condition}")
    return value


def drain_until_settled(*, timeout: float = 120) -> None:
    """Run deliveries in this process, as a worker would, until every event is handled.

    One ``drain()`` stops at its own deadline (``EVENTS_DRAIN_SECONDS``) or as soon as
    nothing is due, which on a loaded machine can come before the work is done: a test
    that asserts on the result must wait for the condition, not for one drain.
    """
    wait_for(
        lambda: (drain(), event_work_settled())[1],
        timeout=timeout,
        what="every committed event to be relayed and handled",
    )


class EventWorkers:
    """The processes of ``Procfile`` on the test database and Redis, as tests need them.

    ``worker`` is the saga lane's worker (one process, the saga queue: relay and saga
    steps); ``flow`` the general worker (projectors, senders, beat's tasks: the flow and
    default queues); and beat.
    """

    def __init__(self, env: dict[str, str], schedule_dir: str):
        self.env = env
        self.worker = self._saga_worker()
        self.flow = self._flow_worker()
        self.beat = celery_beat(env, schedule_dir=schedule_dir)

    def _saga_worker(self):
        return celery_worker(
            self.env, concurrency=1, name="saga", queues=[settings.EVENTS_SAGA_QUEUE]
        )

    def _flow_worker(self):
        return celery_worker(
            self.env,
            concurrency=2,
            name="flow",
            queues=[settings.EVENTS_FLOW_QUEUE, settings.CELERY_TASK_DEFAULT_QUEUE],
        )

    def start(self) -> "EventWorkers":
        try:
            self.worker.start()
            self.flow.start()
            self.beat.start()
        except ProcessFailedToStart as error:
            pytest.fail(str(error))
        return self

    def restart_worker(self) -> None:
        """Stop and start the saga lane's worker (the one running the handlers)."""
        self.worker.stop()
        self.worker = self._saga_worker()
        self.start_worker_only()

    def start_worker_only(self) -> None:
        try:
            self.worker.start()
        except ProcessFailedToStart as error:
            pytest.fail(str(error))

    def stop(self) -> None:
        self.beat.stop()
        self.flow.stop()
        self.worker.stop()

    def logs(self) -> str:
        return "".join(self.worker.output[-80:] + self.flow.output[-40:] + self.beat.output[-20:])


def _forget_this_runs_keys() -> None:
    """Delete this run's cache keys (gateway records, kick flag, throttle counters).

    Only this run's: runs side by side share Redis, and flushing it would pull another
    run's records from under its feet (tests/settings.py gives each run its own prefix).
    Kicks left in the broker carry no data and only make a worker look for work.
    """
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(match=f"{settings.CACHES['default']['KEY_PREFIX']}:*"))
    if keys:
        client.delete(*keys)


def worker_env(**overrides: str) -> dict[str, str]:
    """The environment of a worker process on the test database and this run's Redis."""
    db = connection.settings_dict
    return {
        **os.environ,
        **WORKER_ENV,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": (f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"),
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
        **overrides,
    }


@pytest.fixture
def event_workers(request, transactional_db, django_db_blocker) -> Iterator[EventWorkers]:
    """Start a real worker and beat against the test database; stop them afterwards.

    Settings of the worker beyond WORKER_ENV come through indirect parametrization:
    ``@pytest.mark.parametrize("event_workers", [{"PAYMENT_LATENCY_MS": "100"}],
    indirect=True)``.
    """
    env = worker_env(**getattr(request, "param", {}))
    _forget_this_runs_keys()
    with tempfile.TemporaryDirectory() as schedule_dir:
        workers = EventWorkers(env, schedule_dir).start()
        try:
            yield workers
        finally:
            workers.stop()
            _forget_this_runs_keys()


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    """A redis-server of this test's own on a free port: killing or pausing it touches nobody."""
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.kill()
