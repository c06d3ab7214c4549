"""The admin's cancel action follows the staff roles, as the staff pages do."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages

from orderflow.models import OutboxEvent
from orders.models import Order
from testkit.factories import order_for, order_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def support_as(client, django_user_model):
    """Log in a staff member who may use the order admin, in the given role (or none)."""

    def login(role: str | None):
        user = django_user_model.objects.create_user("sam", password="x-long-1", is_staff=True)
        user.user_permissions.add(
            *Permission.objects.filter(codename__in=["view_order", "change_order"])
        )
        if role:
            user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        return client

    return login


def _cancel(client, *orders):
    return client.post(
        "/admin/orders/order/",
        {"action": "cancel_orders", "_selected_action": [str(order.pk) for order in orders]},
        follow=True,
    )


def _state():
    return sorted(Order.objects.values_list("id", "status", "version")), OutboxEvent.objects.count()


def test_without_a_role_the_cancel_action_is_not_offered_and_nothing_changes(
    support_as, shop, products
):
    client = support_as(None)
    placed = order_for(shop)
    before = _state()

    response = _cancel(client, placed)

    assert response.status_code == 200
    assert 'value="cancel_orders"' not in client.get("/admin/orders/order/").content.decode()
    assert _state() == before


def test_an_operator_cancels_an_unpaid_order_but_not_a_paid_one(support_as, shop, products):
    client = support_as("operator")
    placed = order_for(shop)
    paid = order_in(shop, "confirmed")
    paid_before = Order.objects.values_list("status", "version").get(pk=paid.pk)

    response = _cancel(client, placed, paid)

    assert Order.objects.get(pk=placed.pk).status == "cancelled"
    assert Order.objects.values_list("status", "version").get(pk=paid.pk) == paid_before
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Cancelled 1 order(s).",
        f"{paid.number}: Order {paid.number} is paid: cancelling it refunds the payment, "
        "which your role may not do. Ask a supervisor.",
    ]
    assert list(
        OutboxEvent.objects.filter(type="order.cancelled").values_list("aggregate_id", flat=True)
    ) == [str(placed.pk)]


def test_a_supervisor_cancels_a_paid_order(support_as, shop, products):
    client = support_as("supervisor")
    paid = order_in(shop, "confirmed")

    _cancel(client, paid)

    assert Order.objects.get(pk=paid.pk).status == "cancelled"
    assert OutboxEvent.objects.get(type="order.cancelled").data["cancelled_by"] == "staff:sam"
