"""Carrier events: how a carrier signs what it sends, and what its statuses mean here.

A carrier signs each event with its own secret (``CARRIER_SECRETS``): the signature is
``sha256=`` and the hex HMAC-SHA256 of ``<unix timestamp>.<raw body>``, sent with the
timestamp, so a captured request cannot be replayed after ``CARRIER_SIGNATURE_MAX_AGE``
seconds and no byte of the body can change unnoticed. Within that age, the body's
``event_id`` (the carrier's own id of the event, required) makes a replay a duplicate
that changes nothing.
"""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass

CARRIER_HEADER = "X-Carrier"
TIMESTAMP_HEADER = "X-Carrier-Timestamp"
SIGNATURE_HEADER = "X-Carrier-Signature"

IN_TRANSIT = "in_transit"
OUT_FOR_DELIVERY = "out_for_delivery"
DELIVERED = "delivered"
DELIVERY_FAILED = "delivery_failed"
#: the carrier keeps the parcel (for collection, customs, an address problem); it may move on
HELD = "held"
#: the parcel goes back to the shop: final, the carrier reports no more about it
RETURNED_TO_SENDER = "returned_to_sender"
#: the carrier cancelled the shipment (the label voided, the parcel never handed over or
#: taken back before it left): final; its units still count as shipped in it
CANCELLED = "cancelled"
#: what a carrier may report, in the order a parcel usually lives it
CARRIER_STATUSES = (
    IN_TRANSIT,
    OUT_FOR_DELIVERY,
    DELIVERED,
    DELIVERY_FAILED,
    HELD,
    RETURNED_TO_SENDER,
    CANCELLED,
)


def carrier_signature(*, secret: str, timestamp: int | str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def signature_matches(*, secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    expected = carrier_signature(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected.encode(), signature.encode())


@dataclass(frozen=True)
class CarrierResponse:
    status: int
    body: dict


def carrier_event_post(
    *,
    base_url: str,
    carrier: str,
    secret: str,
    event: dict,
    timeout: float = 10,
    user_agent: str = "",
) -> CarrierResponse:
    """POST one signed carrier event, as a carrier's system would (the simulator's client).

    An event without an ``event_id`` gets a new one: a carrier names each event it sends.
    ``user_agent`` names the sender, when it is not urllib's default.
    """
    body = json.dumps({"event_id": uuid.uuid4().hex, **event}).encode()
    timestamp = int(time.time())
    request = urllib.request.Request(  # noqa: S310  (the URL is the operator's own server)
        f"{base_url.rstrip('/')}/api/v1/carrier-events",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            CARRIER_HEADER: carrier,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: carrier_signature(secret=secret, timestamp=timestamp, body=body),
            **({"User-Agent": user_agent} if user_agent else {}),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return CarrierResponse(response.status, json.loads(response.read() or b"{}"))
    except urllib.error.HTTPError as error:
        return CarrierResponse(error.code, json.loads(error.read() or b"{}"))
