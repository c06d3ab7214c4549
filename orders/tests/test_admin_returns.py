"""Returns in the admin: found by order number, e-mail or shop, moved on by actions, no N+1."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from orderflow.models import OutboxEvent
from orders import services as order_services
from orders.models import Return
from orders.services import returns
from testkit.factories import STAFF, ProductFactory, ShopFactory
from testkit.payments import confirmed_order

from .assertions import stock_of

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/orders/return/"


def _shop(name: str):
    shop = ShopFactory(name=name)
    ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90", on_hand=50)
    ProductFactory(shop=shop, sku="MUG", price="9.90", on_hand=20)
    return shop


def _returned(shop, email: str = "ana@example.com") -> Return:
    order, _ = confirmed_order(shop)
    order.__class__.objects.filter(pk=order.pk).update(customer_email=email)
    order_services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier="DHL", tracking_number=f"JD{order.pk}"
    )
    return returns.return_request(
        order_id=order.pk,
        shop_id=None,
        lines=[returns.ReturnLineInput("MUG", 1), returns.ReturnLineInput("COFFEE-1KG", 1)],
        reason="Arrived chipped.",
        actor=STAFF,
    )


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client


def _rows(response) -> list:
    return list(response.context["cl"].result_list)


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_the_list_and_a_returns_page_show_its_lines_and_steps(staff):
    order_return = _returned(_shop("Café Azul"))

    listing = staff.get(CHANGELIST).content.decode()
    page = staff.get(f"{CHANGELIST}{order_return.pk}/change/").content.decode()

    assert f"{order_return.order.number}-R1" in listing
    assert "1 x MUG, 1 x COFFEE-1KG" in listing
    assert "Café Azul" in listing
    assert "Arrived chipped." in page
    assert "staff:ana" in page
    assert "<textarea" not in page


def test_found_by_order_number_e_mail_or_shop_and_only_theirs(staff):
    wanted = _returned(_shop("Café Azul"), email="wanted@example.com")
    other = _returned(_shop("Loja Verde"), email="other@example.com")

    for term in (wanted.order.number, "wanted@example.com", "café azul"):
        assert [row.pk for row in _rows(staff.get(CHANGELIST, {"q": term}))] == [wanted.pk], term
    assert [row.pk for row in _rows(staff.get(CHANGELIST, {"order": str(other.order_id)}))] == [
        other.pk
    ]


def test_the_orders_admin_page_links_its_returns(staff):
    order_return = _returned(_shop("Café Azul"))

    page = staff.get(
        reverse("admin:orders_order_change", args=[order_return.order_id])
    ).content.decode()

    assert f'<a href="{CHANGELIST}?order={order_return.order_id}">Returns</a>' in page


def test_the_list_costs_the_same_queries_for_one_row_or_many(staff):
    shop = _shop("Café Azul")
    _returned(shop)
    with CaptureQueriesContext(connection) as one:
        assert staff.get(CHANGELIST).status_code == 200
    for _ in range(4):
        _returned(shop)
    with CaptureQueriesContext(connection) as five:
        assert len(_rows(staff.get(CHANGELIST))) == 5

    assert len(five) == len(one)


def test_actions_approve_receive_with_restock_and_refuse_what_their_state_does_not_allow(staff):
    shop = _shop("Café Azul")
    first, second = _returned(shop), _returned(shop)
    returns.return_approve(return_id=second.pk, actor=STAFF)
    on_hand = stock_of(shop)["MUG"][0]

    approved = staff.post(
        CHANGELIST,
        {"action": "approve_returns", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )
    received = staff.post(
        CHANGELIST,
        {"action": "receive_and_restock", "_selected_action": [first.pk]},
        follow=True,
    )

    assert _messages(approved)[0] == "Approved: 1 return(s)."
    assert _messages(approved)[1].endswith("is approved; it cannot become approved.")
    assert _messages(received) == ["Received: 1 return(s)."]
    first.refresh_from_db()
    assert (first.status, first.restock, first.received_by) == ("received", True, "staff:admin")
    assert stock_of(shop)["MUG"][0] == on_hand + 1


def test_a_reject_action_tells_the_customer_and_a_viewer_has_no_actions(staff):
    order_return = _returned(_shop("Café Azul"))

    staff.post(
        CHANGELIST,
        {
            "action": "reject_returns",
            "_selected_action": [order_return.pk],
            "reason": "The mug was used; we cannot take it back.",
        },
    )
    viewer = get_user_model().objects.create_user(
        username="vera", password="a-long-password-42", is_staff=True
    )
    viewer.groups.set(Group.objects.filter(name="viewer"))
    viewer.user_permissions.add(*_view_return_permission())
    as_viewer = Client()
    as_viewer.force_login(viewer)
    events = OutboxEvent.objects.count()

    refused = as_viewer.post(
        CHANGELIST, {"action": "approve_returns", "_selected_action": [order_return.pk]}
    )

    order_return.refresh_from_db()
    assert (order_return.status, order_return.rejection_reason) == (
        "rejected",
        "The mug was used; we cannot take it back.",
    )
    assert refused.status_code == 200  # the list again: the action is not offered
    assert "approve_returns" not in refused.content.decode()
    assert OutboxEvent.objects.count() == events


def _reject(staff, order_return, **fields):
    return staff.post(
        CHANGELIST,
        {"action": "reject_returns", "_selected_action": [order_return.pk], **fields},
        follow=True,
    )


def test_the_action_bar_has_a_reason_box(staff):
    _returned(_shop("Café Azul"))

    page = staff.get(CHANGELIST).content.decode()

    assert "Reason (the customer reads it)" in page
    assert '<input type="text" name="reason"' in page
    assert "Reject selected returns (type the reason first)" in page


def test_support_rejects_with_the_reason_typed_stored_audited_and_published(staff):
    order_return = _returned(_shop("Café Azul"))

    response = _reject(staff, order_return, reason="  Opened and used; we cannot resell it.  ")

    assert _messages(response) == ["Rejected: 1 return(s)."]
    order_return.refresh_from_db()
    assert (order_return.status, order_return.rejection_reason, order_return.decided_by) == (
        "rejected",
        "Opened and used; we cannot resell it.",
        "staff:admin",
    )
    event = OutboxEvent.objects.get(type="return.rejected")
    assert (event.data["reason"], event.data["actor"]) == (
        "Opened and used; we cannot resell it.",
        "staff:admin",
    )
    [entry] = LogEntry.objects.filter(object_id=str(order_return.pk))
    assert (entry.user.username, entry.get_change_message()) == (
        "admin",
        "Rejected: Opened and used; we cannot resell it.",
    )
    page = staff.get(f"{CHANGELIST}{order_return.pk}/change/").content.decode()
    assert "Opened and used; we cannot resell it." in page


@pytest.mark.parametrize(
    ("reason", "said"),
    [
        (
            "",
            "Not rejected: type the reason in the Reason box beside the action; the customer "
            "reads it.",
        ),
        (
            "   ",
            "Not rejected: type the reason in the Reason box beside the action; the "
            "customer reads it.",
        ),
        (
            "x" * 501,
            "Not rejected: the reason has 501 characters; at most 500 are kept, so shorten it.",
        ),
    ],
    ids=["empty", "blank", "too-long"],
)
def test_a_rejection_without_a_reason_or_too_long_is_refused_and_changes_nothing(
    staff, reason, said
):
    order_return = _returned(_shop("Café Azul"))
    events = OutboxEvent.objects.count()

    response = _reject(staff, order_return, reason=reason)

    assert _messages(response) == [said]
    order_return.refresh_from_db()
    assert (order_return.status, order_return.rejection_reason) == ("requested", "")
    assert OutboxEvent.objects.count() == events
    assert not LogEntry.objects.exists()


def test_a_reason_of_the_longest_length_is_kept_whole(staff):
    order_return = _returned(_shop("Café Azul"))

    _reject(staff, order_return, reason="y" * 500)

    order_return.refresh_from_db()
    assert (order_return.status, order_return.rejection_reason) == ("rejected", "y" * 500)


def _view_return_permission():
    return Permission.objects.filter(codename="view_return", content_type__app_label="orders")
