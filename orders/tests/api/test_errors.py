"""Transport-level failures of the shops' API: each is a problem document and writes nothing."""

import json

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from ..assertions import assert_problem, row_counts

pytestmark = pytest.mark.django_db

LIMIT = 256 * 1024


def _padded_body(order_body, size: int) -> bytes:
    """A valid order whose JSON encoding is exactly ``size`` bytes."""
    body = order_body()
    body["customer"]["name"] = ""
    base = len(json.dumps(body).encode())
    body["customer"]["name"] = "x" * (size - base)
    raw = json.dumps(body).encode()
    assert len(raw) == size
    return raw


def test_rejects_malformed_json(api, products):
    before = row_counts()

    response = api.post("/api/v1/orders", data=b'{"customer": {', content_type="application/json")

    body = assert_problem(response, status=400, type_slug="malformed-request")
    assert body["title"] == "Malformed request body"
    assert body["detail"].startswith("JSON parse error")
    assert body["errors"] == []
    assert row_counts() == before


def test_rejects_a_body_that_is_not_json(api, products):
    before = row_counts()

    response = api.post("/api/v1/orders", {"sku": "MUG", "quantity": "1"}, format="multipart")

    body = assert_problem(response, status=415, type_slug="unsupported-media-type")
    assert body["detail"].startswith('Unsupported media type "multipart/form-data')
    assert row_counts() == before


def test_rejects_form_encoding(api, products):
    before = row_counts()

    response = api.post(
        "/api/v1/orders", data="lines=1", content_type="application/x-www-form-urlencoded"
    )

    body = assert_problem(response, status=415, type_slug="unsupported-media-type")
    assert body["detail"] == (
        'Unsupported media type "application/x-www-form-urlencoded" in request.'
    )
    assert row_counts() == before


def test_the_body_limit_is_256_kib():
    assert settings.API_MAX_BODY_BYTES == LIMIT


def test_rejects_a_body_over_256_kib(api, products, order_body):
    before = row_counts()

    response = api.post(
        "/api/v1/orders",
        data=_padded_body(order_body, LIMIT + 1),
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="big-1",
    )

    body = assert_problem(response, status=413, type_slug="request-too-large")
    assert body["detail"] == "The request body is larger than 262144 bytes."
    assert row_counts() == before


def test_accepts_a_body_of_exactly_256_kib_up_to_validation(api, products, order_body):
    response = api.post(
        "/api/v1/orders",
        data=_padded_body(order_body, LIMIT),
        content_type="application/json",
    )

    # the size is fine; the 262 KB customer name is what the schema refuses
    body = assert_problem(response, status=400, type_slug="validation-error")
    assert [(e["attr"], e["code"]) for e in body["errors"]] == [("customer.name", "max_length")]


def test_refuses_a_large_body_before_authenticating(db, order_body):
    response = APIClient().post(
        "/api/v1/orders", data=_padded_body(order_body, LIMIT + 1), content_type="application/json"
    )

    assert_problem(response, status=413, type_slug="request-too-large")


def test_answers_an_unknown_api_path_with_a_problem(api):
    response = api.get("/api/v1/invoices")

    assert_problem(response, status=404, type_slug="not-found")
    assert response.json() == {
        "type": "/api/problems/not-found",
        "title": "Not found",
        "status": 404,
        "detail": "No such resource.",
        "instance": "/api/v1/invoices",
        "correlation_id": response["X-Correlation-ID"],
        "errors": [],
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", "/api/v1/orders"),
        ("put", "/api/v1/orders/00000000-0000-0000-0000-000000000000"),
        ("get", "/api/v1/orders/00000000-0000-0000-0000-000000000000/cancel"),
        ("delete", "/api/v1/products/MUG"),
    ],
)
def test_answers_a_wrong_method_with_a_problem(api, products, method, path):
    before = row_counts()

    response = getattr(api, method)(path)

    body = assert_problem(response, status=405, type_slug="method-not-allowed")
    assert body["detail"] == f'Method "{method.upper()}" not allowed.'
    assert row_counts() == before


def test_answers_json_only(api, products):
    response = api.get("/api/v1/products", HTTP_ACCEPT="text/html")

    body = assert_problem(response, status=406, type_slug="not-acceptable")
    assert body["detail"] == "Could not satisfy the request Accept header."


@pytest.mark.parametrize("depth", [1025, 3000, 5000])
@pytest.mark.parametrize("bracket", ["[", '{"a":'])
def test_rejects_json_nested_too_deep_without_crashing(api, products, order_body, depth, bracket):
    closing = "]" if bracket == "[" else "}"
    nested = bracket * depth + "1" + closing * depth
    raw = json.dumps(order_body())[:-1] + f', "customer_note": {nested}}}'
    before = row_counts()

    response = api.post("/api/v1/orders", data=raw.encode(), content_type="application/json")

    body = assert_problem(response, status=400, type_slug="malformed-request")
    assert body["detail"].startswith("JSON parse error - depth limit exceeded")
    assert row_counts() == before


def test_rejects_a_lone_surrogate_that_the_database_could_not_store(api, products, order_body):
    raw = json.dumps(order_body()).replace("Ana Souza", "Ana \\ud800")
    before = row_counts()

    response = api.post("/api/v1/orders", data=raw.encode(), content_type="application/json")

    body = assert_problem(response, status=400, type_slug="malformed-request")
    assert body["detail"].startswith("JSON parse error")
    assert row_counts() == before
