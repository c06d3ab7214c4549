"""Support's admin for the event machinery: read-only evidence, and replay for dead letters."""

import uuid

import pytest
from django.contrib.messages import get_messages
from django.db import transaction
from django.urls import reverse

from orderflow.events import publish
from orderflow.events.lane import claim_batch, run_delivery
from orderflow.events.relay import relay_batch
from orderflow.models import (
    DeadLetter,
    Delivery,
    DeliveryAttempt,
    InboxEntry,
    OutboxEvent,
    ParkedEvent,
    ProjectorCheckpoint,
)
from tests.probe.events import ProbeNoop, ProbePinged

pytestmark = pytest.mark.django_db

RECORD = "probe.record_on_probe_pinged"
ORDERED = "probe.record_in_order_on_probe_pinged"
NOOP = "probe.nothing_on_probe_noop"
DELIVERY_STATE = ("status", "attempts", "available_at", "subscriber", "last_error", "replayed_at")


@pytest.fixture
def support(client, django_user_model):
    user = django_user_model.objects.create_superuser("ana", "ana@example.com", "not-used")
    client.force_login(user)
    return client


def publish_one(event) -> OutboxEvent:
    with transaction.atomic():
        return publish(event)


@pytest.fixture
def machinery() -> dict:
    """Events in every state support looks at: delivered, dead (two ways) and unrelayed."""
    delivered = publish_one(ProbeNoop(probe_id=uuid.uuid4()))
    broken = publish_one(ProbePinged(probe_id=uuid.uuid4(), shop_id=1, behaviour="permanent"))
    other_shop = publish_one(ProbePinged(probe_id=uuid.uuid4(), shop_id=2, behaviour="permanent"))
    relay_batch()
    for delivery in claim_batch():
        run_delivery(delivery)
    unrelayed = publish_one(ProbeNoop(probe_id=uuid.uuid4()))
    return {
        "delivered": delivered,
        "broken": broken,
        "other_shop": other_shop,
        "unrelayed": unrelayed,
        "dead": DeadLetter.objects.get(event=broken),
        "other_dead": DeadLetter.objects.get(event=other_shop),
    }


def listed(response) -> list:
    assert response.status_code == 200, response.content[:500]
    return sorted(obj.pk for obj in response.context["cl"].result_list)


def changelist(model: str) -> str:
    return reverse(f"admin:orderflow_{model}_changelist")


def test_the_outbox_changelist_shows_every_event(support, machinery):
    response = support.get(changelist("outboxevent"))

    assert listed(response) == sorted(
        row.pk
        for key in ("delivered", "broken", "other_shop", "unrelayed")
        for row in [machinery[key]]
    )


def test_the_outbox_changelist_filters_unrelayed_events(support, machinery):
    response = support.get(changelist("outboxevent"), {"published_at__isempty": "1"})

    assert listed(response) == [machinery["unrelayed"].pk]


def test_the_delivery_changelist_shows_every_delivery(support, machinery):
    response = support.get(changelist("delivery"))

    assert listed(response) == sorted(Delivery.objects.values_list("pk", flat=True))
    assert len(listed(response)) == 5


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, ["dead", "other_dead"]),
        ({"subscriber": RECORD}, ["dead", "other_dead"]),
        ({"subscriber": ORDERED}, []),
        ({"event__type": "probe.pinged"}, ["dead", "other_dead"]),
        ({"event__type": "probe.noop"}, []),
        ({"shop": "2"}, ["other_dead"]),
    ],
)
def test_the_dead_letter_changelist_lists_and_filters_dead_letters(
    support, machinery, query, expected
):
    response = support.get(changelist("deadletter"), query)

    assert listed(response) == sorted(machinery[key].pk for key in expected)


def test_the_inbox_changelist_shows_every_entry(support, machinery):
    response = support.get(changelist("inboxentry"))

    assert listed(response) == sorted(InboxEntry.objects.values_list("pk", flat=True))
    assert sorted(InboxEntry.objects.values_list("subscriber", flat=True)) == [
        NOOP,
        ORDERED,
        ORDERED,
    ]


def test_the_replay_action_replays_the_selected_dead_letters(support, machinery):
    dead, other = machinery["dead"], machinery["other_dead"]
    other_before = Delivery.objects.values_list(*DELIVERY_STATE).get(pk=other.pk)

    response = support.post(
        changelist("deadletter"), {"action": "replay", "_selected_action": [dead.pk]}
    )

    assert response.status_code == 302
    replayed = Delivery.objects.get(pk=dead.pk)
    assert (replayed.status, replayed.attempts) == ("pending", 0)
    assert replayed.replayed_at is not None
    assert Delivery.objects.values_list(*DELIVERY_STATE).get(pk=other.pk) == other_before
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Replayed 1 dead letter(s); they run again as new deliveries."
    ]


@pytest.mark.parametrize(
    ("model", "row"),
    [
        ("outboxevent", lambda m: m["broken"]),
        ("delivery", lambda m: m["dead"]),
        ("deadletter", lambda m: m["dead"]),
        ("inboxentry", lambda m: InboxEntry.objects.first()),
    ],
)
def test_the_change_pages_show_the_row(support, machinery, model, row):
    obj = row(machinery)

    response = support.get(reverse(f"admin:orderflow_{model}_change", args=[obj.pk]))

    assert response.status_code == 200
    assert response.context["original"].pk == obj.pk


def rows_snapshot() -> dict:
    return {
        "events": list(OutboxEvent.objects.order_by("pk").values()),
        "deliveries": list(Delivery.objects.order_by("pk").values()),
        "attempts": list(DeliveryAttempt.objects.order_by("pk").values()),
        "inbox": list(InboxEntry.objects.order_by("pk").values()),
    }


@pytest.mark.parametrize("model", ["outboxevent", "delivery", "inboxentry"])
def test_posting_a_change_page_is_forbidden(support, machinery, model):
    obj = {
        "outboxevent": machinery["broken"],
        "delivery": machinery["dead"],
        "inboxentry": InboxEntry.objects.first(),
    }[model]
    before = rows_snapshot()

    response = support.post(
        reverse(f"admin:orderflow_{model}_change", args=[obj.pk]),
        {"status": "done", "subscriber": "probe.other", "type": "probe.noop", "attempts": 0},
    )

    assert response.status_code == 403
    assert rows_snapshot() == before


def test_posting_a_dead_letter_change_page_changes_nothing(support, machinery):
    dead = machinery["dead"]
    before = rows_snapshot()

    attempt = DeliveryAttempt.objects.get(delivery=dead)

    response = support.post(
        reverse("admin:orderflow_deadletter_change", args=[dead.pk]),
        {
            "status": "done",
            "attempts": "0",
            "last_error": "",
            "subscriber": "probe.other",
            "failures-TOTAL_FORMS": "1",
            "failures-INITIAL_FORMS": "1",
            "failures-0-id": str(attempt.pk),
            "failures-0-delivery": str(dead.pk),
            "failures-0-error": "rewritten",
            "failures-0-retryable": "on",
        },
    )

    # the form is valid and saved: only there is nothing editable to save
    assert response.status_code == 302, response.context and response.context["errors"]
    assert rows_snapshot() == before


@pytest.mark.parametrize("model", ["outboxevent", "delivery", "deadletter", "inboxentry"])
def test_nothing_can_be_added_or_deleted(support, machinery, model):
    obj = {
        "outboxevent": machinery["broken"],
        "delivery": machinery["dead"],
        "deadletter": machinery["dead"],
        "inboxentry": InboxEntry.objects.first(),
    }[model]
    before = rows_snapshot()

    add = support.get(reverse(f"admin:orderflow_{model}_add"))
    delete = support.post(
        reverse(f"admin:orderflow_{model}_delete", args=[obj.pk]), {"post": "yes"}
    )

    assert (add.status_code, delete.status_code) == (403, 403)
    assert rows_snapshot() == before


@pytest.mark.parametrize(
    ("model", "codename"),
    [
        (DeadLetter, "change_delivery"),  # a proxy: the permission of the table it shows
        (ParkedEvent, "change_parkedevent"),
        (ProjectorCheckpoint, "change_projectorcheckpoint"),
    ],
)
def test_the_admins_with_a_replay_action_need_the_tables_change_permission(
    django_user_model, rf, model, codename
):
    from django.contrib import admin
    from django.contrib.auth.models import Permission

    model_admin = admin.site._registry[model]
    without = django_user_model.objects.create_user("una", password="x", is_staff=True)
    with_it = django_user_model.objects.create_user("vera", password="x", is_staff=True)
    with_it.user_permissions.add(Permission.objects.get(codename=codename))
    request = rf.get("/")

    request.user = without
    assert model_admin.has_change_permission(request) is False
    request.user = django_user_model.objects.get(pk=with_it.pk)  # permissions cached per user
    assert model_admin.has_change_permission(request) is True
    assert model_admin.has_add_permission(request) is False
    assert model_admin.has_delete_permission(request) is False
