"""Carrier reports are kept for the retention, then purged in batches."""

from datetime import timedelta

import pytest
from django.utils import timezone

from orders import services
from orders.models import CarrierReport
from orders.services.shipments import carrier_reports_purge
from orders.tasks import carrier_reports_purge_task
from testkit.factories import STAFF, order_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def parcel(products):
    order = order_in(products["COFFEE-1KG"].shop, "confirmed")
    return services.order_ship(
        order_id=order.pk, shop=None, actor=STAFF, carrier="demo-post", tracking_number="DP-1"
    )


def _reports(parcel, *, count: int, age_days: float) -> None:
    for n in range(count):
        services.shipment_report(
            carrier="demo-post",
            event_id=f"{age_days}-{n}",
            tracking_number="DP-1",
            status="in_transit",
        )
    CarrierReport.objects.filter(event_id__startswith=f"{age_days}-").update(
        received_at=timezone.now() - timedelta(days=age_days)
    )


def test_purges_only_reports_past_the_retention_in_batches(parcel, settings):
    settings.CARRIER_REPORTS_RETENTION_DAYS = 30
    _reports(parcel, count=5, age_days=31)
    _reports(parcel, count=2, age_days=29)

    deleted = carrier_reports_purge(batch_size=2)

    assert deleted == 5
    assert sorted(CarrierReport.objects.values_list("event_id", flat=True)) == ["29-0", "29-1"]


def test_a_purged_event_id_is_new_again_and_a_kept_one_is_a_duplicate(parcel):
    _reports(parcel, count=1, age_days=8)
    _reports(parcel, count=1, age_days=6)

    carrier_reports_purge(older_than_days=7)
    outcomes = [
        services.shipment_report(
            carrier="demo-post", event_id=event_id, tracking_number="DP-1", status="in_transit"
        ).duplicate
        for event_id in ("8-0", "6-0")
    ]

    assert outcomes == [False, True]


def test_the_task_purges_with_the_setting(parcel, settings):
    settings.CARRIER_REPORTS_RETENTION_DAYS = 1
    _reports(parcel, count=3, age_days=2)

    assert carrier_reports_purge_task() == 3
    assert not CarrierReport.objects.exists()
