"""Support reads tracking history in the admin; nobody edits it there."""

from django.contrib.auth import get_user_model

from tracking.models import TrackedOrder


def test_support_finds_an_order_and_reads_its_history(client, place, settle):
    order = place()
    settle()
    admin = get_user_model().objects.create_superuser(username="root", password="x-long-pass-1")
    client.force_login(admin)

    found = client.get("/admin/tracking/trackedorder/", {"q": order.number})
    page = client.get(f"/admin/tracking/trackedorder/{order.id}/change/")

    assert found.status_code == 200
    assert list(found.context["cl"].result_list) == [TrackedOrder.objects.get(pk=order.id)]
    assert page.status_code == 200
    assert b"Payment captured" in page.content
    assert client.get("/admin/tracking/trackingentry/add/").status_code == 403
