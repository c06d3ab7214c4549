"""``manage.py carrier_event``: play a carrier, posting one signed parcel event."""

import json
import uuid

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from orders.carriers import CARRIER_STATUSES, carrier_event_post


class Command(BaseCommand):
    help = (
        "Post one carrier event, signed with the carrier's secret from CARRIER_SECRETS, to "
        "POST /api/v1/carrier-events, and print the answer: for demos and tests."
    )

    def add_arguments(self, parser):
        parser.add_argument("tracking_number")
        parser.add_argument("status", choices=CARRIER_STATUSES)
        parser.add_argument("--carrier", default="demo-post")
        parser.add_argument("--location", default="")
        parser.add_argument("--note", default="")
        parser.add_argument(
            "--event-id",
            default=None,
            help="The carrier's id of the event (default: a new one). The same id again is "
            "answered as a duplicate and changes nothing.",
        )
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(
        self, *args, tracking_number, status, carrier, location, note, event_id, base_url, **opts
    ):
        secret = settings.CARRIER_SECRETS.get(carrier)
        if not secret:
            raise CommandError(
                f"No secret for carrier {carrier!r}: set CARRIER_SECRETS={carrier}=<secret>."
            )
        try:
            response = carrier_event_post(
                base_url=base_url,
                carrier=carrier,
                secret=secret,
                event={
                    "event_id": event_id or uuid.uuid4().hex,
                    "tracking_number": tracking_number,
                    "status": status,
                    "location": location,
                    "note": note,
                },
            )
        except OSError as error:
            raise CommandError(f"No server answered at {base_url}: {error}") from None
        self.stdout.write(f"{response.status} {json.dumps(response.body)}")
        if response.status != 200:
            raise CommandError(response.body.get("detail", "refused"))
