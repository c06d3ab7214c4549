"""Gauges read from the source of truth when ``/metrics`` is scraped.

The backlog lives in PostgreSQL and the queues in Redis, whichever process filled them,
so they are read at scrape time instead of being kept by some process: always current,
even when beat or every worker is down — which is when an operator needs them most.
Every web process reports the same values: aggregate them with ``max``, not ``sum``.

A failing read (database or broker down) drops that collector's samples and sets
``orderflow_metrics_collector_up{collector=...}`` to 0, so the rest of the scrape
still answers.
"""

import logging

from celery import current_app
from django.db import DatabaseError
from django.db.models import Count
from kombu.exceptions import ChannelError, OperationalError
from prometheus_client.core import GaugeMetricFamily
from redis.exceptions import RedisError

from orderflow.events.maintenance import outbox_status
from orderflow.events.projectors import projectors_status
from orderflow.models import DeadLetter

logger = logging.getLogger(__name__)


class EventBacklogCollector:
    """The outbox and delivery backlog, and dead letters by subscriber."""

    name = "events"

    def collect(self):
        status = outbox_status()
        dead = dict(DeadLetter.objects.values_list("subscriber").annotate(n=Count("id")).order_by())
        yield GaugeMetricFamily(
            "orderflow_outbox_unpublished_events",
            "Committed events the relay has not fanned out yet.",
            value=status.unrelayed,
        )
        yield GaugeMetricFamily(
            "orderflow_outbox_oldest_unpublished_age_seconds",
            "Age of the oldest event the relay has not fanned out yet (0 when none).",
            value=status.oldest_unrelayed_age or 0.0,
        )
        yield GaugeMetricFamily(
            "orderflow_deliveries_oldest_open_age_seconds",
            "Age of the oldest event not yet relayed or handled by every subscriber (0 when none).",
            value=status.oldest_undelivered_age or 0.0,
        )
        open_ = GaugeMetricFamily(
            "orderflow_deliveries_open",
            "Deliveries not done yet: due (waiting for a worker), in_flight (claimed) or "
            "retry_scheduled (failed, waiting for their next attempt).",
            labels=["state"],
        )
        open_.add_metric(["due"], status.due)
        open_.add_metric(["in_flight"], status.in_flight)
        open_.add_metric(["retry_scheduled"], status.scheduled_retries)
        yield open_
        letters = GaugeMetricFamily(
            "orderflow_dead_letters",
            "Deliveries that failed for good and wait for a replay, by subscriber.",
            labels=["subscriber"],
        )
        for subscriber, count in sorted(dead.items()):
            letters.add_metric([subscriber], count)
        yield letters


class ProjectorCollector:
    """Each projector's lag behind the feed, its parked events and the one it retries."""

    name = "projectors"

    def collect(self):
        lag = GaugeMetricFamily(
            "orderflow_projector_lag_events",
            "Feed events past a projector's checkpoint (of any type; 0 when caught up).",
            labels=["projector"],
        )
        parked = GaugeMetricFamily(
            "orderflow_projector_parked_events",
            "Events a projector failed on for good and parked, not replayed yet.",
            labels=["projector"],
        )
        failing = GaugeMetricFamily(
            "orderflow_projector_failing_attempts",
            "Failed attempts of the event a projector waits on to retry (0: none).",
            labels=["projector"],
        )
        for status in projectors_status():
            lag.add_metric([status.name], status.lag)
            parked.add_metric([status.name], status.parked)
            failing.add_metric([status.name], status.attempts)
        yield lag
        yield parked
        yield failing


class CeleryQueueCollector:
    """Messages waiting in each Celery queue of the broker."""

    name = "celery_queues"

    def collect(self):
        family = GaugeMetricFamily(
            "orderflow_celery_queue_length",
            "Messages waiting in a Celery queue on the broker.",
            labels=["queue"],
        )
        app = current_app
        if not app.conf.task_always_eager:
            with app.connection_for_read() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
                channel = conn.default_channel
                for queue in _queue_names(app):
                    try:
                        waiting = channel.queue_declare(queue=queue, passive=True).message_count
                    except ChannelError:
                        waiting = 0  # no worker declared it yet and nothing was sent to it
                    family.add_metric([queue], waiting)
        yield family


def _queue_names(app) -> list[str]:
    names = {app.conf.task_default_queue}
    names.update(queue.name for queue in app.conf.task_queues or ())
    return sorted(names)


class ScrapeCollectors:
    """Run each collector, isolating failures, and report which ones answered."""

    def __init__(self, collectors=None):
        self.collectors = collectors or [
            EventBacklogCollector(),
            ProjectorCollector(),
            CeleryQueueCollector(),
        ]

    def collect(self):
        up = GaugeMetricFamily(
            "orderflow_metrics_collector_up",
            "1 if the collector could read its source at this scrape, 0 if it failed.",
            labels=["collector"],
        )
        for collector in self.collectors:
            try:
                families = list(collector.collect())
            except (DatabaseError, OperationalError, RedisError, OSError) as error:
                logger.warning("metrics collector %s failed: %s", collector.name, error)
                up.add_metric([collector.name], 0)
                continue
            up.add_metric([collector.name], 1)
            yield from families
        yield up
