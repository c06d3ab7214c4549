from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from orders import services
from orders.models import ShopAPIKey

from ..assertions import assert_problem, row_counts

pytestmark = pytest.mark.django_db


def _client(authorization: str | None) -> APIClient:
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client


def _assert_unauthenticated(response, detail: str) -> None:
    body = assert_problem(response, status=401, type_slug="not-authenticated")
    assert body["detail"] == detail
    assert response["WWW-Authenticate"] == 'Bearer realm="orderflow"'


MISSING = "Authentication credentials were not provided."
MALFORMED = "Malformed Authorization header: send `Authorization: Bearer <api key>`."
INVALID = "The API key is invalid, expired or revoked."


@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        pytest.param(None, MISSING, id="missing"),
        pytest.param("", MISSING, id="empty"),
        pytest.param("Token abc.def", MALFORMED, id="other-scheme"),
        pytest.param("Bearer", MALFORMED, id="no-key"),
        pytest.param("Bearer abc def", MALFORMED, id="two-words"),
        pytest.param("Bearer no-dot-in-key", INVALID, id="no-prefix"),
        pytest.param("Bearer abcdefgh.not-the-secret", INVALID, id="unknown-key"),
        pytest.param("Bearer naïve.key", "The API key is not valid.", id="not-ascii"),
    ],
)
def test_refuses_a_missing_or_malformed_key_and_writes_nothing(
    products, order_body, authorization, detail
):
    before = row_counts()

    response = _client(authorization).post(
        "/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )

    _assert_unauthenticated(response, detail)
    assert row_counts() == before


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/orders"),
        ("get", "/api/v1/orders/00000000-0000-0000-0000-000000000000"),
        ("post", "/api/v1/orders/00000000-0000-0000-0000-000000000000/cancel"),
        ("get", "/api/v1/products"),
        ("post", "/api/v1/products"),
        ("get", "/api/v1/products/MUG"),
        ("patch", "/api/v1/products/MUG"),
    ],
)
def test_every_endpoint_needs_a_key(db, method, path):
    response = getattr(APIClient(), method)(path, {}, format="json")

    _assert_unauthenticated(response, MISSING)


def test_refuses_a_key_with_a_wrong_secret(shop, products):
    _, raw_key = services.api_key_create(shop=shop, name="test")
    prefix = raw_key.partition(".")[0]

    response = _client(f"Bearer {prefix}.{'x' * 32}").get("/api/v1/orders")

    _assert_unauthenticated(response, INVALID)


def test_refuses_a_revoked_key(shop, products, order_body):
    api_key, raw_key = services.api_key_create(shop=shop, name="test")
    services.api_key_revoke(api_key=api_key)
    before = row_counts()

    response = _client(f"Bearer {raw_key}").post("/api/v1/orders", order_body(), format="json")

    _assert_unauthenticated(response, INVALID)
    assert row_counts() == before


def test_refuses_an_expired_key(shop, products):
    api_key, raw_key = services.api_key_create(shop=shop, name="test")
    ShopAPIKey.objects.filter(pk=api_key.pk).update(
        expiry_date=timezone.now() - timedelta(seconds=1)
    )

    response = _client(f"Bearer {raw_key}").get("/api/v1/products")

    _assert_unauthenticated(response, INVALID)


def test_accepts_the_scheme_in_any_case(shop, products):
    _, raw_key = services.api_key_create(shop=shop, name="test")

    response = _client(f"bearer {raw_key}").get("/api/v1/products")

    assert response.status_code == 200, response.content


def test_notes_when_a_key_was_last_used(shop, products):
    api_key, raw_key = services.api_key_create(shop=shop, name="test")
    assert api_key.last_used_at is None
    started = timezone.now()

    response = _client(f"Bearer {raw_key}").get("/api/v1/products")

    assert response.status_code == 200, response.content
    api_key.refresh_from_db()
    assert started <= api_key.last_used_at <= timezone.now()


def test_a_key_acts_for_its_own_shop_only(shop, other_shop, products):
    _, raw_key = services.api_key_create(shop=other_shop, name="test")

    response = _client(f"Bearer {raw_key}").get("/api/v1/products/MUG")

    assert_problem(response, status=404, type_slug="not-found")


def test_the_key_and_its_shop_are_read_in_one_statement_as_the_orm_reads_them(
    shop, assert_statements
):
    """The prepared lookup (every API request but the lean intake's) gives the ORM's rows:
    the unrevoked key of the prefix, its shop loaded with it; a revoked key, nothing."""
    from orders import repository

    api_key, raw_key = services.api_key_create(shop=shop, name="first")
    prefix = raw_key.partition(".")[0]

    with assert_statements(1):
        found = repository.api_key_with_shop(prefix)

    expected = ShopAPIKey.objects.select_related("shop").get(pk=api_key.pk)
    fields = [f.attname for f in ShopAPIKey._meta.concrete_fields]
    assert [getattr(found, f) for f in fields] == [getattr(expected, f) for f in fields]
    shop_fields = [f.attname for f in type(shop)._meta.concrete_fields]
    assert [getattr(found.shop, f) for f in shop_fields] == [
        getattr(expected.shop, f) for f in shop_fields
    ]
    assert repository.api_key_with_shop("no-such") is None
    services.api_key_revoke(api_key=expected)
    assert repository.api_key_with_shop(prefix) is None
