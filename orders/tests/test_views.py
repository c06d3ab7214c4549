"""The staff new-order page: one rendered form places at most one order."""

import re
import threading
import uuid

import pytest
from django.db import connection
from django.test import Client

from orderflow.models import OutboxEvent
from orders.models import Order
from orders.services import staff_intake
from tests.fixtures import wait_for

KEY_INPUT = re.compile(r'<input type="hidden" name="form_key" value="([0-9a-f-]{36})"')


@pytest.fixture
def staff(client, admin_user):
    client.force_login(admin_user)
    return client


def _new_order(shop, form_key, **overrides) -> dict:
    data = {
        "form_key": str(form_key),
        "shop": str(shop.pk),
        "customer_name": "Ana Souza",
        "customer_email": "ana@example.com",
        "line1": "Rua A 1",
        "postal_code": "01000-000",
        "city": "São Paulo",
        "country": "BR",
        "payment_token": "tok_ok",
        "lines-TOTAL_FORMS": "3",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "1",
        "lines-MAX_NUM_FORMS": "100",
        "lines-0-sku": "COFFEE-1KG",
        "lines-0-quantity": "2",
        "lines-1-quantity": "1",
        "lines-2-quantity": "1",
    }
    data.update(overrides)
    return data


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _rendered_key(response) -> str:
    (key,) = KEY_INPUT.findall(response.content.decode())
    return key


def _placed_events() -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(type="order.placed"))


@pytest.mark.django_db
def test_the_form_is_rendered_with_a_new_key_and_a_submit_once_guard(staff, shop, products):
    first = staff.get("/staff/orders/new")
    second = staff.get("/staff/orders/new")

    assert (first.status_code, second.status_code) == (200, 200)
    keys = [_rendered_key(first), _rendered_key(second)]
    assert [str(uuid.UUID(key)) for key in keys] == keys
    assert keys[0] != keys[1]
    page = first.content.decode()
    assert '<form method="post" class="card" novalidate data-submit-once>' in page
    assert "js/submit_once.js" in page


@pytest.mark.django_db
def test_the_same_form_posted_twice_places_one_order_and_shows_it_both_times(staff, shop, products):
    form_key = uuid.uuid4()

    first = staff.post("/staff/orders/new", _new_order(shop, form_key), follow=True)
    second = staff.post("/staff/orders/new", _new_order(shop, form_key), follow=True)

    order = Order.objects.get()
    assert first.redirect_chain == [(f"/staff/orders/{order.id}", 302)]
    assert second.redirect_chain == [(f"/staff/orders/{order.id}", 302)]
    assert _messages(first) == [f"Order {order.number} placed for {shop.name}."]
    assert _messages(second) == [f"Order {order.number} was already placed by this form."]
    (placed,) = _placed_events()
    assert (placed.aggregate_id, placed.idempotency_key) == (str(order.id), str(form_key))


@pytest.mark.django_db
def test_the_same_form_with_other_details_places_nothing_and_gets_a_new_key(staff, shop, products):
    form_key = uuid.uuid4()
    staff.post("/staff/orders/new", _new_order(shop, form_key))

    response = staff.post(
        "/staff/orders/new", _new_order(shop, form_key, **{"lines-0-quantity": "3"})
    )

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "This form already placed an order, with other details. Check that order on the "
        "board; to place another one, submit this form again."
    ]
    assert _rendered_key(response) != str(form_key)
    assert Order.objects.count() == 1
    assert len(_placed_events()) == 1


@pytest.mark.parametrize("form_key", ["", "not-a-key"])
@pytest.mark.django_db
def test_a_form_without_a_valid_key_places_nothing_and_gets_one(staff, shop, products, form_key):
    response = staff.post("/staff/orders/new", _new_order(shop, form_key))

    assert response.status_code == 200
    assert list(response.context["form"].errors) == ["form_key"]
    assert str(uuid.UUID(_rendered_key(response))) == _rendered_key(response)
    assert "This form" in response.content.decode()
    assert not Order.objects.exists()
    assert _placed_events() == []


@pytest.mark.django_db(transaction=True)
def test_a_double_click_waits_for_the_first_submit_and_shows_its_order(
    admin_user, shop, products, monkeypatch
):
    # given the first submit holds inside the intake, after its order is written
    placing, release = threading.Event(), threading.Event()
    place = staff_intake.order_place

    def held_place(**kwargs):
        order = place(**kwargs)
        placing.set()
        assert release.wait(timeout=30)
        return order

    monkeypatch.setattr(staff_intake, "order_place", held_place)
    clients = [Client(), Client()]
    for client in clients:
        client.force_login(admin_user)
    data = _new_order(shop, uuid.uuid4())
    responses = {}

    def submit(index: int) -> None:
        try:
            responses[index] = clients[index].post("/staff/orders/new", data)
        finally:
            connection.close()

    first = threading.Thread(target=submit, args=(0,))
    first.start()
    assert placing.wait(timeout=30)
    # when the second submit arrives while the first is still in flight
    second = threading.Thread(target=submit, args=(1,))
    second.start()
    wait_for(_an_advisory_lock_is_awaited, timeout=30, what="the second submit to wait")
    release.set()
    first.join(timeout=30)
    second.join(timeout=30)

    # then both answers lead to the one order placed
    order = Order.objects.get()
    assert [responses[i].status_code for i in (0, 1)] == [302, 302]
    assert [responses[i]["Location"] for i in (0, 1)] == [f"/staff/orders/{order.id}"] * 2
    assert len(_placed_events()) == 1


@pytest.mark.django_db(transaction=True)
def test_a_second_submit_that_waits_past_its_bound_is_told_and_places_nothing(
    admin_user, shop, products, monkeypatch
):
    # given the first submit holds inside the intake for as long as the test says
    placing, release = threading.Event(), threading.Event()
    place = staff_intake.order_place

    def held_place(**kwargs):
        order = place(**kwargs)
        placing.set()
        assert release.wait(timeout=60)
        return order

    monkeypatch.setattr(staff_intake, "order_place", held_place)
    monkeypatch.setattr(staff_intake, "TWIN_WAIT_MS", 50)
    first_client, second_client = Client(), Client()
    first_client.force_login(admin_user)
    second_client.force_login(admin_user)
    data = _new_order(shop, uuid.uuid4())
    answers = {}

    def submit_first() -> None:
        try:
            answers["first"] = first_client.post("/staff/orders/new", data)
        finally:
            connection.close()

    first = threading.Thread(target=submit_first)
    first.start()
    try:
        assert placing.wait(timeout=30)
        # when the second submit's wait for it ends while the first is still held
        second = second_client.post("/staff/orders/new", data)
    finally:
        release.set()
        first.join(timeout=30)

    # then the second is told to look on the board, and the first placed the one order
    assert second.status_code == 200
    assert second.context["form"].non_field_errors() == [
        "This order is still being placed by an earlier submit of this form. Look for it on "
        "the board before submitting again."
    ]
    assert _rendered_key(second) == data["form_key"]
    order = Order.objects.get()
    assert answers["first"]["Location"] == f"/staff/orders/{order.id}"
    assert len(_placed_events()) == 1


def _an_advisory_lock_is_awaited() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
            "WHERE d.datname = current_database() AND l.locktype = 'advisory' "
            "AND NOT l.granted"
        )
        (waiting,) = cursor.fetchone()
    return waiting > 0


@pytest.mark.parametrize(
    ("field", "value", "api_attr"),
    [
        ("country", "br", "shipping_address.country"),
        ("country", "Brazil", "shipping_address.country"),
        ("line1", "x" * 201, "shipping_address.line1"),
        ("postal_code", "1" * 21, "shipping_address.postal_code"),
        ("customer_email", "ana@", "customer.email"),
        ("customer_name", "x" * 201, "customer.name"),
    ],
)
@pytest.mark.django_db
def test_the_form_refuses_what_the_api_refuses_in_the_same_words(
    staff, api, order_body, shop, products, field, value, api_attr
):
    section, key = api_attr.split(".")
    body = order_body()
    body[section] = {**body[section], key: value}

    page = staff.post("/staff/orders/new", _new_order(shop, uuid.uuid4(), **{field: value}))
    answer = api.post("/api/v1/orders", body, format="json")

    assert answer.status_code == 400
    api_words = [e["detail"] for e in answer.json()["errors"] if e["attr"] == api_attr]
    assert page.context["form"].errors == {field: api_words}
    assert not Order.objects.exists()
