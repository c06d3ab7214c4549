"""The Celery application: ``celery -A orderflow worker`` and ``celery -A orderflow beat``."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderflow.settings")

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
