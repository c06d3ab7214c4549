"""The karrio adapter: recorded carrier responses in, OrderFlow's reports out (no database)."""

import logging
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from karrio.core.models import TrackingDetails, TrackingEvent

from orders import carriers
from orders.karrio_tracking import _answer, credential_fields, event_moment, track

from . import fake_carrier as carrier_server

UPS = {"client_id": "orderflow-test", "client_secret": "ups-secret"}
USPS = {"client_id": "orderflow-test", "client_secret": "usps-secret"}
DHL = {"site_id": "orderflow", "password": "dhl-password"}
UPS_NUMBER = "1ZA82D672031716786"
USPS_NUMBER = "9400109104250532908587"
UPS_TRACK = f"/api/track/v1/details/{UPS_NUMBER}"
USPS_TRACK = f"/tracking/v3/tracking/{USPS_NUMBER}"
DHL_XML = "/XMLShippingServlet"


def test_ups_events_become_reports_oldest_first_with_the_failed_attempt(fake_carrier):
    fake_carrier.answer("GET", UPS_TRACK, "ups/delivery_failed.json")

    result = track(carrier="ups", credentials=UPS, test_mode=False, tracking_numbers=[UPS_NUMBER])

    assert result.error == ""
    parcel = result.parcels[UPS_NUMBER]
    assert [(r.status, r.note) for r in parcel.reports] == [
        (carriers.IN_TRANSIT, "Pickup Scan"),
        (carriers.IN_TRANSIT, "Arrived at Facility"),
        (carriers.IN_TRANSIT, "Out For Delivery Today"),
        (
            carriers.DELIVERY_FAILED,
            "The receiver was not available for delivery. We'll make a second attempt the "
            "next business day.",
        ),
    ]
    assert parcel.reports[1].location == "Secaucus, NJ, 07094, US"
    # UPS's exception scan (type X) is karrio's on_hold; its code 48 is a missed delivery
    assert (parcel.status, parcel.carrier_status, parcel.final) == (
        carriers.DELIVERY_FAILED,
        "on_hold",
        False,
    )
    # UPS's scheduled delivery day (SDD), which karrio does not map (it reads DEL only)
    assert parcel.eta == date(2026, 12, 8)
    assert "1ZA82D672031716786" in parcel.tracking_link
    # the request went to UPS's live host, through the OAuth token first
    assert [(call.method, call.host, call.path) for call in fake_carrier.calls] == [
        ("POST", "onlinetools.ups.com", "/security/v1/oauth/token"),
        ("GET", "onlinetools.ups.com", UPS_TRACK),
    ]


def test_ups_returned_to_sender_is_final(fake_carrier):
    fake_carrier.answer("GET", UPS_TRACK, "ups/returned_to_sender.json")

    parcel = track(
        carrier="ups", credentials=UPS, test_mode=False, tracking_numbers=[UPS_NUMBER]
    ).parcels[UPS_NUMBER]

    assert (parcel.status, parcel.carrier_status, parcel.final) == (
        carriers.RETURNED_TO_SENDER,
        "return_to_sender",
        True,
    )
    assert [r.status for r in parcel.reports][-2:] == [
        carriers.DELIVERY_FAILED,
        carriers.RETURNED_TO_SENDER,
    ]
    # no delivery date in the answer: no ETA
    assert parcel.eta is None


def _ups(fake_carrier, response: str):
    fake_carrier.answer("GET", UPS_TRACK, response)
    return track(
        carrier="ups", credentials=UPS, test_mode=False, tracking_numbers=[UPS_NUMBER]
    ).parcels[UPS_NUMBER]


def test_a_ups_hold_for_pickup_is_held(fake_carrier):
    parcel = _ups(fake_carrier, "ups/exception_held.json")

    held = parcel.reports[-1]
    assert (held.status, held.carrier_status, held.location) == (
        carriers.HELD,
        "on_hold",
        "Secaucus, NJ, 07094, US",
    )
    assert held.note.startswith("The sender requested this package be held for pickup")
    assert (parcel.status, parcel.final, parcel.eta) == (carriers.HELD, False, date(2026, 12, 8))


def test_a_ups_weather_delay_is_still_in_transit_with_the_rescheduled_day(fake_carrier):
    parcel = _ups(fake_carrier, "ups/exception_delayed.json")

    assert [r.status for r in parcel.reports] == [carriers.IN_TRANSIT] * 3
    assert parcel.reports[-1].note.startswith("Recent weather has caused delivery delays")
    # the rescheduled day (RDD) wins over the first scheduled one (SDD)
    assert (parcel.status, parcel.final, parcel.eta) == (
        carriers.IN_TRANSIT,
        False,
        date(2026, 12, 10),
    )


def test_a_ups_exception_scan_sending_the_parcel_back_is_final(fake_carrier):
    parcel = _ups(fake_carrier, "ups/exception_returned.json")

    assert [r.status for r in parcel.reports][-3:] == [
        carriers.IN_TRANSIT,  # out for delivery today (an I scan)
        carriers.DELIVERY_FAILED,  # 89: could not deliver, on its way to an Access Point
        carriers.RETURNED_TO_SENDER,  # 3N: not collected there, going back
    ]
    assert (parcel.status, parcel.carrier_status, parcel.final) == (
        carriers.RETURNED_TO_SENDER,
        "on_hold",
        True,
    )


@pytest.mark.parametrize(
    ("words", "status"),
    [
        ("Please contact UPS for additional information.", carriers.HELD),
        ("We missed the receiver; another attempt follows tomorrow.", carriers.DELIVERY_FAILED),
        ("The receiver was not available for delivery.", carriers.DELIVERY_FAILED),
        ("The package is being returned to the shipper.", carriers.RETURNED_TO_SENDER),
    ],
)
def test_a_ups_exception_code_not_listed_is_read_from_its_words(words, status):
    details = TrackingDetails(
        carrier_name="ups",
        carrier_id="ups",
        tracking_number=UPS_NUMBER,
        status="on_hold",
        events=[
            TrackingEvent(
                date="2026-12-05", time="10:00", code="9Z", status="on_hold", description=words
            )
        ],
    )

    parcel = _answer("ups", details)

    assert (parcel.reports[0].status, parcel.reports[0].note) == (status, words)
    assert parcel.status == status


def test_a_ups_exception_code_not_listed_stays_held_with_its_words():
    details = TrackingDetails(
        carrier_name="ups",
        carrier_id="ups",
        tracking_number=UPS_NUMBER,
        status="on_hold",
        events=[
            TrackingEvent(
                date="2026-12-05",
                time="10:00",
                code="ZZ",
                status="on_hold",
                description="Please contact UPS for additional information.",
            )
        ],
    )

    parcel = _answer("ups", details)

    assert (parcel.reports[0].status, parcel.status, parcel.final) == (
        carriers.HELD,
        carriers.HELD,
        False,
    )


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("2026-12-04T10:00:00+01:00", datetime(2026, 12, 4, 9, 0, tzinfo=UTC)),
        ("2026-12-04T09:30:00Z", datetime(2026, 12, 4, 9, 30, tzinfo=UTC)),
        ("2026-12-04T09:30:00.000Z", datetime(2026, 12, 4, 9, 30, tzinfo=UTC)),
        ("2026-12-04T09:30:00.25Z", datetime(2026, 12, 4, 9, 30, 0, 250000, tzinfo=UTC)),
        (
            "2026-12-04T04:30:00-05:00",
            datetime(2026, 12, 4, 4, 30, tzinfo=timezone(timedelta(hours=-5))),
        ),
        # karrio's own words for a carrier's local time, and a date alone: read as UTC
        ("2026-12-04T09:30:00", datetime(2026, 12, 4, 9, 30, tzinfo=UTC)),
        ("2026-12-04", datetime(2026, 12, 4, tzinfo=UTC)),
        # an event with no date (karrio's fallback), junk, nothing: unknown
        ("T09:15 AM", None),
        ("04/12/2026 09:30", None),
        ("", None),
        (None, None),
    ],
)
def test_a_carriers_time_is_read_as_a_moment(text, moment):
    assert event_moment(text) == moment
    if moment is not None:
        assert event_moment(text).utcoffset() is not None


def test_an_undated_ups_scan_is_kept_as_the_oldest_and_logged_once(fake_carrier, caplog):
    # UPS's answer, newest first, has a scan with no date between the arrival and the
    # delivery: as a string its time ("T09:15 AM") sorted after every dated one
    with caplog.at_level(logging.WARNING, logger="orders.karrio_tracking"):
        parcel = _ups(fake_carrier, "ups/undated_scan_delivered.json")

    assert [(r.note, r.moment) for r in parcel.reports] == [
        ("Departed from Facility", None),
        ("Pickup Scan", datetime(2026, 12, 3, 7, 13, tzinfo=UTC)),
        ("Arrived at Facility", datetime(2026, 12, 4, 3, 10, tzinfo=UTC)),
        ("Out For Delivery Today", datetime(2026, 12, 5, 8, 45, tzinfo=UTC)),
        ("DELIVERED", datetime(2026, 12, 5, 15, 22, tzinfo=UTC)),
    ]  # karrio keeps UPS's minutes, not its seconds
    # kept under its own stable id, its carrier's words as they were
    assert parcel.reports[0].occurred_at == "T09:15 AM"
    assert (parcel.status, parcel.final) == (carriers.DELIVERED, True)
    unreadable = [r for r in caplog.records if r.getMessage() == "carrier event times unreadable"]
    assert [(r.tracking_number, r.events, r.times) for r in unreadable] == [
        (UPS_NUMBER, 1, ["T09:15 AM"])
    ]


def test_ups_in_transit_reads_the_scheduled_day(fake_carrier):
    parcel = _ups(fake_carrier, "ups/in_transit.json")

    assert (parcel.status, parcel.eta) == (carriers.IN_TRANSIT, date(2026, 12, 8))


def test_a_ups_cancelled_request_is_the_parcels_cancellation_and_final(fake_carrier):
    parcel = _ups(fake_carrier, "ups/exception_cancelled.json")

    assert [(r.status, r.note) for r in parcel.reports] == [
        (carriers.IN_TRANSIT, "Shipper created a label, UPS has not received the package yet."),
        (carriers.CANCELLED, "The request for this package was cancelled."),
    ]
    assert (parcel.status, parcel.final) == (carriers.CANCELLED, True)


def test_karrios_cancelled_is_a_cancelled_parcel_not_a_failed_delivery():
    details = TrackingDetails(
        carrier_name="dhl_express",
        carrier_id="dhl_express",
        tracking_number="3180831640",
        status="cancelled",
        events=[TrackingEvent(date="2026-12-04", time="09:00", code="CA", status="cancelled")],
    )

    parcel = _answer("dhl_express", details)

    assert (parcel.reports[0].status, parcel.status, parcel.final) == (
        carriers.CANCELLED,
        carriers.CANCELLED,
        True,
    )


def test_ups_delivered_is_final(fake_carrier):
    fake_carrier.answer("GET", UPS_TRACK, "ups/delivered.json")

    parcel = track(
        carrier="ups", credentials=UPS, test_mode=True, tracking_numbers=[UPS_NUMBER]
    ).parcels[UPS_NUMBER]

    assert (parcel.status, parcel.final, parcel.eta) == (
        carriers.DELIVERED,
        True,
        date(2026, 12, 5),
    )
    assert parcel.reports[-1].status == carriers.DELIVERED
    assert {call.host for call in fake_carrier.calls} == {"wwwcie.ups.com"}  # test mode


def test_usps_in_transit_then_delivered_keeps_each_event_id(fake_carrier):
    fake_carrier.answer("GET", USPS_TRACK, "usps/in_transit.json")
    early = track(
        carrier="usps", credentials=USPS, test_mode=False, tracking_numbers=[USPS_NUMBER]
    ).parcels[USPS_NUMBER]
    fake_carrier.answer("GET", USPS_TRACK, "usps/delivered.json")
    late = track(
        carrier="usps", credentials=USPS, test_mode=False, tracking_numbers=[USPS_NUMBER]
    ).parcels[USPS_NUMBER]

    assert (early.status, early.final, early.eta) == (
        carriers.IN_TRANSIT,
        False,
        date(2024, 11, 22),
    )
    assert len(early.reports) == 9
    assert {r.status for r in early.reports} == {carriers.IN_TRANSIT}
    # the delivered answer repeats the early events under the same ids, then adds three
    assert [r.event_id for r in late.reports[:9]] == [r.event_id for r in early.reports]
    assert [(r.status, r.note) for r in late.reports[9:]] == [
        (carriers.IN_TRANSIT, "Arrived at Post Office"),
        (carriers.OUT_FOR_DELIVERY, "Out for Delivery"),
        (carriers.DELIVERED, "Delivered, Parcel Locker"),
    ]
    assert (late.status, late.final) == (carriers.DELIVERED, True)
    assert early.digest != late.digest


def test_dhl_express_answers_three_parcels_in_one_request(fake_carrier):
    fake_carrier.answer("POST", DHL_XML, "dhl_express/three_parcels.xml")

    result = track(
        carrier="dhl_express",
        credentials=DHL,
        test_mode=False,
        tracking_numbers=["3180831640", "7740842550", "1815115363"],
    )

    assert len(fake_carrier.calls) == 1
    body = fake_carrier.calls[0].body.decode()
    for number in ("3180831640", "7740842550", "1815115363"):
        assert f"<AWBNumber>{number}</AWBNumber>" in body
    assert {number: answer.status for number, answer in result.parcels.items()} == {
        "3180831640": carriers.DELIVERED,
        "7740842550": carriers.IN_TRANSIT,
        "1815115363": carriers.IN_TRANSIT,
    }
    delivered = result.parcels["3180831640"].reports
    assert [r.status for r in delivered[-2:]] == [carriers.OUT_FOR_DELIVERY, carriers.DELIVERED]
    assert delivered[-1].location == "Milan - Italy"


def test_dhl_express_eta(fake_carrier):
    fake_carrier.answer("POST", DHL_XML, "dhl_express/in_transit.xml")

    parcel = track(
        carrier="dhl_express", credentials=DHL, test_mode=False, tracking_numbers=["9053283201"]
    ).parcels["9053283201"]

    assert (parcel.status, parcel.eta) == (carriers.IN_TRANSIT, date(2021, 5, 7))
    assert parcel.reports[0].note == "Shipment picked up"


@pytest.fixture
def fake_carrier(monkeypatch):
    yield from carrier_server.serve(monkeypatch)


@pytest.mark.parametrize(
    ("carrier", "credentials", "route", "response", "status", "expected"),
    [
        ("ups", UPS, ("POST", "/security/v1/oauth/token"), "ups/auth_error.json", 401, "250003"),
        ("usps", {**USPS, "client_secret": "wrong"}, ("POST", "/oauth2/v3/token"),
         "usps/auth_error.json", 401, "invalid_client"),
        ("dhl_express", DHL, ("POST", DHL_XML), "dhl_express/auth_error.xml", 200, "111"),
    ],
)  # fmt: skip
def test_a_carrier_refusal_is_the_results_error(
    fake_carrier, carrier, credentials, route, response, status, expected
):
    fake_carrier.answer(*route, response, status=status)
    number = {"ups": UPS_NUMBER, "usps": USPS_NUMBER, "dhl_express": "8346088391"}[carrier]

    result = track(
        carrier=carrier, credentials=credentials, test_mode=False, tracking_numbers=[number]
    )

    assert result.parcels == {}
    assert expected in result.error


@pytest.mark.parametrize(
    ("carrier", "credentials", "route", "number"),
    [
        ("ups", UPS, ("GET", UPS_TRACK), UPS_NUMBER),
        ("usps", USPS, ("GET", USPS_TRACK), USPS_NUMBER),
        ("dhl_express", DHL, ("POST", DHL_XML), "8346088391"),
    ],
)
def test_a_carrier_outage_is_the_results_error_not_an_exception(
    fake_carrier, caplog, carrier, credentials, route, number
):
    fake_carrier.answer(*route, "unavailable.html", status=503)

    result = track(
        carrier=carrier, credentials=credentials, test_mode=False, tracking_numbers=[number]
    )

    assert result.parcels == {}
    assert result.error.startswith("The carrier's answer could not be read (an outage?)")
    assert [
        record.status_code for record in caplog.records if record.msg == "carrier answered %s"
    ] == [503]


def test_credential_fields_come_from_the_connectors():
    assert [(f.name, f.required) for f in credential_fields("ups")] == [
        ("client_id", True),
        ("client_secret", True),
        ("account_number", False),
    ]
    assert [f.name for f in credential_fields("dhl_express") if f.required] == [
        "site_id",
        "password",
    ]


def test_a_number_the_carrier_does_not_know_is_that_numbers_error(fake_carrier):
    fake_carrier.answer("GET", UPS_TRACK, "ups/invalid_number.json", status=400)

    result = track(carrier="ups", credentials=UPS, test_mode=False, tracking_numbers=[UPS_NUMBER])

    assert result.parcels == {}
    assert "TV1002: Invalid inquiry number" in (
        result.number_errors.get(UPS_NUMBER) or result.error
    )
