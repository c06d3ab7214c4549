"""The shop's own data on its orders: ``metadata`` and ``external_reference``.

Every placing test runs on both intake paths: the DRF view alone
(``ORDER_INTAKE_LEAN = False``) and the lean path, which answers a new order itself and
hands anything else to the DRF view (see ``orders/api/lean.py``).
"""

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from orderflow.models import OutboxEvent
from orders import services
from orders.api import views
from orders.events import OrderPlaced
from orders.models import Order
from testkit.factories import ProductFactory, ShopFactory, api_key_for, order_for

from ..assertions import assert_problem, row_counts, stock_of

pytestmark = pytest.mark.django_db

METADATA = {"checkout_id": "chk_8812", "channel": "web", "note": ""}


@pytest.fixture(params=["drf", "lean"])
def intake(request, settings) -> str:
    """Run the test on the DRF view alone, then with the lean path in front of it."""
    settings.ORDER_INTAKE_LEAN = request.param == "lean"
    return request.param


def _place(api, order_body, key=None, **fields):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return api.post("/api/v1/orders", order_body(**fields), format="json", **headers)


# --- placing ------------------------------------------------------------------------------------
def test_an_order_keeps_its_metadata_and_reference(api, products, order_body, intake):
    response = _place(api, order_body, metadata=METADATA, external_reference="chk_8812")

    assert response.status_code == 201, response.content
    order = Order.objects.get()
    assert (order.metadata, order.external_reference) == (METADATA, "chk_8812")
    body = response.json()
    assert (body["metadata"], body["external_reference"], body["status_reason"]) == (
        METADATA,
        "chk_8812",
        "",
    )
    assert api.get(f"/api/v1/orders/{order.id}").json() == body


def test_without_them_an_order_has_empty_ones(api, products, order_body, intake):
    first = _place(api, order_body)
    second = _place(api, order_body)  # a blank reference is no reference: never a conflict

    assert (first.status_code, second.status_code) == (201, 201)
    assert [(b.json()["metadata"], b.json()["external_reference"]) for b in (first, second)] == [
        ({}, ""),
        ({}, ""),
    ]
    assert list(Order.objects.values_list("metadata", "external_reference")) == [({}, "")] * 2


def test_the_lean_path_itself_places_an_order_with_them(
    api, products, order_body, settings, monkeypatch
):
    settings.ORDER_INTAKE_LEAN = True

    def refuse(self, request):
        raise AssertionError("the DRF view answered")

    monkeypatch.setattr(views.OrderListCreateApi, "post", refuse)

    response = _place(api, order_body, metadata=METADATA, external_reference="chk_1")

    assert response.status_code == 201, response.content
    order = Order.objects.get()
    assert (order.metadata, order.external_reference) == (METADATA, "chk_1")


def test_the_placed_event_carries_them(api, products, order_body, intake):
    response = _place(api, order_body, metadata=METADATA, external_reference="chk_8812")

    assert response.status_code == 201, response.content
    event = OutboxEvent.objects.get(type="order.placed")
    assert (event.data["external_reference"], event.data["metadata"]) == ("chk_8812", METADATA)
    assert event.version == 1


def test_an_order_placed_event_stored_before_them_still_loads():
    data = OrderPlaced(
        order_id="9ecfe41b-8a39-47e1-8b81-2aae8cf53595",
        shop_id=1,
        number="OF-7SR8K4PG",
        currency="EUR",
        subtotal="9.90",
        total="9.90",
        customer_name="Ana",
        customer_email="ana@example.com",
        lines=[],
    ).to_data()
    del data["external_reference"], data["metadata"]

    event = OrderPlaced.from_data(data)

    assert (event.external_reference, event.metadata) == ("", {})
    assert {"external_reference", "metadata"}.isdisjoint(OrderPlaced.json_schema()["required"])


@pytest.mark.parametrize(
    "metadata",
    [
        {f"k{i}": "v" for i in range(50)},
        {"k" * 40: "v" * 500},
        {},
    ],
    ids=["50 keys", "longest key and value", "empty"],
)
def test_metadata_at_its_bounds_is_accepted(api, products, order_body, intake, metadata):
    response = _place(api, order_body, metadata=metadata)

    assert response.status_code == 201, response.content
    assert Order.objects.get().metadata == metadata


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ({f"k{i}": "v" for i in range(51)}, "max_keys"),
        ({"": "v"}, "key_length"),
        ({"k" * 41: "v"}, "key_length"),
        ({"k": "v" * 501}, "value_length"),
        ({"k": 7}, "not_a_string"),
        ({"k": True}, "not_a_string"),
        ({"k": None}, "not_a_string"),
        ({"k": {"nested": "v"}}, "not_a_string"),
        ({"k": ["v"]}, "not_a_string"),
        ({"k": "a\x00b"}, "null_characters"),
        ({"a\x00b": "v"}, "null_characters"),
        (["k", "v"], "not_an_object"),
        ("k=v", "not_an_object"),
        (None, "null"),
    ],
    ids=[
        "51 keys",
        "empty key",
        "41-character key",
        "501-character value",
        "number",
        "boolean",
        "null value",
        "object value",
        "list value",
        "NUL in a value",
        "NUL in a key",
        "a list",
        "a string",
        "null",
    ],
)
def test_metadata_breaking_a_rule_is_a_400_naming_it(
    api, products, order_body, intake, metadata, code
):
    before = row_counts()

    response = _place(api, order_body, metadata=metadata)

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in problem["errors"]] == [("metadata", code)]
    assert row_counts() == before


def test_each_broken_key_is_named(api, products, order_body, intake):
    response = _place(api, order_body, metadata={"ok": "v", "k" * 41: "v", "n": 1})

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in problem["errors"]] == [
        ("metadata", "key_length"),
        ("metadata", "not_a_string"),
    ]
    assert "'n'" in problem["errors"][1]["detail"]


@pytest.mark.parametrize(
    ("reference", "code"),
    [
        ("", "blank"),
        ("r" * 101, "max_length"),
        (" chk_1", "surrounding_space"),
        ("chk_1 ", "surrounding_space"),
        ("chk\n1", "not_printable"),
        ("chk_1\n", "not_printable"),
        ("chk\u200b1", "not_printable"),
        (None, "null"),
        (["chk_1"], "invalid"),
    ],
    ids=[
        "blank",
        "101 characters",
        "leading space",
        "trailing space",
        "line break",
        "trailing line break",
        "zero-width space",
        "null",
        "a list",
    ],
)
def test_a_reference_breaking_a_rule_is_a_400_naming_it(
    api, products, order_body, intake, reference, code
):
    before = row_counts()

    response = _place(api, order_body, external_reference=reference)

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in problem["errors"]] == [("external_reference", code)]
    assert row_counts() == before


@pytest.mark.parametrize("reference", ["r" * 100, "Pedido nº 17/B", "x"])
def test_a_reference_within_the_rules_is_accepted(api, products, order_body, intake, reference):
    response = _place(api, order_body, external_reference=reference)

    assert response.status_code == 201, response.content
    assert Order.objects.get().external_reference == reference


def test_unknown_fields_stay_refused_beside_them(api, products, order_body, intake):
    response = _place(api, order_body, metadata={"k": "v"}, meta_data={"k": "v"})

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in problem["errors"]] == [("meta_data", "unknown_field")]


# --- one order per reference ----------------------------------------------------------------------
@pytest.mark.parametrize("keys", [(None, None), ("k-1", "k-2")], ids=["no keys", "two keys"])
def test_a_second_order_with_the_reference_is_a_409_naming_the_first(
    api, shop, products, order_body, intake, keys
):
    first = _place(api, order_body, keys[0], external_reference="chk_8812")
    assert first.status_code == 201, first.content
    before, stock = row_counts(), stock_of(shop)

    second = _place(
        api,
        order_body,
        keys[1],
        external_reference="chk_8812",
        lines=[{"sku": "MUG", "quantity": 1}],
    )

    problem = assert_problem(second, status=409, type_slug="external-reference-taken")
    placed = first.json()
    assert (problem["order_id"], problem["order_number"]) == (placed["id"], placed["number"])
    assert problem["order_url"] == f"http://testserver/api/v1/orders/{placed['id']}"
    assert api.get(problem["order_url"]).json()["id"] == placed["id"]
    assert [(e["attr"], e["code"]) for e in problem["errors"]] == [("external_reference", "taken")]
    assert placed["number"] in problem["detail"]
    assert row_counts() == before  # no order, no line, no event, no key row
    assert stock_of(shop) == stock


def test_the_same_key_and_body_replays_the_order_instead(api, products, order_body, intake):
    first = _place(api, order_body, "k-1", external_reference="chk_8812")

    again = _place(api, order_body, "k-1", external_reference="chk_8812")

    assert (first.status_code, again.status_code) == (201, 201)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Order.objects.count() == 1


def test_another_shop_may_use_the_same_reference(
    api, other_api, other_shop, products, order_body, intake
):
    ProductFactory(shop=other_shop, sku="COFFEE-1KG")

    mine = _place(api, order_body, external_reference="chk_8812")
    theirs = _place(other_api, order_body, external_reference="chk_8812")

    assert (mine.status_code, theirs.status_code) == (201, 201), theirs.content
    assert Order.objects.filter(external_reference="chk_8812").count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lean_on", [False, True], ids=["drf", "lean"])
def test_parallel_orders_with_one_reference_place_one(order_body, settings, lean_on):
    """Twenty requests with one reference, released together: the unique constraint decides.

    Each thread has its own client and database connection, so the inserts really race
    in PostgreSQL; the losers wait on the unique index and are refused once the winner
    commits. Exactly one 201, every other answer a 409 naming that order.
    """
    settings.ORDER_INTAKE_LEAN = lean_on
    shop = ShopFactory()
    ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90", on_hand=100)
    raw_key = api_key_for(shop)
    threads_count = 20
    clients = [APIClient() for _ in range(threads_count)]
    for client in clients:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    # django-prometheus creates its metrics on a process's first request, not thread-safely
    assert clients[0].get("/api/v1/products").status_code == 200
    before = row_counts()
    barrier = threading.Barrier(threads_count)
    responses = [None] * threads_count

    def send(index: int) -> None:
        try:
            barrier.wait()
            responses[index] = _place(
                clients[index], order_body, f"key-{index}", external_reference="chk_race"
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    placed = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code == 409]
    assert (len(placed), len(refused)) == (1, threads_count - 1), [r.status_code for r in responses]
    order = Order.objects.get()
    assert str(order.id) == placed[0].json()["id"]
    for response in refused:
        problem = assert_problem(response, status=409, type_slug="external-reference-taken")
        assert (problem["order_id"], problem["order_number"]) == (str(order.id), order.number)
    assert row_counts() == {
        **before,
        "orders": 1,
        "order_lines": 1,
        "order_transitions": before["order_transitions"] + order.transitions.count(),
        "outbox_events": 1,
        "idempotency_keys": 1,
    }


# --- PATCH: the metadata, replaced whole ----------------------------------------------------------
@pytest.fixture
def order(shop, products):
    placed = order_for(shop)
    Order.objects.filter(pk=placed.pk).update(metadata={"old": "1", "kept?": "no"})
    placed.refresh_from_db()
    return placed


def test_patch_replaces_the_metadata_whole(api, order):
    response = api.patch(f"/api/v1/orders/{order.id}", {"metadata": {"new": "2"}}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["metadata"] == {"new": "2"}
    changed = Order.objects.get(pk=order.pk)
    assert changed.metadata == {"new": "2"}
    assert changed.updated_at > order.updated_at
    assert (changed.status, changed.version) == (order.status, order.version)
    assert api.get(f"/api/v1/orders/{order.id}").json() == response.json()


def test_patch_with_an_empty_object_clears_it_and_without_the_field_changes_nothing(api, order):
    unchanged = api.patch(f"/api/v1/orders/{order.id}", {}, format="json")
    kept = Order.objects.get(pk=order.pk)
    cleared = api.patch(f"/api/v1/orders/{order.id}", {"metadata": {}}, format="json")

    assert (unchanged.status_code, cleared.status_code) == (200, 200)
    assert unchanged.json()["metadata"] == {"old": "1", "kept?": "no"}
    assert kept.updated_at == order.updated_at
    assert Order.objects.get(pk=order.pk).metadata == {}


def test_patch_publishes_nothing(api, order):
    events = OutboxEvent.objects.count()

    api.patch(f"/api/v1/orders/{order.id}", {"metadata": {"new": "2"}}, format="json")

    assert OutboxEvent.objects.count() == events


@pytest.mark.parametrize(
    ("body", "attr", "code"),
    [
        ({"metadata": {"k": 7}}, "metadata", "not_a_string"),
        ({"metadata": {f"k{i}": "v" for i in range(51)}}, "metadata", "max_keys"),
        ({"external_reference": "chk_2"}, "external_reference", "unknown_field"),
        ({"status": "delivered"}, "status", "unknown_field"),
        ({"customer": {"name": "Eve"}}, "customer", "unknown_field"),
        ({"total": "0.01"}, "total", "unknown_field"),
    ],
)
def test_patch_of_anything_else_or_bad_metadata_is_a_400_changing_nothing(
    api, order, body, attr, code
):
    response = api.patch(f"/api/v1/orders/{order.id}", body, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in problem["errors"]] == [(attr, code)]
    assert Order.objects.get(pk=order.pk).metadata == order.metadata
    assert Order.objects.get(pk=order.pk).updated_at == order.updated_at


def test_patch_of_another_shops_order_is_a_404_changing_nothing(other_api, order):
    response = other_api.patch(
        f"/api/v1/orders/{order.id}", {"metadata": {"evil": "1"}}, format="json"
    )

    assert_problem(response, status=404, type_slug="not-found")
    assert Order.objects.get(pk=order.pk).metadata == order.metadata


def test_patch_of_no_order_is_a_404(api, shop):
    for order_id in ["9ecfe41b-8a39-47e1-8b81-2aae8cf53595", "not-a-uuid"]:
        response = api.patch(f"/api/v1/orders/{order_id}", {"metadata": {}}, format="json")

        assert_problem(response, status=404, type_slug="not-found")


# --- the reason of a cancellation or rejection ----------------------------------------------------
def test_a_cancelled_order_shows_why(api, order):
    response = api.post(
        f"/api/v1/orders/{order.id}/cancel",
        {"reason": "customer changed their mind"},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["status_reason"] == "customer changed their mind"
    listed = api.get("/api/v1/orders").json()["results"][0]
    assert (listed["status"], listed["status_reason"]) == (
        "cancelled",
        "customer changed their mind",
    )


def test_a_rejected_order_shows_why(api, shop, products):
    rejected = order_for(shop, lines={"MUG": 21})  # 20 on hand
    services.order_reserve_stock(order_id=rejected.pk)

    body = api.get(f"/api/v1/orders/{rejected.id}").json()

    assert body["status"] == "rejected"
    assert body["status_reason"] == Order.objects.get(pk=rejected.pk).status_reason
    assert "MUG" in body["status_reason"]
