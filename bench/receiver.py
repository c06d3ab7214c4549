"""The bench's webhook receiver, a process of its own: ``python -m bench.receiver PORT OUT``.

An asyncio HTTP/1.1 server with keep-alive (a sender that keeps connections per host is
served as it would be by a real peer): it answers 200 to every request and appends one
tab-separated line per request to OUT — receive time (``time.time()``, one machine, one
clock), the ``webhook-id`` header (the event id) and the event type from the JSON body.
Prints ``listening`` when it accepts connections; SIGTERM flushes OUT and exits.
"""

import asyncio
import json
import signal
import sys
import time

RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
RESPONSE_CLOSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


def parse_head(head: bytes) -> tuple[str, dict[str, str]]:
    """The request line and the headers (lower-cased names) of a request head."""
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


def event_type(body: bytes) -> str:
    try:
        return str(json.loads(body).get("type", ""))
    except (ValueError, AttributeError):
        return ""


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers from our senders
                return b"".join(chunks)
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)
    return await reader.readexactly(int(headers.get("content-length") or 0))


class Receiver:
    def __init__(self, out):
        self.out = out
        self.requests = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, headers = parse_head(head[:-4])
                body = await _read_body(reader, headers)
                at = time.time()
                self.requests += 1
                self.out.write(f"{at:.6f}\t{headers.get('webhook-id', '')}\t{event_type(body)}\n")
                close = headers.get("connection", "").lower() == "close" or request_line.endswith(
                    "HTTP/1.0"
                )
                writer.write(RESPONSE_CLOSE if close else RESPONSE)
                await writer.drain()
                if close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()


async def serve(port: int, out_path: str) -> None:
    with open(out_path, "a", buffering=1 << 16) as out:
        receiver = Receiver(out)
        server = await asyncio.start_server(receiver.handle, "127.0.0.1", port, backlog=512)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        print("listening", flush=True)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), 0.5)
            except TimeoutError:
                out.flush()
        server.close()
        out.flush()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2]))
