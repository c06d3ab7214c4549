"""Staff roles: the groups migrate leaves, ``sync_roles``, and the admin's replay action."""

from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.test import RequestFactory

from orderflow import roles
from orderflow.models import Delivery

from .test_admin import changelist, machinery  # noqa: F401  (machinery: a fixture)

pytestmark = pytest.mark.django_db

EXPECTED = {
    "viewer": ["view_staff_pages"],
    "operator": [
        "cancel_unpaid_order",
        "change_order_address",
        "deliver_order",
        "place_order",
        "resend_customer_email",
        "ship_order",
        "view_staff_pages",
        "write_order_note",
    ],
    "supervisor": [
        "cancel_unpaid_order",
        "change_order_address",
        "deliver_order",
        "place_order",
        "refund_order",
        "replay_dead_letter",
        "resend_customer_email",
        "ship_order",
        "view_staff_pages",
        "write_order_note",
    ],
}


def _groups() -> dict[str, list[str]]:
    return {
        group.name: sorted(group.permissions.values_list("codename", flat=True))
        for group in Group.objects.filter(name__in=roles.ROLES)
    }


def test_migrate_leaves_each_role_with_exactly_its_permissions():
    assert _groups() == EXPECTED
    assert set(
        Permission.objects.filter(
            content_type__app_label="orderflow", codename__in=roles.PERMISSIONS
        ).values_list("codename", flat=True)
    ) == set(roles.PERMISSIONS)


def test_sync_roles_puts_back_what_was_changed_by_hand_and_is_idempotent():
    viewer = Group.objects.get(name="viewer")
    viewer.permissions.add(Permission.objects.get(codename="refund_order"))
    Group.objects.get(name="operator").delete()
    out = StringIO()

    call_command("sync_roles", stdout=out)
    call_command("sync_roles", stdout=StringIO())

    assert _groups() == EXPECTED
    assert Group.objects.filter(name__in=roles.ROLES).count() == 3
    assert out.getvalue().splitlines()[0] == "viewer: view_staff_pages"


def test_a_refusal_names_what_is_missing_and_the_least_role_that_has_it():
    assert roles.denied_message(roles.REFUND) == (
        "Your role may not do this: cancel a paid order, refunding its payment. "
        "Ask for the supervisor role or above."
    )
    assert roles.denied_message(roles.SHIP).endswith("Ask for the operator role or above.")


def test_the_decorated_view_never_runs_for_a_staff_user_without_the_permission(
    django_user_model,
):
    calls = []
    view = roles.staff_permission_required(roles.SHIP)(lambda request: calls.append(request))
    request = RequestFactory().get("/")
    request.user = django_user_model.objects.create_user("nora", password="x", is_staff=True)
    request.user.groups.add(Group.objects.get(name="viewer"))

    with pytest.raises(roles.PermissionDenied):
        view(request)

    assert calls == []


def test_the_admin_replay_needs_the_replay_permission(client, django_user_model, machinery):  # noqa: F811
    user = django_user_model.objects.create_user("olga", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name="operator"))
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_deadletter", "change_delivery"])
    )
    client.force_login(user)
    dead = machinery["dead"]

    response = client.post(
        changelist("deadletter"), {"action": "replay", "_selected_action": [dead.pk]}
    )

    assert response.status_code == 200  # the admin shows "No action selected"
    assert Delivery.objects.get(pk=dead.pk).status == "dead"


def test_the_admin_replay_records_the_staff_member(client, django_user_model, machinery):  # noqa: F811
    client.force_login(django_user_model.objects.create_superuser("root", "r@example.com", "x"))
    dead = machinery["dead"]

    client.post(changelist("deadletter"), {"action": "replay", "_selected_action": [dead.pk]})

    replayed = Delivery.objects.get(pk=dead.pk)
    assert (replayed.status, replayed.replayed_by) == ("pending", "staff:root")
