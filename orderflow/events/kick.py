"""Kicks: tell a worker, after commit, that there is new work in the outbox.

A kick carries no data — PostgreSQL carries the work — so a lost kick only delays
until the beat sweep. Kicks are coalesced through the cache: while one is waiting for a
worker, committing transactions do not queue more (see ``workqueue.Kick``). Outside a
Celery task the lane's kick is sent by the process's kicker thread (``workqueue.Kicker``):
the request that committed does not wait for Redis, and commits a few milliseconds apart
share one round trip.

Two kicks: the saga lane's (``publish()`` after commit: the lane relays, then runs the
deliveries) and the projectors' (the relay, after it gave new events their positions).
A step running in the lane publishes without a kick: the lane's next batch relays the
event (continuation).
"""

from django.conf import settings
from django.db import transaction

from .workqueue import Kick

LANE_TASK = "orderflow.tasks.saga_lane_task"
PROJECTORS_TASK = "orderflow.tasks.projectors_task"
#: the former name of the lane's task (queued kicks of an older release still run it)
PUMP_TASK = "orderflow.tasks.events_pump_task"
KICK_FLAG = "orderflow:events:kick-pending"
PROJECTORS_KICK_FLAG = "orderflow:projectors:kick-pending"


def _setting(name: str):
    """The queue name in setting ``name``, read when a kick is sent (tests rename queues)."""
    return lambda: getattr(settings, name)


LANE_KICK = Kick(LANE_TASK, queue=_setting("EVENTS_SAGA_QUEUE"), flag=KICK_FLAG)
PROJECTORS_KICK = Kick(
    PROJECTORS_TASK, queue=_setting("EVENTS_FLOW_QUEUE"), flag=PROJECTORS_KICK_FLAG
)


def relay_after_commit() -> None:
    """``publish()`` wrote an outbox row in the current transaction: see that it is relayed.

    Elsewhere than in the lane, kick the lane once the transaction commits. In the lane
    (a saga step publishing) nothing: the lane's next batch, which the drain runs right
    after this one, relays the event.
    """
    if LANE_KICK.is_running_here():
        return
    transaction.on_commit(kick_after_commit, robust=True)


def kick_after_commit() -> None:
    """Kick the saga lane (called from ``on_commit``), coalesced, from the process's kicker
    thread: a request that placed an order does not wait for Redis (``Kick.soon``)."""
    if getattr(settings, "FAULTS_UNSAFE_NO_KICK", False):  # make faults' control only
        return
    LANE_KICK.soon()


def kick_received() -> None:
    """Clear the coalescing flag as a worker starts draining, so later commits kick again."""
    LANE_KICK.received()


def kick_projectors_after_commit() -> None:
    """After the relay's commit: the projectors have new positions to read."""
    if getattr(settings, "FAULTS_UNSAFE_NO_KICK", False):
        return
    transaction.on_commit(PROJECTORS_KICK.now, robust=True)


def draining():
    """Mark this thread as running the lane (eager kicks do not re-enter it)."""
    return LANE_KICK.running()
