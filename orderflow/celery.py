"""The Celery application: ``celery -A orderflow worker`` and ``celery -A orderflow beat``."""

import os

from celery import Celery
from celery.signals import task_postrun
from django.db import close_old_connections

from orderflow import broker

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderflow.settings")

broker.install()  # a failed ack must not stop a worker consuming (orderflow/broker.py)
app = Celery("orderflow")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def route_task(name, args, kwargs, options, task=None, **kw):
    """The saga lane's tasks to its own queue; every other task to the general one.

    A router (not a static table) so that the queue names are read from settings when a
    task is sent: tests give each run its own queues.
    """
    from django.conf import settings

    from orderflow.events.kick import LANE_TASK, PUMP_TASK

    if name in (LANE_TASK, PUMP_TASK):
        return {"queue": settings.EVENTS_SAGA_QUEUE}
    return {"queue": settings.EVENTS_FLOW_QUEUE}


@app.on_after_configure.connect
def _declare_queues(sender, **kwargs):
    """The default, saga and general queues: a worker started without ``-Q`` consumes all.

    The Procfile and the deploy files start one worker per lane with ``-Q``; a worker
    without it (tests, tools) does every kind of work. Names read from settings, so that
    test runs keep their own queues.
    """
    from django.conf import settings
    from kombu import Queue

    names = [sender.conf.task_default_queue, settings.EVENTS_SAGA_QUEUE, settings.EVENTS_FLOW_QUEUE]
    sender.conf.task_queues = [Queue(name) for name in dict.fromkeys(names)]


# --- database connections in worker processes ------------------------------------------------
#: Tasks between two recyclings of a prefork child's connection pool (Celery's Django fixup
#: reads this name). Unset, the fixup closes every connection before and after each task
#: and, with Django's connection pool in a prefork child, the pool itself: every task then
#: opened new PostgreSQL sessions (≈ 4 per order at 25 orders/s, each a forked backend with
#: a cold catalog cache whose prepared statements were all prepared again).
app.conf.CELERY_DB_REUSE_MAX = 10_000


@task_postrun.connect
def _release_connections(task=None, **kwargs) -> None:
    """A task ends like a request: its connection goes back to the pool, a broken one away.

    ``close_old_connections`` returns a healthy connection to the pool (``CONN_MAX_AGE`` is
    0 in full mode) and discards one that failed (a PostgreSQL restart): the next task gets
    a working connection without the whole pool being closed. Eager tasks run inside the
    caller's request or transaction and are left alone.
    """
    if task is not None and getattr(task.request, "is_eager", False):
        return
    close_old_connections()
