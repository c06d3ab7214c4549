"""Polling carriers through karrio: batches, backoff, final states, repeats, failing accounts.

The carrier is the fake one on loopback, answering with recorded responses; everything else
(the report service, the state machine, the outbox) is the real thing on PostgreSQL.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from orderflow.models import OutboxEvent
from orders import carriers, services
from orders.choices import OrderStatus
from orders.karrio_tracking import PolledReport, track
from orders.models import CarrierReport, Order, Shipment
from orders.models.carrier_accounts import CarrierAccount, ParcelPoll
from orders.services.carrier_accounts import carrier_account_create
from orders.services.carrier_polling import carrier_parcels_poll, polled_steps
from testkit.factories import STAFF, ProductFactory, ShopFactory, order_in

from . import fake_carrier as carrier_server

UPS = {"client_id": "orderflow-test", "client_secret": "ups-secret"}
DHL = {"site_id": "orderflow", "password": "dhl-password"}
UPS_NUMBER = "1ZA82D672031716786"
UPS_TRACK = f"/api/track/v1/details/{UPS_NUMBER}"
USPS = {"client_id": "orderflow-test", "client_secret": "usps-secret"}
USPS_NUMBER = "9400109104250532908587"
USPS_TRACK = f"/tracking/v3/tracking/{USPS_NUMBER}"
DHL_XML = "/XMLShippingServlet"
DHL_NUMBERS = ["3180831640", "7740842550", "1815115363"]
BASE = 900.0


@pytest.fixture
def fake_carrier(monkeypatch):
    yield from carrier_server.serve(monkeypatch)


@pytest.fixture(autouse=True)
def _polling(settings):
    settings.CARRIER_POLL_BASE_SECONDS = BASE
    settings.CARRIER_POLL_MAX_SECONDS = 8 * BASE
    settings.CARRIER_POLL_INTERVAL = 60.0
    settings.CARRIER_POLL_BATCH_SIZE = 25


def _shop_with(carrier: str, credentials: dict):
    shop = ShopFactory(carriers=[])
    ProductFactory(shop=shop, sku="COFFEE-1KG", on_hand=100)
    account = carrier_account_create(shop=shop, carrier=carrier, credentials=credentials)
    return shop, account


def _shipped(shop, carrier: str, number: str) -> Order:
    order = order_in(shop, OrderStatus.CONFIRMED)
    services.order_ship(
        order_id=order.id, shop=None, actor=STAFF, carrier=carrier, tracking_number=number
    )
    return Order.objects.get(pk=order.pk)


def _events(order) -> list[str]:
    return list(
        OutboxEvent.objects.filter(aggregate_id=str(order.id), type__startswith="shipment.")
        .order_by("sequence")
        .values_list("type", flat=True)
    )


def _waits(poll: ParcelPoll, now) -> float:
    return (poll.next_poll_at - now).total_seconds()


@pytest.mark.django_db
def test_polled_events_go_through_the_report_service(fake_carrier):
    shop, account = _shop_with("ups", UPS)
    order = _shipped(shop, "ups", UPS_NUMBER)
    fake_carrier.answer("GET", UPS_TRACK, "ups/delivery_failed.json")
    now = timezone.now()

    summary = carrier_parcels_poll(now=now)

    # a first poll: the four scans are history, collapsed into the newest one, UPS's
    # exception (type X, karrio's on_hold) with code 48, a missed delivery (#16)
    assert (summary.accounts, summary.parcels, summary.reports_applied) == (1, 1, 1)
    assert _events(order) == ["shipment.dispatched", "shipment.delivery_failed"]
    failed = OutboxEvent.objects.get(aggregate_id=str(order.id), type="shipment.delivery_failed")
    assert failed.data["location"] == "Wayne, NJ, 07470, US"
    assert failed.data["note"].startswith("The receiver was not available for delivery")
    assert failed.data["actor"] == "carrier:ups"
    # under the event's stable id, as the adapter names it
    newest = (
        track(carrier="ups", credentials=UPS, test_mode=False, tracking_numbers=[UPS_NUMBER])
        .parcels[UPS_NUMBER]
        .reports[-1]
    )
    assert list(CarrierReport.objects.filter(order=order).values_list("event_id", flat=True)) == [
        newest.event_id
    ]
    poll = ParcelPoll.objects.get(account=account, tracking_number=UPS_NUMBER)
    assert (poll.unchanged_polls, poll.final, poll.carrier_status) == (0, False, "on_hold")
    assert 0.75 * BASE <= _waits(poll, now) <= 1.25 * BASE
    account.refresh_from_db()
    assert (account.last_polled_at, account.last_error, account.failures) == (now, "", 0)


@pytest.mark.django_db
def test_returned_to_sender_is_the_parcels_last_report_and_stops_polling(fake_carrier):
    shop, _ = _shop_with("ups", UPS)
    order = _shipped(shop, "ups", UPS_NUMBER)
    fake_carrier.answer("GET", UPS_TRACK, "ups/returned_to_sender.json")
    now = timezone.now()

    carrier_parcels_poll(now=now)

    assert _events(order) == ["shipment.dispatched", "shipment.returned_to_sender"]
    returned = OutboxEvent.objects.get(
        aggregate_id=str(order.id), type="shipment.returned_to_sender"
    )
    assert returned.data["note"].startswith("Returned to shipper")
    assert returned.data["status"] == ""
    assert Shipment.objects.get(order=order).status == "returned_to_sender"
    order.refresh_from_db()
    assert order.status == OrderStatus.SHIPPED
    poll = ParcelPoll.objects.get()
    assert (poll.final, poll.carrier_status) == (True, "return_to_sender")
    calls = len(fake_carrier.tracking_calls())
    carrier_parcels_poll(now=now + timedelta(days=2))
    assert len(fake_carrier.tracking_calls()) == calls  # never asked again


@pytest.mark.django_db
def test_a_shipment_the_carrier_cancelled_is_a_cancelled_parcel_and_stops_polling(fake_carrier):
    shop, _ = _shop_with("ups", UPS)
    order = _shipped(shop, "ups", UPS_NUMBER)
    fake_carrier.answer("GET", UPS_TRACK, "ups/exception_cancelled.json")
    now = timezone.now()

    carrier_parcels_poll(now=now)

    assert _events(order) == ["shipment.dispatched", "shipment.cancelled"]
    cancelled = OutboxEvent.objects.get(aggregate_id=str(order.id), type="shipment.cancelled")
    assert (cancelled.data["note"], cancelled.data["status"]) == (
        "The request for this package was cancelled.",
        "",
    )
    assert [line["sku"] for line in cancelled.data["lines"]] == ["COFFEE-1KG"]
    assert Shipment.objects.get(order=order).status == "cancelled"
    # the order stays where it was: its units never left, the shop decides what follows
    assert Order.objects.get(pk=order.pk).status == OrderStatus.SHIPPED
    poll = ParcelPoll.objects.get()
    assert (poll.final, poll.carrier_status) == (True, "on_hold")
    calls = len(fake_carrier.tracking_calls())
    carrier_parcels_poll(now=now + timedelta(days=2))
    assert len(fake_carrier.tracking_calls()) == calls  # never asked again


@pytest.mark.django_db
def test_a_first_poll_of_a_delivered_parcel_publishes_its_delivery_only(fake_carrier):
    shop, _ = _shop_with("usps", USPS)
    order = _shipped(shop, "usps", USPS_NUMBER)
    fake_carrier.answer("GET", USPS_TRACK, "usps/delivered.json")

    summary = carrier_parcels_poll(now=timezone.now())

    # twelve scans (out for delivery among them): one step, the delivery, which is the last
    # one to move the order too
    assert summary.reports_applied == 1
    assert _events(order) == ["shipment.dispatched", "shipment.delivered"]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.DELIVERED
    assert CarrierReport.objects.filter(order=order).count() == 1


@pytest.mark.django_db
def test_scans_older_than_a_known_one_are_never_applied_later(fake_carrier):
    shop, _ = _shop_with("usps", USPS)
    order = _shipped(shop, "usps", USPS_NUMBER)
    fake_carrier.answer("GET", USPS_TRACK, "usps/in_transit.json")
    now = timezone.now()
    carrier_parcels_poll(now=now)
    assert _events(order) == ["shipment.dispatched", "shipment.in_transit"]

    # the same history again, then three new scans: only the news, collapsed
    for _ in range(2):
        now = ParcelPoll.objects.get().next_poll_at
        assert carrier_parcels_poll(now=now).reports_applied == 0
    fake_carrier.answer("GET", USPS_TRACK, "usps/delivered.json")
    carrier_parcels_poll(now=ParcelPoll.objects.get().next_poll_at)

    assert _events(order) == ["shipment.dispatched", "shipment.in_transit", "shipment.delivered"]
    assert CarrierReport.objects.filter(order=order).count() == 2


def _report(status: str, at: str, words: str = "") -> PolledReport:
    return PolledReport(
        event_id=f"poll:{status}:{at}",
        tracking_number=UPS_NUMBER,
        status=status,
        carrier_status=status,
        location="",
        note=words or status,
        occurred_at=at,
    )


def test_a_backlog_keeps_the_last_step_that_moves_the_order_and_the_newest():
    reports = [
        _report(carriers.IN_TRANSIT, "2026-12-03T07:00:00"),
        _report(carriers.OUT_FOR_DELIVERY, "2026-12-05T08:45:00"),
        _report(carriers.DELIVERY_FAILED, "2026-12-05T18:30:00"),
        _report(carriers.IN_TRANSIT, "2026-12-06T02:00:00", "Back at the depot"),
    ]

    steps = polled_steps(reports, known=set())

    # the order is out for delivery, as after the whole history; the parcel back at the depot
    assert [(step.status, step.note) for step in steps] == [
        (carriers.OUT_FOR_DELIVERY, carriers.OUT_FOR_DELIVERY),
        (carriers.IN_TRANSIT, "Back at the depot"),
    ]
    # one new event is applied as it is; the ones before a known one are history
    assert polled_steps(reports, known={reports[2].event_id}) == [reports[3]]
    assert polled_steps(reports, known={reports[3].event_id}) == []
    assert polled_steps(reports[:3], known=set()) == reports[1:3]
    assert polled_steps(reports[:1], known=set()) == reports[:1]


def test_known_and_new_times_compare_as_moments_not_strings():
    # recorded-style times of one parcel in the carriers' several wordings
    reports = [
        _report(carriers.IN_TRANSIT, "2026-12-04T10:00:00+01:00"),  # 09:00 UTC
        _report(carriers.IN_TRANSIT, "2026-12-04T09:30:00Z", "Departed"),
        _report(carriers.IN_TRANSIT, "2026-12-04T09:30:00.500Z", "Arrived"),
        _report(carriers.OUT_FOR_DELIVERY, "2026-12-04T05:00:00-05:00"),  # 10:00 UTC
    ]

    # 09:30Z is after 10:00+01:00, though it sorts before it as a string
    assert polled_steps(reports[:2], known={reports[0].event_id}) == [reports[1]]
    # half a second later is later, though "." sorts before "Z"
    assert polled_steps(reports[:3], known={reports[1].event_id}) == [reports[2]]
    # 05:00-05:00 is the newest of all: news after the rest are known
    known = {report.event_id for report in reports[:3]}
    assert polled_steps(reports, known=known) == [reports[3]]
    assert polled_steps(reports, known={reports[3].event_id}) == []


def test_an_event_of_unreadable_time_is_never_news_after_a_known_one():
    undated = _report(carriers.IN_TRANSIT, "T09:15 AM", "Departed from Facility")
    dated = _report(carriers.OUT_FOR_DELIVERY, "2026-12-05T08:45:00.000Z")

    assert undated.moment is None
    # alone on a first poll it is the parcel's step; once a step is known, it cannot be
    # placed after it, and a known one puts no floor under the dated news
    assert polled_steps([undated], known=set()) == [undated]
    assert polled_steps([undated, dated], known={dated.event_id}) == []
    assert polled_steps([undated, dated], known={undated.event_id}) == [dated]


@pytest.mark.django_db
def test_an_undated_scan_neither_moves_the_parcel_back_nor_hides_its_delivery(fake_carrier):
    shop, _ = _shop_with("ups", UPS)
    order = _shipped(shop, "ups", UPS_NUMBER)
    fake_carrier.answer("GET", UPS_TRACK, "ups/undated_scan.json")

    carrier_parcels_poll(now=timezone.now())

    # the undated scan is not the newest: the step says the parcel is out for delivery today
    # (an I scan to UPS, in transit), not that it departed a facility
    assert _events(order) == ["shipment.dispatched", "shipment.in_transit"]
    step = OutboxEvent.objects.get(aggregate_id=str(order.id), type="shipment.in_transit")
    assert step.data["note"] == "Out For Delivery Today"

    fake_carrier.answer("GET", UPS_TRACK, "ups/undated_scan_delivered.json")
    summary = carrier_parcels_poll(now=ParcelPoll.objects.get().next_poll_at)

    assert summary.reports_applied == 1
    assert _events(order) == ["shipment.dispatched", "shipment.in_transit", "shipment.delivered"]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.DELIVERED


@pytest.mark.django_db
def test_a_repeated_answer_changes_nothing_and_waits_longer_each_time(fake_carrier):
    shop, _ = _shop_with("ups", UPS)
    order = _shipped(shop, "ups", UPS_NUMBER)
    fake_carrier.answer("GET", UPS_TRACK, "ups/in_transit.json")
    now = timezone.now()
    carrier_parcels_poll(now=now)
    events = _events(order)
    reports = CarrierReport.objects.count()

    waits = []
    for _ in range(4):
        now = ParcelPoll.objects.get(tracking_number=UPS_NUMBER).next_poll_at
        assert carrier_parcels_poll(now=now).reports_applied == 0
        waits.append(_waits(ParcelPoll.objects.get(tracking_number=UPS_NUMBER), now) / BASE)

    assert _events(order) == events
    assert CarrierReport.objects.count() == reports
    assert len(fake_carrier.tracking_calls()) == 5
    # doubling with each unchanged answer (a quarter's jitter either way), capped at 8 x base
    for wait, factor in zip(waits, [2, 4, 8, 8], strict=True):
        assert 0.75 * factor <= wait <= 1.25 * factor
    assert ParcelPoll.objects.get(tracking_number=UPS_NUMBER).unchanged_polls == 4


@pytest.mark.django_db
def test_a_parcel_not_due_is_not_asked_about(fake_carrier):
    shop, _ = _shop_with("ups", UPS)
    _shipped(shop, "ups", UPS_NUMBER)
    fake_carrier.answer("GET", UPS_TRACK, "ups/in_transit.json")
    now = timezone.now()
    carrier_parcels_poll(now=now)

    summary = carrier_parcels_poll(now=now + timedelta(seconds=60))

    assert (summary.accounts, summary.parcels) == (1, 0)
    assert len(fake_carrier.tracking_calls()) == 1


@pytest.mark.django_db
def test_news_after_a_wait_resets_the_backoff_and_delivered_stops_polling(fake_carrier):
    shop, _ = _shop_with("ups", UPS)
    order = _shipped(shop, "ups", UPS_NUMBER)
    fake_carrier.answer("GET", UPS_TRACK, "ups/in_transit.json")
    now = timezone.now()
    carrier_parcels_poll(now=now)
    now = ParcelPoll.objects.get().next_poll_at
    carrier_parcels_poll(now=now)
    assert ParcelPoll.objects.get().unchanged_polls == 1

    fake_carrier.answer("GET", UPS_TRACK, "ups/delivered.json")
    now = ParcelPoll.objects.get().next_poll_at
    carrier_parcels_poll(now=now)

    order.refresh_from_db()
    assert order.status == OrderStatus.DELIVERED
    assert _events(order)[-2:] == ["shipment.in_transit", "shipment.delivered"]
    poll = ParcelPoll.objects.get()
    assert (poll.final, poll.unchanged_polls, str(poll.eta)) == (True, 0, "2026-12-05")
    # the carrier's ETA is the parcel's: a day, kept as its noon in UTC
    assert Shipment.objects.get(order=order).eta == datetime(2026, 12, 5, 12, tzinfo=UTC)
    calls = len(fake_carrier.tracking_calls())
    carrier_parcels_poll(now=now + timedelta(days=2))
    assert len(fake_carrier.tracking_calls()) == calls  # never asked again


@pytest.mark.django_db
def test_one_request_per_account_for_a_batch_of_its_parcels(fake_carrier, settings):
    shop, _ = _shop_with("dhl_express", DHL)
    orders = [_shipped(shop, "dhl_express", number) for number in DHL_NUMBERS]
    fake_carrier.answer("POST", DHL_XML, "dhl_express/three_parcels.xml")

    summary = carrier_parcels_poll(now=timezone.now())

    assert (summary.accounts, summary.parcels) == (1, 3)
    assert len(fake_carrier.calls) == 1
    statuses = {order.tracking_number: Order.objects.get(pk=order.pk).status for order in orders}
    assert statuses == {
        "3180831640": OrderStatus.DELIVERED,
        "7740842550": OrderStatus.SHIPPED,
        "1815115363": OrderStatus.SHIPPED,
    }
    assert set(ParcelPoll.objects.filter(final=True).values_list("tracking_number", flat=True)) == {
        "3180831640"
    }
    shipments = {s.tracking_number: s.status for s in Shipment.objects.all()}
    assert shipments == {
        "3180831640": "delivered",
        "7740842550": "in_transit",
        "1815115363": "in_transit",
    }


@pytest.mark.django_db
def test_the_carriers_eta_is_kept_on_the_parcel(fake_carrier):
    shop, _ = _shop_with("dhl_express", DHL)
    order = _shipped(shop, "dhl_express", "9053283201")
    fake_carrier.answer("POST", DHL_XML, "dhl_express/in_transit.xml")

    carrier_parcels_poll(now=timezone.now())

    shipment = Shipment.objects.get(order=order)
    assert (shipment.status, shipment.eta) == ("in_transit", datetime(2021, 5, 7, 12, tzinfo=UTC))
    assert str(ParcelPoll.objects.get(tracking_number="9053283201").eta) == "2021-05-07"


@pytest.mark.django_db
def test_upss_scheduled_day_is_written_to_the_parcel_on_each_poll(fake_carrier):
    shop, _ = _shop_with("ups", UPS)
    order = _shipped(shop, "ups", UPS_NUMBER)
    fake_carrier.answer("GET", UPS_TRACK, "ups/in_transit.json")
    carrier_parcels_poll(now=timezone.now())
    assert Shipment.objects.get(order=order).eta == datetime(2026, 12, 8, 12, tzinfo=UTC)

    # weather: UPS reschedules the day (RDD)
    fake_carrier.answer("GET", UPS_TRACK, "ups/exception_delayed.json")
    carrier_parcels_poll(now=ParcelPoll.objects.get().next_poll_at)

    assert Shipment.objects.get(order=order).eta == datetime(2026, 12, 10, 12, tzinfo=UTC)
    delayed = OutboxEvent.objects.filter(
        aggregate_id=str(order.id), type="shipment.in_transit"
    ).latest("sequence")
    assert delayed.data["eta"].startswith("2026-12-10")
    assert str(ParcelPoll.objects.get().eta) == "2026-12-10"


@pytest.mark.django_db
def test_an_eta_moved_without_a_new_scan_is_still_written(fake_carrier):
    shop, _ = _shop_with("ups", UPS)
    order = _shipped(shop, "ups", UPS_NUMBER)
    fake_carrier.answer("GET", UPS_TRACK, "ups/in_transit.json")
    carrier_parcels_poll(now=timezone.now())
    Shipment.objects.filter(order=order).update(eta=None)  # as before UPS's day was read
    events = _events(order)

    carrier_parcels_poll(now=ParcelPoll.objects.get().next_poll_at)

    assert Shipment.objects.get(order=order).eta == datetime(2026, 12, 8, 12, tzinfo=UTC)
    assert _events(order) == events  # no event for the same scans


@pytest.mark.django_db
def test_batches_hold_at_most_the_batch_size(fake_carrier, settings):
    settings.CARRIER_POLL_BATCH_SIZE = 2
    shop, _ = _shop_with("dhl_express", DHL)
    for number in DHL_NUMBERS:
        _shipped(shop, "dhl_express", number)
    fake_carrier.answer("POST", DHL_XML, "dhl_express/three_parcels.xml")
    now = timezone.now()

    first = carrier_parcels_poll(now=now)
    second = carrier_parcels_poll(now=now)

    assert (first.parcels, second.parcels) == (2, 1)
    assert ParcelPoll.objects.count() == 3


@pytest.mark.django_db
def test_a_failing_account_is_recorded_and_backs_off_and_others_are_polled(fake_carrier):
    failing_shop, failing = _shop_with("ups", UPS)
    _shipped(failing_shop, "ups", UPS_NUMBER)
    fake_carrier.answer("POST", "/security/v1/oauth/token", "ups/auth_error.json", status=401)
    shop, _ = _shop_with("dhl_express", DHL)
    delivered = _shipped(shop, "dhl_express", DHL_NUMBERS[0])
    fake_carrier.answer("POST", DHL_XML, "dhl_express/three_parcels.xml")
    now = timezone.now()

    summary = carrier_parcels_poll(now=now)

    assert (summary.accounts, summary.failed_accounts) == (2, 1)
    assert Order.objects.get(pk=delivered.pk).status == OrderStatus.DELIVERED
    failing.refresh_from_db()
    assert "250003: Invalid Access License number" in failing.last_error
    assert (failing.failures, failing.last_error_at) == (1, now)
    assert 0.75 * 60 <= (failing.next_poll_at - now).total_seconds() <= 1.25 * 60
    # not due yet: the next tick leaves it alone
    assert carrier_parcels_poll(now=now + timedelta(seconds=30)).failed_accounts == 0
    later = failing.next_poll_at
    carrier_parcels_poll(now=later)
    failing.refresh_from_db()
    assert failing.failures == 2
    assert 1.5 * 60 <= (failing.next_poll_at - later).total_seconds() <= 2.5 * 60
    # new credentials clear the error and poll at the next tick
    fake_carrier.answer("POST", "/security/v1/oauth/token", "ups/token.json")
    fake_carrier.answer("GET", UPS_TRACK, "ups/in_transit.json")
    services.carrier_accounts.carrier_account_update(account=failing, credentials=UPS)
    now = ParcelPoll.objects.get(tracking_number=UPS_NUMBER).next_poll_at
    assert carrier_parcels_poll(now=now).failed_accounts == 0
    failing.refresh_from_db()
    assert (failing.last_error, failing.failures) == ("", 0)


@pytest.mark.django_db
def test_unreadable_credentials_are_the_accounts_error(fake_carrier, settings):
    shop, account = _shop_with("ups", UPS)
    _shipped(shop, "ups", UPS_NUMBER)
    settings.CARRIER_CREDENTIALS_KEY = (
        "x" * 43 + "="
    )  # another key than the one they were saved with

    assert carrier_parcels_poll(now=timezone.now()).failed_accounts == 1

    account.refresh_from_db()
    assert "cannot be decrypted" in account.last_error
    assert fake_carrier.calls == []


@pytest.mark.django_db
def test_only_active_accounts_poll_and_only_their_own_shops_parcels(fake_carrier):
    shop, account = _shop_with("ups", UPS)
    _shipped(shop, "ups", UPS_NUMBER)
    other = ShopFactory(carriers=[])
    ProductFactory(shop=other, sku="COFFEE-1KG", on_hand=10)
    services.shop_carrier_bind(shop=other, carrier="ups")  # no account: pushed reports only
    _shipped(other, "ups", "1ZOTHERSHOP0000001")
    services.carrier_accounts.carrier_account_update(account=account, active=False)

    assert carrier_parcels_poll(now=timezone.now()).accounts == 0

    services.carrier_accounts.carrier_account_update(account=account, active=True)
    fake_carrier.answer("GET", UPS_TRACK, "ups/in_transit.json")
    carrier_parcels_poll(now=timezone.now())
    assert [call.path for call in fake_carrier.tracking_calls()] == [UPS_TRACK]
    assert CarrierAccount.objects.get(pk=account.pk).last_polled_at is not None


@pytest.mark.django_db
def test_a_carrier_that_never_answers_times_out_and_others_are_polled(fake_carrier, settings):
    settings.CARRIER_REQUEST_TIMEOUT = 0.2
    hanging_shop, hanging = _shop_with("dhl_express", DHL)
    _shipped(hanging_shop, "dhl_express", DHL_NUMBERS[0])
    fake_carrier.held.add(DHL_XML)
    shop, _ = _shop_with("ups", UPS)
    _shipped(shop, "ups", UPS_NUMBER)
    fake_carrier.answer("GET", UPS_TRACK, "ups/delivered.json")
    now = timezone.now()

    summary = carrier_parcels_poll(now=now)

    fake_carrier.gate.set()
    assert (summary.accounts, summary.failed_accounts) == (2, 1)
    hanging.refresh_from_db()
    assert "timed out" in hanging.last_error
    assert hanging.next_poll_at > now
    assert Shipment.objects.get(tracking_number=UPS_NUMBER).status == "delivered"


@pytest.mark.django_db
def test_more_accounts_than_a_poll_serves_take_turns(fake_carrier, settings):
    settings.CARRIER_POLL_ACCOUNTS = 2
    accounts = [_shop_with("ups", UPS)[1] for _ in range(3)]
    now = timezone.now()

    served = []
    for tick in range(3):
        at = now + timedelta(seconds=tick)
        carrier_parcels_poll(now=at)
        served.append(
            {a.pk for a in accounts if CarrierAccount.objects.get(pk=a.pk).next_poll_at == at}
        )

    first, second, third = (account.pk for account in accounts)
    # the least recently polled first, new ones before all; a tie goes to the older account
    assert served == [{first, second}, {third, first}, {second, first}]
    assert all(pk in served[0] | served[1] for pk in (first, second, third))
