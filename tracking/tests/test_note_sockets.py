"""A note reaches the order's open staff pages as a hint (the push goes to the order's staff
group only: ``test_order_page.test_a_note_pushes_to_the_staff_group_only``)."""

import pytest
from asgiref.sync import sync_to_async

from tracking import services

from .test_consumers import in_memory_layer, run, socket, staff_cookie  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_note_tells_the_open_staff_socket(place, staff_cookie, settle):  # noqa: F811
    order = place()
    settle()

    async def scenario():
        staff = socket(f"/ws/orders/{order.id}/", cookie=staff_cookie)
        assert (await staff.connect())[0]
        assert (await staff.receive_json_from(timeout=5))["type"] == "snapshot"

        await sync_to_async(services.order_note_add)(
            order_id=order.id, author="staff:ana", body="Call before delivering"
        )

        # a hint only: the page fetches its blocks, so the text never travels in a push
        assert await staff.receive_json_from(timeout=5) == {"type": "notes"}
        await staff.disconnect()

    run(scenario)
