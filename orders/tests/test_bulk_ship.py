"""Shipping from a CSV: a preview with each row's errors that changes nothing, an apply that
ships each valid row on its own through the ship service, and the report."""

import pytest
from django.contrib.auth.models import Group, User
from django.core.files.uploadedfile import SimpleUploadedFile

from orderflow.models import OutboxEvent
from orders.choices import OrderStatus
from orders.exceptions import OrderInputError
from orders.models import Order, OrderTransition
from orders.services.bulk_ship import MAX_ROWS, bulk_ship_apply, bulk_ship_preview
from testkit.factories import STAFF, order_in

pytestmark = pytest.mark.django_db

URL = "/staff/orders/bulk-ship"


@pytest.fixture
def confirmed(shop, products):
    return [order_in(shop, OrderStatus.CONFIRMED) for _ in range(3)]


def _csv(*rows: tuple[str, str, str], header: bool = True) -> str:
    lines = ["order_number,carrier,tracking_number"] if header else []
    return "\n".join([*lines, *(",".join(row) for row in rows)]) + "\n"


def _state(*orders: Order) -> list:
    return [
        Order.objects.values_list("status", "carrier", "tracking_number", "version").get(pk=o.pk)
        for o in orders
    ]


def test_the_preview_checks_every_row_and_changes_nothing(shop, products, confirmed, other_shop):
    a, b, c = confirmed
    placed = order_in(shop, OrderStatus.PLACED)
    before = _state(a, b, c, placed)
    events = OutboxEvent.objects.count()
    text = _csv(
        (a.number.lower(), "dhl", "JD0001"),
        (b.number, "Royal Mail", "RM0002"),
        (placed.number, "DHL", "JD0003"),
        ("OF-NOTHERE", "DHL", "JD0004"),
        (c.number, "DHL", "x"),
        (c.number, "DHL", "JD0005"),
        ("", "DHL", "JD0006"),
        ("OF-A,B", "DHL", "JD0007"),
    )

    rows = bulk_ship_preview(text=text)

    assert [(row.line, row.error) for row in rows] == [
        (2, ""),
        (3, f"{shop.name} does not ship with 'Royal Mail'."),
        (4, "The order is placed: it cannot ship now."),
        (5, "No order OF-NOTHERE."),
        (6, "Tracking number: use 4 to 64 letters, digits or dashes."),
        (7, f"Order {c.number} is on more than one row."),
        (8, "Missing order_number."),
        (9, "Expected 3 columns (order_number, carrier, tracking_number), found 4."),
    ]
    assert (rows[0].number, rows[0].carrier, rows[0].order_id) == (a.number, "DHL", a.pk)
    assert _state(a, b, c, placed) == before
    assert OutboxEvent.objects.count() == events


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "The file holds no rows"),
        ("order_number,carrier,tracking_number\n", "The file holds no rows"),
        ("a,b,c\n" * (MAX_ROWS + 1), f"at most {MAX_ROWS} at a time"),
        ("x" * (300 * 1024), "The file is too big"),
    ],
)
def test_a_file_that_cannot_be_rows_is_refused_as_a_whole(shop, products, text, error):
    with pytest.raises(OrderInputError, match=error):
        bulk_ship_preview(text=text)


def test_apply_ships_each_valid_row_and_reports_the_others(shop, products, confirmed):
    a, b, c = confirmed
    # c is taken away meanwhile: the apply checks again and refuses it alone
    order_in(shop, OrderStatus.CONFIRMED)
    text = _csv((a.number, "DHL", "JD1001"), (b.number, "UPS", "1Z1002"), (c.number, "DHL", "x"))

    rows = bulk_ship_apply(text=text, actor=STAFF)

    assert [(row.number, row.shipped, row.error) for row in rows] == [
        (a.number, True, ""),
        (b.number, True, ""),
        (c.number, False, "Tracking number: use 4 to 64 letters, digits or dashes."),
    ]
    assert _state(a, b)[0][:3] == ("shipped", "DHL", "JD1001")
    assert _state(a, b)[1][:3] == ("shipped", "UPS", "1Z1002")
    assert _state(c)[0][0] == "confirmed"
    assert list(
        OutboxEvent.objects.filter(type="shipment.dispatched")
        .order_by("created_at")
        .values_list("data__number", "data__actor")
    ) == [(a.number, "staff:ana"), (b.number, "staff:ana")]
    assert OrderTransition.objects.filter(order=a, to_status="shipped", actor="staff:ana").exists()


def test_a_row_refused_by_the_service_at_apply_time_leaves_the_others_shipped(
    shop, products, confirmed
):
    a, b, _ = confirmed
    order_in(shop, OrderStatus.SHIPPED)  # ships with tracking number JD<its number>
    on_the_road = Order.objects.get(status="shipped").tracking_number
    text = _csv((a.number, "DHL", "JD2001"), (b.number, "DHL", on_the_road))

    rows = bulk_ship_apply(text=text, actor=STAFF)

    assert rows[0].shipped is True
    assert rows[1].shipped is False
    assert rows[1].error.startswith("Not shipped: ")
    assert _state(b)[0][0] == "confirmed"


@pytest.fixture
def operator(client):
    user = User.objects.create_user("olga", password="x-long-1", is_staff=True)
    user.groups.add(Group.objects.get(name="operator"))
    client.force_login(user)
    return client


def test_the_page_previews_then_ships_and_offers_the_report(operator, shop, products, confirmed):
    a, _, _ = confirmed
    text = _csv((a.number, "DHL", "JD3001"), ("OF-NOTHERE", "DHL", "JD3002"))

    preview = operator.post(URL, {"text": text, "step": "preview"})
    page = preview.content.decode()
    assert preview.status_code == 200
    assert "Preview: 1 ready to ship, 1 with an error" in page
    assert "No order OF-NOTHERE." in page
    assert 'value="apply"' in page
    assert _state(a)[0][0] == "confirmed"

    upload = preview.context["text"]
    done = operator.post(URL, {"text": upload, "step": "apply"})

    page = done.content.decode()
    assert "Result: 1 shipped, 1 not shipped" in page
    assert 'download="bulk-ship-report.csv"' in page
    assert "shipped" in done.context["report"]
    assert _state(a)[0][:3] == ("shipped", "DHL", "JD3001")


def test_an_uploaded_file_is_read_like_pasted_rows(operator, shop, products, confirmed):
    a, _, _ = confirmed
    upload = SimpleUploadedFile(
        "parcels.csv", ("\ufeff" + _csv((a.number, "DHL", "JD4001"))).encode(), "text/csv"
    )

    response = operator.post(URL, {"file": upload, "step": "preview"})

    assert "Preview: 1 ready to ship, 0 with an error" in response.content.decode()


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"text": "", "step": "preview"}, "Choose a CSV file or paste its rows."),
        ({"text": ",\n", "step": "preview"}, "The file holds no rows"),
        ({"text": "a,b,c", "step": "delete"}, "Select a valid choice"),
    ],
)
def test_bad_input_is_a_message_and_changes_nothing(operator, shop, products, data, error):
    response = operator.post(URL, data)

    assert response.status_code == 200
    assert error in response.content.decode()


def test_a_viewer_may_not_ship_in_bulk(client, shop, products, confirmed):
    a, _, _ = confirmed
    user = User.objects.create_user("vic", password="x-long-1", is_staff=True)
    user.groups.add(Group.objects.get(name="viewer"))
    client.force_login(user)

    response = client.post(URL, {"text": _csv((a.number, "DHL", "JD5001")), "step": "apply"})

    assert response.status_code == 403
    assert _state(a)[0][0] == "confirmed"


# --- choosing orders to ship -----------------------------------------------------------------
SELECT_URL = "/staff/orders/select-ship"


def test_the_oldest_confirmed_orders_are_offered_with_their_shops_carriers(
    operator, shop, products, confirmed
):
    placed = order_in(shop, OrderStatus.PLACED)

    page = operator.get(SELECT_URL).content.decode()

    for order in confirmed:
        assert f'value="{order.number}"' in page
    assert f'value="{placed.number}"' not in page
    assert '<option value="DHL">DHL</option>' in page


def test_chosen_orders_go_to_the_preview_then_ship(operator, shop, products, confirmed):
    a, b, c = confirmed
    form = {
        "order": [a.number, b.number],
        f"carrier-{a.number}": "DHL",
        f"tracking-{a.number}": "JD6001",
        f"carrier-{b.number}": "UPS",
        f"tracking-{b.number}": "x",  # not a tracking number
        f"carrier-{c.number}": "DHL",
        f"tracking-{c.number}": "JD6003",  # not chosen
    }

    preview = operator.post(SELECT_URL, form)

    page = preview.content.decode()
    assert "Preview: 1 ready to ship, 1 with an error" in page
    assert "Tracking number: use 4 to 64 letters, digits or dashes." in page
    assert [state[:3] for state in _state(a, b, c)] == [("confirmed", "", "")] * 3
    # the preview's forms post to the bulk ship page, wherever the preview was shown
    assert page.count('action="/staff/orders/bulk-ship"') == 2
    done = operator.post(URL, {"text": preview.context["text"], "step": "apply"})
    assert "Result: 1 shipped, 1 not shipped" in done.content.decode()
    assert [state[0] for state in _state(a, b, c)] == ["shipped", "confirmed", "confirmed"]


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        ([], "Choose at least one order to ship."),
        ([f"OF-{n:08d}" for n in range(MAX_ROWS + 1)], f"at most {MAX_ROWS} at a time"),
    ],
)
def test_choosing_nothing_or_too_much_is_a_message(
    operator, shop, products, confirmed, chosen, message
):
    before = _state(*confirmed)

    response = operator.post(SELECT_URL, {"order": chosen})

    assert response.status_code == 200
    assert message in response.content.decode()
    assert _state(*confirmed) == before
