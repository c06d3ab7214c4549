"""Push latency: a tracking row commits in the worker → its message reaches a WebSocket
client, with many public tracking sockets open on a real daphne server.

Orders are placed and confirmed first; sockets (``/ws/track/<token>/``) are spread over
them; then the bench process ships, sends out for delivery and delivers the orders at a
steady rate through ``orders.services``. The worker records each tracking entry and
pushes after its commit. A message's latency is its receive time minus the entry's
``recorded_at`` (read back afterwards by order, sequence and status; one machine, one
clock). ``recorded_at`` is stamped just before the commit, so the figure includes the
last few statements of the worker's transaction.
"""

import asyncio
import contextlib
import json
import tempfile
import threading
import time

from devtools.processes import celery_beat, celery_worker, wait_until
from orders import services
from orders.models import Order
from tracking.models import TrackedOrder, TrackingEntry

from . import live
from .deliveries import WORKER_PROCESSES, _reset

STAFF = services.Actor(kind="staff", name="bench")
CONNECT_CONCURRENCY = 20
CONNECT_TIMEOUT = 60
SETTLE_TIMEOUT = 60


class SocketFleet:
    """Public tracking sockets on an asyncio loop in a thread; each message timestamped."""

    def __init__(self, base_url: str, origin: str, tokens: list[tuple[str, str]]):
        self.base_url = base_url
        self.origin = origin
        self.tokens = tokens  # (order id, tracking token), one per socket
        self.received: list[tuple[str, float, str]] = []  # (order id, time.time(), raw)
        self.opened = 0
        self.errors: list[str] = []
        self._all_open = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> "SocketFleet":
        self._thread.start()
        if not self._all_open.wait(CONNECT_TIMEOUT) or self.errors:
            self.stop()
            raise RuntimeError(
                f"{self.opened}/{len(self.tokens)} sockets opened: {self.errors[:3]}"
            )
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    async def _main(self) -> None:
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        tasks = [asyncio.create_task(self._client(o, t, gate)) for o, t in self.tokens]
        while not self._stop.is_set():
            await asyncio.sleep(0.05)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _client(self, order_id: str, token: str, gate: asyncio.Semaphore) -> None:
        from websockets.asyncio.client import connect

        try:
            async with gate:
                socket = await connect(
                    f"{self.base_url}/ws/track/{token}/",
                    origin=self.origin,
                    proxy=None,
                    open_timeout=20,
                    max_queue=None,
                )
                await asyncio.wait_for(socket.recv(), 20)  # the snapshot
        except Exception as error:  # reported by start()
            self.errors.append(f"{type(error).__name__}: {error}")
            self._all_open.set()
            return
        self.opened += 1
        if self.opened == len(self.tokens):
            self._all_open.set()
        try:
            async for raw in socket:
                self.received.append((order_id, time.time(), raw))
        finally:
            with contextlib.suppress(Exception):
                await socket.close()

    def entries(self) -> list[tuple[str, float, dict]]:
        out = []
        for order_id, at, raw in list(self.received):
            message = json.loads(raw)
            if message.get("type") == "entry":
                out.append((order_id, at, message["entry"]))
        return out


STEPS = (
    ("shipped", lambda order_id, n: services.order_ship(
        order_id=order_id, shop=None, actor=STAFF, carrier="demo-post",
        tracking_number=f"BENCH-{n:06d}")),
    ("out_for_delivery", lambda order_id, n: services.order_mark_out_for_delivery(
        order_id=order_id, shop=None, actor=STAFF)),
    ("delivered", lambda order_id, n: services.order_deliver(
        order_id=order_id, shop=None, actor=STAFF)),
)  # fmt: skip


def push_latency(*, sockets: int, orders: int, rate: float) -> dict:
    _reset()
    Order.objects.all().delete()
    TrackedOrder.objects.all().delete()
    shop, skus = live.shop_with_catalog("Bench Push Shop")
    env = live.process_env()
    port = live.free_port()
    with tempfile.TemporaryDirectory() as schedule_dir:
        processes = [
            live.daphne(env, port),
            celery_worker(env, concurrency=WORKER_PROCESSES),
            celery_beat(env, schedule_dir=schedule_dir),
        ]
        fleet = None
        try:
            for process in processes:
                process.start()
            placed = [live.place(shop, skus) for _ in range(orders)]
            ids = [order.id for order in placed]
            if not wait_until(
                lambda: (
                    TrackedOrder.objects.filter(pk__in=ids, status="confirmed").count() == orders
                ),
                timeout=SETTLE_TIMEOUT,
                interval=0.2,
            ):
                raise RuntimeError("the orders were not all confirmed (and tracked) in time")
            tokens = [
                (str(placed[n % orders].id), placed[n % orders].tracking_token)
                for n in range(sockets)
            ]
            fleet = SocketFleet(f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{port}", tokens)
            fleet.start()
            before = TrackingEntry.objects.order_by("-id").values_list("id", flat=True).first()
            total = orders * len(STEPS)
            started = time.monotonic()
            next_at = started
            for _status, step in STEPS:
                for n, order_id in enumerate(ids):
                    step(order_id, n)
                    next_at += 1.0 / rate
                    pause = next_at - time.monotonic()
                    if pause > 0:
                        time.sleep(pause)
            achieved = total / (time.monotonic() - started)
            if not wait_until(
                lambda: (
                    TrackedOrder.objects.filter(pk__in=ids, status="delivered").count() == orders
                ),
                timeout=SETTLE_TIMEOUT,
                interval=0.2,
            ):
                raise RuntimeError("the orders were not all delivered (and tracked) in time")
            sockets_per_order: dict[str, int] = {}
            for order_id, _token in tokens:
                sockets_per_order[order_id] = sockets_per_order.get(order_id, 0) + 1
            new_public = TrackingEntry.objects.filter(id__gt=before or 0, public=True)
            expected = sum(
                sockets_per_order[str(order_id)]
                for order_id in new_public.values_list("order_id", flat=True)
            )
            wait_until(lambda: len(fleet.entries()) >= expected, timeout=30, interval=0.2)
        finally:
            if fleet is not None:
                fleet.stop()
            for process in reversed(processes):
                process.stop()
    recorded = {
        (str(order_id), sequence, status): at
        for order_id, sequence, status, at in TrackingEntry.objects.filter(public=True).values_list(
            "order_id", "sequence", "status", "recorded_at"
        )
    }
    latencies, unmatched = [], 0
    for order_id, at, entry in fleet.entries():
        committed = recorded.get((order_id, entry.get("sequence"), entry.get("status")))
        if committed is None:
            unmatched += 1
            continue
        latencies.append((at - committed.timestamp()) * 1000)
    return {
        "sockets": sockets,
        "orders": orders,
        "rate": rate,
        "achieved_rate": round(achieved, 1),
        "messages": len(latencies),
        "expected": expected,
        "unmatched": unmatched,
        **live.percentiles(latencies),
    }
