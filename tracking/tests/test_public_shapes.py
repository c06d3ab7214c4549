"""The public shapes and the public socket's filter name the same fields, once."""

import pytest

from tracking.models import TrackedOrder
from tracking.payloads import PUBLIC_ENTRY_FIELDS, PUBLIC_ORDER_FIELDS, public_only
from tracking.services.pages import public_snapshot

pytestmark = pytest.mark.django_db


def test_the_customers_shapes_carry_exactly_the_public_fields(place, settle):
    order = place()
    settle()

    snapshot = public_snapshot(tracked=TrackedOrder.objects.get(order_id=order.id))

    assert set(snapshot["order"]) == set(PUBLIC_ORDER_FIELDS)
    assert snapshot["entries"]
    assert all(set(entry) == set(PUBLIC_ENTRY_FIELDS) for entry in snapshot["entries"])


def test_a_staff_shaped_push_loses_what_is_not_public():
    order = {"number": "OF-1", "customer_email": "ana@example.com", "internal_note": "vip"}
    entries = [{"status": "placed", "actor": "alice", "note": "call her"}]

    public_order, public_entries = public_only(order=order, entries=entries)

    assert set(public_order) == set(PUBLIC_ORDER_FIELDS)
    assert public_order["number"] == "OF-1"
    assert "customer_email" not in public_order
    assert "internal_note" not in public_order
    assert public_entries == [
        {"status": "placed", "label": "", "sequence": "", "occurred_at": "", "location": "",
         "note": "call her"}
    ]  # fmt: skip
