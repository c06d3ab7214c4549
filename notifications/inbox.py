"""The webhook inbox: a stand-in shop for trying webhooks locally (embedded mode).

A shop's webhook URL must be a public address, so on a laptop there was nothing to
register: ``shop.example`` never resolves and loopback is refused. The inbox is a
receiver inside the app itself, at ``PUBLIC_BASE_URL + /dev/webhook-inbox``; while
``WEBHOOK_INBOX`` is on (embedded mode's default) that one URL may be registered and
called although it is loopback (:func:`is_inbox_url`; every other private URL still
needs ``WEBHOOK_ALLOW_PRIVATE``).

It does what a shop's receiver does: verify the Standard Webhooks signature with the
endpoint's secret (the ``standardwebhooks`` library a shop would use; the endpoints are
those registered at the inbox URL, so a signature made with one shop's secret is that
shop's and no other's), answer 204 when it holds and 400 when it does not, and keep what
it got — headers, body, verified or not and why — as one JSON file under
``WEBHOOK_INBOX_PATH``, newest ``WEBHOOK_INBOX_KEEP`` kept, for the staff page.
"""

import binascii
import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.urls import reverse
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from .services.emails import public_url

SUFFIX = ".json"
NAME = re.compile(r"\A\d{19,20}-[0-9a-f]{8}\Z")
#: the request headers a receiver reads and the page shows (the signature's and the sender's)
SHOWN_HEADERS = (
    "content-type",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-request-id",
)
#: webhook bodies are small; a bigger one is refused before it is read into memory twice
MAX_BODY_BYTES = 256 * 1024


def inbox_url() -> str:
    """The URL to register as a webhook endpoint to receive in the inbox."""
    return public_url(reverse("notifications:webhook-inbox-receive"))


def is_inbox_url(url: str) -> bool:
    """Whether ``url`` is this app's own inbox, and the inbox is on."""
    return bool(settings.WEBHOOK_INBOX) and url == inbox_url()


@dataclass(frozen=True)
class Verification:
    verified: bool
    reason: str
    endpoint_id: str = ""
    shop_id: int | None = None


@dataclass(frozen=True)
class ReceivedWebhook:
    name: str
    received_at: str
    headers: dict[str, str]
    body: str
    verified: bool
    reason: str
    endpoint_id: str
    shop_id: int | None

    @property
    def received(self) -> datetime:
        return datetime.fromisoformat(self.received_at)

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")

    @property
    def event_type(self) -> str:
        try:
            return str(json.loads(self.body).get("type", ""))
        except (ValueError, AttributeError):
            return ""

    @property
    def pretty_body(self) -> str:
        try:
            return json.dumps(json.loads(self.body), indent=2, ensure_ascii=False)
        except ValueError:
            return self.body


def verify(*, body: bytes, headers: dict[str, str], endpoints) -> Verification:
    """Verify ``body`` as a shop would, with each endpoint's secret in turn.

    ``endpoints``: the (endpoint id, shop id, secret) of every endpoint registered at the
    inbox URL. The first whose secret verifies names the shop; none is a refusal, with the
    reason the library gives (missing headers, a timestamp over five minutes off, no
    matching signature).
    """
    if not endpoints:
        return Verification(
            False, "No webhook endpoint is registered at this URL, so there is no secret."
        )
    reason = ""
    for endpoint_id, shop_id, secret in endpoints:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
        except WebhookVerificationError as error:
            reason = str(error)
        except (ValueError, binascii.Error, UnicodeDecodeError) as error:
            # a malformed signature list or a body that is not UTF-8
            reason = f"Malformed webhook: {error}"
        else:
            return Verification(True, "", str(endpoint_id), shop_id)
    return Verification(False, reason)


def inbox_record(*, body: bytes, headers: dict[str, str], verification: Verification) -> str:
    """Keep one received webhook; return its name."""
    directory = Path(settings.WEBHOOK_INBOX_PATH)
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{time.time_ns()}-{secrets.token_hex(4)}"
    record = {
        "received_at": datetime.now(tz=UTC).isoformat(),
        "headers": {key: headers[key] for key in SHOWN_HEADERS if key in headers},
        "body": body.decode("utf-8", errors="replace"),
        **asdict(verification),
    }
    temporary = directory / f".{name}.tmp"
    temporary.write_text(json.dumps(record))
    temporary.replace(directory / f"{name}{SUFFIX}")
    for old in sorted(_names(directory), reverse=True)[settings.WEBHOOK_INBOX_KEEP :]:
        (directory / f"{old}{SUFFIX}").unlink(missing_ok=True)
    return name


def _names(directory: Path) -> list[str]:
    try:
        entries = os.listdir(directory)
    except FileNotFoundError:
        return []
    return [
        entry.removesuffix(SUFFIX)
        for entry in entries
        if entry.endswith(SUFFIX) and NAME.match(entry.removesuffix(SUFFIX))
    ]


def inbox_list(*, limit: int, shop_id: int | None = None) -> list[ReceivedWebhook]:
    """The newest ``limit`` received webhooks, newest first; only one shop's if ``shop_id``."""
    directory = Path(settings.WEBHOOK_INBOX_PATH)
    found = []
    for name in sorted(_names(directory), reverse=True):
        received = _read(directory, name)
        if received is None or (shop_id is not None and received.shop_id != shop_id):
            continue
        found.append(received)
        if len(found) == limit:
            break
    return found


def inbox_get(name: str) -> ReceivedWebhook | None:
    if not NAME.match(name):
        return None
    return _read(Path(settings.WEBHOOK_INBOX_PATH), name)


def _read(directory: Path, name: str) -> ReceivedWebhook | None:
    try:
        record = json.loads((directory / f"{name}{SUFFIX}").read_text())
    except FileNotFoundError:  # pruned meanwhile
        return None
    return ReceivedWebhook(
        name=name,
        received_at=record["received_at"],
        headers=record["headers"],
        body=record["body"],
        verified=record["verified"],
        reason=record["reason"],
        endpoint_id=record["endpoint_id"],
        shop_id=record["shop_id"],
    )
