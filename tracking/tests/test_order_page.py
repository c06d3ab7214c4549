"""The staff order page for a day's work: live blocks, notes, the customer's other orders,
the address form and what each role is offered."""

import re

import pytest
from django.urls import reverse
from jsonschema import Draft202012Validator

from notifications.services import email_notifications_send_due
from orderflow.models import OutboxEvent
from orders import services as orders_services
from orders.models import Order
from testkit.factories import ProductFactory, ShopFactory, order_for
from tracking import services
from tracking.exceptions import InvalidNote, OrderNotFound
from tracking.models import OrderNote

from .conftest import CARRIER, staff_member

STAFF = orders_services.Actor(kind="staff", name="ana")
NEW_ADDRESS = {
    "line1": "Rua Nova 5",
    "line2": "",
    "postal_code": "1000-001",
    "city": "Lisboa",
    "region": "",
    "country": "PT",
}


def _blocks(client, order_id) -> str:
    response = client.get(reverse("tracking:order-blocks", args=[order_id]))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    return response.content.decode()


# --- live blocks ------------------------------------------------------------------------------
def test_the_blocks_say_what_the_order_is_now(staff_client, place, settle):
    order = place()
    settle()
    before = _blocks(staff_client, order.id)
    assert 'data-field="carrier">—<' in before

    orders_services.order_ship(
        order_id=order.id, shop=None, actor=STAFF, carrier=CARRIER, tracking_number="DPUX00001"
    )
    settle()
    after = _blocks(staff_client, order.id)

    assert f'data-field="carrier">{CARRIER}<' in after
    assert 'data-field="tracking_number">DPUX00001<' in after
    assert 'data-field="status">Shipped<' in after
    for block in ("customer", "summary", "payment", "notes", "emails", "other_orders"):
        assert f'data-block="{block}"' in after


def test_the_summary_lists_each_parcel_of_a_split_shipment(staff_client, place, settle):
    order = place(lines={"COFFEE-1KG": 2, "MUG": 1})
    settle()
    orders_services.shipment_create(
        order_id=order.id,
        shop=None,
        actor=STAFF,
        carrier=CARRIER,
        tracking_number="DPUX00001",
        service="express",
        lines=[orders_services.ShipmentLineInput(sku="MUG", quantity=1)],
    )
    one_parcel = _blocks(staff_client, order.id)
    orders_services.order_ship(
        order_id=order.id, shop=None, actor=STAFF, carrier=CARRIER, tracking_number="DPUX00002"
    )
    orders_services.shipment_report(
        carrier=CARRIER, event_id="e-1", tracking_number="DPUX00001", status="delivered"
    )
    settle()

    two_parcels = _blocks(staff_client, order.id)

    assert 'data-field="status">Partially shipped<' in one_parcel
    assert "<dt>Parcels</dt>" not in one_parcel  # one parcel: the carrier's fields say it
    assert 'data-field="tracking_number">DPUX00002<' in two_parcels
    parcel = r"<li><span class=\"status status-(\w+)\">[^<]*</span> ([^<]*)<"
    listed = re.findall(parcel, two_parcels)
    assert listed == [("delivered", f"{CARRIER} (express) "), ("in_transit", f"{CARRIER} ")]
    assert "1 \N{MULTIPLICATION SIGN} MUG" in two_parcels
    assert "2 \N{MULTIPLICATION SIGN} COFFEE-1KG" in two_parcels


def test_the_actions_block_follows_the_status_and_the_payment(staff_client, place, settle):
    order = place(payment_token="tok_declined")
    blocks = _blocks(staff_client, order.id)
    assert re.search(r'data-action="cancel" href="[^"]*">Cancel…</a>', blocks)
    assert re.search(r'data-action="ship" href="[^"]*" hidden>', blocks)

    settle()  # declined: cancelled
    blocks = _blocks(staff_client, order.id)

    assert re.search(r'data-action="cancel" href="[^"]*" hidden>', blocks)
    assert "No action is possible in this state" in blocks
    paid = place()
    settle()
    assert "Cancel and refund…" in _blocks(staff_client, paid.id)


def test_the_blocks_follow_a_cancel_with_refund_and_credit_note(staff_client, place, settle):
    order = place()
    settle()

    orders_services.order_cancel(order_id=order.id, shop=None, actor=STAFF, reason="Asked to")
    settle()
    blocks = _blocks(staff_client, order.id)

    assert 'data-field="payment_status">Refunded<' in blocks
    assert "Credit note" in blocks
    assert 'data-field="status_reason">' in blocks


def test_the_blocks_need_the_staff_role(client, place, settle):
    order = place()
    settle()
    client.force_login(staff_member("nobody"))

    assert client.get(reverse("tracking:order-blocks", args=[order.id])).status_code == 403


def test_blocks_of_an_unknown_order_are_404(staff_client, db):
    url = reverse("tracking:order-blocks", args=["00000000-0000-0000-0000-000000000000"])
    assert staff_client.get(url).status_code == 404


# --- notes ------------------------------------------------------------------------------------
def test_a_note_is_kept_with_its_author_and_shown_on_the_page(staff_client, place, settle):
    order = place()
    settle()
    events_before = OutboxEvent.objects.count()

    response = staff_client.post(
        reverse("tracking:order-note", args=[order.id]),
        {"body": "  Customer called: leave at the neighbour's.  "},
        follow=True,
    )

    assert response.status_code == 200
    assert "Note added." in response.content.decode()
    note = OrderNote.objects.get()
    assert (note.order_id, note.author, note.body) == (
        order.id,
        "staff:ana",
        "Customer called: leave at the neighbour's.",
    )
    assert "leave at the neighbour" in _blocks(staff_client, order.id)
    # a note is no event: nothing for webhooks, e-mails or the shop's API
    assert OutboxEvent.objects.count() == events_before


def test_a_note_is_never_shown_to_the_customer_or_the_shop(client, place, settle, shop):
    order = place()
    settle()
    services.order_note_add(order_id=order.id, author="staff:ana", body="SECRET-NOTE-42")

    public = client.get(reverse("tracking:public", args=[order.tracking_token]))
    api = services.tracking_for_shop_order(shop_id=shop.id, order_id=order.id)

    assert public.status_code == 200
    assert "SECRET-NOTE-42" not in public.content.decode()
    assert "SECRET-NOTE-42" not in str(api)


def test_a_note_pushes_to_the_staff_group_only(
    place, settle, monkeypatch, django_capture_on_commit_callbacks
):
    order = place()
    settle()
    sent = []
    monkeypatch.setattr("tracking.push.send", lambda messages: sent.extend(messages))

    with django_capture_on_commit_callbacks(execute=True):
        services.order_note_add(order_id=order.id, author="staff:ana", body="Hello")

    assert sent == [(f"order.{order.id}", {"type": "tracking.notes", "order_id": str(order.id)})]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("   ", "Write something in the note first."),
        ("x" * 2001, "at most 2000 characters"),
        ("bad \x00 byte", "cannot be stored"),
    ],
)
def test_a_bad_note_is_refused_and_nothing_is_written(place, settle, body, message):
    order = place()
    settle()

    with pytest.raises(InvalidNote, match=message):
        services.order_note_add(order_id=order.id, author="staff:ana", body=body)

    assert not OrderNote.objects.exists()


def test_a_bad_note_from_the_page_is_a_message(staff_client, place, settle):
    order = place()
    settle()

    response = staff_client.post(
        reverse("tracking:order-note", args=[order.id]), {"body": ""}, follow=True
    )

    assert "Note not added: Write something in the note first." in response.content.decode()
    assert not OrderNote.objects.exists()


def test_a_note_on_an_unknown_order(staff_client, db):
    with pytest.raises(OrderNotFound):
        services.order_note_add(
            order_id="00000000-0000-0000-0000-000000000000", author="staff:ana", body="Hi"
        )
    url = reverse("tracking:order-note", args=["00000000-0000-0000-0000-000000000000"])
    assert staff_client.post(url, {"body": "Hi"}).status_code == 404


# --- the customer's other orders --------------------------------------------------------------
def test_the_customers_other_orders_of_the_same_shop_are_linked(staff_client, place, settle):
    first = place(email="ana@example.com")
    second = place(email="ANA@example.com")
    stranger = place(email="bo@example.com")
    settle()

    response = staff_client.get(reverse("tracking:order", args=[first.id]))

    others = response.context["other_orders"]
    assert [row["number"] for row in others] == [second.number]
    page = response.content.decode()
    assert reverse("tracking:order", args=[second.id]) in page
    assert stranger.number not in page


def test_the_same_email_in_another_shop_is_not_the_same_customer(staff_client, place, settle):
    first = place(email="ana@example.com")
    other_shop = ShopFactory(name="Another shop")
    ProductFactory(shop=other_shop, sku="COFFEE-1KG", price="20.00", on_hand=5)
    elsewhere = order_for(other_shop, lines={"COFFEE-1KG": 1}, email="ana@example.com")
    settle()

    response = staff_client.get(reverse("tracking:order", args=[first.id]))

    assert response.context["other_orders"] == ()
    assert elsewhere.number not in response.content.decode()


# --- the address ------------------------------------------------------------------------------
def test_staff_change_the_address_until_the_order_ships(staff_client, place, settle):
    order = place()
    settle()
    url = reverse("orders:change-address", args=[order.id])
    form = staff_client.get(url)
    assert form.status_code == 200
    assert form.context["form"].initial["line1"] == "Rua A 1"

    response = staff_client.post(url, NEW_ADDRESS, follow=True)

    assert "Shipping address changed." in response.content.decode()
    order.refresh_from_db()
    assert order.shipping_address == {
        "line1": "Rua Nova 5",
        "postal_code": "1000-001",
        "city": "Lisboa",
        "country": "PT",
    }
    event = OutboxEvent.objects.get(type="order.shipping_address_changed")
    assert event.data["actor"] == "staff:ana"
    # the event is in the published contract, and its data fits the schema shops read
    (version,) = staff_client.get("/api/v1/event-types/order.shipping_address_changed").json()[
        "versions"
    ]
    assert list(Draft202012Validator(version["schema"]).iter_errors(event.data)) == []
    settle()
    assert "Rua Nova 5" in _blocks(staff_client, order.id)


def test_an_invalid_address_is_a_field_error_and_changes_nothing(staff_client, place, settle):
    order = place()
    settle()

    response = staff_client.post(
        reverse("orders:change-address", args=[order.id]),
        {**NEW_ADDRESS, "country": "Portugal", "line1": ""},
    )

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"line1", "country"}
    order.refresh_from_db()
    assert order.shipping_address["line1"] == "Rua A 1"
    assert not OutboxEvent.objects.filter(type="order.shipping_address_changed").exists()


def test_a_shipped_orders_address_is_refused_with_a_message(staff_client, place, settle):
    order = place()
    settle()
    orders_services.order_ship(
        order_id=order.id, shop=None, actor=STAFF, carrier=CARRIER, tracking_number="DP-0009"
    )
    url = reverse("orders:change-address", args=[order.id])

    shown = staff_client.get(url, follow=True)
    posted = staff_client.post(url, NEW_ADDRESS, follow=True)

    assert "its shipping address can no longer change" in shown.content.decode()
    assert "its shipping address can no longer change" in posted.content.decode()
    assert Order.objects.get(pk=order.id).shipping_address["line1"] == "Rua A 1"
    assert not OutboxEvent.objects.filter(type="order.shipping_address_changed").exists()


def test_a_shipped_orders_address_is_refused_in_portuguese_naming_its_status(
    staff_client, place, settle
):
    order = place()
    settle()
    orders_services.order_ship(
        order_id=order.id, shop=None, actor=STAFF, carrier=CARRIER, tracking_number="DP-0010"
    )
    staff_client.cookies["django_language"] = "pt-br"

    shown = staff_client.get(reverse("orders:change-address", args=[order.id]), follow=True)

    assert (
        "Não é possível: o pedido está enviado; o endereço de entrega não pode mais mudar."
        in shown.content.decode()
    )


# --- roles ------------------------------------------------------------------------------------
def test_a_viewer_is_offered_no_note_resend_or_address_and_is_refused(client, place, settle):
    order = place()
    settle()
    client.force_login(staff_member("vera", "viewer"))

    page = client.get(reverse("tracking:order", args=[order.id])).content.decode()

    assert 'id="note-form"' not in page
    assert "Send again" not in page
    assert "Change address…" not in page
    note = client.post(reverse("tracking:order-note", args=[order.id]), {"body": "Hi"})
    address = client.post(reverse("orders:change-address", args=[order.id]), NEW_ADDRESS)
    assert (note.status_code, address.status_code) == (403, 403)
    assert not OrderNote.objects.exists()
    assert Order.objects.get(pk=order.id).shipping_address["line1"] == "Rua A 1"


def test_an_operator_is_offered_notes_resend_and_address(client, place, settle):
    order = place()
    settle()
    email_notifications_send_due()
    client.force_login(staff_member("otto", "operator"))

    page = client.get(reverse("tracking:order", args=[order.id])).content.decode()

    assert 'id="note-form"' in page
    assert "Send again" in page
    assert "Change address…" in page


def test_a_note_is_shown_as_text_never_as_markup(staff_client, place, settle):
    order = place()
    settle()
    services.order_note_add(
        order_id=order.id, author="staff:ana", body='<script>alert("x")</script>\nsecond line'
    )

    blocks = _blocks(staff_client, order.id)

    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;<br>second line" in blocks
    assert "<script>alert" not in blocks
