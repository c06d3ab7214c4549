"""End to end: the highest steady rate of orders the whole pipeline keeps up with.

The full stack runs as in production, sized for this machine: daphne for the sockets, a
Celery worker, beat, and a webhook receiver on loopback with one endpoint per shop (every
event type). Orders are placed in this process through ``orders.services`` (the HTTP
intake is measured on its own), spread over the shops, by a few threads at a steady rate.

1. **Search**: rising rates, each for a short step; a rate is kept when the backlog —
   unrelayed outbox rows, open deliveries, queued webhooks — stays flat (``_flat``).
   Between steps the backlog drains to zero.
2. **Measure** at the highest kept rate for ``final_seconds``, with public tracking
   sockets opened on the orders as they are placed (up to ``sockets``): placed →
   confirmed, event committed → handled per subscriber, tracking committed → socket,
   event committed → webhook received, dead letters, and the backlog at the end.
3. **Burst**: orders as fast as the placing threads go for ``burst_seconds``; how long
   the backlog takes to drain to zero afterwards.
"""

import os
import statistics
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from django.db import close_old_connections, connections
from django.db.models import F, OuterRef, Q, Subquery

from devtools.processes import celery_beat, celery_worker, wait_until
from notifications.choices import SendStatus
from notifications.models import WebhookDelivery, WebhookEndpoint
from notifications.services.endpoints import shop_event_types, webhook_endpoint_create
from orderflow.models import Delivery, DeliveryStatus, OutboxEvent
from orders.models import Order, OrderTransition
from tracking.models import TrackedOrder, TrackingEntry

from . import live, rss
from .deliveries import _reset
from .peers import Receiver, SocketFleet

SHOPS = 4
PLACING_THREADS = 4
DRAIN_TIMEOUT = 600
OPEN = (DeliveryStatus.PENDING, DeliveryStatus.RUNNING)


def backlog() -> dict[str, int]:
    return {
        "outbox": OutboxEvent.objects.filter(published_at__isnull=True).count(),
        "deliveries": Delivery.objects.filter(status__in=OPEN).count(),
        "webhooks": WebhookDelivery.objects.filter(
            status__in=[SendStatus.QUEUED, SendStatus.SENDING]
        ).count(),
    }


def _slope(samples: list[tuple[float, int]]) -> float:
    """Least-squares growth per second of (time, backlog) samples."""
    if len(samples) < 3:
        return 0.0
    return statistics.linear_regression([t for t, _ in samples], [b for _, b in samples]).slope


class Load:
    """Places orders at a steady rate from a few threads, sampling the backlog each second."""

    def __init__(self, shops, *, on_placed=None):
        self.shops = shops
        self.on_placed = on_placed
        self.placed = 0
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def _place_one(self, n: int) -> None:
        shop, skus = self.shops[n % len(self.shops)]
        try:
            order = live.place(shop, skus)
        except Exception as error:  # counted and reported, never silent
            self.errors.append(f"{type(error).__name__}: {error}")
            return
        finally:
            close_old_connections()
        with self._lock:
            self.placed += 1
        if self.on_placed is not None:
            self.on_placed(order)

    def run(self, *, rate: float | None, seconds: float) -> dict:
        """Place at ``rate`` (None: as fast as the threads go) for ``seconds``."""
        samples: list[tuple[float, int]] = []
        started = time.monotonic()
        next_sample = started
        submitted = 0
        with ThreadPoolExecutor(PLACING_THREADS, thread_name_prefix="place") as pool:
            pending = set()
            while (now := time.monotonic()) < started + seconds:
                if now >= next_sample:
                    samples.append((now - started, sum(backlog().values())))
                    next_sample += 1.0
                if rate is None:
                    pending = {f for f in pending if not f.done()}
                    while len(pending) < PLACING_THREADS * 2:
                        pending.add(pool.submit(self._place_one, submitted))
                        submitted += 1
                    time.sleep(0.001)
                    continue
                due = int((now - started) * rate)
                while submitted < due:
                    pool.submit(self._place_one, submitted)
                    submitted += 1
                time.sleep(min(0.005, 1.0 / rate))
        elapsed = time.monotonic() - started
        for alias in connections:
            connections[alias].close()
        return {
            "submitted": submitted,
            "seconds": round(elapsed, 1),
            "samples": samples,
            "errors": len(self.errors),
        }


def _flat(samples: list[tuple[float, int]], deliveries_per_second: float) -> tuple[bool, float]:
    """Whether the backlog stayed flat: over the second half of the run it grew by less
    than 5 % of the deliveries that came in meanwhile (at least 50: batches make it
    jitter), and it ended below two seconds' worth of them."""
    second_half = samples[len(samples) // 2 :]
    slope = _slope(second_half)
    span = second_half[-1][0] - second_half[0][0] if len(second_half) > 1 else 0.0
    came_in = deliveries_per_second * span
    end = samples[-1][1] if samples else 0
    flat = slope * span <= max(50.0, 0.05 * came_in) and end <= 2 * deliveries_per_second + 100
    return flat, slope


def _drained(timeout: float = DRAIN_TIMEOUT) -> float | None:
    """Seconds until the backlog is empty (None if it is not within ``timeout``)."""
    started = time.monotonic()
    if wait_until(lambda: sum(backlog().values()) == 0, timeout=timeout, interval=0.25):
        return round(time.monotonic() - started, 1)
    return None


def _deliveries_per_order() -> float:
    orders = Order.objects.count()
    return Delivery.objects.count() / orders if orders else 18.0


def end_to_end(
    env: dict[str, str],
    *,
    rates: list[int],
    step_seconds: float,
    final_seconds: float,
    burst_seconds: float,
    sockets: int = 200,
    workers: int = 2,
) -> dict:
    _reset()
    for model in (Order, TrackedOrder, WebhookDelivery, WebhookEndpoint):
        model.objects.all().delete()
    receiver = Receiver().start()
    shops = [live.shop_with_catalog(f"Bench Shop {n}") for n in range(SHOPS)]
    types = shop_event_types()
    for shop, _ in shops:
        webhook_endpoint_create(
            shop_id=shop.id, url=f"{receiver.url}/shop/{shop.id}", event_types=types
        )
    env = live.process_env()
    port = live.free_port()
    report: dict = {"workers": workers, "shops": SHOPS, "steps": []}
    with tempfile.TemporaryDirectory() as schedule_dir:
        daphne = live.daphne(env, port)
        worker = celery_worker(env, concurrency=workers)
        beat = celery_beat(env, schedule_dir=schedule_dir)
        processes = [daphne, worker, beat]
        fleet = None
        try:
            for process in processes:
                process.start()
            # 1. search
            best = None
            per_order = 18.0
            for rate in rates:
                result = Load(shops).run(rate=rate, seconds=step_seconds)
                flat, slope = _flat(result["samples"], rate * per_order)
                step = {
                    "rate": rate,
                    "achieved_rate": round(result["submitted"] / result["seconds"], 1),
                    "backlog_slope_per_s": round(slope, 1),
                    "backlog_end": result["samples"][-1][1],
                    "flat": flat,
                }
                step["drain_seconds"] = _drained()
                per_order = _deliveries_per_order()
                report["steps"].append(step)
                if not flat or step["achieved_rate"] < 0.95 * rate:
                    break
                best = rate
            if best is None:
                # Measured anyway, at the lowest rate tried, and reported as not flat.
                best = rates[0]
            # 2. measure at the best rate, with sockets on the orders as they come
            fleet = SocketFleet(f"ws://127.0.0.1:{port}", f"http://127.0.0.1:{port}").start()
            opened = []

            def watch_order(order):
                if len(opened) < sockets:
                    opened.append(order.id)
                    fleet.add(str(order.id), order.tracking_token)

            mark = _marks()
            cpu_before = {
                name: _cpu_seconds(p) for name, p in (("worker", worker), ("daphne", daphne))
            }
            result = Load(shops, on_placed=watch_order).run(rate=best, seconds=final_seconds)
            flat, slope = _flat(result["samples"], best * per_order)
            end_backlog = result["samples"][-1][1]
            drain = _drained()
            wait_until(lambda: len(receiver.first_seen) >= _webhooks_expected(mark), timeout=60)
            placed = max(result["submitted"] - result["errors"], 1)
            cpu_ms_per_order = {
                name: round((_cpu_seconds(process) - cpu_before[name]) / placed * 1000, 1)
                for name, process in (("worker", worker), ("daphne", daphne))
            }
            time.sleep(1)  # the last pushes in flight
            report["measured"] = {
                "rate": best,
                "seconds": final_seconds,
                "achieved_rate": round(result["submitted"] / result["seconds"], 1),
                "flat": flat,
                "backlog_slope_per_s": round(slope, 1),
                "backlog_end": end_backlog,
                "backlog_max": max(b for _, b in result["samples"]),
                "drain_seconds": drain,
                "deliveries_per_order": round(per_order, 1),
                "cpu_ms_per_order": cpu_ms_per_order,
                "placed_to_confirmed": _placed_to_confirmed(mark),
                "handled_by_subscriber": _handled_by_subscriber(mark),
                "push": {
                    "sockets": fleet.opened,
                    "socket_errors": len(fleet.errors),
                    **_push_latency(fleet, mark),
                },
                "webhooks": _webhook_latency(receiver, mark),
                "dead_letters": Delivery.objects.filter(status=DeliveryStatus.DEAD).count(),
                "errors": result.get("errors", 0),
            }
            fleet.stop()
            fleet = None
            # 3. a burst as fast as the placing threads go
            burst = Load(shops).run(rate=None, seconds=burst_seconds)
            burst_drain = _drained()
            report["burst"] = {
                "seconds": burst["seconds"],
                "orders": burst["submitted"],
                "rate": round(burst["submitted"] / burst["seconds"], 1),
                "backlog_at_end": burst["samples"][-1][1] if burst["samples"] else 0,
                "drain_seconds": burst_drain,
            }
            report["dead_letters"] = Delivery.objects.filter(status=DeliveryStatus.DEAD).count()
            report["backlog_at_end"] = sum(backlog().values())
            report["rss_mb"] = {
                "daphne": rss.peak_rss_mb(daphne),
                "celery_worker": rss.peak_rss_mb(worker),
                "celery_beat": rss.peak_rss_mb(beat),
            }
        finally:
            if fleet is not None:
                fleet.stop()
            for process in reversed(processes):
                process.stop()
            receiver.stop()
    return report


def _cpu_seconds(process) -> float:
    """User + system CPU of ``process`` and its live descendants, in seconds."""
    ticks = 0
    for pid in [process.pid, *rss.descendants(process.pid)]:
        try:
            fields = (rss.PROC / str(pid) / "stat").read_text().rpartition(")")[2].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return ticks / os.sysconf("SC_CLK_TCK")


def _marks() -> dict:
    """Where the measured window starts: the newest ids before it."""
    return {
        "order_created": Order.objects.order_by("-created_at")
        .values_list("created_at", flat=True)
        .first(),
        "delivery_id": Delivery.objects.order_by("-id").values_list("id", flat=True).first() or 0,
        "entry_id": TrackingEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0,
        "event_created": OutboxEvent.objects.order_by("-created_at")
        .values_list("created_at", flat=True)
        .first(),
    }


def _after(mark, field: str, key: str) -> Q:
    return Q(**{f"{field}__gt": mark[key]}) if mark[key] is not None else Q()


def _placed_to_confirmed(mark) -> dict:
    confirmed_at = OrderTransition.objects.filter(
        order=OuterRef("pk"), to_status="confirmed"
    ).values("created_at")[:1]
    orders = Order.objects.filter(_after(mark, "created_at", "order_created"))
    latencies = [
        delta.total_seconds() * 1000
        for delta in orders.annotate(confirmed_at=Subquery(confirmed_at))
        .filter(confirmed_at__isnull=False)
        .annotate(latency=F("confirmed_at") - F("created_at"))
        .values_list("latency", flat=True)
    ]
    return {"orders": orders.count(), "confirmed": len(latencies), **live.percentiles(latencies)}


def _handled_by_subscriber(mark) -> dict:
    by_subscriber = defaultdict(list)
    for subscriber, latency in (
        Delivery.objects.filter(id__gt=mark["delivery_id"], status=DeliveryStatus.DONE)
        .annotate(latency=F("done_at") - F("event__created_at"))
        .values_list("subscriber", "latency")
    ):
        by_subscriber[subscriber].append(latency.total_seconds() * 1000)
    out = {}
    for subscriber, latencies in sorted(by_subscriber.items()):
        if len(latencies) >= 2:
            out[subscriber] = {"deliveries": len(latencies), **live.percentiles(latencies)}
    return out


def _push_latency(fleet: SocketFleet, mark) -> dict:
    recorded = {
        (str(order_id), sequence, status): at
        for order_id, sequence, status, at in TrackingEntry.objects.filter(
            id__gt=mark["entry_id"], public=True
        ).values_list("order_id", "sequence", "status", "recorded_at")
    }
    latencies = []
    for order_id, at, entry in fleet.entries():
        committed = recorded.get((order_id, entry.get("sequence"), entry.get("status")))
        if committed is not None:
            latencies.append((at - committed.timestamp()) * 1000)
    if len(latencies) < 2:
        return {"messages": len(latencies)}
    return {"messages": len(latencies), **live.percentiles(latencies)}


def _webhooks_expected(mark) -> int:
    return OutboxEvent.objects.filter(
        _after(mark, "created_at", "event_created"), tenant_id__isnull=False
    ).count()


def _webhook_latency(receiver: Receiver, mark) -> dict:
    created = {
        str(event_id): at
        for event_id, at in OutboxEvent.objects.filter(
            _after(mark, "created_at", "event_created")
        ).values_list("event_id", "created_at")
    }
    latencies = [
        (at - created[event_id].timestamp()) * 1000
        for event_id, at in list(receiver.first_seen.items())
        if event_id in created
    ]
    return {
        "expected": _webhooks_expected(mark),
        "received": len(latencies),
        **(live.percentiles(latencies) if len(latencies) >= 2 else {}),
    }


def _p(figures: dict) -> str:
    if "p99_ms" not in figures:
        return "no samples"
    return f"{figures['p50_ms']:.0f} / {figures['p99_ms']:.0f} ms"


def add_rows(table, report: dict) -> None:
    """The end-to-end figures as rows of the bench's table."""
    measured = report["measured"]
    steps = ", ".join(f"{step['rate']}{'✔' if step['flat'] else '✘'}" for step in report["steps"])
    table.add_row("end to end: rates tried (✔ backlog flat)", steps)
    table.add_row(
        f"end to end: highest flat rate, {report['workers']} worker processes "
        f"(measured {measured['seconds']:.0f} s)",
        f"{measured['achieved_rate']} orders/s "
        f"({'flat' if measured['flat'] else 'NOT flat'}, {measured['deliveries_per_order']} "
        "deliveries/order)",
    )
    table.add_row("  placed → confirmed: P50 / P99", _p(measured["placed_to_confirmed"]))
    cpu = measured["cpu_ms_per_order"]
    table.add_row(
        "  CPU per order: Celery worker (all processes) / daphne",
        f"{cpu['worker']} / {cpu['daphne']} ms",
    )
    by_context: dict[str, list] = {}
    for subscriber, figures in measured["handled_by_subscriber"].items():
        by_context.setdefault(subscriber.split(".", 1)[0], []).append(figures)
    for context, figures in sorted(by_context.items()):
        worst = max(figures, key=lambda f: f["p99_ms"])
        table.add_row(
            f"  event committed → handled, worst {context} subscriber: P50 / P99", _p(worst)
        )
    push = measured["push"]
    table.add_row(
        f"  tracking committed → socket ({push['sockets']} sockets, {push['messages']} msgs)",
        _p(push),
    )
    hooks = measured["webhooks"]
    table.add_row(
        f"  event committed → webhook received ({hooks['received']}/{hooks['expected']})",
        _p(hooks),
    )
    table.add_row(
        "  backlog: max during / at the end / drained to 0 in",
        f"{measured['backlog_max']} / {measured['backlog_end']} / {measured['drain_seconds']} s",
    )
    table.add_row("  dead letters", str(report["dead_letters"]))
    burst = report["burst"]
    table.add_row(
        f"burst: {burst['orders']} orders in {burst['seconds']:.0f} s ({burst['rate']}/s) "
        "drained in",
        f"{burst['drain_seconds']} s",
    )
    worker = report["rss_mb"]["celery_worker"]
    table.add_row(
        "peak RSS MiB under load: daphne, Celery worker parent / child, beat",
        f"{report['rss_mb']['daphne']['parent']}, {worker['parent']} / {worker['max_child']}, "
        f"{report['rss_mb']['celery_beat']['parent']}",
    )
