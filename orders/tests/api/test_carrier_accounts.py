"""``/api/v1/carrier-accounts``: write-only credentials, encrypted at rest, shop-scoped."""

import json

import pytest
from django.db import connection

from orders.carrier_credentials import credentials_decrypt
from orders.models import ShopCarrier
from orders.models.carrier_accounts import CarrierAccount
from testkit.factories import ShopFactory

from ..assertions import assert_problem

pytestmark = pytest.mark.django_db

SECRET = "ups-client-secret-4f1c9a"
UPS = {"carrier": "ups", "credentials": {"client_id": "AbC123", "client_secret": SECRET}}


@pytest.fixture
def shop(db):
    """A shop bound to no carrier yet."""
    return ShopFactory(carriers=[])


def _attrs(problem: dict) -> dict[str, str]:
    return {error["attr"]: error["code"] for error in problem["errors"]}


def test_an_account_is_created_and_its_credentials_are_never_shown(api, shop):
    response = api.post("/api/v1/carrier-accounts", UPS, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["carrier"] == "ups"
    assert (body["active"], body["test_mode"]) == (True, False)
    assert body["credentials_set"] == ["client_id", "client_secret"]
    assert "credentials" not in body
    for path in ("/api/v1/carrier-accounts", "/api/v1/carrier-accounts/ups"):
        shown = api.get(path)
        assert shown.status_code == 200
        assert SECRET not in shown.content.decode()
        assert "AbC123" not in shown.content.decode()
    # an active account lets the shop ship with the carrier and take its reports
    assert ShopCarrier.objects.filter(shop=shop, carrier="ups").exists()


def test_credentials_are_encrypted_at_rest(api):
    api.post("/api/v1/carrier-accounts", UPS, format="json")

    with connection.cursor() as cursor:
        cursor.execute("SELECT row_to_json(a)::text FROM orders_carrieraccount a")
        (row,) = cursor.fetchone()
    assert SECRET not in row
    assert "AbC123" not in row
    stored = CarrierAccount.objects.get()
    assert credentials_decrypt(stored.credentials_encrypted) == UPS["credentials"]


@pytest.mark.parametrize(
    ("body", "attrs"),
    [
        ({"carrier": "fedex", "credentials": {}}, {"carrier": "invalid_choice"}),
        ({"carrier": "ups", "credentials": {"client_id": "x"}},
         {"credentials.client_secret": "required"}),
        ({"carrier": "ups",
          "credentials": {"client_id": "x", "client_secret": "y", "site_id": "z"}},
         {"credentials.site_id": "unknown_field"}),
        ({"carrier": "ups", "credentials": {"client_id": 7, "client_secret": "y"}},
         {"credentials.client_id": "invalid"}),
        ({"carrier": "ups", "credentials": {"client_id": " ", "client_secret": "y"}},
         {"credentials.client_id": "invalid"}),
        ({"carrier": "ups", "credentials": "client_id=x"}, {"credentials": "not_a_dict"}),
        ({**UPS, "password": "x"}, {"password": "unknown_field"}),
        ({**UPS, "active": "yes"}, {"active": "invalid"}),
    ],
)  # fmt: skip
def test_bad_input_is_a_problem_naming_the_field_and_nothing_is_stored(api, body, attrs):
    response = api.post("/api/v1/carrier-accounts", body, format="json")

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert _attrs(problem) == attrs
    assert not CarrierAccount.objects.exists()
    assert not ShopCarrier.objects.exists()


def test_the_problem_names_the_carriers_credential_fields(api):
    response = api.post(
        "/api/v1/carrier-accounts",
        {"carrier": "dhl_express", "credentials": {"password": "p"}},
        format="json",
    )

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert problem["detail"] == (
        "dhl_express takes the credentials site_id, password (required) and account_number "
        "(optional)."
    )
    assert problem["required_credentials"] == ["site_id", "password"]
    assert _attrs(problem) == {"credentials.site_id": "required"}


def test_a_second_account_for_a_carrier_is_a_conflict(api):
    api.post("/api/v1/carrier-accounts", UPS, format="json")

    response = api.post("/api/v1/carrier-accounts", UPS, format="json")

    assert_problem(response, status=409, type_slug="already-exists")
    assert CarrierAccount.objects.count() == 1


def test_another_shops_account_does_not_exist_for_a_shop(api, other_api):
    api.post("/api/v1/carrier-accounts", UPS, format="json")

    assert other_api.get("/api/v1/carrier-accounts").json() == []
    for method in ("get", "delete"):
        response = getattr(other_api, method)("/api/v1/carrier-accounts/ups")
        assert_problem(response, status=404, type_slug="not-found")
    response = other_api.patch("/api/v1/carrier-accounts/ups", {"active": False}, format="json")
    assert_problem(response, status=404, type_slug="not-found")
    assert CarrierAccount.objects.get().active is True


def test_new_credentials_replace_the_old_ones_whole(api):
    api.post("/api/v1/carrier-accounts", UPS, format="json")
    CarrierAccount.objects.update(last_error="250003: Invalid Access License number", failures=3)

    response = api.patch(
        "/api/v1/carrier-accounts/ups",
        {
            "credentials": {
                "client_id": "New1",
                "client_secret": "new-secret",
                "account_number": "A1",
            }
        },
        format="json",
    )

    assert response.status_code == 200, response.content
    assert response.json()["credentials_set"] == ["account_number", "client_id", "client_secret"]
    assert response.json()["last_error"] == ""
    stored = CarrierAccount.objects.get()
    assert credentials_decrypt(stored.credentials_encrypted)["client_secret"] == "new-secret"
    assert stored.failures == 0


def test_patch_refuses_incomplete_credentials_and_changes_nothing(api):
    api.post("/api/v1/carrier-accounts", UPS, format="json")
    before = CarrierAccount.objects.get().credentials_encrypted

    response = api.patch(
        "/api/v1/carrier-accounts/ups",
        {"credentials": {"client_id": "only"}, "active": False},
        format="json",
    )

    problem = assert_problem(response, status=400, type_slug="validation-error")
    assert _attrs(problem) == {"credentials.client_secret": "required"}
    stored = CarrierAccount.objects.get()
    assert (stored.credentials_encrypted, stored.active) == (before, True)


def test_pause_and_delete(api, shop):
    api.post("/api/v1/carrier-accounts", UPS, format="json")

    paused = api.patch("/api/v1/carrier-accounts/ups", {"active": False}, format="json")
    assert paused.json()["active"] is False
    assert api.delete("/api/v1/carrier-accounts/ups").status_code == 204

    assert not CarrierAccount.objects.exists()
    # the shop still ships with the carrier: its parcels on the road keep their reports
    assert ShopCarrier.objects.filter(shop=shop, carrier="ups").exists()
    assert json.loads(api.get("/api/v1/carrier-accounts").content) == []


def test_a_rotated_key_still_reads_and_saving_moves_the_credentials_to_it(api, settings):
    settings.CARRIER_CREDENTIALS_KEY = "a" * 43 + "="
    api.post("/api/v1/carrier-accounts", UPS, format="json")
    old = CarrierAccount.objects.get().credentials_encrypted
    settings.CARRIER_CREDENTIALS_KEY = "b" * 43 + "="
    settings.CARRIER_CREDENTIALS_OLD_KEYS = ["a" * 43 + "="]
    assert credentials_decrypt(old) == UPS["credentials"]

    api.patch("/api/v1/carrier-accounts/ups", {"test_mode": True}, format="json")

    settings.CARRIER_CREDENTIALS_OLD_KEYS = []
    rotated = CarrierAccount.objects.get().credentials_encrypted
    assert credentials_decrypt(rotated) == UPS["credentials"]
