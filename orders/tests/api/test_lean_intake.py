"""The lean intake (orders/api/lean.py): a shop cannot tell it from the DRF view but by speed.

Each test that compares runs the same request through the DRF view alone
(``ORDER_INTAKE_LEAN = False``) and through the lean path.
"""

import uuid

import pytest
from django.db import connection
from django.urls import NoReverseMatch, get_script_prefix, reverse, set_script_prefix
from django.utils import timezone
from psycopg.types.json import Jsonb
from rest_framework import serializers
from rest_framework.test import APIClient

from orderflow.models import IdempotencyKey, OutboxEvent
from orders import intake_sql
from orders.api import lean, views
from orders.api.serializers import OrderCreateInputSerializer, OrderOutputSerializer
from orders.models import Order, ShopAPIKey
from orders.services import api_key_revoke
from testkit.factories import api_key_for

from ..assertions import assert_problem, row_counts

pytestmark = pytest.mark.django_db


@pytest.fixture
def drf_only(monkeypatch):
    """Make the DRF view unreachable for POST: a test using it proves the lean path answered."""

    def refuse(self, request):
        raise AssertionError("the DRF view answered")

    monkeypatch.setattr(views.OrderListCreateApi, "post", refuse)


def _full_body(order_body):
    body = order_body(lines=[{"sku": "COFFEE-1KG", "quantity": 2}, {"sku": "MUG", "quantity": 3}])
    body["shipping_address"] |= {"line2": "", "region": "SP"}
    return body


def test_answers_the_serializers_document_for_the_stored_order(api, products, order_body, drf_only):
    response = api.post("/api/v1/orders", _full_body(order_body), format="json")

    assert response.status_code == 201, response.content
    order = Order.objects.prefetch_related("lines").get()
    expected = OrderOutputSerializer(order).data
    assert response.json() == api.get(f"/api/v1/orders/{order.id}").json()
    assert list(response.json()) == list(expected)
    assert list(response.json()["shipping_address"]) == [
        "line1",
        "line2",
        "city",
        "region",
        "postal_code",
        "country",
    ]


@pytest.mark.parametrize("idempotency_key", [None, "k-1"])
def test_answers_with_the_drf_views_headers(api, products, order_body, settings, idempotency_key):
    headers = {"HTTP_IDEMPOTENCY_KEY": idempotency_key} if idempotency_key else {}
    settings.ORDER_INTAKE_LEAN = False
    drf = api.post("/api/v1/orders", order_body(), format="json", **headers)
    settings.ORDER_INTAKE_LEAN = True
    headers = {"HTTP_IDEMPOTENCY_KEY": f"{idempotency_key}-lean"} if idempotency_key else {}
    lean_response = api.post("/api/v1/orders", order_body(), format="json", **headers)

    assert (drf.status_code, lean_response.status_code) == (201, 201)
    varying = {"X-Correlation-ID"}
    assert {k: v for k, v in drf.items() if k not in varying} == {
        k: v for k, v in lean_response.items() if k not in varying
    }


def test_a_replay_comes_from_the_lean_path_with_the_stored_body(
    api, products, order_body, drf_only
):
    first = api.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="r-1")

    again = api.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="r-1")

    assert (again.status_code, again["Idempotent-Replayed"]) == (201, "true")
    assert again.json() == first.json() == IdempotencyKey.objects.get().response_body


def test_an_order_placed_on_either_path_replays_on_the_other(api, products, order_body, settings):
    settings.ORDER_INTAKE_LEAN = False
    first = api.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="x-1")
    settings.ORDER_INTAKE_LEAN = True
    again = api.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="x-1")

    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Order.objects.count() == 1


@pytest.mark.parametrize("lean_on", [False, True])
def test_the_placed_event_carries_its_facts(api, shop, products, order_body, settings, lean_on):
    settings.ORDER_INTAKE_LEAN = lean_on
    response = api.post("/api/v1/orders", order_body(), format="json")

    assert response.status_code == 201, response.content
    order = Order.objects.get()
    prefix = ShopAPIKey.objects.get(shop=shop).prefix
    event = OutboxEvent.objects.get()
    assert (
        event.data["status"],
        event.data["actor"],
        event.data["shop_name"],
        event.data["tracking_token"],
    ) == ("placed", f"shop-key:{prefix}", shop.name, order.tracking_token)
    assert response.json()["tracking_url"].endswith(order.tracking_token)


def test_the_placed_events_of_both_paths_are_alike(api, products, order_body, settings):
    settings.ORDER_INTAKE_LEAN = False
    api.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="a")
    settings.ORDER_INTAKE_LEAN = True
    api.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="b")

    drf, lean_event = OutboxEvent.objects.order_by("created_at")
    varying = {"order_id", "number", "tracking_token"}
    assert {k: v for k, v in drf.data.items() if k not in varying} == {
        k: v for k, v in lean_event.data.items() if k not in varying
    }
    columns = ("type", "version", "aggregate", "sequence", "tenant_id", "causation_id")
    assert [getattr(drf, c) for c in columns] == [getattr(lean_event, c) for c in columns]
    assert (drf.idempotency_key, lean_event.idempotency_key) == ("a", "b")
    assert (lean_event.published_at, lean_event.position) == (None, None)


# --- the API key: revocation takes effect on the next request, cached or not ---------------------
def test_a_revoked_key_is_refused_at_once_though_this_process_remembers_it(
    shop, products, order_body
):
    raw_key = api_key_for(shop)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert client.post("/api/v1/orders", order_body(), format="json").status_code == 201
    api_key_revoke(api_key=ShopAPIKey.objects.get(prefix=raw_key.partition(".")[0]))
    before = row_counts()

    response = client.post("/api/v1/orders", order_body(), format="json")

    assert_problem(response, status=401, type_slug="not-authenticated")
    assert row_counts() == before


def test_an_expired_key_is_refused_at_once(shop, products, order_body):
    raw_key = api_key_for(shop)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert client.post("/api/v1/orders", order_body(), format="json").status_code == 201
    ShopAPIKey.objects.update(expiry_date=timezone.now())
    before = row_counts()

    response = client.post("/api/v1/orders", order_body(), format="json")

    assert_problem(response, status=401, type_slug="not-authenticated")
    assert row_counts() == before


def test_the_write_checks_the_key_again(shop, products):
    """A key revoked between the read and the write writes nothing."""
    raw_key = api_key_for(shop)
    api_key = ShopAPIKey.objects.get(prefix=raw_key.partition(".")[0])
    api_key_revoke(api_key=api_key)
    now = timezone.now()
    before = row_counts()

    outcome = intake_sql.write(
        key_id=api_key.pk,
        lock=None,
        order={
            "id": uuid.uuid4(),
            "shop_id": shop.pk,
            "number": "OF-REVOKED",
            "customer_name": "A",
            "customer_email": "a@example.com",
            "shipping_address": {},
            "currency": "EUR",
            "subtotal": 1,
            "total": 1,
            "created_at": now,
            "updated_at": now,
        },
        lines=[],
        event={"type": "order.placed", "aggregate": "order", "aggregate_id": "x", "sequence": 1,
               "data": {}, "occurred_at": now, "created_at": now},
        key_row=None,
    )  # fmt: skip

    assert (outcome.key_usable, outcome.written) == (False, False)
    assert row_counts() == before


# --- validation: the lean validator accepts no more than the serializer --------------------------
def _variants(order_body):
    base = order_body()
    address = base["shipping_address"]
    yield base
    yield order_body(lines=[{"sku": "MUG", "quantity": "2"}])
    yield order_body(lines=[{"sku": "MUG", "quantity": True}])
    yield order_body(lines=[{"sku": "MUG", "quantity": 2.0}])
    yield order_body(lines=[{"sku": "MUG", "quantity": 0}])
    yield order_body(lines=[{"sku": "MUG", "quantity": 10_001}])
    yield order_body(lines=[{"sku": "MUG", "quantity": 10_000}])
    yield order_body(lines=[{"sku": 7, "quantity": 1}])
    yield order_body(lines=[{"sku": "", "quantity": 1}])
    yield order_body(lines=[{"sku": "M" * 65, "quantity": 1}])
    yield order_body(lines=[{"sku": "MUG\x00", "quantity": 1}])
    yield order_body(lines=[{"sku": "MUG", "quantity": 1, "colour": "red"}])
    yield order_body(lines=[])
    yield order_body(lines=[{"sku": f"S{i}", "quantity": 1} for i in range(101)])
    yield order_body(lines={"sku": "MUG", "quantity": 1})
    yield order_body(customer={"name": "Ana", "email": "not-an-email"})
    yield order_body(customer={"name": "Ana", "email": "ana@example.com", "nick": "x"})
    yield order_body(customer={"name": "", "email": "ana@example.com"})
    yield order_body(customer={"name": " ", "email": "ana@example.com"})
    yield order_body(customer={"name": "A" * 201, "email": "ana@example.com"})
    yield order_body(customer={"name": None, "email": "ana@example.com"})
    yield order_body(customer={"email": "ana@example.com"})
    yield order_body(customer={"name": "Ana\ud800", "email": "ana@example.com"})
    yield order_body(customer={"name": "Ana\x00", "email": "ana@example.com"})
    yield order_body(customer={"name": "Ana", "email": "ana\udfff@example.com"})
    yield order_body(customer={"name": "Ana", "email": "a" * 250 + "@example.com"})
    yield order_body(shipping_address={**address, "city": "\ud83d"})
    yield order_body(shipping_address={**address, "country": "br"})
    yield order_body(shipping_address={**address, "country": "BR\n"})
    yield order_body(shipping_address={**address, "country": " BR"})
    yield order_body(shipping_address={**address, "line2": ""})
    yield order_body(shipping_address={**address, "region": None})
    yield order_body(shipping_address={**address, "postal_code": "1" * 21})
    yield order_body(payment={"token": ""})
    yield order_body(payment={})
    yield order_body(payment="tok")
    yield {**base, "total": "1.00"}
    yield {key: value for key, value in base.items() if key != "payment"}
    yield []
    yield "order"
    # the shop's own data: accepted at its bounds, refused past them on both paths
    yield order_body(metadata={f"k{i}": "v" * 500 for i in range(50)}, external_reference="r" * 100)
    yield order_body(metadata={"k" * 40: ""}, external_reference="chk_1")
    yield order_body(metadata={f"k{i}": "v" for i in range(51)})
    yield order_body(metadata={"": "v"})
    yield order_body(metadata={"k" * 41: "v"})
    yield order_body(metadata={"k": "v" * 501})
    yield order_body(metadata={"k": 7})
    yield order_body(metadata={"k": None})
    yield order_body(metadata={"k": "v\x00"})
    yield order_body(metadata=["k", "v"])
    yield order_body(metadata=None)
    yield order_body(external_reference="")
    yield order_body(external_reference=" chk_1")
    yield order_body(external_reference="chk_1\n")
    yield order_body(external_reference="r" * 101)
    yield order_body(external_reference=None)


def test_the_lean_validator_accepts_exactly_what_the_serializer_accepts(order_body):
    """Each body the lean path lets through the serializer accepts too, and the other way
    round: neither coerces (a number as a string, a whole float, a SKU as a number are
    refused by both, since the strict serializer takes each field's own JSON type only)."""
    verdicts = [
        (body, lean._validated(body) is not None, OrderCreateInputSerializer(data=body).is_valid())
        for body in _variants(order_body)
    ]

    assert [body for body, mine, theirs in verdicts if mine != theirs] == []
    # base, 10 000, blank line2, " " name, and the shop's own data at its bounds (2)
    assert sum(mine for _, mine, _ in verdicts) == 6


def test_each_leaf_keeps_its_checks_but_the_bounds_the_schema_checks():
    from django.core.validators import EmailValidator, MaxLengthValidator

    name = lean._INPUT.fields["customer"].fields["name"]
    email = lean._INPUT.fields["customer"].fields["email"]
    quantity = lean._INPUT.fields["lines"].child.fields["quantity"]

    assert not any(isinstance(check, MaxLengthValidator) for check in lean._LEAF_CHECKS[name])
    assert lean._no_surrogates in lean._LEAF_CHECKS[name]
    assert any(isinstance(check, EmailValidator) for check in lean._LEAF_CHECKS[email])
    assert lean._LEAF_CHECKS[quantity] == ()
    # a bound the schema does not check (another limit than the field's) is kept
    field = serializers.CharField(max_length=10, validators=[MaxLengthValidator(5)])
    assert any(
        isinstance(check, MaxLengthValidator) and check.limit_value == 5
        for check in lean._leaf_checks(field)
    )


def test_a_body_the_lean_path_refuses_gets_the_drf_views_document(api, products, order_body):
    body = order_body(lines=[{"sku": "MUG", "quantity": 0, "colour": "red"}])

    response = api.post("/api/v1/orders", body, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert {(e["attr"], e["code"]) for e in problem["errors"]} == {
        ("lines.0.quantity", "min_value"),
        ("lines.0.colour", "unknown_field"),
    }


# --- the rate limit counts each request once, whichever path answers ------------------------------
def test_a_request_handed_on_is_counted_once(api, products, order_body, settings):
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                    "LOCATION": f"lean-{uuid.uuid4().hex}"}
    }  # fmt: skip
    settings.API_RATE_LIMIT = "3/minute"
    bad = order_body(lines=[{"sku": "NOPE", "quantity": 1}])

    answers = [
        api.post("/api/v1/orders", bad, format="json").status_code,  # handed on: 400
        api.post("/api/v1/orders", order_body(), format="json").status_code,
        api.post("/api/v1/orders", order_body(), format="json").status_code,
        api.post("/api/v1/orders", order_body(), format="json").status_code,
    ]

    assert answers == [400, 201, 201, 429]


def test_an_advisory_lock_held_by_a_twin_is_a_409(api, shop, products, order_body):
    """The write only *tries* the lock: held elsewhere, the DRF view answers 409."""
    from orderflow.idempotency import lock_name

    twin = connection.copy() if hasattr(connection, "copy") else None
    assert twin is not None
    try:
        with twin.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
                [lock_name(f"shop:{shop.pk}", "busy")],
            )
            before = row_counts()
            response = api.post(
                "/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="busy"
            )
            cursor.execute("ROLLBACK")
    finally:
        twin.close()

    assert_problem(response, status=409, type_slug="request-in-flight")
    assert response["Retry-After"] == "1"
    assert row_counts() == before


def test_an_order_placed_by_staff_names_them_in_its_event(shop, products):
    from orders import services

    order, _ = services.order_place_once(
        shop=shop,
        form_key=uuid.uuid4(),
        customer=services.CustomerInput(name="Ana", email="ana@example.com"),
        shipping_address={"line1": "R 1", "city": "SP", "postal_code": "01000", "country": "BR"},
        lines=[services.LineInput(sku="MUG", quantity=1)],
        payment_token="tok_ok",
        actor=services.Actor(kind="staff", name="ana"),
    )

    event = OutboxEvent.objects.get(type="order.placed")
    assert (event.data["actor"], event.data["shop_name"], event.data["tracking_token"]) == (
        "staff:ana",
        shop.name,
        order.tracking_token,
    )


# --- binding: the write's rows, stored as the ORM stores them -----------------------------------
def test_every_column_of_the_write_reads_back_as_the_orm_stored_it(
    api, products, order_body, settings
):
    """Each row the write inserts travels as a JSON object made by ``intake_sql._to_json``
    and typed by ``jsonb_populate_record``: for the rows of an order the ORM stored (the DRF
    view's), every column PostgreSQL reads from that object equals the stored column."""
    settings.ORDER_INTAKE_LEAN = False
    body = _full_body(order_body)
    body["metadata"] = {"ref": "ção", "n": "1"}
    api.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="bind")
    order = Order.objects.get()
    rows = [
        (order, intake_sql._ORDER_JSON),
        (OutboxEvent.objects.get(), intake_sql._EVENT_JSON),
        (IdempotencyKey.objects.get(), intake_sql._KEY_JSON),
    ]
    with connection.cursor() as cursor:
        for row, converters in rows:
            table = row._meta.db_table
            values = {attname: getattr(row, attname) for attname, _, _, _ in converters}
            record = Jsonb(intake_sql._row(converters, values), intake_sql._json_dumps)
            columns = [column for _, column, _, _ in converters]
            same = ", ".join(f't."{c}" IS NOT DISTINCT FROM r."{c}"' for c in columns)
            cursor.execute(
                f"SELECT {same} FROM {table} t, jsonb_populate_record(NULL::{table}, %s::jsonb) r"  # noqa: S608
                f" WHERE t.{row._meta.pk.column} = %s",
                [record, row.pk],
            )
            assert dict(zip(columns, cursor.fetchone(), strict=True)) == dict.fromkeys(
                columns, True
            ), table


def test_the_lines_read_back_as_the_orm_stored_them(api, products, order_body, settings):
    settings.ORDER_INTAKE_LEAN = False
    api.post("/api/v1/orders", _full_body(order_body), format="json")
    lines = list(Order.objects.get().lines.order_by("id"))
    converters = intake_sql._LINE_JSON
    record = Jsonb(
        [
            intake_sql._row(converters, {a: getattr(line, a) for a, _, _, _ in converters})
            for line in lines
        ],
        intake_sql._json_dumps,
    )
    columns = ", ".join(f'"{column}"' for _, column, _, _ in converters)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM jsonb_to_recordset(%s::jsonb)"  # noqa: S608
            f" AS u({intake_sql._LINE_RECORD})",
            [record],
        )
        from_json = cursor.fetchall()
        cursor.execute(
            f"SELECT {columns} FROM orders_orderline WHERE order_id = %s ORDER BY id",  # noqa: S608
            [lines[0].order_id],
        )
        assert from_json == cursor.fetchall()
    assert len(lines) > 1


def test_a_kind_of_column_the_intake_does_not_know_fails_at_import():
    from django.db import models

    field = models.DurationField()
    field.set_attributes_from_name("wait")
    field.model = Order

    with pytest.raises(TypeError, match="DurationField is not written by the intake"):
        intake_sql._to_json(field)


@pytest.mark.parametrize("script_prefix", ["/", "/orderflow/"])
@pytest.mark.parametrize(
    "token", ["Zq3-_x9TbQw2LkP0aa8VhS1yNcR4uJ7e", "a b é?#"], ids=["urlsafe", "odd"]
)
def test_the_tracking_url_is_the_one_reverse_gives_under_any_script_prefix(
    script_prefix, token, settings
):
    settings.PUBLIC_BASE_URL = "https://shop.example"
    before = get_script_prefix()
    set_script_prefix(script_prefix)
    try:
        # twice: the first call remembers the path, the second uses it
        urls = [lean._tracking_url(token), lean._tracking_url(token)]
        expected = settings.PUBLIC_BASE_URL + reverse("tracking:public", args=[token])
    finally:
        set_script_prefix(before)

    assert urls == [expected, expected]
    assert expected.startswith(f"https://shop.example{script_prefix}")


def test_an_empty_tracking_token_is_refused_as_reverse_refuses_it():
    with pytest.raises(NoReverseMatch):
        lean._tracking_url("")


@pytest.mark.parametrize(
    "value",
    ["0", "9.90", "9.9", "0.005", "0.015", "-1.235", "1234567890.12", "3.14159", "1E+3", "12"],
)
def test_amounts_are_written_as_the_serializer_writes_them(value):
    from decimal import Decimal

    fields = {
        lean._MONEY: OrderOutputSerializer().fields["total"],
        lean._RATE: OrderOutputSerializer().fields["lines"].child.fields["tax_rate"],
    }
    for text, field in fields.items():
        assert _outcome(text, Decimal(value)) == _outcome(field.to_representation, Decimal(value))


def _outcome(function, value):
    """What ``function`` returns, or the kind of error it raises (too many digits)."""
    try:
        return function(value)
    except Exception as error:  # the kind is what is compared
        return type(error)
