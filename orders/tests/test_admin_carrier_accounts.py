"""Support adds and changes a shop's carrier accounts in the admin; no secret is ever shown."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from orders.carrier_credentials import credentials_decrypt
from orders.models import ShopCarrier
from orders.models.carrier_accounts import CarrierAccount, ParcelPoll
from orders.services.carrier_accounts import carrier_account_create
from testkit.factories import ShopFactory

pytestmark = pytest.mark.django_db

SECRET = "dhl-password-9e8d7c"
ADD = "/admin/orders/carrieraccount/add/"
MANAGEMENT = {
    "polls-TOTAL_FORMS": "0",
    "polls-INITIAL_FORMS": "0",
    "polls-MIN_NUM_FORMS": "0",
    "polls-MAX_NUM_FORMS": "1000",
}


@pytest.fixture
def support(client, admin_user):
    client.force_login(admin_user)
    return client


def _change(account) -> str:
    return f"/admin/orders/carrieraccount/{account.pk}/change/"


def test_support_adds_an_account_and_the_shop_ships_with_the_carrier(support):
    shop = ShopFactory(carriers=[])

    response = support.post(
        ADD,
        {
            "shop": shop.pk,
            "carrier": "dhl_express",
            "active": "on",
            "credential_site_id": "dhl-site-77",
            "credential_password": SECRET,
            **MANAGEMENT,
        },
    )

    assert response.status_code == 302, response.context and response.context["errors"]
    account = CarrierAccount.objects.get()
    assert credentials_decrypt(account.credentials_encrypted) == {
        "site_id": "dhl-site-77",
        "password": SECRET,
    }
    assert ShopCarrier.objects.filter(shop=shop, carrier="dhl_express").exists()


def test_missing_credentials_are_named_on_their_fields(support):
    shop = ShopFactory(carriers=[])

    response = support.post(
        ADD, {"shop": shop.pk, "carrier": "ups", "credential_client_id": "x", **MANAGEMENT}
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.errors["credential_client_secret"] == ["ups requires client_secret."]
    assert not CarrierAccount.objects.exists()


def test_the_change_page_never_shows_a_secret_and_empty_fields_keep_them(support):
    shop = ShopFactory(carriers=[])
    account = carrier_account_create(
        shop=shop,
        carrier="dhl_express",
        credentials={"site_id": "dhl-site-77", "password": SECRET},
    )
    ParcelPoll.objects.create(
        account=account,
        tracking_number="3180831640",
        next_poll_at="2026-12-05T10:00Z",
        eta="2026-12-07",
    )

    page = support.get(_change(account))

    assert page.status_code == 200
    html = page.content.decode()
    assert SECRET not in html
    assert "dhl-site-77" not in html  # the site id is a credential too
    assert "password, site_id" in html  # which ones are set
    assert "3180831640" in html
    response = support.post(_change(account), {"active": "", "test_mode": "on", **MANAGEMENT})
    assert response.status_code == 302, response.context and response.context["errors"]
    account.refresh_from_db()
    assert (account.active, account.test_mode) == (False, True)
    assert credentials_decrypt(account.credentials_encrypted)["password"] == SECRET


def test_the_list_is_searchable_by_shop_and_costs_the_same_queries_for_more_rows(support):
    for n in range(2):
        carrier_account_create(
            shop=ShopFactory(name=f"Loja Norte {n}", carriers=[]),
            carrier="ups",
            credentials={"client_id": "a", "client_secret": "b"},
        )
    with CaptureQueriesContext(connection) as few:
        assert support.get("/admin/orders/carrieraccount/").status_code == 200
    for n in range(2, 8):
        carrier_account_create(
            shop=ShopFactory(name=f"Loja Sul {n}", carriers=[]),
            carrier="usps",
            credentials={"client_id": "a", "client_secret": "b"},
        )
    with CaptureQueriesContext(connection) as many:
        assert support.get("/admin/orders/carrieraccount/").status_code == 200

    assert len(many) == len(few)
    found = support.get("/admin/orders/carrieraccount/", {"q": "Norte"})
    assert sorted(found.context["cl"].result_list.values_list("carrier", flat=True)) == [
        "ups",
        "ups",
    ]


def test_a_second_account_of_a_carrier_for_a_shop_is_a_form_error(support):
    shop = ShopFactory(carriers=[])
    carrier_account_create(
        shop=shop, carrier="ups", credentials={"client_id": "a", "client_secret": "b"}
    )

    response = support.post(
        ADD,
        {
            "shop": shop.pk,
            "carrier": "ups",
            "credential_client_id": "c",
            "credential_client_secret": "d",
            **MANAGEMENT,
        },
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert CarrierAccount.objects.count() == 1
