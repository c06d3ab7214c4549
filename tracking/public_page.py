"""What the customer's tracking page says, in the active language: one honest sentence per state.

The page is built from the tracking projection alone (``payloads.public_order`` and the
public entries): the status, the parcel, the items, the shop's contact, and the facts bad
news needs (why an order was refused or cancelled, whether and when money went back, a
failed delivery attempt). This module turns those facts into words for the language that
is active (``translation.override``), so the server-rendered page and every live push to a
socket read alike: the socket renders the same view in its own page's language.

Nothing here reads the database: a push is rendered from the pushed facts.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext_lazy

from orderflow import customer_locale
from orders.events import OrderStatus

from .choices import Milestone

#: each status in the customer's words (the page's big label)
STATUS_LABELS = {
    OrderStatus.PLACED: gettext_lazy("Order received"),
    OrderStatus.RESERVED: gettext_lazy("Order received"),
    OrderStatus.PAID: gettext_lazy("Payment received"),
    OrderStatus.CONFIRMED: gettext_lazy("Confirmed"),
    OrderStatus.PARTIALLY_SHIPPED: gettext_lazy("Partly on its way"),
    OrderStatus.SHIPPED: gettext_lazy("On its way"),
    OrderStatus.OUT_FOR_DELIVERY: gettext_lazy("Out for delivery"),
    OrderStatus.DELIVERED: gettext_lazy("Delivered"),
    OrderStatus.REJECTED: gettext_lazy("Not accepted"),
    OrderStatus.CANCELLED: gettext_lazy("Cancelled"),
}

#: each step of the timeline in plain words (only public milestones reach the page)
STEP_LABELS = {
    Milestone.PLACED: gettext_lazy("We received your order"),
    Milestone.RESERVED: gettext_lazy("Your items are set aside for you"),
    Milestone.PAID: gettext_lazy("Payment received"),
    Milestone.CONFIRMED: gettext_lazy("Order confirmed"),
    Milestone.PARTIALLY_SHIPPED: gettext_lazy("Part of your order handed to the carrier"),
    Milestone.SHIPPED: gettext_lazy("Handed to the carrier"),
    Milestone.IN_TRANSIT: gettext_lazy("On its way"),
    Milestone.OUT_FOR_DELIVERY: gettext_lazy("Out for delivery"),
    Milestone.DELIVERY_FAILED: gettext_lazy("Delivery attempt failed"),
    Milestone.HELD: gettext_lazy("Held by the carrier"),
    Milestone.RETURNED_TO_SENDER: gettext_lazy("Going back to the shop"),
    Milestone.PARCEL_CANCELLED: gettext_lazy("Cancelled by the carrier"),
    Milestone.PARCEL_DELIVERED: gettext_lazy("A parcel was delivered"),
    Milestone.DELIVERED: gettext_lazy("Delivered"),
    Milestone.REJECTED: gettext_lazy("Order not accepted"),
    Milestone.CANCELLED: gettext_lazy("Order cancelled"),
    Milestone.REMAINDER_CANCELLED: gettext_lazy("The rest of your order was cancelled"),
    Milestone.SHIPPING_ADDRESS_CHANGED: gettext_lazy("Delivery address updated"),
    Milestone.CUSTOMER_CHANGED: gettext_lazy("Contact details updated"),
    Milestone.RETURN_REQUESTED: gettext_lazy("Return requested"),
    Milestone.RETURN_APPROVED: gettext_lazy("Return approved"),
    Milestone.RETURN_REJECTED: gettext_lazy("Return not accepted"),
    Milestone.RETURN_RECEIVED: gettext_lazy("Returned items received"),
    Milestone.RETURN_REFUNDED: gettext_lazy("Return refunded"),
    Milestone.RETURN_CLOSED: gettext_lazy("Return settled"),
}

#: what happens next, by status ("" at an end)
NEXT_STEPS = {
    OrderStatus.PLACED: gettext_lazy("The shop checks that everything is in stock."),
    OrderStatus.RESERVED: gettext_lazy("The shop takes the payment."),
    OrderStatus.PAID: gettext_lazy("The shop confirms your order."),
    OrderStatus.CONFIRMED: gettext_lazy("The shop packs your order and hands it to the carrier."),
    OrderStatus.PARTIALLY_SHIPPED: gettext_lazy(
        "Part of your order is with the carrier; the shop sends the rest in another parcel."
    ),
    OrderStatus.SHIPPED: gettext_lazy("The carrier brings the parcel to your address."),
    OrderStatus.OUT_FOR_DELIVERY: gettext_lazy("The carrier delivers it today."),
}

#: why an order ended, as the projection records it (``outcome.cause``)
CAUSE_STOCK, CAUSE_PAYMENT, CAUSE_SHOP = "stock", "payment", "shop"
DELIVERY_FAILED, HELD, RETURNED_TO_SENDER = "delivery_failed", "held", "returned_to_sender"
#: the carrier cancelled a parcel's shipment (its label voided): it never left
CANCELLED_BY_CARRIER = "cancelled"
#: the statuses of an order with a parcel on the road, where a carrier's bad news is the news
_ON_ITS_WAY = (OrderStatus.PARTIALLY_SHIPPED, OrderStatus.SHIPPED, OrderStatus.OUT_FOR_DELIVERY)
#: the page's big label while the carrier holds the parcel or sends it back
ISSUE_LABELS = {
    HELD: gettext_lazy("Held by the carrier"),
    RETURNED_TO_SENDER: gettext_lazy("Going back to the shop"),
    CANCELLED_BY_CARRIER: gettext_lazy("Cancelled by the carrier"),
}


def _held_or_returned(order: Mapping[str, Any]) -> str:
    """``held`` or ``returned_to_sender`` while the carrier's news is that and the order is on
    its way (good news from the carrier clears it), else ""."""
    issue = order.get("delivery_issue") or ""
    return issue if issue in ISSUE_LABELS and order.get("status") in _ON_ITS_WAY else ""


def _exception_sentences(order: Mapping[str, Any], issue: str) -> list[str]:
    carrier = order.get("carrier") or _("the carrier")
    shop = order["shop_name"]
    if issue == HELD:
        return [
            _("%(carrier)s is holding your parcel instead of delivering it.")
            % {"carrier": carrier},
            _(
                "The latest step below says where and why, when the carrier said: you can "
                "collect it there, or write to %(shop)s if you need help or a change."
            )
            % {"shop": shop},
        ]
    if issue == CANCELLED_BY_CARRIER:
        return [
            _("%(carrier)s cancelled the shipment of your parcel: it has not left.")
            % {"carrier": carrier},
            _("%(shop)s will send it again or contact you about a refund.") % {"shop": shop},
        ]
    return [
        _("%(carrier)s is sending your parcel back to %(shop)s.")
        % {"carrier": carrier, "shop": shop},
        _("%(shop)s will contact you about a refund or a new delivery.") % {"shop": shop},
    ]


#: what happens next while the carrier holds the parcel or sends it back
ISSUE_NEXT_STEPS = {
    HELD: gettext_lazy("Collect the parcel, or contact the shop."),
    RETURNED_TO_SENDER: gettext_lazy("The shop contacts you about a refund or a new delivery."),
    CANCELLED_BY_CARRIER: gettext_lazy("The shop sends it again, or contacts you about a refund."),
}


def status_label(status: str) -> str:
    label = STATUS_LABELS.get(status)
    return str(label) if label is not None else status.replace("_", " ").capitalize()


def step_label(milestone: str) -> str:
    label = STEP_LABELS.get(milestone)
    return str(label) if label is not None else milestone.replace("_", " ").capitalize()


def _when(value: str) -> str:
    moment = parse_datetime(value or "")
    return customer_locale.date_time(moment) if moment else ""


def _day(value: str) -> str:
    moment = parse_datetime(value or "")
    return customer_locale.long_date(moment) if moment else ""


def _items_named(order: Mapping[str, Any]) -> dict[str, str]:
    return {item["sku"]: item.get("name") or item["sku"] for item in order.get("items") or ()}


def _rejected(order: Mapping[str, Any]) -> list[str]:
    outcome = order.get("outcome") or {}
    shop = order["shop_name"]
    short = outcome.get("short_items") or []
    names = _items_named(order)
    said = []
    if short:
        said.append(
            ngettext(
                "%(shop)s could not accept your order: one item is no longer in stock.",
                "%(shop)s could not accept your order: some items are no longer in stock.",
                len(short),
            )
            % {"shop": shop}
        )
        for line in short:
            values = {
                "name": names.get(line["sku"], line["sku"]),
                "requested": line["requested"],
                "available": line["available"],
            }
            if line["available"]:
                said.append(
                    _("%(name)s: you asked for %(requested)s, only %(available)s left.") % values
                )
            else:
                said.append(_("%(name)s: you asked for %(requested)s, none left.") % values)
    else:
        said.append(_("%(shop)s could not accept your order.") % {"shop": shop})
        if outcome.get("reason"):
            said.append(_("The reason given: %(reason)s") % {"reason": outcome["reason"]})
    said.append(_("Nothing was charged, and the order will not be sent."))
    return said


def _cancelled(order: Mapping[str, Any]) -> list[str]:
    outcome = order.get("outcome") or {}
    shop = order["shop_name"]
    reason = outcome.get("reason", "")
    said = []
    if outcome.get("cause") == CAUSE_PAYMENT:
        said.append(_("The payment could not be taken, so the order was cancelled."))
        if reason:
            said.append(_("The payment service said: %(reason)s") % {"reason": reason})
    else:
        said.append(_("%(shop)s cancelled your order.") % {"shop": shop})
        if reason:
            said.append(_("The reason given: %(reason)s") % {"reason": reason})
    if _refunded(order):
        said.append(_refund_sentence(order))
    elif outcome.get("charged"):
        said.append(
            _("Your payment of %(amount)s is being refunded to the way you paid.")
            % {"amount": customer_locale.money(order["total"], order["currency"])}
        )
    else:
        said.append(_("Nothing was charged."))
    return said


#: where the order's latest return stands, in the customer's words (``return_status``)
RETURN_SENTENCES = {
    "requested": gettext_lazy("Return in progress: %(shop)s is checking your request."),
    "approved": gettext_lazy(
        "Return in progress: %(shop)s approved it; please send the items back."
    ),
    "rejected": gettext_lazy("%(shop)s could not accept your return."),
    "received": gettext_lazy("Return received: %(shop)s has your items back; the refund follows."),
    "refunded": gettext_lazy("Return received: %(shop)s has your items back."),
    "closed": gettext_lazy(
        "Return received: %(shop)s has your items back and settled the return without a refund."
    ),
}
#: what happens next while a return is open
RETURN_NEXT_STEPS = {
    "requested": gettext_lazy("The shop tells you whether to send the items back."),
    "approved": gettext_lazy("Send the items back to the shop."),
    "received": gettext_lazy("The shop refunds the returned items."),
}


#: a return's state in a word or two, as its line in the page's list of returns says it
RETURN_LABELS = {
    "requested": pgettext_lazy("a return's state", "Being checked"),
    "approved": pgettext_lazy("a return's state", "Approved: send the items back"),
    "rejected": pgettext_lazy("a return's state", "Not accepted"),
    "received": pgettext_lazy("a return's state", "Received: refund follows"),
    "refunded": pgettext_lazy("a return's state", "Refunded"),
    "closed": pgettext_lazy("a return's state", "Settled without a refund"),
}
OPEN_RETURN_STATUSES = ("requested", "approved", "received")


def _return_sentence(order: Mapping[str, Any]) -> str:
    """The summary's word on returns: where the one return stands; with several, that each
    is listed (the latest alone would hide the others)."""
    if len(order.get("returns") or ()) > 1:
        return _("You have several returns; each is listed below with where it stands.")
    sentence = RETURN_SENTENCES.get(order.get("return_status") or "")
    if sentence is None:
        return ""
    known = order.get("returns") or ()
    return _with_reason(str(sentence) % {"shop": order["shop_name"]}, known[0] if known else {})


def _with_reason(sentence: str, known: Mapping[str, Any]) -> str:
    """A rejected return's sentence, with the reason the shop gave the customer."""
    if known.get("status") != "rejected" or not known.get("reason"):
        return sentence
    return f"{sentence} " + _("The reason given: %(reason)s") % {"reason": known["reason"]}


def _next_return_status(order: Mapping[str, Any]) -> str:
    """The status whose next step the page names: the oldest open return's, or the latest
    return's (a row told before returns had their own facts)."""
    known = order.get("returns") or ()
    if not known:
        return order.get("return_status") or ""
    open_ones = [r for r in known if r.get("status") in OPEN_RETURN_STATUSES]
    return open_ones[0]["status"] if open_ones else ""


def _return(order: Mapping[str, Any], known: Mapping[str, Any]) -> dict[str, Any]:
    """One return's words: the page's script places them on each push as they are."""
    status = known.get("status", "")
    sentence = RETURN_SENTENCES.get(status)
    label = RETURN_LABELS.get(status)
    return {
        "number": known.get("number", 0),
        "status": status,
        "title": _("Return %(number)s") % {"number": known.get("number", 0)},
        "status_label": str(label) if label is not None else status.capitalize(),
        "sentence": _with_reason(str(sentence) % {"shop": order["shop_name"]}, known)
        if sentence is not None
        else "",
        "contents": ", ".join(
            f"{line['quantity']} \N{MULTIPLICATION SIGN} {line['name']}"
            for line in known.get("lines") or ()
        ),
    }


def _refunded(order: Mapping[str, Any]) -> bool:
    try:
        return float(order.get("refunded_amount") or 0) > 0
    except ValueError:
        return False


def _refund_sentence(order: Mapping[str, Any]) -> str:
    return _("%(amount)s was refunded on %(day)s to the way you paid.") % {
        "amount": customer_locale.money(order["refunded_amount"], order["currency"]),
        "day": _day(order.get("refunded_at") or ""),
    }


def _shipped(order: Mapping[str, Any]) -> list[str]:
    carrier = order.get("carrier") or _("the carrier")
    if _attempt_failed(order):
        return [
            _("%(carrier)s tried to deliver your parcel but could not.") % {"carrier": carrier},
            _(
                "The carrier will try again on its next round. If that fails too, it keeps "
                "the parcel for you to collect or sends it back to %(shop)s, who will then "
                "contact you. You need to do nothing now unless you want to change the "
                "delivery: then write to %(shop)s."
            )
            % {"shop": order["shop_name"]},
        ]
    return [_("Your parcel is on its way with %(carrier)s.") % {"carrier": carrier}]


def sentences(order: Mapping[str, Any]) -> list[str]:
    """What the page says about where the order stands, first sentence first."""
    status = order.get("status", "")
    shop = order["shop_name"]
    if issue := _held_or_returned(order):
        said = _exception_sentences(order, issue)
    elif status == OrderStatus.REJECTED:
        said = _rejected(order)
    elif status == OrderStatus.CANCELLED:
        said = _cancelled(order)
    elif status == OrderStatus.DELIVERED:
        said = [_("Your parcel was delivered. We hope you enjoy it!")]
        said.append(_("If anything is missing or not right, write to %(shop)s.") % {"shop": shop})
    elif status == OrderStatus.OUT_FOR_DELIVERY:
        said = [_("Your parcel is out for delivery and should arrive today.")]
    elif status == OrderStatus.SHIPPED:
        said = _shipped(order)
    elif status == OrderStatus.PARTIALLY_SHIPPED:
        said = [
            _(
                "Part of your order is on its way with %(carrier)s; %(shop)s sends the rest "
                "in another parcel."
            )
            % {"carrier": order.get("carrier") or _("the carrier"), "shop": shop}
        ]
    elif status == OrderStatus.CONFIRMED:
        said = [_("Your order is confirmed and %(shop)s is preparing it.") % {"shop": shop}]
    else:
        said = [_("We received your order and %(shop)s is checking it.") % {"shop": shop}]
    if status not in (OrderStatus.REJECTED, OrderStatus.CANCELLED) and _return_sentence(order):
        said.append(_return_sentence(order))
    if status != OrderStatus.CANCELLED and _refunded(order):
        said.append(_refund_sentence(order))
    return said


def _attempt_failed(order: Mapping[str, Any]) -> bool:
    """The carrier could not deliver and has not moved the parcel on since."""
    return (
        order.get("delivery_issue") == DELIVERY_FAILED
        and order.get("status") == OrderStatus.SHIPPED
    )


def next_step(order: Mapping[str, Any]) -> str:
    if issue := _held_or_returned(order):
        return str(ISSUE_NEXT_STEPS[issue])
    if _attempt_failed(order):
        return _("The carrier tries again.")
    if order.get("status") == OrderStatus.DELIVERED and order.get("return_status"):
        step = RETURN_NEXT_STEPS.get(_next_return_status(order))
        return str(step) if step is not None else ""
    step = NEXT_STEPS.get(order.get("status", ""))
    return str(step) if step is not None else ""


def view(order: Mapping[str, Any]) -> dict[str, Any]:
    """The words of the page's live parts for ``order`` (``payloads.public_order``)."""
    return {
        "status": order.get("status", ""),
        "sequence": order.get("sequence", 0),
        "updated_at": order.get("updated_at", ""),
        "updated_text": _when(order.get("updated_at", "")),
        "status_label": (
            str(ISSUE_LABELS[issue])
            if (issue := _held_or_returned(order))
            else status_label(order.get("status", ""))
        ),
        "sentences": sentences(order),
        "next_step": next_step(order),
        "carrier": order.get("carrier", ""),
        "tracking_number": order.get("tracking_number", ""),
        "tone": tone(order),
        # listed when the order left in more than one parcel (one is the card's carrier)
        "parcels": [_parcel(parcel) for parcel in order.get("parcels") or []],
        # every return of the order, oldest first, each with where it stands and its items
        "returns": [_return(order, known) for known in order.get("returns") or []],
        # an order that ended before it shipped has no parcel to speak of
        "parcel_shown": bool(order.get("carrier"))
        or order.get("status") not in (OrderStatus.REJECTED, OrderStatus.CANCELLED),
    }


#: a parcel's status whose words are a milestone of another name ("cancelled" alone is the
#: order's cancellation)
_PARCEL_MILESTONES = {CANCELLED_BY_CARRIER: Milestone.PARCEL_CANCELLED}


def _parcel(parcel: Mapping[str, Any]) -> dict[str, Any]:
    """A parcel's words: the page's script places them on each push as they are."""
    # a delivered parcel's expected day is past news
    eta = _day(parcel.get("eta") or "") if parcel.get("status") != Milestone.DELIVERED else ""
    return {
        **parcel,
        "status_label": step_label(
            _PARCEL_MILESTONES.get(parcel.get("status"), "") or parcel.get("status", "")
        ),
        "eta_text": _("Expected %(day)s") % {"day": eta} if eta else "",
        "contents": ", ".join(
            f"{line['quantity']} \N{MULTIPLICATION SIGN} {line['name']}"
            for line in parcel.get("lines") or ()
        ),
    }


def tone(order: Mapping[str, Any]) -> str:
    """``bad`` (refused, cancelled, a failed attempt, a parcel held or going back), ``good``
    (delivered) or ``neutral``: the colour of the page's summary, never its only signal."""
    status = order.get("status", "")
    if (
        status in (OrderStatus.REJECTED, OrderStatus.CANCELLED)
        or _attempt_failed(order)
        or _held_or_returned(order)
    ):
        return "bad"
    return "good" if status == OrderStatus.DELIVERED else "neutral"


def steps(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The timeline's entries (``payloads.public_entry``) with their words."""
    return [
        {
            "status": entry["status"],
            "sequence": entry["sequence"],
            "occurred_at": entry["occurred_at"],
            "label": step_label(entry["status"]),
            "when": _when(entry.get("occurred_at", "")),
            "location": entry.get("location", ""),
            "location_text": (
                _("Location: %(place)s") % {"place": entry["location"]}
                if entry.get("location")
                else ""
            ),
            "note": entry.get("note", ""),
        }
        for entry in entries
    ]


def snapshot_message(snapshot: Mapping[str, Any]) -> dict[str, Any]:
    """A page's (or a socket's) whole view: ``services.public_snapshot`` in words."""
    return {
        "type": "snapshot",
        "watermark": snapshot["watermark"],
        "view": view(snapshot["order"]),
        "steps": steps(snapshot["entries"]),
    }


def steps_message(*, order: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> dict:
    """One batch's push to a page: its new public steps and the order's view after."""
    return {"type": "steps", "view": view(order), "steps": steps(entries)}
