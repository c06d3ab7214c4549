"""The Celery broker on Redis: an acknowledgement that fails cannot stop a worker consuming.

kombu's Redis transport (5.7) acknowledges a message in two steps: it removes the message
from its unacked index in Redis, then frees the message's prefetch slot in the worker. When
the first step fails — Redis paused, restarting, a timeout — the second never runs, and
Celery only logs ``Couldn't ack …``: the slot stays taken for the life of the process. A
worker has ``concurrency * prefetch multiplier`` slots (2 in the ``Procfile``), so one
failed ack halves what it takes and two stop it for good, although Redis is back a second
later. The fault suite caught exactly that: the flow worker logged two failed acks during a
Redis pause, then took no task until it was stopped, and the projectors fell 9 880 events
behind (docs/faults.md).

:class:`QoS` frees the slot whatever Redis answered and lets the error go on to Celery's
log. Nothing is lost: the message is still in the unacked index, and kombu's own sweep
(``restore_visible``) puts it back on its queue once ``visibility_timeout`` has passed —
the task then runs a second time, which every OrderFlow task allows (acks are late; a
kick or a sweep carries no data, and work is claimed from PostgreSQL). :func:`install`
makes every Redis channel use it (``redis://``, ``rediss://`` and Sentinel alike),
so the scheme of ``CELERY_BROKER_URL`` keeps choosing the transport and its TLS.
"""

from kombu.transport import redis as kombu_redis
from kombu.transport import virtual


class QoS(kombu_redis.QoS):
    """kombu's Redis QoS whose ack and reject free the prefetch slot even when Redis fails."""

    def ack(self, delivery_tag) -> None:
        try:
            super().ack(delivery_tag)
        except Exception:
            virtual.QoS.ack(self, delivery_tag)  # the local half: frees the slot
            raise

    def reject(self, delivery_tag, requeue: bool = False) -> None:
        try:
            super().reject(delivery_tag, requeue=requeue)
        except Exception:
            virtual.QoS.ack(self, delivery_tag)  # kombu's reject ends with the same call
            raise


def install() -> None:
    """Make kombu's Redis channels (and Sentinel's, a subclass) use :class:`QoS`."""
    kombu_redis.Channel.QoS = QoS
