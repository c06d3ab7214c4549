"""Polling carriers (through karrio) for the parcels on the road of the shops' accounts.

Each tick claims the accounts due, and for each one a batch of its parcels due: one tracking
request per account and batch (:func:`orders.karrio_tracking.track`). Every carrier event of
the answer goes through :func:`shipment_report`, exactly as a pushed report does, under a
stable event id: an event already applied is skipped by one query per batch, and one that
slips through meets the report's unique key and changes nothing.

A parcel is asked about again after ``CARRIER_POLL_BASE_SECONDS`` when its carrier said
something new, twice as long after each answer with nothing new (up to
``CARRIER_POLL_MAX_SECONDS``), jittered so that parcels shipped together spread out; never
again once delivered or returned. A carrier's refusal or outage is recorded on the account,
logged, and delays that account only, growing the same way.
"""

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.utils import timezone

from .. import carriers
from ..carrier_credentials import CredentialsUnreadable, credentials_decrypt
from ..exceptions import OrderError
from ..karrio_tracking import ParcelAnswer, PolledReport, TrackingResult, track
from ..models import CarrierReport, Shipment
from ..models.carrier_accounts import CarrierAccount, ParcelPoll
from ..models.shipments import ON_THE_ROAD
from .shipments import shipment_report

logger = logging.getLogger(__name__)

#: how long a claimed account or parcel is left to the poll that claimed it
CLAIM_SECONDS = 300


@dataclass
class PollSummary:
    accounts: int = 0
    failed_accounts: int = 0
    parcels: int = 0
    reports_applied: int = 0


def backoff_seconds(*, unchanged: int, base: float, maximum: float) -> float:
    """``base`` doubled ``unchanged`` times, capped at ``maximum``, jittered by a quarter."""
    wait = min(base * (2 ** min(unchanged, 30)), maximum)
    return wait * random.uniform(0.75, 1.25)


def carrier_parcels_poll(*, now: datetime | None = None) -> PollSummary:
    """Poll every account due for a batch of its parcels due; return what was done."""
    now = now or timezone.now()
    summary = PollSummary()
    for account in _accounts_claim(now=now):
        summary.accounts += 1
        try:
            ok, parcels, applied = _account_poll(account=account, now=now)
        except Exception as error:
            # Nothing of one shop's account may stop the others' polling: recorded, logged
            # with its traceback, and the account backs off like after a carrier's refusal.
            logger.exception("carrier poll failed", extra={"account_id": account.pk})
            _account_failed(account=account, now=now, error=f"{type(error).__name__}: {error}")
            ok, parcels, applied = False, 0, 0
        summary.failed_accounts += not ok
        summary.parcels += parcels
        summary.reports_applied += applied
    return summary


@transaction.atomic
def _accounts_claim(*, now: datetime) -> list[CarrierAccount]:
    """Lock the active accounts due (skipping any another poll holds) and lease them."""
    accounts = list(
        CarrierAccount.objects.select_for_update(skip_locked=True)
        .filter(active=True)
        .filter(Q(next_poll_at__isnull=True) | Q(next_poll_at__lte=now))
        # the least recently polled first (new ones before all): more accounts than a poll
        # serves take turns instead of the same first ones every time
        .order_by(F("next_poll_at").asc(nulls_first=True), "id")[: settings.CARRIER_POLL_ACCOUNTS]
    )
    CarrierAccount.objects.filter(pk__in=[account.pk for account in accounts]).update(
        next_poll_at=now + timedelta(seconds=CLAIM_SECONDS)
    )
    return accounts


def _numbers_due(*, account: CarrierAccount, now: datetime) -> list[str]:
    """The tracking numbers of the account's shop and carrier on the road and due a poll."""
    waiting = ParcelPoll.objects.filter(
        account=account, tracking_number=OuterRef("tracking_number")
    ).filter(Q(final=True) | Q(next_poll_at__gt=now))
    return list(
        Shipment.objects.filter(
            order__shop_id=account.shop_id,
            carrier__iexact=account.carrier,
            status__in=ON_THE_ROAD,
        )
        .exclude(tracking_number="")
        .exclude(Exists(waiting))
        .order_by("updated_at")
        .values_list("tracking_number", flat=True)[: settings.CARRIER_POLL_BATCH_SIZE]
    )


def _account_poll(*, account: CarrierAccount, now: datetime) -> tuple[bool, int, int]:
    numbers = _numbers_due(account=account, now=now)
    if not numbers:
        # nothing asked: the lease is released (due again, after the others), the last poll
        # and its error stay as they were
        CarrierAccount.objects.filter(pk=account.pk).update(next_poll_at=now)
        return True, 0, 0
    # claimed: a parallel poll skips these numbers until the answer is applied
    ParcelPoll.objects.bulk_create(
        [
            ParcelPoll(
                account=account,
                tracking_number=number,
                next_poll_at=now + timedelta(seconds=CLAIM_SECONDS),
            )
            for number in numbers
        ],
        update_conflicts=True,
        unique_fields=["account", "tracking_number"],
        update_fields=["next_poll_at"],
    )
    try:
        credentials = credentials_decrypt(account.credentials_encrypted)
    except CredentialsUnreadable as error:
        result = TrackingResult(error=str(error))
    else:
        result = track(
            carrier=account.carrier,
            credentials=credentials,
            test_mode=account.test_mode,
            tracking_numbers=numbers,
        )
    if result.error:
        logger.warning(
            "carrier refused a poll",
            extra={
                "account_id": account.pk,
                "shop_id": account.shop_id,
                "carrier": account.carrier,
                "error": result.error,
            },
        )
        retry_at = _account_failed(account=account, now=now, error=result.error)
        ParcelPoll.objects.filter(account=account, tracking_number__in=numbers).update(
            next_poll_at=retry_at
        )
        return False, len(numbers), 0
    applied = _answers_apply(account=account, numbers=numbers, result=result, now=now)
    _account_succeeded(account=account, now=now)
    return True, len(numbers), applied


def _answers_apply(
    *, account: CarrierAccount, numbers: list[str], result: TrackingResult, now: datetime
) -> int:
    event_ids = [report.event_id for answer in result.parcels.values() for report in answer.reports]
    known = set(
        CarrierReport.objects.filter(carrier=account.carrier, event_id__in=event_ids).values_list(
            "event_id", flat=True
        )
    )
    polls = {
        poll.tracking_number: poll
        for poll in ParcelPoll.objects.filter(account=account, tracking_number__in=numbers)
    }
    applied = 0
    for number in numbers:
        poll = polls[number]
        answer = result.parcels.get(number)
        poll.last_polled_at = now
        if answer is None:
            poll.last_error = result.number_errors.get(number, "The carrier did not answer.")
            poll.unchanged_polls += 1
        else:
            new = _reports_apply(account=account, answer=answer, known=known)
            applied += new
            news = new or answer.digest != poll.last_digest
            poll.unchanged_polls = 0 if news else poll.unchanged_polls + 1
            poll.last_digest = answer.digest
            poll.carrier_status = answer.carrier_status
            poll.eta = answer.eta
            poll.tracking_link = answer.tracking_link
            poll.final = answer.final
            poll.last_error = ""
        poll.next_poll_at = now + timedelta(
            seconds=backoff_seconds(
                unchanged=poll.unchanged_polls,
                base=settings.CARRIER_POLL_BASE_SECONDS,
                maximum=settings.CARRIER_POLL_MAX_SECONDS,
            )
        )
    _etas_write(account=account, answers=result.parcels.values())
    ParcelPoll.objects.bulk_update(
        polls.values(),
        [
            "last_polled_at",
            "last_error",
            "unchanged_polls",
            "last_digest",
            "carrier_status",
            "eta",
            "tracking_link",
            "final",
            "next_poll_at",
        ],
    )
    return applied


#: the carrier statuses that move the order (``shipment_report``): a backlog keeps its last
_MOVES_THE_ORDER = frozenset({carriers.OUT_FOR_DELIVERY, carriers.DELIVERED})


def polled_steps(reports: Sequence[PolledReport], known: set[str]) -> list[PolledReport]:
    """The events of an answer (oldest first) to apply: what is new, a backlog collapsed.

    New is what the parcel does not know yet: an event applied before (``known``, by its
    stable id) marks everything up to its time as known, so the scans before it that were
    left out are never applied later. Several new events (a parcel's first poll, or a
    carrier's late answer) are history to the customer: they collapse into the newest one,
    which says where the parcel is now, after the last one that moves the order (out for
    delivery, delivered) when that is an earlier one, so that the order stands where the
    whole history would have left it. The events left out keep no record; their words
    stay with the carrier.
    """
    floor = max(
        (report.moment for report in reports if report.event_id in known and report.moment),
        default=None,
    )
    new = [
        report
        for report in reports
        if report.event_id not in known and _after(report.moment, floor)
    ]
    if len(new) <= 1:
        return new
    newest = new[-1]
    moving = [report for report in new if report.status in _MOVES_THE_ORDER]
    return [moving[-1], newest] if moving and moving[-1] is not newest else [newest]


def _after(moment: datetime | None, floor: datetime | None) -> bool:
    """Whether an event at ``moment`` is newer than the newest known one (at ``floor``).

    Times are moments (:func:`orders.karrio_tracking.event_moment`), never strings. An event
    of unreadable time is news only while no known step has a readable time: it cannot be
    placed after that step, and applying it would move the parcel back.
    """
    if floor is None:
        return True
    return moment is not None and moment > floor


def _reports_apply(*, account: CarrierAccount, answer: ParcelAnswer, known: set[str]) -> int:
    """Apply the answer's steps not applied yet, oldest first; return how many applied.

    The carrier's ETA is the parcel's, not an event's: it goes with the newest event.
    """
    applied = 0
    new = polled_steps(answer.reports, known)
    unknown = sum(report.event_id not in known for report in answer.reports)
    if len(new) < unknown:
        logger.info(
            "polled carrier backlog collapsed",
            extra={
                "carrier": account.carrier,
                "tracking_number": answer.tracking_number,
                "unknown_events": unknown,
                "steps": len(new),
            },
        )
    for report in new:
        try:
            outcome = shipment_report(
                carrier=account.carrier,
                event_id=report.event_id,
                tracking_number=report.tracking_number,
                status=report.status,
                location=report.location,
                note=report.note,
                eta=_eta_at(answer.eta) if report is new[-1] else None,
            )
        except OrderError as error:
            # an event the parcel cannot take any more (its history after delivery), or a
            # number no longer the shop's: the rest of the answer still applies
            logger.info(
                "polled carrier event not applied",
                extra={
                    "carrier": account.carrier,
                    "tracking_number": report.tracking_number,
                    "event_id": report.event_id,
                    "reason": error.detail,
                },
            )
            continue
        applied += not outcome.duplicate
    return applied


def _etas_write(*, account: CarrierAccount, answers) -> None:
    """Write each answer's ETA to its parcel on the road, whether or not an event came with
    it (a carrier may move the day without a scan): one statement for the batch."""
    etas = {answer.tracking_number: _eta_at(answer.eta) for answer in answers if answer.eta}
    if not etas:
        return
    Shipment.objects.filter(
        order__shop_id=account.shop_id,
        carrier__iexact=account.carrier,
        tracking_number__in=list(etas),
        status__in=ON_THE_ROAD,
    ).update(
        eta=Case(
            *(When(tracking_number=number, then=Value(eta)) for number, eta in etas.items()),
            default=F("eta"),
        )
    )


def _eta_at(day: date | None) -> datetime | None:
    """A carrier's ETA day as the parcel's moment: noon UTC reads as that day anywhere
    from UTC-11 to UTC+11 (midnight would be the day before in Brazil)."""
    return datetime.combine(day, time(12), tzinfo=UTC) if day else None


def _account_succeeded(*, account: CarrierAccount, now: datetime) -> None:
    CarrierAccount.objects.filter(pk=account.pk).update(
        last_polled_at=now, last_error="", failures=0, next_poll_at=now
    )


def _account_failed(*, account: CarrierAccount, now: datetime, error: str) -> datetime:
    failures = account.failures + 1
    retry_at = now + timedelta(
        seconds=backoff_seconds(
            unchanged=failures - 1,
            base=settings.CARRIER_POLL_INTERVAL,
            maximum=settings.CARRIER_POLL_MAX_SECONDS,
        )
    )
    CarrierAccount.objects.filter(pk=account.pk).update(
        last_polled_at=now,
        last_error=error[:500],
        last_error_at=now,
        failures=failures,
        next_poll_at=retry_at,
    )
    return retry_at


def parcel_polls_purge(*, older_than_days: int | None = None, batch_size: int = 2000) -> int:
    """Delete the poll records of finished parcels not polled within the retention; return
    how many, deleting in batches so that each delete's locks stay short beside the polls.

    Finished: the carrier said its last word (``final``), or no parcel of the account's shop
    with that carrier and number is on the road any more (delivered or returned by a pushed
    report or by staff). A record of a parcel on the road is kept, however old. A tracking
    number a carrier gives again later starts a new record, so it is polled again.
    """
    days = settings.CARRIER_POLL_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    on_the_road = Shipment.objects.filter(
        order__shop_id=OuterRef("account__shop_id"),
        carrier__iexact=OuterRef("account__carrier"),
        tracking_number=OuterRef("tracking_number"),
        status__in=ON_THE_ROAD,
    )
    finished = (
        ParcelPoll.objects.filter(
            Q(last_polled_at__lt=cutoff) | Q(last_polled_at__isnull=True, next_poll_at__lt=cutoff)
        )
        .filter(Q(final=True) | ~Exists(on_the_road))
        .order_by("id")
    )
    deleted = 0
    while True:
        ids = list(finished.values_list("id", flat=True)[:batch_size])
        if not ids:
            return deleted
        deleted += ParcelPoll.objects.filter(id__in=ids).delete()[0]
