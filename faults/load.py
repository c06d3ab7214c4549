"""A steady load of orders over HTTP, retried like a careful client would.

Every order gets a new Idempotency-Key, which the server records in the order's
``order.placed`` event (the checker's "one order per key" reads it there). A timeout, a
dropped connection, a 5xx or a 409 (the same key still in flight) is retried with the
*same* key and body until it gets its 201 — or the retry deadline passes, which counts as
unanswered.
"""

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import requests

CLIENT_TIMEOUT = (2.0, 3.0)  # connect, read: a request slower than this is retried
RETRYABLE = {409, 429, 500, 502, 503, 504}
PROBLEM_JSON = "application/problem+json"


@dataclass
class Outcome:
    key: str
    started: float
    attempts: int = 0
    order_ids: set[str] = field(default_factory=set)
    accepted_at: float | None = None
    final_status: int | None = None


class Load:
    """``threads`` clients placing ``rate`` orders per second in all, until stopped."""

    def __init__(self, *, url: str, api_key: str, skus: list[str], rate: float, threads: int = 6):
        self.url = f"{url}/api/v1/orders"
        self.headers = {"Authorization": f"Bearer {api_key}"}
        self.skus = skus
        self.interval = threads / rate
        self.threads = threads
        self.outcomes: list[Outcome] = []
        self.responses: Counter[str] = Counter()
        self.problem_503 = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._retry_deadline = float("inf")
        self._workers: list[threading.Thread] = []

    def start(self) -> "Load":
        for n in range(self.threads):
            thread = threading.Thread(target=self._client, args=(n,), daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def stop(self, *, retry_for: float = 60) -> None:
        """Place no new orders; let the ones in flight retry for up to ``retry_for`` s."""
        self._retry_deadline = time.monotonic() + retry_for
        self._stop.set()
        for thread in self._workers:
            thread.join(retry_for + 10)

    # --- counts ---
    @property
    def accepted(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.accepted_at is not None]

    @property
    def unanswered(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.accepted_at is None and o.final_status is None]

    def accepted_after(self, moment: float) -> int:
        return sum(1 for o in self.accepted if o.accepted_at >= moment)

    # --- the clients ---
    def _client(self, n: int) -> None:
        session = requests.Session()
        time.sleep(self.interval * n / self.threads)  # spread the clients over the interval
        next_at = time.monotonic()
        while not self._stop.is_set():
            self._place(session)
            next_at += self.interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def _body(self) -> dict:
        token = random.choices(["tok_ok", "tok_declined", "tok_flaky"], [85, 10, 5])[0]
        lines = [
            {"sku": sku, "quantity": random.randint(1, 3)}
            for sku in random.sample(self.skus, random.randint(1, 4))
        ]
        return {
            "customer": {"name": "Fault Customer", "email": "faults@example.com"},
            "shipping_address": {"line1": "1 Fault St", "city": "Lisbon",
                                 "postal_code": "1000-001", "country": "PT"},
            "lines": lines,
            "payment": {"token": token},
        }  # fmt: skip

    def _place(self, session: requests.Session) -> None:
        key = uuid.uuid4().hex
        outcome = Outcome(key=key, started=time.monotonic())
        with self._lock:
            self.outcomes.append(outcome)
        body = self._body()
        headers = {**self.headers, "Idempotency-Key": key}
        backoff = 0.2
        while True:
            outcome.attempts += 1
            kind = self._attempt(session, body, headers, outcome)
            if kind == "done":
                return
            if time.monotonic() > self._retry_deadline:
                return  # unanswered: counted, never silently dropped
            time.sleep(backoff * random.uniform(0.5, 1.0))
            backoff = min(backoff * 2, 2.0)

    def _attempt(self, session, body, headers, outcome: Outcome) -> str:
        try:
            response = session.post(self.url, json=body, headers=headers, timeout=CLIENT_TIMEOUT)
        except requests.Timeout:
            self._count("timeout")
            return "retry"
        except requests.ConnectionError:
            self._count("connection error")
            session.close()
            return "retry"
        self._count(str(response.status_code))
        if response.status_code == 503 and PROBLEM_JSON in response.headers.get("Content-Type", ""):
            with self._lock:
                self.problem_503 += 1
        if response.status_code == 201:
            outcome.order_ids.add(response.json()["id"])
            outcome.accepted_at = time.monotonic()
            outcome.final_status = 201
            return "done"
        if response.status_code in RETRYABLE:
            return "retry"
        outcome.final_status = response.status_code  # a 4xx: the request itself is wrong
        return "done"

    def _count(self, kind: str) -> None:
        with self._lock:
            self.responses[kind] += 1
