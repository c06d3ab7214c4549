"""The bench's public tracking sockets, a process of its own.

``python -m bench.sockets BASE ORIGIN OUT``.

Reads lines on stdin:

- ``<order id> <tracking token>``: opens one ``/ws/track/<token>/`` socket for that order;
- ``place <api base> <api key> <skus> <count> <seconds>``: places ``count`` orders itself,
  evenly over ``seconds``, through ``POST <api base>/api/v1/orders`` (one kept-alive
  connection), and opens each order's socket as soon as the 201 names its tracking URL —
  so that the socket is open while the order's saga runs, and the tracking entries that
  follow are pushes to measure (a socket opened on an order found in the database a
  second later sees only a finished order's snapshot).

At most 20 sockets connect at once. Every message received after the snapshot is
appended to OUT as a JSON line ``{"order": …, "at": time.time(), "message": …}``; an
opened socket as ``{"order": …, "opened": …}``, a failure to connect or to place as
``{"error": …}``. Prints ``ready`` when it reads stdin; SIGTERM closes the sockets,
flushes OUT and exits.
"""

import asyncio
import contextlib
import http.client
import json
import random
import signal
import sys
import time
import uuid
from urllib.parse import urlsplit

CONNECT_CONCURRENCY = 20


class Fleet:
    def __init__(self, base_url: str, origin: str, out):
        self.base_url = base_url
        self.origin = origin
        self.out = out
        self.gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        self.tasks: list[asyncio.Task] = []

    def add(self, order_id: str, token: str) -> None:
        self.tasks.append(asyncio.ensure_future(self.client(order_id, token)))

    async def place(self, api_base: str, key: str, skus: str, count: int, seconds: float) -> None:
        """Place ``count`` orders evenly over ``seconds``; open each one's socket at once."""
        placer = Placer(api_base, key, skus.split(","))
        started = time.monotonic()
        for n in range(count):
            await asyncio.sleep(max(0.0, started + n * seconds / count - time.monotonic()))
            try:
                order_id, token = await asyncio.to_thread(placer.place)
            except Exception as error:  # counted in the report
                self.out.write(json.dumps({"order": "", "error": f"place: {error}"[:300]}) + "\n")
                continue
            self.add(order_id, token)

    async def client(self, order_id: str, token: str) -> None:
        from websockets.asyncio.client import connect

        try:
            async with self.gate:
                socket = await connect(
                    f"{self.base_url}/ws/track/{token}/",
                    origin=self.origin,
                    proxy=None,
                    open_timeout=20,
                    max_queue=None,
                )
                await asyncio.wait_for(socket.recv(), 20)  # the snapshot
        except Exception as error:  # counted in the report
            cause = f" ({error.__cause__})" if error.__cause__ else ""
            detail = f"{type(error).__name__}: {error}{cause}"[:300]
            self.out.write(json.dumps({"order": order_id, "error": detail}))
            self.out.write("\n")
            return
        self.out.write(json.dumps({"order": order_id, "opened": time.time()}) + "\n")
        try:
            async for raw in socket:
                at = time.time()
                self.out.write(json.dumps({"order": order_id, "at": at, "message": raw}) + "\n")
        except Exception:  # noqa: S110  (closed by the server or by us at the end)
            pass
        finally:
            with contextlib.suppress(Exception):
                await socket.close()


class Placer:
    """``POST /api/v1/orders`` on one kept-alive connection, as a shop's client would."""

    def __init__(self, api_base: str, key: str, skus: list[str]):
        parts = urlsplit(api_base)
        self.host, self.port = parts.hostname, parts.port or 80
        self.key, self.skus = key, skus
        self.connection: http.client.HTTPConnection | None = None

    def place(self) -> tuple[str, str]:
        body = json.dumps(
            {
                "customer": {"name": "Bench Watcher", "email": "watcher@example.com"},
                "shipping_address": {
                    "line1": "1 Bench St", "city": "Lisbon", "postal_code": "1000-001",
                    "country": "PT",
                },
                "lines": [{"sku": random.choice(self.skus), "quantity": 1}],
                "payment": {"token": "tok_ok"},
            }
        )  # fmt: skip
        headers = {
            "Authorization": f"Bearer {self.key}",
            "Content-Type": "application/json",
            "Idempotency-Key": f"bench-socket-{uuid.uuid4()}",
        }
        for attempt in (1, 2):  # once more on a connection the server closed while idle
            if self.connection is None:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=10)
            try:
                self.connection.request("POST", "/api/v1/orders", body, headers)
                response = self.connection.getresponse()
                answer = response.read()
            except (ConnectionError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
                if attempt == 2:
                    raise
                continue
            if response.status != 201:
                raise RuntimeError(f"{response.status}: {answer[:200]!r}")
            order = json.loads(answer)
            token = [part for part in urlsplit(order["tracking_url"]).path.split("/") if part][-1]
            return order["id"], token
        raise AssertionError("unreachable")


async def main(base_url: str, origin: str, out_path: str) -> None:
    with open(out_path, "a", buffering=1 << 16) as out:
        fleet = Fleet(base_url, origin, out)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        print("ready", flush=True)

        async def read_orders():
            while line := await reader.readline():
                parts = line.decode().split()
                if len(parts) == 2:
                    fleet.add(*parts)
                elif len(parts) == 6 and parts[0] == "place":
                    api_base, key, skus, count, seconds = parts[1:]
                    fleet.tasks.append(
                        asyncio.ensure_future(
                            fleet.place(api_base, key, skus, int(count), float(seconds))
                        )
                    )

        feeder = asyncio.ensure_future(read_orders())
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
            out.flush()
        feeder.cancel()
        for task in fleet.tasks:
            task.cancel()
        await asyncio.gather(feeder, *fleet.tasks, return_exceptions=True)
        out.flush()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
