"""The bench's public tracking sockets, a process of its own.

``python -m bench.sockets BASE ORIGIN OUT``.

Reads ``<order id> <tracking token>`` lines on stdin and opens one ``/ws/track/<token>/``
socket per line (at most 20 connecting at once), so the sockets follow orders as they are
placed. Every message received after the snapshot is appended to OUT as a JSON line
``{"order": …, "at": time.time(), "message": …}``; failures to connect as
``{"error": …}``. Prints ``ready`` when it reads stdin; SIGTERM (or stdin closed and
``--linger`` seconds passed) closes the sockets, flushes OUT and exits.
"""

import asyncio
import contextlib
import json
import signal
import sys
import time

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
