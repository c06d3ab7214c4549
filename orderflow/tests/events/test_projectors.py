"""Checkpointed projectors over the committed feed: batches, bisection, parking, replay.

The projector under test is registered by the ``probe_projector`` fixture. Its effect is
one row per event in a scratch table keyed by the event id (``ON CONFLICT DO NOTHING``),
written by one statement per batch, as a real projector writes its natural keys.
"""

import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.db import connection, connections, transaction
from django.utils import timezone
from psycopg import pq

from orderflow import tasks
from orderflow.events import PermanentError, projectors
from orderflow.events.kick import PROJECTORS_TASK
from orderflow.events.maintenance import events_purge
from orderflow.events.projectors import (
    FeedEvent,
    Projector,
    _unregister,
    all_projectors,
    get_projector,
    parked_event_replay,
    projector,
    projector_apply,
    projector_pass,
    projectors_due,
)
from orderflow.events.relay import relay_batch
from orderflow.events.workqueue import Kick
from orderflow.models import Delivery, DeliveryStatus, OutboxEvent, ParkedEvent, ProjectorCheckpoint
from tests.probe.events import ProbeNoop
from tests.probe.models import ProbeSwitch

pytestmark = pytest.mark.django_db

NAME = "test.probe_projection"
TABLE = "test_probe_projection"


def _create_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} "
            "(event_id uuid PRIMARY KEY, position bigint NOT NULL, attempt int NOT NULL)"
        )
        cursor.execute(f"TRUNCATE {TABLE}")


def projected() -> dict[str, tuple[int, int]]:
    """The scratch table: event id -> (position, attempt)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT event_id, position, attempt FROM {TABLE}")  # noqa: S608
        return {str(row[0]): (row[1], row[2]) for row in cursor.fetchall()}


class Probe:
    """What the test projector saw: the positions of each batch it was called with."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.attempts: dict[str, list[int]] = {}
        self.gate: Callable[[], None] | None = None

    @property
    def projector(self) -> Projector:
        return get_projector(NAME)

    def apply(self, batch: list[FeedEvent]) -> None:
        self.calls.append([e.position for e in batch])
        for event in batch:
            self.attempts.setdefault(event.event_id, []).append(event.attempt)
        if self.gate:
            self.gate()
        for event in batch:
            behaviour = event.data.get("behaviour")
            if behaviour == "broken" and not ProbeSwitch.objects.filter(name="fixed", on=True):
                raise RuntimeError(f"event at {event.position} is broken")
            if behaviour == "permanent":
                raise PermanentError("this event can never be projected")
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {TABLE} (event_id, position, attempt) "  # noqa: S608
                "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::int[]) "
                "ON CONFLICT (event_id) DO NOTHING",
                [
                    [e.event_id for e in batch],
                    [e.position for e in batch],
                    [e.attempt for e in batch],
                ],
            )


@pytest.fixture
def probe_projector() -> Iterator[Callable[..., Probe]]:
    def make(*, types=("probe.pinged",), batch_size=200, max_attempts=None) -> Probe:
        _create_table()
        probe = Probe()

        def apply(batch: list[FeedEvent]) -> None:
            probe.apply(batch)

        projector(NAME, event_types=types, batch_size=batch_size, max_attempts=max_attempts)(apply)
        return probe

    yield make
    _unregister(NAME)


@pytest.fixture(params=["prepared", "orm"])
def sql_path(request, monkeypatch) -> str:
    """Run a test on the prepared-SQL path (PostgreSQL) and on the ORM one (embedded SQLite)."""
    if request.param == "orm":
        monkeypatch.setattr(projectors, "_postgresql", lambda: False)
    return request.param


def checkpoint() -> ProjectorCheckpoint:
    return ProjectorCheckpoint.objects.get(name=NAME)


def feed(count: int, ping, **fields) -> list[OutboxEvent]:
    """Publish ``count`` pings and relay them into the feed; return them in feed order."""
    rows = [ping(**fields) for _ in range(count)]
    relay_all()
    return list(OutboxEvent.objects.filter(pk__in=[r.pk for r in rows]).order_by("position"))


def relay_all() -> None:
    while relay_batch():
        pass


def head() -> int:
    return OutboxEvent.objects.order_by("-position").values_list("position", flat=True)[0]


def run_until_idle(p: Projector) -> int:
    applied = 0
    while True:
        result = projector_pass(p)
        applied += result.applied
        if not result.advanced:
            return applied


# --- the checkpoint ---
def test_a_new_projector_applies_the_feed_from_the_start_and_moves_its_checkpoint(
    probe_projector, ping, sql_path
):
    events = feed(3, ping)
    probe = probe_projector()

    result = projector_pass(probe.projector)

    assert result.applied == 3
    assert probe.calls == [[e.position for e in events]]
    assert projected() == {str(e.event_id): (e.position, 1) for e in events}
    assert checkpoint().position == head()
    assert projector_pass(probe.projector).applied == 0  # caught up
    assert probe.calls == [[e.position for e in events]]


def test_a_batch_is_at_most_batch_size_events_in_feed_order(probe_projector, ping, sql_path):
    events = feed(5, ping)
    probe = probe_projector(batch_size=2)

    first = projector_pass(probe.projector)

    assert (first.applied, first.more) == (2, True)
    assert checkpoint().position == events[1].position
    assert run_until_idle(probe.projector) == 3
    assert probe.calls == [[e.position for e in events[i : i + 2]] for i in (0, 2, 4)]


def test_events_of_other_types_are_not_applied_but_the_checkpoint_passes_them(
    probe_projector, ping, publish_one, sql_path
):
    probe = probe_projector()
    publish_one(ProbeNoop(probe_id=uuid.uuid4()))
    pinged = ping()
    publish_one(ProbeNoop(probe_id=uuid.uuid4()))
    relay_all()

    projector_pass(probe.projector)

    pinged.refresh_from_db()
    assert probe.calls == [[pinged.position]]
    assert checkpoint().position == head()


def test_only_skipped_types_still_move_the_checkpoint_without_calling_apply(
    probe_projector, publish_one
):
    probe = probe_projector()
    publish_one(ProbeNoop(probe_id=uuid.uuid4()))
    relay_all()

    result = projector_pass(probe.projector)

    assert result.advanced
    assert result.applied == 0
    assert probe.calls == []
    assert checkpoint().position == head()


# --- exactly once ---
def test_applying_the_same_batch_again_changes_nothing(probe_projector, ping):
    events = feed(4, ping)
    probe = probe_projector()
    run_until_idle(probe.projector)
    before = projected()

    projector_apply(NAME, [FeedEvent.from_row(e) for e in events])
    ProjectorCheckpoint.objects.filter(name=NAME).update(position=0)  # replay the feed
    run_until_idle(probe.projector)

    assert projected() == before
    assert len(before) == 4


# --- failures ---
def test_bisection_commits_the_events_before_a_failing_one_and_waits_on_it(
    probe_projector, ping, sql_path
):
    before = feed(22, ping)
    bad = feed(1, ping, behaviour="broken")[0]
    after = feed(27, ping)
    probe = probe_projector(max_attempts=3)

    result = projector_pass(probe.projector)

    assert result.applied == 22
    assert result.failed == 1
    assert set(projected()) == {str(e.event_id) for e in before}
    state = checkpoint()
    assert state.position == before[-1].position  # just before the failing event
    assert str(state.failing_event_id) == str(bad.event_id)
    assert state.attempts == 1
    assert state.retry_at > timezone.now()
    assert "is broken" in state.last_error
    assert not ParkedEvent.objects.exists()
    assert projector_pass(probe.projector).applied == 0  # its retry is not due yet
    assert str(after[0].event_id) not in projected()


def test_one_bad_event_among_50_is_parked_and_the_other_49_commit(probe_projector, ping, sql_path):
    events = feed(20, ping) + feed(1, ping, behaviour="broken") + feed(29, ping)
    bad = events[20]
    probe = probe_projector(max_attempts=1)

    applied = run_until_idle(probe.projector)

    assert applied == 49
    assert set(projected()) == {str(e.event_id) for e in events if e != bad}
    (parked,) = ParkedEvent.objects.all()
    assert (parked.projector, parked.event_id, parked.position) == (
        NAME,
        bad.event_id,
        bad.position,
    )
    assert parked.attempts == 1
    assert "is broken" in parked.error
    assert parked.traceback
    assert parked.replayed_at is None
    state = checkpoint()
    assert state.position == head()
    assert (state.attempts, state.retry_at, state.failing_event_id) == (0, None, None)
    # bisection: halves of the failing batch down to the bad event alone (log2 50 < 6
    # levels, at most two halves each), then the events after it as the next batch
    assert probe.calls[0] == [e.position for e in events]
    assert [bad.position] in probe.calls
    assert probe.calls[-1] == [e.position for e in events[21:]]
    assert len(probe.calls) <= 1 + 2 * 6 + 1


def test_a_failing_event_retries_with_backoff_then_is_parked_at_its_last_attempt(
    probe_projector, ping, sql_path
):
    bad = feed(1, ping, behaviour="broken")[0]
    later = feed(1, ping)[0]
    probe = probe_projector(max_attempts=3)

    for attempt in (1, 2):
        assert projector_pass(probe.projector).failed == 1
        state = checkpoint()
        assert state.attempts == attempt
        assert state.retry_at > timezone.now()
        assert projector_pass(probe.projector).applied == 0  # backing off
        ProjectorCheckpoint.objects.filter(name=NAME).update(
            retry_at=timezone.now() - timedelta(seconds=1)
        )
    result = projector_pass(probe.projector)

    assert result.parked == 1
    assert ParkedEvent.objects.get().attempts == 3
    # the first pass: the whole batch (it and the next event) fails, then it alone; each
    # retry: it alone
    assert probe.attempts[str(bad.event_id)] == [1, 1, 2, 3]
    run_until_idle(probe.projector)
    assert set(projected()) == {str(later.event_id)}
    assert checkpoint().position == head()


def test_a_permanent_error_parks_the_event_at_once(probe_projector, ping):
    bad = feed(1, ping, behaviour="permanent")[0]
    probe = probe_projector(max_attempts=5)

    result = projector_pass(probe.projector)

    assert result.parked == 1
    parked = ParkedEvent.objects.get()
    assert parked.event_id == bad.event_id
    assert parked.attempts == 1
    assert "PermanentError" in parked.error
    assert checkpoint().position == head()


def test_an_unknown_event_type_in_the_feed_parks_instead_of_blocking(probe_projector, ping):
    ok = feed(1, ping)[0]
    probe_projector()  # the table and the clean-up
    OutboxEvent.objects.filter(pk=ok.pk).update(version=99)  # no such version is declared
    _unregister(NAME)

    @projector(NAME, event_types=["probe.pinged"])
    def validate(batch: list[FeedEvent]) -> None:
        for event in batch:
            event.event  # noqa: B018 (validates: raises UnknownEventType)

    assert projector_pass(get_projector(NAME)).parked == 1
    assert "UnknownEventType" in ParkedEvent.objects.get().error


def test_a_worker_out_of_time_stops_the_pass_and_blames_no_event(probe_projector, ping):
    events = feed(3, ping)
    probe = probe_projector(max_attempts=1)

    def out_of_time() -> None:
        raise SoftTimeLimitExceeded()

    probe.gate = out_of_time

    with pytest.raises(SoftTimeLimitExceeded):
        projector_pass(probe.projector)

    assert len(probe.calls) == 1  # no bisection
    state = checkpoint()
    assert (state.position, state.attempts, state.failing_event_id) == (0, 0, None)
    assert not ParkedEvent.objects.exists()
    probe.gate = None
    assert projector_pass(probe.projector).applied == len(events)


# --- replay ---
def test_replaying_a_parked_event_applies_it_and_records_who_asked(probe_projector, ping):
    bad = feed(1, ping, behaviour="broken")[0]
    probe = probe_projector(max_attempts=1)
    run_until_idle(probe.projector)
    parked = ParkedEvent.objects.get()
    assert parked.replayed_at is None

    assert parked_event_replay(parked_ids=[parked.pk], actor="staff:ana") == 0  # still broken
    parked.refresh_from_db()
    assert parked.replayed_at is None
    assert parked.attempts == 2

    ProbeSwitch.objects.create(name="fixed", on=True)
    assert parked_event_replay(parked_ids=[parked.pk], actor="staff:ana") == 1

    parked.refresh_from_db()
    assert parked.replayed_by == "staff:ana"
    assert parked.replayed_at is not None
    assert str(bad.event_id) in projected()
    assert parked_event_replay(parked_ids=[parked.pk], actor="staff:ana") == 0  # done already


# --- concurrency ---
@pytest.mark.django_db(transaction=True)
def test_two_workers_never_apply_the_same_projector_at_once(probe_projector, ping):
    events = feed(5, ping)
    probe = probe_projector()
    inside, release = threading.Event(), threading.Event()

    def hold_first_call() -> None:
        if len(probe.calls) == 1:
            inside.set()
            assert release.wait(60), "the test never released the first worker"

    probe.gate = hold_first_call
    results = {}

    def worker(key: str) -> None:
        try:
            results[key] = projector_pass(probe.projector)
        finally:
            connections.close_all()

    first = threading.Thread(target=worker, args=("first",))
    first.start()
    try:
        assert inside.wait(60), "the first worker never reached apply"
        second = threading.Thread(target=worker, args=("second",))
        second.start()
        second.join(60)
        # the second pass found the checkpoint locked and returned at once
        assert not second.is_alive()
        assert results["second"].applied == 0
        assert not results["second"].advanced
    finally:
        release.set()
        first.join(60)

    assert results["first"].applied == 5
    assert len(probe.calls) == 1
    assert set(projected()) == {str(e.event_id) for e in events}
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {TABLE}")


# --- cost ---
@contextmanager
def round_trips() -> Iterator[list[str]]:
    """Record the messages that end a client request (Query, Sync): one per round trip."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    requests: list[str] = []
    fd, path = tempfile.mkstemp()
    try:
        pgconn.trace(fd)
        pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield requests
        finally:
            pgconn.untrace()
        with open(path) as trace:
            for line in trace:
                parts = line.split("\t")
                if parts[0] == "F" and parts[2].strip().split(" ")[0] in ("Query", "Sync"):
                    requests.append(parts[2].strip())
    finally:
        os.close(fd)
        os.unlink(path)


@pytest.mark.django_db(transaction=True)
def test_a_batch_takes_the_same_round_trips_for_1_event_and_for_50(probe_projector, ping):
    probe = probe_projector()
    feed(1, ping)
    run_until_idle(probe.projector)  # the checkpoint row exists, statements are prepared

    counts = {}
    for size in (1, 50):
        feed(size, ping)
        with round_trips() as requests:
            result = projector_pass(probe.projector)
        assert result.applied == size
        counts[size] = len(requests)

    # BEGIN, lock + read, the projector's one INSERT, checkpoint update, COMMIT
    assert counts == {1: 5, 50: 5}
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {TABLE}")


def test_projectors_due_tells_when_a_projector_is_behind(probe_projector, ping):
    probe = probe_projector()
    feed(1, ping)
    assert projectors_due()
    run_until_idle(probe.projector)
    others = [p for p in ("tracking", "notifications") if get_projector(p)]
    for name in others:
        run_until_idle(get_projector(name))
    assert not projectors_due()


def test_the_batch_commits_without_waiting_for_the_disk(probe_projector, ping):
    feed(1, ping)
    modes = []
    probe = probe_projector()

    def note_mode() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            modes.append(cursor.fetchone()[0])

    probe.gate = note_mode
    with transaction.atomic():
        projector_pass(probe.projector)
    assert modes == ["off"]


# --- retention ---
def test_the_purge_keeps_events_a_projector_has_not_passed_or_holds_parked(probe_projector, ping):
    probe = probe_projector(max_attempts=1)
    parked_event = feed(1, ping, behaviour="broken")[0]
    projected_event = feed(1, ping)[0]
    run_until_idle(probe.projector)
    unread = feed(1, ping)[0]
    for other in all_projectors():
        if other.name != NAME:  # the apps' projectors: let them pass everything
            run_until_idle(other)
    ProjectorCheckpoint.objects.filter(name=NAME).update(position=projected_event.position)
    OutboxEvent.objects.update(created_at=timezone.now() - timedelta(days=400))
    Delivery.objects.update(status=DeliveryStatus.DONE)  # the probe's subscribers: not here

    events_purge(older_than_days=1)

    kept = set(OutboxEvent.objects.values_list("event_id", flat=True))
    assert kept == {parked_event.event_id, unread.event_id}

    ParkedEvent.objects.update(replayed_at=timezone.now(), replayed_by="staff:ana")
    run_until_idle(probe.projector)
    events_purge(older_than_days=1)
    assert not OutboxEvent.objects.exists()


@pytest.fixture
def handed_over(monkeypatch) -> list[str]:
    """The tasks a run queued again (the broker stays untouched)."""
    sent: list[str] = []
    monkeypatch.setattr(Kick, "send", lambda self: sent.append(self.task))
    return sent


def test_a_run_that_caught_up_queues_nothing_more(probe_projector, ping, handed_over):
    # Events relayed during a run kick on their own; a hand-over after every run kept
    # tasks queued behind each other and the stack spun for seconds after the last order.
    probe = probe_projector(batch_size=2)
    feed(5, ping)

    assert tasks.projectors_task() >= 5

    assert len(projected()) == 5
    assert handed_over == []
    assert [len(batch) for batch in probe.calls] == [2, 2, 1]


def test_a_run_cut_short_by_its_time_hands_the_rest_over(
    probe_projector, ping, handed_over, settings
):
    probe_projector(batch_size=2)
    feed(5, ping)
    settings.EVENTS_DRAIN_SECONDS = 1e-9  # over after the first pass

    tasks.projectors_task()

    assert len(projected()) < 5
    assert handed_over == [PROJECTORS_TASK]
