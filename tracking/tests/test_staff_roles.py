"""Staff roles on every staff page and action: every role against every action, allowed or 403.

A forbidden action answers the 403 page naming what is missing and changes nothing: no
order moves, no event is published, no dead letter is replayed, no order is placed.
"""

import re
import uuid
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from orderflow.models import Delivery, DeliveryStatus, OutboxEvent
from orders import services as orders_services
from orders.exceptions import RefundNotAllowed
from orders.models import Order, OrderTransition
from payments.models import Invoice

from .conftest import CARRIER, staff_member
from .test_staff_actions import _new_order

ROLES = ["no role", "viewer", "operator", "supervisor", "superuser"]
VIEWERS = {"viewer", "operator", "supervisor", "superuser"}
OPERATORS = {"operator", "supervisor", "superuser"}
SUPERVISORS = {"supervisor", "superuser"}


@dataclass
class World:
    placed: Order
    confirmed: Order
    shipped: Order
    invoice: Invoice
    dead: Delivery


@pytest.fixture
def world(place, settle, shop) -> World:
    confirmed = place()
    shipped = place()
    settle()
    orders_services.order_ship(
        order_id=shipped.id,
        shop=None,
        actor=orders_services.SYSTEM,
        carrier=CARRIER,
        tracking_number="DP-7777",
    )
    settle()
    dead = Delivery.objects.filter(event__aggregate_id=str(confirmed.id)).first()
    Delivery.objects.filter(pk=dead.pk).update(
        status=DeliveryStatus.DEAD, dead_at=timezone.now(), attempts=10, last_error="boom"
    )
    return World(
        placed=place(),  # after the settling: it stays placed, not paid
        confirmed=confirmed,
        shipped=shipped,
        invoice=Invoice.objects.get(order_id=confirmed.id),
        dead=dead,
    )


def _user(role: str):
    if role == "superuser":
        return get_user_model().objects.create_superuser(username="root", password="x-long-1")
    return staff_member(f"staff-{role.replace(' ', '-')}", *([] if role == "no role" else [role]))


def _shown_buttons(response) -> list[str]:
    """The order page's action buttons that are not hidden, in page order."""
    buttons = re.findall(
        r'data-action="([a-z_]+)" href="[^"]*"( hidden)?>', response.content.decode()
    )
    return [action for action, hidden in buttons if not hidden]


def _state() -> tuple:
    """Everything a staff action could change."""
    return (
        sorted(Order.objects.values_list("id", "status", "version")),
        OutboxEvent.objects.count(),
        OrderTransition.objects.count(),
        sorted(Delivery.objects.values_list("id", "status", "replayed_by")),
    )


#: (name, who may, method, path, data) — paths name the world's orders by attribute
CASES = [
    ("board", VIEWERS, "get", "/staff/", None),
    ("order page", VIEWERS, "get", "/staff/orders/{confirmed}", None),
    ("invoice print", VIEWERS, "get", "/staff/payments/invoices/{invoice}", None),
    ("failed event handling", VIEWERS, "get", "/staff/failed-events", None),
    ("board export", VIEWERS, "get", "/staff/orders.csv", None),
    ("stuck work export", VIEWERS, "get", "/staff/failed-events.csv", None),
    ("new order form", OPERATORS, "get", "/staff/orders/new", None),
    ("bulk ship form", OPERATORS, "get", "/staff/orders/bulk-ship", None),
    ("choose orders to ship", OPERATORS, "get", "/staff/orders/select-ship", None),
    ("new order", OPERATORS, "post", "/staff/orders/new", "new-order"),
    ("ship", OPERATORS, "post", "/staff/orders/{confirmed}/ship", "ship"),
    ("ship form", OPERATORS, "get", "/staff/orders/{confirmed}/ship", None),
    ("out for delivery", OPERATORS, "post", "/staff/orders/{shipped}/out-for-delivery", {}),
    ("deliver", OPERATORS, "post", "/staff/orders/{shipped}/deliver", {}),
    ("cancel unpaid", OPERATORS, "post", "/staff/orders/{placed}/cancel", {"reason": "asked"}),
    ("cancel paid", SUPERVISORS, "post", "/staff/orders/{confirmed}/cancel", {"reason": "x"}),
    ("cancel paid form", SUPERVISORS, "get", "/staff/orders/{confirmed}/cancel", None),
    ("replay", SUPERVISORS, "post", "/staff/failed-events", "replay"),
]


def _request(client, world: World, shop, method: str, path: str, data):
    path = path.format(
        placed=world.placed.id,
        confirmed=world.confirmed.id,
        shipped=world.shipped.id,
        invoice=world.invoice.pk,
    )
    if data == "new-order":
        data = _new_order(shop)
    elif data == "ship":
        data = {"carrier": CARRIER, "tracking_number": "DP-4242"}
    elif data == "replay":
        data = {"replay": "selected", "delivery": [world.dead.pk]}
    return getattr(client, method)(path, data) if data is not None else client.get(path)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("name", "allowed", "method", "path", "data"), CASES, ids=[c[0] for c in CASES]
)
def test_each_role_may_do_exactly_what_its_permissions_allow(
    client, world, shop, role, name, allowed, method, path, data
):
    client.force_login(_user(role))
    before = _state()

    response = _request(client, world, shop, method, path, data)

    if role in allowed:
        assert response.status_code == (302 if method == "post" else 200), response.content[:300]
        assert (_state() != before) == (method == "post")
    else:
        assert response.status_code == 403
        assert b"Your role may not do this" in response.content
        assert b"Nothing was changed." in response.content
        assert _state() == before


def test_an_allowed_action_records_the_real_user(client, world):
    client.force_login(staff_member("olga", "operator"))

    client.post(f"/staff/orders/{world.placed.id}/cancel", {"reason": "asked"})

    transition = OrderTransition.objects.filter(order_id=world.placed.id).last()
    assert (transition.to_status, transition.actor) == ("cancelled", "staff:olga")
    event = OutboxEvent.objects.get(aggregate_id=str(world.placed.id), type="order.cancelled")
    assert event.data["cancelled_by"] == "staff:olga"


def test_a_replay_records_who_asked_for_it(client, world):
    client.force_login(staff_member("sara", "supervisor"))

    client.post("/staff/failed-events", {"replay": "all"})

    replayed = Delivery.objects.get(pk=world.dead.pk)
    assert (replayed.status, replayed.replayed_by) == (DeliveryStatus.PENDING, "staff:sara")


def test_a_cancel_without_the_refund_permission_is_refused_on_the_locked_order(world):
    # the operator's page showed the order unpaid; it was paid before the cancel ran
    before = _state()

    with pytest.raises(RefundNotAllowed):
        orders_services.order_cancel(
            order_id=world.confirmed.id,
            shop=None,
            actor=orders_services.Actor(kind="staff", name="olga"),
            refund_allowed=False,
        )

    assert _state() == before


def test_the_order_page_shows_only_the_actions_the_role_may_take(client, world):
    client.force_login(staff_member("olga", "operator"))

    response = client.get(f"/staff/orders/{world.confirmed.id}")

    # confirmed = paid: an operator may ship it, not cancel (refund) it; the address can
    # change until it ships
    assert response.context["allowed_actions"] == ("ship", "change_address")
    actions = response.context["actions_by_status"]
    assert (actions["placed"], actions["confirmed"], actions["shipped"]) == (
        ("cancel", "change_address"),
        ("ship", "change_address"),
        ("out_for_delivery", "deliver"),
    )
    assert _shown_buttons(response) == ["ship", "change_address"]


def test_a_viewer_sees_no_action_no_new_order_and_no_replay(client, world):
    client.force_login(staff_member("vera", "viewer"))

    order_page = client.get(f"/staff/orders/{world.confirmed.id}")
    failed = client.get("/staff/failed-events").content.decode()

    assert order_page.context["allowed_actions"] == ()
    assert _shown_buttons(order_page) == []
    assert set(order_page.context["actions_by_status"].values()) == {()}
    assert 'href="/staff/orders/new"' not in order_page.content.decode()
    assert 'name="delivery"' not in failed
    assert 'name="replay"' not in failed
    assert "Replaying needs the supervisor role." in failed


def test_a_supervisor_sees_every_action_of_the_status(client, world):
    client.force_login(staff_member("sara", "supervisor"))

    response = client.get(f"/staff/orders/{world.confirmed.id}")

    assert response.context["allowed_actions"] == ("cancel", "ship", "change_address")
    # and, the payment being captured, the refund form's link (#15)
    assert _shown_buttons(response) == ["ship", "cancel", "change_address", "refund"]
    assert 'href="/staff/orders/new"' in response.content.decode()


@pytest.mark.parametrize("action", ["ship", "out-for-delivery", "deliver", "cancel"])
def test_a_staff_member_without_a_role_learns_nothing_of_an_order_id(client, db, action):
    client.force_login(staff_member("nora"))

    response = client.get(f"/staff/orders/{uuid.uuid4()}/{action}")

    assert response.status_code == 403
