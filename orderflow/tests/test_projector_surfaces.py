"""Projectors and their parked events in admin and the operator commands."""

import contextlib
import uuid
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from orderflow.models import ParkedEvent, ProjectorCheckpoint

from .projector_probe import NAME, applied, fix, park_one, surface_projector

__all__ = ["surface_projector"]

pytestmark = pytest.mark.django_db


@pytest.fixture
def support(client, django_user_model):
    user = django_user_model.objects.create_superuser("ana", "ana@example.com", "not-used")
    client.force_login(user)
    return client


@pytest.fixture
def parked(surface_projector) -> ParkedEvent:
    return park_one()


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# --- admin ---
def test_the_parked_event_changelist_lists_and_shows_them(support, parked):
    listing = support.get(reverse("admin:orderflow_parkedevent_changelist"))
    detail = support.get(reverse("admin:orderflow_parkedevent_change", args=[parked.pk]))
    checkpoints = support.get(reverse("admin:orderflow_projectorcheckpoint_changelist"))

    assert [p.pk for p in listing.context["cl"].result_list] == [parked.pk]
    assert detail.status_code == 200
    assert b"is broken" in detail.content
    assert NAME in [c.name for c in checkpoints.context["cl"].result_list]


def test_the_admin_replay_action_applies_the_parked_event_again(support, parked):
    fix()

    response = support.post(
        reverse("admin:orderflow_parkedevent_changelist"),
        {"action": "replay", "_selected_action": [parked.pk]},
    )

    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Replayed 1 parked event(s); their projectors applied them again."
    ]
    parked.refresh_from_db()
    assert parked.replayed_by == "staff:ana"
    assert applied(parked)


def test_a_parked_event_cannot_be_edited_in_admin(support, parked):
    before = ParkedEvent.objects.values().get(pk=parked.pk)

    support.post(
        reverse("admin:orderflow_parkedevent_change", args=[parked.pk]),
        {"error": "edited", "projector": "other"},
    )

    assert ParkedEvent.objects.values().get(pk=parked.pk) == before


def test_the_retry_now_action_makes_a_waiting_retry_due(support, surface_projector):
    waiting = ProjectorCheckpoint.objects.create(
        name=NAME,
        position=0,
        attempts=1,
        failing_event_id=uuid.uuid4(),
        retry_at=timezone.now() + timedelta(hours=1),
    )
    caught_up = ProjectorCheckpoint.objects.create(name="test.caught_up", position=0)

    response = support.post(
        reverse("admin:orderflow_projectorcheckpoint_changelist"),
        {"action": "retry_now", "_selected_action": [waiting.pk, caught_up.pk]},
    )

    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "1 projector(s) retry their failing event now."
    ]
    waiting.refresh_from_db()
    assert waiting.retry_at <= timezone.now()
    assert waiting.attempts == 1  # still counts toward parking
    assert ProjectorCheckpoint.objects.get(name="test.caught_up").retry_at is None


# --- commands ---
def test_outbox_status_shows_parked_events_and_each_projector(parked):
    output = run("outbox_status")

    assert "parked events" in output
    lines = {
        label.strip(): value.strip()
        for label, _, value in (line.partition("  ") for line in output.splitlines())
    }
    assert lines["parked events"] == "1"
    position = ProjectorCheckpoint.objects.get(name=NAME).position
    assert lines[f"projector {NAME}"] == f"at {position}, 0 behind, 1 parked"
    assert "parked events need a look" in output


def test_doctor_warns_of_parked_events(parked):
    out = StringIO()
    # a service this test does not run may fail its check (exit 1): the backlog lines come first
    with contextlib.suppress(SystemExit):
        call_command("doctor", stdout=out)

    output = out.getvalue()
    assert f"projectors: {NAME} 0 behind" in output or f", {NAME} 0 behind" in output
    assert "1 parked event(s): see admin" in output


def test_replay_dead_letters_dry_run_lists_parked_events_and_changes_nothing(parked):
    output = run("replay_dead_letters", "--dry-run", "--kind", "parked")

    lines = output.splitlines()
    assert lines[0].split("\t")[:3] == [f"parked {parked.pk}", "probe.pinged", NAME]
    assert lines[-1] == "1 parked event(s) would be replayed."
    parked.refresh_from_db()
    assert parked.replayed_at is None


def test_replay_dead_letters_replays_parked_events_with_the_dead_letters(parked):
    fix()

    output = run("replay_dead_letters")

    assert "Replayed 0 dead letter(s)." in output
    assert "Replayed 1 parked event(s)." in output
    parked.refresh_from_db()
    assert parked.replayed_by == "command:replay_dead_letters"
    assert applied(parked)


def test_replay_dead_letters_fails_when_a_parked_event_fails_again(parked):
    with pytest.raises(SystemExit):
        run("replay_dead_letters", "--kind", "parked")

    parked.refresh_from_db()
    assert parked.replayed_at is None


def test_events_lists_the_projectors_and_what_they_read(surface_projector):
    output = run("events")

    assert "Projectors (read the committed feed past a checkpoint)" in output
    row = next(line for line in output.splitlines() if line.startswith(f"│ {NAME}"))
    assert "probe.pinged" in row
    pinged = next(line for line in output.splitlines() if line.startswith("│ probe.pinged"))
    assert NAME in pinged
