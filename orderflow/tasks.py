"""Kernel Celery tasks: thin entry points over kernel services.

Queues (``orderflow.celery.route_task``): the saga lane's task on ``EVENTS_SAGA_QUEUE``,
consumed by its own worker process; everything else on ``EVENTS_FLOW_QUEUE``.
"""

import logging

from celery import shared_task

from .events.kick import LANE_TASK, PROJECTORS_KICK, PROJECTORS_TASK, PUMP_TASK
from .events.lane import LANE, lane_drain, lane_due
from .events.maintenance import events_purge
from .events.pump import drain, projectors_due
from .idempotency import idempotency_keys_purge

logger = logging.getLogger(__name__)


@shared_task(name=LANE_TASK, acks_late=True)
def saga_lane_task() -> dict:
    """Relay and run saga steps until nothing is due (a kick after commit, or the sweep).

    Eager (embedded mode): all event work in the committing process, projectors included.
    """
    if saga_lane_task.app.conf.task_always_eager:
        return drain().__dict__
    result = lane_drain()
    if not saga_lane_task.app.conf.task_always_eager and lane_due():
        # Time ran out with work left: hand over rather than hold the worker forever.
        LANE.kick.send()
    return result.__dict__


@shared_task(name=PUMP_TASK, acks_late=True)
def events_pump_task() -> dict:
    """The lane's task under its former name (kicks queued by an older release)."""
    return saga_lane_task()


@shared_task(name=PROJECTORS_TASK, acks_late=True)
def projectors_task() -> int:
    """Run every projector until caught up with the feed (a kick after a relay, or the sweep).

    Events relayed while it runs kick again (the flag is cleared as it starts), so a
    drain that caught up ends without looking for more: only one cut short by its time
    hands over. A hand-over after every run — coalesced or not — kept tasks queued
    behind each other under load, and the stack ran them for seconds after the last order.
    """
    from .events.projectors import projectors_drain

    PROJECTORS_KICK.received()
    with PROJECTORS_KICK.running():
        drained = projectors_drain()
    if drained.cut_short and not projectors_task.app.conf.task_always_eager:
        PROJECTORS_KICK.send()
    return drained.applied


@shared_task(name="orderflow.tasks.events_sweep_task", ignore_result=True)
def events_sweep_task() -> None:
    """Beat's safety net: a lost kick, a due retry, an expired lease or a projector behind."""
    # coalesced: while a kick waits (its flag lives KICK_FLAG_TTL), sweeps add none
    if lane_due():
        LANE.kick.now()
    if projectors_due():
        PROJECTORS_KICK.now()


@shared_task(name="orderflow.tasks.events_purge_task")
def events_purge_task() -> dict:
    return events_purge()


@shared_task(name="orderflow.tasks.idempotency_purge_task")
def idempotency_purge_task() -> int:
    deleted = idempotency_keys_purge()
    if deleted:  # a line that says nothing happened, hourly, is noise
        logger.info("purged %d expired idempotency keys", deleted)
    return deleted
