"""Poll records of finished parcels are kept for the retention, then purged in batches."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders import services
from orders.choices import OrderStatus
from orders.models import Shipment
from orders.models.carrier_accounts import ParcelPoll
from orders.services.carrier_accounts import carrier_account_create
from orders.services.carrier_polling import _numbers_due, parcel_polls_purge
from orders.tasks import parcel_polls_purge_task
from testkit.factories import STAFF, ProductFactory, ShopFactory, order_in

pytestmark = pytest.mark.django_db

UPS = {"client_id": "orderflow-test", "client_secret": "ups-secret"}


@pytest.fixture
def account():
    shop = ShopFactory(carriers=[])
    ProductFactory(shop=shop, sku="COFFEE-1KG", on_hand=100)
    return carrier_account_create(shop=shop, carrier="ups", credentials=UPS)


def _shipped(account, number: str) -> Shipment:
    order = order_in(account.shop, OrderStatus.CONFIRMED)
    services.order_ship(
        order_id=order.id, shop=None, actor=STAFF, carrier="ups", tracking_number=number
    )
    return Shipment.objects.get(order=order)


def _poll(account, number: str, *, age_days: float, final: bool = False) -> ParcelPoll:
    at = timezone.now() - timedelta(days=age_days)
    return ParcelPoll.objects.create(
        account=account,
        tracking_number=number,
        last_polled_at=at,
        next_poll_at=at + timedelta(hours=1),
        final=final,
    )


def _numbers() -> list[str]:
    return sorted(ParcelPoll.objects.values_list("tracking_number", flat=True))


def test_purges_finished_parcels_past_the_retention_in_batches(account, settings):
    settings.CARRIER_POLL_RETENTION_DAYS = 30
    for number in ("1ZOLDFINAL1", "1ZOLDFINAL2", "1ZOLDFINAL3"):
        _poll(account, number, age_days=31, final=True)
    _poll(account, "1ZRECENTFINAL", age_days=29, final=True)
    # delivered by staff (a push, or the order page): off the road, its record never final
    delivered = _shipped(account, "1ZSTAFFDELIVERED")
    services.order_deliver(order_id=delivered.order_id, shop=None, actor=STAFF)
    _poll(account, "1ZSTAFFDELIVERED", age_days=40)
    # on the road, however long it has waited
    _shipped(account, "1ZONTHEROAD")
    _poll(account, "1ZONTHEROAD", age_days=90)

    deleted = parcel_polls_purge(batch_size=2)

    assert deleted == 4
    assert _numbers() == ["1ZONTHEROAD", "1ZRECENTFINAL"]


def test_a_record_never_answered_is_aged_by_its_claim(account):
    ParcelPoll.objects.create(
        account=account,
        tracking_number="1ZCLAIMEDONLY",
        next_poll_at=timezone.now() - timedelta(days=8),
    )
    _poll(account, "1ZKEPT", age_days=6, final=True)

    assert parcel_polls_purge(older_than_days=7) == 1
    assert _numbers() == ["1ZKEPT"]


def test_a_number_given_again_after_the_purge_is_polled_again(account):
    _poll(account, "1ZREUSED", age_days=60, final=True)
    _shipped(account, "1ZREUSED")  # the carrier gives the number to a new parcel
    now = timezone.now()
    assert _numbers_due(account=account, now=now) == []  # the old record says: final

    parcel_polls_purge(older_than_days=30)

    assert _numbers_due(account=account, now=now) == ["1ZREUSED"]


def test_the_task_purges_with_the_setting(account, settings):
    settings.CARRIER_POLL_RETENTION_DAYS = 1
    _poll(account, "1ZFINAL", age_days=2, final=True)

    assert parcel_polls_purge_task() == 1
    assert not ParcelPoll.objects.exists()
