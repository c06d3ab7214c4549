"""Support reads an order's internal notes in the admin; nobody writes or edits them there."""

from django.contrib.auth import get_user_model

from tracking import services
from tracking.models import OrderNote


def test_support_finds_notes_by_order_number_and_reads_them_on_the_order(client, place, settle):
    order = place()
    other = place(email="bo@example.com")
    settle()
    note = services.order_note_add(order_id=order.id, author="staff:ana", body="Fragile: glass")
    services.order_note_add(order_id=other.id, author="staff:ana", body="Another order's note")
    admin = get_user_model().objects.create_superuser(username="root", password="x-long-pass-1")
    client.force_login(admin)

    found = client.get("/admin/tracking/ordernote/", {"q": order.number})
    tracked = client.get(f"/admin/tracking/trackedorder/{order.id}/change/")

    assert found.status_code == 200
    assert list(found.context["cl"].result_list) == [note]
    assert b"Fragile: glass" in tracked.content
    assert b"Another order&#x27;s note" not in tracked.content
    assert client.get("/admin/tracking/ordernote/add/").status_code == 403
    assert client.post(f"/admin/tracking/ordernote/{note.pk}/delete/").status_code == 403
    assert OrderNote.objects.count() == 2
