"""Admin edits of an order: the API's rules, the order's state, one event naming the actor."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages

from orderflow.models import OutboxEvent
from orders.models import Order
from testkit.factories import advance, order_for

pytestmark = pytest.mark.django_db

ADDRESS = {"line1": "Rua A 1", "city": "São Paulo", "postal_code": "01000-000", "country": "BR"}
NEW_ADDRESS = {
    "line1": "Rua Nova 5",
    "line2": "apto 12",
    "city": "Lisboa",
    "region": "",
    "postal_code": "1000-001",
    "country": "PT",
}


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client


def _change_form(order: Order, **fields) -> dict:
    """The admin's change form of ``order`` as rendered, with ``fields`` typed over it."""
    lines = list(order.lines.all())
    form = {
        "name": order.customer_name,
        "email": order.customer_email,
        "line1": "",
        "line2": "",
        "city": "",
        "region": "",
        "postal_code": "",
        "country": "",
        **order.shipping_address,
        "lines-TOTAL_FORMS": str(len(lines)),
        "lines-INITIAL_FORMS": str(len(lines)),
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        "shipments-TOTAL_FORMS": "0",
        "shipments-INITIAL_FORMS": "0",
        **{f"lines-{i}-id": str(line.pk) for i, line in enumerate(lines)},
        **{f"lines-{i}-order": str(order.pk) for i in range(len(lines))},
    }
    form.update(fields)
    return form


def _url(order: Order) -> str:
    return f"/admin/orders/order/{order.pk}/change/"


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _events(order: Order) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(aggregate_id=str(order.pk)).order_by("sequence"))


def test_the_change_page_shows_the_address_as_fields_not_a_json_box(staff, shop, products):
    order = order_for(shop)

    response = staff.get(_url(order))

    form = response.context["adminform"].form
    assert list(form.fields) == [
        "name",
        "email",
        "line1",
        "line2",
        "city",
        "region",
        "postal_code",
        "country",
    ]
    assert {name: form[name].value() for name in ADDRESS} == ADDRESS
    assert 'name="shipping_address"' not in response.content.decode()


def test_the_reported_edit_of_a_shipped_order_is_refused_and_changes_nothing(staff, shop, products):
    # given a shipped order, and the address box of the report: only line1 filled
    order = advance(order_for(shop), to="shipped")

    response = staff.post(
        _url(order),
        _change_form(order, line1="Rua Nova 5", city="", postal_code="", country=""),
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "city": ["This field may not be blank."],
        "postal_code": ["This field may not be blank."],
        "country": ["This field may not be blank."],
    }
    order.refresh_from_db()
    assert order.shipping_address == ADDRESS
    assert [event.type for event in _events(order)] == ["order.placed"]


def test_a_valid_new_address_on_a_shipped_order_is_refused_with_a_message(staff, shop, products):
    order = advance(order_for(shop), to="shipped")

    response = staff.post(_url(order), _change_form(order, **NEW_ADDRESS), follow=True)

    assert response.redirect_chain == [(_url(order), 302)]
    assert _messages(response) == [
        "Not changed: The order is shipped; its shipping address can no longer change."
    ]
    order.refresh_from_db()
    assert (order.shipping_address, order.status) == (ADDRESS, "shipped")
    assert [event.type for event in _events(order)] == ["order.placed"]
    assert not LogEntry.objects.exists()


def test_a_refused_address_also_keeps_the_customer_of_the_same_edit(staff, shop, products):
    order = advance(order_for(shop), to="delivered")

    staff.post(_url(order), _change_form(order, name="Bia Lima", **NEW_ADDRESS))

    order.refresh_from_db()
    assert (order.customer_name, order.shipping_address) == ("Ana Souza", ADDRESS)
    assert [event.type for event in _events(order)] == ["order.placed"]


def test_a_good_address_edit_changes_the_order_and_publishes_one_event(staff, shop, products):
    order = advance(order_for(shop), to="confirmed")

    response = staff.post(_url(order), _change_form(order, **NEW_ADDRESS), follow=True)

    assert response.redirect_chain == [("/admin/orders/order/", 302)]
    assert _messages(response)[0] == "Shipping address changed."
    order.refresh_from_db()
    assert order.shipping_address == {
        "line1": "Rua Nova 5",
        "line2": "apto 12",
        "city": "Lisboa",
        "postal_code": "1000-001",
        "country": "PT",
    }
    assert (order.customer_name, order.status) == ("Ana Souza", "confirmed")
    placed, changed = _events(order)
    assert (placed.type, changed.type, changed.sequence, changed.tenant_id) == (
        "order.placed",
        "order.shipping_address_changed",
        2,
        str(shop.pk),
    )
    assert changed.data == {
        "order_id": str(order.pk),
        "shop_id": shop.pk,
        "number": order.number,
        "shipping_address": {
            "line1": "Rua Nova 5",
            "line2": "apto 12",
            "city": "Lisboa",
            "region": "",
            "postal_code": "1000-001",
            "country": "PT",
        },
        "changed_by": "staff:admin",
        "status": "",
        "actor": "staff:admin",
    }


def test_a_good_customer_edit_publishes_one_event_naming_the_staff_member(staff, shop, products):
    order = advance(order_for(shop), to="delivered")

    response = staff.post(
        _url(order), _change_form(order, name="Ana Lima", email="ana.lima@example.com"), follow=True
    )

    assert _messages(response)[0] == "Customer changed."
    order.refresh_from_db()
    assert (order.customer_name, order.customer_email, order.shipping_address) == (
        "Ana Lima",
        "ana.lima@example.com",
        ADDRESS,
    )
    (changed,) = [event for event in _events(order) if event.type != "order.placed"]
    assert (changed.type, changed.data["customer_name"], changed.data["customer_email"]) == (
        "order.customer_changed",
        "Ana Lima",
        "ana.lima@example.com",
    )
    assert changed.data["changed_by"] == "staff:admin"


def test_a_customer_is_corrected_on_a_shipped_order_whose_old_address_breaks_the_rules(
    staff, shop, products
):
    # given a shipped order that the old JSON box left with the address of the report
    order = advance(order_for(shop), to="shipped")
    Order.objects.filter(pk=order.pk).update(shipping_address={"line1": "Rua Nova 5"})
    order.refresh_from_db()

    response = staff.post(_url(order), _change_form(order, email="lima@example.com"), follow=True)

    assert _messages(response)[0] == "Customer changed."
    order.refresh_from_db()
    assert (order.customer_email, order.shipping_address) == (
        "lima@example.com",
        {"line1": "Rua Nova 5"},
    )
    assert [event.type for event in _events(order)] == ["order.placed", "order.customer_changed"]


def test_saving_the_form_unchanged_publishes_nothing(staff, shop, products):
    order = order_for(shop)

    response = staff.post(_url(order), _change_form(order))

    assert response.status_code == 302
    assert [event.type for event in _events(order)] == ["order.placed"]


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        (
            {"country": "Brazil"},
            {
                "country": [
                    "Ensure this field has no more than 2 characters.",
                    "Use an ISO 3166 code, e.g. BR.",
                ]
            },
        ),
        ({"country": "br"}, {"country": ["Use an ISO 3166 code, e.g. BR."]}),
        ({"line1": "x" * 201}, {"line1": ["Ensure this field has no more than 200 characters."]}),
        ({"email": "not-an-email"}, {"email": ["Enter a valid email address."]}),
        ({"name": "x" * 201}, {"name": ["Ensure this field has no more than 200 characters."]}),
    ],
)
def test_the_api_serializers_rules_refuse_bad_values_and_nothing_changes(
    staff, shop, products, fields, errors
):
    order = order_for(shop)

    response = staff.post(_url(order), _change_form(order, **fields))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == errors
    assert Order.objects.get(pk=order.pk).shipping_address == ADDRESS
    assert [event.type for event in _events(order)] == ["order.placed"]


def test_a_user_who_may_only_view_orders_sees_the_stored_values(
    client, django_user_model, shop, products
):
    viewer = django_user_model.objects.create_user("vera", password="a-long-password-42")
    viewer.is_staff = True
    viewer.save()
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    client.force_login(viewer)
    order = order_for(shop)

    page = client.get(_url(order))
    edit = client.post(_url(order), _change_form(order, **NEW_ADDRESS))

    assert page.status_code == 200
    assert "Rua A 1" in page.content.decode()
    assert 'name="line1"' not in page.content.decode()
    assert edit.status_code == 403
    assert Order.objects.get(pk=order.pk).shipping_address == ADDRESS
