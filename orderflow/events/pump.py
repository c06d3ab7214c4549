"""``drain()``: all event work in this process until quiet (embedded mode, tests, commands).

In full mode each kind of work has its own worker task and queue (the saga lane on
``EVENTS_SAGA_QUEUE``; projectors and senders on ``EVENTS_FLOW_QUEUE``). Here they run
in turn in the calling thread: the lane (relay, steps, their next steps), then the
projectors; the senders run where their eager kicks fire (embedded mode) or in their
own workers. Repeats until a round finds nothing to do or time runs out.
"""

import time
from datetime import datetime

from django.conf import settings

from .kick import PROJECTORS_KICK
from .lane import DrainResult, lane_drain, lane_due


def drain(*, max_seconds: float | None = None) -> DrainResult:
    """Relay, run deliveries and projectors until nothing is due or ``max_seconds`` pass."""
    deadline = time.monotonic() + (max_seconds or settings.EVENTS_DRAIN_SECONDS)
    total = DrainResult()
    # the relay's eager projector kicks would run them mid-lane: they run below instead
    with PROJECTORS_KICK.running():
        while True:
            lane = lane_drain(max_seconds=max(deadline - time.monotonic(), 0.001))
            total += lane
            projected = _projectors_drain(max_seconds=max(deadline - time.monotonic(), 0.001))
            if (lane.relayed == 0 and lane.handled == 0 and projected == 0) or (
                time.monotonic() > deadline
            ):
                return total


def _projectors_drain(*, max_seconds: float) -> int:
    from .projectors import projectors_drain

    PROJECTORS_KICK.received()
    return projectors_drain(max_seconds=max_seconds).applied


def projectors_due() -> bool:
    from .projectors import projectors_due as due

    return due()


def due_backlog_exists(now: datetime | None = None) -> bool:
    """Whether any event work is waiting: the lane's, or a projector behind the feed."""
    return lane_due(now) or projectors_due()
