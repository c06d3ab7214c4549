"""run_schedule: the embedded mode's beat runs the schedule's tasks inline."""

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from orderflow.celery import app as celery_app
from orderflow.events import publish
from orderflow.events.pump import drain
from orderflow.models import Delivery, DeliveryStatus
from tests.probe.events import ProbePinged
from tests.probe.models import ProbeEffect

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def embedded() -> Iterator[None]:
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        with override_settings(CELERY_TASK_ALWAYS_EAGER=True):
            yield
    finally:
        celery_app.conf.task_always_eager = previous


def test_a_due_retry_is_delivered_by_the_inline_schedule(embedded):
    event = ProbePinged(probe_id=uuid.uuid4(), shop_id=1, behaviour="flaky", fail_times=1)
    with transaction.atomic():
        publish(event, sequence=1)
    drain()  # what the commit's kick did: the flaky subscriber failed once
    retry = Delivery.objects.get(subscriber="probe.record_on_probe_pinged")
    assert retry.status == DeliveryStatus.PENDING
    Delivery.objects.filter(pk=retry.pk).update(available_at=timezone.now() - timedelta(seconds=1))

    call_command("run_schedule", "--once", stdout=StringIO())

    assert Delivery.objects.get(pk=retry.pk).status == DeliveryStatus.DONE
    assert ProbeEffect.objects.get(subscriber="record", probe_id=event.probe_id).attempt == 2


def test_a_failing_task_does_not_stop_the_schedule(embedded, settings, caplog, monkeypatch):
    settings.CELERY_BEAT_SCHEDULE = {
        "broken": {"task": "orderflow.tasks.events_purge_task", "schedule": 1.0},
        "sweep": {"task": "orderflow.tasks.events_sweep_task", "schedule": 1.0},
    }
    settings.EVENTS_RETENTION_DAYS = "not a number"  # makes the purge task raise
    event = ProbePinged(probe_id=uuid.uuid4(), shop_id=1)
    # the kick after commit is lost (a broker hiccup): only the sweep can find the event
    monkeypatch.setattr(sys.modules["orderflow.events.kick"], "kick_after_commit", lambda: None)
    with transaction.atomic():
        publish(event, sequence=1)
    assert not ProbeEffect.objects.exists()

    call_command("run_schedule", "--once", stdout=StringIO())

    assert "scheduled task broken failed" in caplog.text
    assert ProbeEffect.objects.filter(probe_id=event.probe_id).count() == 2


def test_every_scheduled_task_is_registered_in_a_fresh_process():
    # A process that is not a Celery worker (run_schedule, the web) never autodiscovers
    # tasks: each app must register its own in ready(), or the inline schedule fails the
    # task by name. A fresh interpreter, since this one has imported every tasks module.
    script = (
        "import django; django.setup();"
        "from celery import current_app; from django.conf import settings;"
        "print(sorted(entry['task'] for entry in settings.CELERY_BEAT_SCHEDULE.values()"
        " if entry['task'] not in current_app.tasks))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )

    assert result.stdout.strip().splitlines()[-1] == "[]"
