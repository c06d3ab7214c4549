"""``manage.py simulate``: demo traffic through the real API, for a board with life on it.

Places orders for the demo shop as a shop's backend would (over HTTP, with its own API
key), with a mix of outcomes — most pay, some cards are declined, some orders ask for
more than is in stock — then ships each confirmed order and plays the carrier: signed
carrier events take it in transit, out for delivery (now and then a failed attempt
first) and delivered. Stock is topped up as it runs low. Ctrl-C stops it cleanly.
"""

import heapq
import itertools
import json
import random
import signal
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from demo.management.commands.load_demo import DEMO_SHOP_SLUG
from demo.traffic import SIMULATOR_USER_AGENT
from orders import services
from orders.carriers import carrier_event_post
from orders.models import Shop

#: a product kept scarce on purpose: asking for this many is always out of stock
SCARCE_SKU = "KETTLE-GOOSE"
SCARCE_QUANTITY = 999
CITIES = ["Porto", "Lisbon", "Braga", "Coimbra", "Faro", "Madrid", "São Paulo", "Recife"]
NAMES = ["Ana Souza", "Bruno Lima", "Carla Dias", "Diego Alves", "Eva Nunes", "Rui Costa"]


class ApiError(Exception):
    pass


@dataclass(order=True)
class Step:
    due: float
    seq: int
    order_id: str = field(compare=False)
    number: str = field(compare=False)
    stage: str = field(compare=False)
    tracking_number: str = field(compare=False, default="")
    waited: float = field(compare=False, default=0.0)


#: the carrier's words on the simulated bad news
SIMULATED_NOTES = {
    "delivery_failed": "Nobody home; we will try again",
    "held": "Kept at the depot for collection",
}


class Command(BaseCommand):
    help = (
        "Place demo orders through the API at --rate per second (some declined, some out of "
        "stock) and move the confirmed ones through shipping and delivery with signed carrier "
        "events. Needs a running server and load_demo. Ctrl-C stops it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rate", type=float, default=2.0, help="Orders per second (2).")
        parser.add_argument(
            "--duration", type=float, default=None, help="Stop after this many seconds."
        )
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")
        parser.add_argument("--carrier", default="demo-post")
        parser.add_argument("--shop", default=DEMO_SHOP_SLUG, help="The shop's slug.")
        parser.add_argument(
            "--pace", type=float, default=3.0, help="Average seconds between a parcel's steps."
        )

    def handle(self, *args, rate, duration, base_url, carrier, shop, pace, **options):
        if rate <= 0:
            raise CommandError("--rate must be above 0.")
        the_shop = Shop.objects.filter(slug=shop).first()
        if the_shop is None:
            raise CommandError(f"No shop {shop!r}: run `manage.py load_demo` first.")
        secret = settings.CARRIER_SECRETS.get(carrier)
        if not secret:
            raise CommandError(
                f"No secret for carrier {carrier!r}: set CARRIER_SECRETS={carrier}=<secret>."
            )
        if not the_shop.carriers.filter(carrier__iexact=carrier).exists():
            raise CommandError(
                f"Shop {shop!r} does not ship with {carrier!r}: add the carrier on the shop's "
                "admin page (load_demo binds the demo shop to demo-post)."
            )
        self.base_url = base_url.rstrip("/")
        self.carrier, self.secret, self.pace = carrier, secret, pace
        self.api_key = services.api_key_create(shop=the_shop, name="simulator")[1]
        self.running = True
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        self.counts = dict.fromkeys(
            ("placed", "confirmed", "rejected", "cancelled", "delivered"), 0
        )
        self.steps: list[Step] = []
        self.seq = itertools.count()

        if not self._wait_for_server():
            return
        self.verbosity = options["verbosity"]
        self._say(
            f"Simulating {rate:g} order(s)/s for {the_shop.name} against {self.base_url} "
            f"(carrier {carrier}; Ctrl-C stops)."
        )
        started = time.monotonic()
        next_order = started
        next_restock = started
        while self.running and (duration is None or time.monotonic() - started < duration):
            now = time.monotonic()
            if now >= next_restock:
                self._call(self._restock)
                next_restock = now + 20
            if now >= next_order:
                self._call(self._place)
                next_order += random.expovariate(rate)
            while self.steps and self.steps[0].due <= now and self.running:
                self._call(self._advance, heapq.heappop(self.steps))
            time.sleep(max(0.0, min(0.1, next_order - time.monotonic())))
        summary = ", ".join(f"{name} {count}" for name, count in self.counts.items())
        self._say(f"Stopped: {summary}.")

    def _say(self, line: str) -> None:
        """A progress line (every order and parcel step); ``-v 0`` keeps only the errors."""
        if self.verbosity:
            self.stdout.write(line)

    def _stop(self, signum, frame) -> None:
        self.running = False

    # --- the shop's side ---
    def _place(self) -> None:
        roll = random.random()
        token = "tok_declined" if roll < 0.12 else "tok_ok"
        lines = [
            {"sku": sku, "quantity": random.randint(1, 3)}
            for sku in random.sample(
                ["COFFEE-1KG", "COFFEE-250G", "ESPRESSO-1KG", "MUG-CERAMIC", "FILTER-100"],
                k=random.randint(1, 3),
            )
        ]
        extra = {}
        if 0.12 <= roll < 0.22:
            lines.append({"sku": SCARCE_SKU, "quantity": SCARCE_QUANTITY})
            # far past post's weight bands: the courier's flat price lets the order reach
            # the stock check it is meant to fail
            extra["shipping_method"] = "courier"
        name = random.choice(NAMES)
        order = self._api(
            "POST",
            "orders",
            {
                **extra,
                "customer": {
                    "name": name,
                    "email": f"{name.split()[0].lower()}.{random.randint(1, 999)}@example.com",
                },
                "shipping_address": {
                    "line1": f"Rua {random.randint(1, 300)}",
                    "city": random.choice(CITIES),
                    "postal_code": f"{random.randint(1000, 9999)}-{random.randint(100, 999)}",
                    "country": "PT",
                },
                "lines": lines,
                "payment": {"token": token},
            },
        )
        self.counts["placed"] += 1
        outcome = {"tok_declined": "card declined"}.get(token, "pays")
        if any(line["sku"] == SCARCE_SKU for line in lines):
            outcome = "out of stock"
        self._say(f"placed {order['number']} ({outcome})")
        self._schedule(order["id"], order["number"], "confirm", after=1.0)

    def _restock(self) -> None:
        for product in self._api("GET", "products?limit=100")["results"]:
            if product["sku"] != SCARCE_SKU and product["available"] < 50:
                self._api("PATCH", f"products/{product['sku']}", {"stock": product["stock"] + 200})

    def _advance(self, step: Step) -> None:
        if step.stage == "confirm":
            status = self._api("GET", f"orders/{step.order_id}")["status"]
            if status in ("rejected", "cancelled"):
                self.counts[status] += 1
                self._say(f"{status} {step.number}")
            elif status == "confirmed":
                self.counts["confirmed"] += 1
                tracking_number = f"DP{uuid.uuid4().hex[:10].upper()}"
                self._api(
                    "POST",
                    f"orders/{step.order_id}/ship",
                    {"carrier": self.carrier, "tracking_number": tracking_number},
                )
                self._say(f"shipped {step.number} ({tracking_number})")
                self._schedule(step.order_id, step.number, "in_transit", tracking_number)
            elif step.waited < 30:
                self._schedule(
                    step.order_id, step.number, "confirm", after=1.0, waited=step.waited + 1
                )
            return
        next_stage = {
            "in_transit": "out_for_delivery",
            "out_for_delivery": "delivery_failed" if random.random() < 0.1 else "delivered",
            # after a failed attempt, the carrier sometimes keeps the parcel for collection
            "delivery_failed": "held" if random.random() < 0.3 else "delivered",
            "held": "delivered",
            "delivered": None,
        }[step.stage]
        response = carrier_event_post(
            base_url=self.base_url,
            carrier=self.carrier,
            secret=self.secret,
            user_agent=SIMULATOR_USER_AGENT,
            event={
                "event_id": uuid.uuid4().hex,
                "tracking_number": step.tracking_number,
                "status": step.stage,
                "location": random.choice(CITIES),
                "note": SIMULATED_NOTES.get(step.stage, ""),
            },
        )
        if response.status != 200:
            self.stderr.write(f"carrier event for {step.number}: {response.status} {response.body}")
            return
        self._say(f"{step.stage.replace('_', ' ')} {step.number}")
        if step.stage == "delivered":
            self.counts["delivered"] += 1
        if next_stage:
            self._schedule(step.order_id, step.number, next_stage, step.tracking_number)

    def _schedule(self, order_id, number, stage, tracking_number="", *, after=None, waited=0.0):
        delay = after if after is not None else random.uniform(0.5, 1.5) * self.pace
        heapq.heappush(
            self.steps,
            Step(
                time.monotonic() + delay,
                next(self.seq),
                order_id,
                number,
                stage,
                tracking_number,
                waited,
            ),
        )

    # --- HTTP ---
    def _call(self, action, *args) -> None:
        try:
            action(*args)
        except (ApiError, OSError) as error:
            self.stderr.write(f"{action.__name__.strip('_')}: {error}")

    def _api(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(  # noqa: S310  (the operator's own server)
            f"{self.base_url}/api/v1/{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Content-Type": "application/json",
                "Idempotency-Key": uuid.uuid4().hex,
                # make run's server logs no line for the simulator's calls
                "User-Agent": SIMULATOR_USER_AGENT,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise ApiError(f"{method} {path}: {error.code} {error.read()[:300]!r}") from None

    def _wait_for_server(self) -> bool:
        deadline = time.monotonic() + 60
        while self.running and time.monotonic() < deadline:
            try:
                probe = urllib.request.Request(  # noqa: S310  (the operator's own server)
                    f"{self.base_url}/api/v1/event-types",
                    headers={"User-Agent": SIMULATOR_USER_AGENT},
                )
                with urllib.request.urlopen(probe, timeout=2):  # noqa: S310
                    return True
            except OSError:
                time.sleep(0.5)
        if self.running:
            self.stderr.write(f"No server answered at {self.base_url} within 60 s.")
        return False
