import pytest

from orderflow.models import OutboxEvent
from orders import state_machine
from orders.choices import OrderStatus
from orders.exceptions import InvalidTransition
from orders.models import Order
from testkit.factories import advance, order_for

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("status", "actions"),
    [
        ("placed", ["cancel"]),
        ("reserved", ["cancel"]),
        ("paid", ["cancel"]),
        ("confirmed", ["cancel", "ship"]),
        ("shipped", ["out_for_delivery", "deliver"]),
        ("out_for_delivery", ["deliver"]),
        ("delivered", []),
        ("rejected", []),
        ("cancelled", []),
    ],
)
def test_allowed_actions_per_status(status, actions):
    assert state_machine.allowed_actions(status) == actions


def test_every_status_is_covered():
    reachable = {target for _, target in state_machine.TRANSITIONS}
    sources = {source for source, _ in state_machine.TRANSITIONS}

    assert reachable | {OrderStatus.PLACED} == set(OrderStatus.values)
    assert set(OrderStatus.values) - sources == set(state_machine.FINAL_STATUSES)


def test_moves_the_order_and_bumps_its_version(shop, products):
    order = order_for(shop)

    state_machine.transition(order, to="reserved", reason="stock held")

    saved = Order.objects.get(pk=order.pk)
    assert (saved.status, saved.version, saved.status_reason) == ("reserved", 2, "stock held")
    assert (order.status, order.version, order.status_reason) == ("reserved", 2, "stock held")


@pytest.mark.parametrize(
    ("status", "target"),
    [
        ("placed", "shipped"),
        ("placed", "paid"),
        ("confirmed", "placed"),
        ("shipped", "cancelled"),
        ("delivered", "shipped"),
        ("cancelled", "placed"),
    ],
)
def test_refuses_an_illegal_transition_and_changes_nothing(shop, products, status, target):
    order = advance(order_for(shop), to=status)
    version = order.version
    events = OutboxEvent.objects.count()

    with pytest.raises(InvalidTransition) as refused:
        state_machine.transition(order, to=target)

    assert refused.value.status == 409
    assert refused.value.extra == {
        "order_status": status,
        "allowed_actions": state_machine.allowed_actions(status),
    }
    assert Order.objects.values_list("status", "version").get(pk=order.pk) == (status, version)
    assert OutboxEvent.objects.count() == events


def test_a_stale_writer_loses_and_changes_nothing(shop, products):
    order = order_for(shop)
    stale = Order.objects.get(pk=order.pk)
    state_machine.transition(order, to="cancelled", reason="shop asked")

    with pytest.raises(InvalidTransition) as refused:
        state_machine.transition(stale, to="reserved")

    assert refused.value.detail == (
        "The order changed meanwhile and is now cancelled; read it again before asking for "
        "stock reserved."
    )
    assert refused.value.extra == {"order_status": "cancelled", "allowed_actions": []}
    saved = Order.objects.get(pk=order.pk)
    assert (saved.status, saved.version, saved.status_reason) == ("cancelled", 2, "shop asked")
    assert (stale.status, stale.version) == ("cancelled", 2)


def test_a_stale_version_loses_even_when_the_status_matches(shop, products):
    order = order_for(shop)
    stale = Order.objects.get(pk=order.pk)
    Order.objects.filter(pk=order.pk).update(version=2)  # another writer came and went

    with pytest.raises(InvalidTransition) as refused:
        state_machine.transition(stale, to="reserved")

    assert refused.value.detail == (
        "The order changed meanwhile and is now placed; read it again before asking for "
        "stock reserved."
    )
    assert Order.objects.values_list("status", "version").get(pk=order.pk) == ("placed", 2)
