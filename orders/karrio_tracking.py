"""Carrier tracking through karrio: an account's credentials and tracking numbers in, reports out.

karrio (one extension per carrier: ``karrio.ups``, ``karrio-usps``, ``karrio-dhl-express``)
speaks each carrier's own API and answers in one vocabulary: a parcel's normalised status, its
events and the carrier's estimated delivery. :func:`track` turns that answer into OrderFlow's
words (:mod:`orders.carriers`): one :class:`PolledReport` per carrier event, keyed by a stable
id, so that the same answer twice is the same reports twice. It touches no database.

A carrier that takes several numbers in one request (DHL Express) gets one request per batch;
the others get one per number, which karrio sends concurrently.
"""

import hashlib
import logging
import re
import urllib.error
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import attr
from django.conf import settings
from loguru import logger as karrio_logger

# karrio logs through loguru to stderr, beside Django's logging: a line when it is imported
# and one per request (its tracer could carry a request's body, DHL's password in it).
# Off before karrio is imported; OrderFlow logs each poll's outcome itself.
karrio_logger.disable("karrio")

import karrio.core.utils.helpers as karrio_http  # noqa: E402
import karrio.lib as karrio_lib  # noqa: E402
import karrio.sdk as karrio  # noqa: E402
from karrio.core import models as karrio_models  # noqa: E402
from karrio.core.errors import ParsedMessagesError  # noqa: E402

from . import carriers  # noqa: E402

logger = logging.getLogger(__name__)

#: karrio's connectors send their requests with no timeout: a carrier that accepts the
#: connection and never answers would hold the poll (and every account after it) until the
#: task's time limit. Each of its requests gets ``CARRIER_REQUEST_TIMEOUT`` seconds instead;
#: past them the poll fails like an outage, recorded on the account and backed off.
_karrio_urlopen = karrio_http.urlopen


def _urlopen_with_timeout(request, timeout=None):
    try:
        return _karrio_urlopen(request, timeout=timeout or settings.CARRIER_REQUEST_TIMEOUT)
    except urllib.error.HTTPError as error:
        if error.code >= 500:
            # karrio reads the body and reports only that it could not parse it: the status
            # and host are logged here, for whoever reads the account's error
            logger.warning(
                "carrier answered %s",
                error.code,
                extra={"status_code": error.code, "host": request.host},
            )
        raise


karrio_http.urlopen = _urlopen_with_timeout

#: the karrio extensions OrderFlow installs (pyproject.toml); their names are the accounts'
SUPPORTED_CARRIERS = ("ups", "usps", "dhl_express")
#: karrio's settings that are not credentials: OrderFlow sets them, or they do not apply
_NOT_CREDENTIALS = frozenset(
    {"id", "carrier_id", "test_mode", "metadata", "config", "account_country_code"}
)

#: karrio's normalised status -> OrderFlow's carrier status
STATUS_MAP = {
    "pending": carriers.IN_TRANSIT,
    "picked_up": carriers.IN_TRANSIT,
    "in_transit": carriers.IN_TRANSIT,
    "delivery_delayed": carriers.IN_TRANSIT,
    "unknown": carriers.IN_TRANSIT,
    "out_for_delivery": carriers.OUT_FOR_DELIVERY,
    "delivered": carriers.DELIVERED,
    "delivery_failed": carriers.DELIVERY_FAILED,
    "on_hold": carriers.HELD,
    "ready_for_pickup": carriers.HELD,
    "return_to_sender": carriers.RETURNED_TO_SENDER,
    "cancelled": carriers.CANCELLED,
}
#: karrio statuses after which the carrier says nothing more about the parcel
FINAL_STATUSES = frozenset({"delivered", "return_to_sender", "cancelled"})


def _codes(text: str) -> tuple[str, ...]:
    return tuple(text.split())


#: UPS's exception scans (activity type ``X``) by their code, from UPS's "Package
#: Exceptions" table (karrioapi/karrio, ``modules/connectors/ups/vendors``). karrio reads
#: every ``X`` as ``on_hold``; the code says whether the driver missed the receiver, the
#: parcel waits somewhere, it goes back to the shipper, or it is only late. A code not
#: listed here stays held, and its words on the step say what it was.
UPS_EXCEPTIONS = {
    # the receiver was not there, closed, could not pay or let the driver in; the locker was
    # too small; an Access Point could not take it: another attempt or a collection follows
    **dict.fromkeys(
        _codes("1 48 49 51 52 55 84 95 3J 3L 5Z 7L 89 2X 5R 6R"), carriers.DELIVERY_FAILED
    ),
    # on its way back to the shipper
    **dict.fromkeys(_codes("24 27 65 90 3N 4R 4S 6C 7H 8H"), carriers.RETURNED_TO_SENDER),
    # 30: the request for this package was cancelled; 5D: the customer cancelled the drop
    # off, UPS does not have the package
    **dict.fromkeys(_codes("30 5D"), carriers.CANCELLED),
    # only late (weather, a missed flight or trailer, a mechanical failure, a rescheduled
    # day): the parcel is still moving
    **dict.fromkeys(
        _codes(
            "2 3 4 6 7 8 14 15 16 17 18 19 22 23 31 34 68 76 87 1A 1B 1E 1K 1L 1O 1P 1Q 1X"
            " 2A 2H 2Y 2Z 3A 3B 3C 3D 3T 6D 6E 7G 7N 7V 7W 7X 7Y 7Z 8A 8K 8L"
        ),
        carriers.IN_TRANSIT,
    ),
}


@dataclass(frozen=True)
class CredentialField:
    name: str
    required: bool


def credential_fields(carrier: str) -> tuple[CredentialField, ...]:
    """The credentials karrio's connector for ``carrier`` takes, required ones first."""
    settings_class = karrio.gateway.providers[carrier].Settings
    fields = [
        CredentialField(name=item.name, required=item.default is attr.NOTHING)
        for item in attr.fields(settings_class)
        if item.name not in _NOT_CREDENTIALS
    ]
    return tuple(sorted(fields, key=lambda item: not item.required))


@dataclass(frozen=True)
class PolledReport:
    """One carrier event in OrderFlow's words, as a pushed report would carry it."""

    event_id: str
    tracking_number: str
    status: str
    #: karrio's own status of the event, kept in the note's words for people
    carrier_status: str
    location: str
    note: str
    #: the carrier's time of the event as karrio words it; part of the event's id, so kept
    #: exactly as read (a reworded time would be a new event)
    occurred_at: str
    #: ``occurred_at`` as a moment, to compare and order by; ``None`` when unreadable
    moment: datetime | None = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "moment", event_moment(self.occurred_at))


def event_moment(text: str | None) -> datetime | None:
    """The moment a carrier's timestamp names, as an aware datetime; ``None`` if unreadable.

    Carriers' times are compared and ordered as moments, never as strings: as strings,
    ``2026-12-04T10:00:00+01:00`` (09:00 UTC) sorts before ``2026-12-04T09:30:00Z``, a time
    with fractional seconds before the same second without them, and an event with no date
    (``T10:30 AM``) after every dated one. A time without an offset is read as UTC, as karrio
    words every time it normalises (the carrier's local time with a ``Z``); a date alone is
    its midnight.
    """
    try:
        moment = datetime.fromisoformat((text or "").strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_UNKNOWN = datetime.min.replace(tzinfo=UTC)


def moment_order(moment: datetime | None) -> tuple[bool, datetime]:
    """A sort key putting moments oldest first and the unknown ones before all of them:
    nothing says an event of unreadable time is newer than any other."""
    return (moment is not None, moment or _UNKNOWN)


@dataclass(frozen=True)
class ParcelAnswer:
    """What the carrier said about one parcel: its events (oldest first), status and ETA."""

    tracking_number: str
    status: str
    carrier_status: str
    final: bool
    eta: date | None
    tracking_link: str
    reports: tuple[PolledReport, ...]
    #: a digest of the answer: equal digests, nothing new
    digest: str


@dataclass(frozen=True)
class TrackingResult:
    parcels: dict[str, ParcelAnswer] = field(default_factory=dict)
    #: the carrier's refusal of the whole request (credentials, an outage), in its words
    error: str = ""
    #: the numbers the carrier named in an error of their own (unknown, invalid)
    number_errors: dict[str, str] = field(default_factory=dict)


_token_cache = karrio_lib.Cache()


def track(
    *,
    carrier: str,
    credentials: dict[str, str],
    test_mode: bool,
    tracking_numbers: list[str],
) -> TrackingResult:
    """Ask ``carrier`` about ``tracking_numbers`` with an account's credentials.

    Never raises for what the carrier answers or for its network failing: that is the
    result's ``error``, for the caller to record on the account and back off.
    """
    try:
        gateway = karrio.gateway[carrier].create(
            {**credentials, "test_mode": test_mode, "carrier_id": carrier},
            cache=_token_cache,
        )
        answers = _answers_kept(gateway)
        details, messages = (
            karrio.Tracking.fetch(
                karrio_models.TrackingRequest(tracking_numbers=list(tracking_numbers))
            )
            .from_(gateway)
            .parse()
        )
    except ParsedMessagesError as error:
        return TrackingResult(error=_messages_text(error.messages))
    except Exception as error:
        logger.warning("carrier tracking request failed", extra={"carrier": carrier}, exc_info=True)
        return TrackingResult(error=f"{type(error).__name__}: {error}"[:500])
    asked = set(tracking_numbers)
    scheduled = {}
    if carrier == "ups":
        try:
            scheduled = _ups_scheduled_days(
                [pair for answer in answers for pair in answer.deserialize()]
            )
        except (TypeError, ValueError, AttributeError):
            logger.warning("UPS delivery dates unreadable", exc_info=True)
    parcels = {
        item.tracking_number: _answer(carrier, item, scheduled=scheduled.get(item.tracking_number))
        for item in details or []
        if item.tracking_number in asked
    }
    number_errors = {}
    general = []
    for message in messages or []:
        number = (message.details or {}).get("tracking_number")
        if number in asked and number not in parcels:
            number_errors[number] = _messages_text([message])
        else:
            general.append(message)
    error = ""
    if general and not parcels and not number_errors:
        error = _messages_text(general)
    elif not (parcels or number_errors or general):
        # DHL's connector reads an outage's page as an answer about nothing
        error = "The carrier's answer could not be read (an outage?): it named no parcel."
    return TrackingResult(parcels=parcels, error=error, number_errors=number_errors)


def _answers_kept(gateway) -> list:
    """Keep the carrier's raw answers of ``gateway``'s tracking requests, as karrio parses them.

    karrio's normalised details leave out what OrderFlow still reads from the carrier's own
    answer (UPS's scheduled delivery day); the gateway is this call's own.
    """
    answers = []
    get_tracking = gateway.proxy.get_tracking

    def get_tracking_kept(request):
        answer = get_tracking(request)
        answers.append(answer)
        return answer

    gateway.proxy.get_tracking = get_tracking_kept
    return answers


#: karrio's code for an answer its connector could not read (an outage's HTML page, a
#: changed API): the words say so, not only the parser's complaint
_UNREADABLE = "SHIPPING_SDK_INTERNAL_ERROR"


def _messages_text(messages) -> str:
    text = "; ".join(
        f"The carrier's answer could not be read (an outage?): {message.message}"
        if message.code == _UNREADABLE
        else f"{message.code}: {message.message}"
        if message.code
        else str(message.message)
        for message in messages
    )
    return (text or "The carrier refused the request.")[:500]


def _answer(
    carrier: str, details: karrio_models.TrackingDetails, *, scheduled: date | None = None
) -> ParcelAnswer:
    number = details.tracking_number
    # stable: events of the same or of no readable time keep the carrier's order
    events = sorted(details.events or [], key=lambda event: moment_order(_moment_of(event)))
    reports = []
    for event in events:
        karrio_status = event.status or "unknown"
        status = _status_of(carrier, karrio_status, event.code, event.description)
        occurred_at = _time_of(event)
        fingerprint = "|".join(
            str(part or "")
            for part in (number, occurred_at, event.code, karrio_status, event.description)
        )
        reports.append(
            PolledReport(
                event_id=f"poll:{hashlib.sha256(fingerprint.encode()).hexdigest()[:40]}",
                tracking_number=number,
                status=status,
                carrier_status=karrio_status,
                location=(event.location or "").strip()[:200],
                note=(event.description or "").strip()[:500],
                occurred_at=occurred_at,
            )
        )
    unreadable = [report.occurred_at for report in reports if report.moment is None]
    if unreadable:
        # once per answer: the events stay (their words, their ids), their time unknown
        logger.warning(
            "carrier event times unreadable",
            extra={
                "carrier": carrier,
                "tracking_number": number,
                "events": len(unreadable),
                "times": unreadable[:5],
            },
        )
    karrio_status = details.status or ("delivered" if details.delivered else "in_transit")
    status = STATUS_MAP.get(karrio_status, carriers.IN_TRANSIT)
    if reports and reports[-1].carrier_status == karrio_status:
        # the parcel's status is its newest event's, as read from the carrier's own code
        status = reports[-1].status
    eta = _date(details.estimated_delivery) or scheduled
    digest_source = "|".join([karrio_status, status, str(eta or "")])
    digest_source += "|" + "|".join(report.event_id for report in reports)
    info = details.info
    return ParcelAnswer(
        tracking_number=number,
        status=status,
        carrier_status=karrio_status,
        final=karrio_status in FINAL_STATUSES
        or bool(details.delivered)
        or status in (carriers.RETURNED_TO_SENDER, carriers.CANCELLED),
        eta=eta,
        tracking_link=(getattr(info, "carrier_tracking_link", None) or "")[:300],
        reports=tuple(reports),
        digest=hashlib.sha256(digest_source.encode()).hexdigest(),
    )


#: the words of a UPS exception scan whose code is not in ``UPS_EXCEPTIONS`` (a code UPS
#: added since): going back to the shipper, or a delivery attempt that failed
_UPS_RETURN_WORDS = re.compile(r"\breturn(ed|ing)? to (the )?(sender|shipper)\b", re.IGNORECASE)
_UPS_ATTEMPT_WORDS = re.compile(
    r"\b(attempt|not available for delivery|unable to deliver)", re.IGNORECASE
)


def _status_of(carrier: str, karrio_status: str, code: str | None, words: str | None) -> str:
    """OrderFlow's status of one carrier event: karrio's, unless the carrier's own code or
    words say better (UPS's exception scans, all ``on_hold`` to karrio)."""
    if carrier == "ups" and karrio_status == "on_hold":
        if code in UPS_EXCEPTIONS:
            return UPS_EXCEPTIONS[code]
        if _UPS_RETURN_WORDS.search(words or ""):
            return carriers.RETURNED_TO_SENDER
        if _UPS_ATTEMPT_WORDS.search(words or ""):
            return carriers.DELIVERY_FAILED
    return STATUS_MAP.get(karrio_status, carriers.IN_TRANSIT)


#: UPS's delivery dates by type: rescheduled, then scheduled (karrio reads only ``DEL``,
#: the day it was delivered)
_UPS_ETA_TYPES = ("RDD", "SDD")


def _ups_scheduled_days(responses) -> dict[str, date]:
    """The day UPS expects to deliver each parcel of its raw answers (number -> day)."""
    days = {}
    for _, body in responses:
        for shipment in (body or {}).get("trackResponse", {}).get("shipment") or ():
            for package in shipment.get("package") or ():
                dates = {
                    item.get("type"): item.get("date") for item in package.get("deliveryDate") or ()
                }
                found = next((dates[kind] for kind in _UPS_ETA_TYPES if dates.get(kind)), None)
                day = _ups_day(found)
                if day and package.get("trackingNumber"):
                    days[package["trackingNumber"]] = day
    return days


def _ups_day(value: str | None) -> date | None:
    try:
        return datetime.strptime(value or "", "%Y%m%d").date()
    except ValueError:
        return None


def _time_of(event) -> str:
    """The event's time as karrio words it: its timestamp, else its date and time."""
    return event.timestamp or f"{event.date or ''}T{event.time or ''}"


def _moment_of(event) -> datetime | None:
    return event_moment(_time_of(event))


def _date(value) -> date | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
