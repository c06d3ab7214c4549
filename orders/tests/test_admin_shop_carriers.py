"""Support sees and edits the carriers a shop ships with on the shop's admin page."""

import pytest

from orders.models import ShopCarrier
from testkit.factories import ShopFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def support(client, admin_user):
    client.force_login(admin_user)
    return client


def test_the_shop_page_lists_its_carriers(support):
    shop = ShopFactory(carriers=["DHL", "demo-post"])

    response = support.get(f"/admin/orders/shop/{shop.pk}/change/")

    assert response.status_code == 200
    formset = next(
        f for f in response.context["inline_admin_formsets"] if f.formset.model is ShopCarrier
    )
    assert sorted(form.instance.carrier for form in formset.formset.forms) == [
        "DHL",
        "demo-post",
    ]


def test_support_adds_a_carrier_to_a_shop(support):
    shop = ShopFactory(carriers=[])
    page = support.get(f"/admin/orders/shop/{shop.pk}/change/")
    data = {
        name: value
        for form in [page.context["adminform"].form]
        for name, value in form.initial.items()
        if value is not None
    }
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data |= {f"{management.prefix}-{name}": value for name, value in management.initial.items()}
    prefix = next(
        f.formset.prefix
        for f in page.context["inline_admin_formsets"]
        if f.formset.model is ShopCarrier
    )
    data |= {f"{prefix}-TOTAL_FORMS": "1", f"{prefix}-0-carrier": "UPS"}

    response = support.post(f"/admin/orders/shop/{shop.pk}/change/", data)

    assert response.status_code == 302, response.context and response.context["errors"]
    assert list(shop.carriers.values_list("carrier", flat=True)) == ["UPS"]
