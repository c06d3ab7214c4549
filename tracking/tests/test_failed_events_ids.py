"""Replaying failed event handling by id: ids no row can have are refused with a message."""

import pytest

from orderflow.models import DeadLetter

from .test_failed_events import _dead


@pytest.mark.parametrize("raw_id", ["²", "99999999999999999999999", "-1", "1e3", "٣"], ids=repr)
def test_a_replay_naming_no_possible_row_is_refused_with_a_message(
    staff_client, place, settle, raw_id
):
    # given one dead letter
    dead = _dead(place, settle, "orders.reserve_stock_on_order_placed")

    # when a replay names an id that no row can have (a superscript digit, past a bigint)
    response = staff_client.post(
        "/staff/failed-events", {"replay": "selected", "delivery": [raw_id]}, follow=True
    )

    # then the page says so, and the dead letter stays dead
    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [
        "Choose at least one failed event to replay."
    ]
    assert list(DeadLetter.objects.values_list("pk", flat=True)) == [dead.pk]
