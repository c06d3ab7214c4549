"""The system's peers during the end-to-end phase: public tracking sockets and a webhook
receiver, both in the bench process, both stamping what they receive with ``time.time()``
(one machine, one clock)."""

import asyncio
import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONNECT_CONCURRENCY = 20


class SocketFleet:
    """Public tracking sockets (``/ws/track/<token>/``) on an asyncio loop in a thread.

    Sockets are added while the fleet runs, one per (order id, tracking token), so they
    follow orders placed during the load; every message is kept with its receive time.
    """

    def __init__(self, base_url: str, origin: str):
        self.base_url = base_url
        self.origin = origin
        self.received: list[tuple[str, float, str]] = []  # (order id, time.time(), raw)
        self.opened = 0
        self.errors: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate: asyncio.Semaphore | None = None
        self._tasks: list[asyncio.Future] = []
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> "SocketFleet":
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the socket fleet's event loop did not start")
        return self

    def add(self, order_id: str, token: str) -> None:
        self._loop.call_soon_threadsafe(self._spawn, order_id, token)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def entries(self) -> list[tuple[str, float, dict]]:
        """(order id, receive time, entry) of every ``entry`` message received."""
        out = []
        for order_id, at, raw in list(self.received):
            message = json.loads(raw)
            if message.get("type") == "entry":
                out.append((order_id, at, message["entry"]))
        return out

    def _spawn(self, order_id: str, token: str) -> None:
        self._tasks.append(asyncio.ensure_future(self._client(order_id, token)))

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
        self._ready.set()
        while not self._stop.is_set():
            await asyncio.sleep(0.05)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _client(self, order_id: str, token: str) -> None:
        from websockets.asyncio.client import connect

        try:
            async with self._gate:
                socket = await connect(
                    f"{self.base_url}/ws/track/{token}/",
                    origin=self.origin,
                    proxy=None,
                    open_timeout=20,
                    max_queue=None,
                )
                await asyncio.wait_for(socket.recv(), 20)  # the snapshot
        except Exception as error:  # counted in the report
            self.errors.append(f"{type(error).__name__}: {error}")
            return
        self.opened += 1
        try:
            async for raw in socket:
                self.received.append((order_id, time.time(), raw))
        finally:
            with contextlib.suppress(Exception):
                await socket.close()


class Receiver:
    """Answers 200 to every POST and keeps the first receive time of each webhook-id."""

    def __init__(self):
        self.first_seen: dict[str, float] = {}
        self.requests = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.time()
                receiver._record(self.headers.get("webhook-id", ""), at)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _record(self, event_id: str, at: float) -> None:
        with self._lock:
            self.requests += 1
            self.first_seen.setdefault(event_id, at)
