"""The failed event handling page (the kernel's dead letters) with filters and replay."""

import pytest
from django.utils import timezone

from orderflow.models import DeadLetter, Delivery, DeliveryStatus


def _dead(place, settle, subscriber: str) -> Delivery:
    order = place()
    settle()
    delivery = Delivery.objects.filter(
        event__aggregate_id=str(order.id), subscriber=subscriber
    ).first()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.DEAD, dead_at=timezone.now(), attempts=10, last_error="boom"
    )
    return delivery


def test_lists_dead_letters_with_filters(staff_client, place, settle):
    first = _dead(place, settle, "orders.reserve_stock_on_order_placed")
    _dead(place, settle, "payments.charge_on_stock_reserved")

    everything = staff_client.get("/staff/failed-events")
    filtered = staff_client.get(
        "/staff/failed-events", {"subscriber": "orders.reserve_stock_on_order_placed"}
    )

    assert everything.status_code == 200
    assert len(everything.context["letters"]) == 2
    assert [d.pk for d in filtered.context["letters"]] == [first.pk]
    assert b"boom" in filtered.content


def test_replays_the_chosen_ones(staff_client, place, settle):
    chosen = _dead(place, settle, "orders.reserve_stock_on_order_placed")
    other = _dead(place, settle, "payments.charge_on_stock_reserved")

    response = staff_client.post(
        "/staff/failed-events", {"replay": "selected", "delivery": [chosen.pk]}, follow=True
    )

    assert [str(m) for m in response.context["messages"]] == [
        "Replayed 1 delivery; they run again in the background."
    ]
    assert Delivery.objects.get(pk=chosen.pk).status == DeliveryStatus.PENDING
    assert DeadLetter.objects.filter(pk=other.pk).exists()


def test_replays_all_that_match(staff_client, place, settle):
    _dead(place, settle, "orders.reserve_stock_on_order_placed")
    _dead(place, settle, "payments.charge_on_stock_reserved")

    staff_client.post("/staff/failed-events", {"replay": "all"})

    assert not DeadLetter.objects.exists()


def test_needs_staff(client, db):
    assert client.get("/staff/failed-events").status_code == 302


def test_junk_filters_are_dropped_never_an_error(staff_client, place, settle):
    letter = _dead(place, settle, "orders.reserve_stock_on_order_placed")

    response = staff_client.get(
        "/staff/failed-events",
        {
            "subscriber": "orders.reserve_stock_on_order_placed\x00",
            "event_type": "\x00",
            "shop": "\x00",
        },
    )

    assert response.status_code == 200
    assert [d.pk for d in response.context["letters"]] == [letter.pk]


@pytest.mark.parametrize("since", ["2026-02-31", "yesterday", "\x00"])
def test_a_date_filter_that_is_no_date_is_ignored_with_a_message(
    staff_client, place, settle, since
):
    letter = _dead(place, settle, "orders.reserve_stock_on_order_placed")

    response = staff_client.get("/staff/failed-events", {"since": since})

    assert response.status_code == 200
    assert [d.pk for d in response.context["letters"]] == [letter.pk]
    assert [str(m) for m in response.context["messages"]] == [
        "The date filter was ignored: use a date like 2026-01-31."
    ]
