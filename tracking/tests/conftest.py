import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from orderflow.events.pump import drain
from orders.services.carriers import shop_carrier_bind
from testkit.factories import ProductFactory, ShopFactory, order_for

CARRIER = "demo-post"
CARRIER_SECRET = "test-carrier-secret-0123456789"


@pytest.fixture(autouse=True)
def _tracking_settings(settings):
    settings.CARRIER_SECRETS = {CARRIER: CARRIER_SECRET, "other-post": "other-secret"}
    settings.PUBLIC_BASE_URL = "https://track.example.com"


@pytest.fixture
def shop(db):
    shop = ShopFactory(name="Demo Coffee")
    shop_carrier_bind(shop=shop, carrier=CARRIER)
    return shop


@pytest.fixture
def products(shop):
    return {
        "COFFEE-1KG": ProductFactory(shop=shop, sku="COFFEE-1KG", price="24.90", on_hand=50),
        "MUG": ProductFactory(shop=shop, sku="MUG", price="9.90", on_hand=1),
    }


@pytest.fixture
def place(products):
    """Place an order of the shop through the intake service (lines: SKU -> quantity)."""

    def run(**options):
        return order_for(options.pop("shop", products["COFFEE-1KG"].shop), **options)

    return run


@pytest.fixture
def settle():
    """Relay and deliver every event in this process, as a worker would."""

    def run() -> None:
        drain(max_seconds=30)

    return run


def staff_member(username: str, *roles: str):
    """Create an active staff user in the given role groups (none: staff without a role)."""
    user = get_user_model().objects.create_user(
        username=username, password="a-long-password-42", is_staff=True
    )
    user.groups.set(Group.objects.filter(name__in=roles))
    return user


@pytest.fixture
def staff_user(db):
    """A supervisor: every staff page and action is open to them."""
    return staff_member("ana", "supervisor")


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client
