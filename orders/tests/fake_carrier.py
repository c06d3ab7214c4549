"""A fake carrier on loopback that answers karrio with recorded responses.

karrio's connectors build their carriers' URLs from a fixed host (no setting names another
one), so the one thing patched is karrio's HTTP call (``urlopen`` in its helpers): it sends
the same request to this server instead, keeping the path. The server answers each path from
``routes`` with a file of ``carrier_responses/`` (see its README) and records what it was asked.
"""

import threading
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RESPONSES = Path(__file__).parent / "carrier_responses"


@dataclass
class Call:
    method: str
    host: str
    path: str
    body: bytes


@dataclass
class FakeCarrier:
    """``routes`` maps ``(method, path)`` (the path without its query) to (status, file)."""

    base_url: str
    routes: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    #: paths whose requests get no answer until ``gate`` is set (a carrier that hangs)
    held: set[str] = field(default_factory=set)
    gate: threading.Event = field(default_factory=threading.Event)

    def answer(self, method: str, path: str, response: str, status: int = 200) -> None:
        self.routes[(method, path)] = (status, response)

    def tracking_calls(self, host_part: str = "") -> list[Call]:
        return [call for call in self.calls if host_part in call.host and "token" not in call.path]


def start(monkeypatch) -> tuple[FakeCarrier, ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    fake = FakeCarrier(base_url=f"http://127.0.0.1:{server.server_address[1]}")
    server.fake = fake
    threading.Thread(target=server.serve_forever, daemon=True).start()

    import karrio.core.utils.helpers as karrio_http

    real_urlopen = karrio_http.urlopen

    def to_fake_carrier(request, timeout=None):
        url = urllib.parse.urlsplit(request.full_url)
        request.add_header("X-Carrier-Host", url.netloc)
        request.full_url = fake.base_url + url.path + (f"?{url.query}" if url.query else "")
        return real_urlopen(request, timeout=timeout)

    monkeypatch.setattr(karrio_http, "urlopen", to_fake_carrier)
    return fake, server


class _Handler(BaseHTTPRequestHandler):
    def _serve(self):
        fake: FakeCarrier = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = urllib.parse.urlsplit(self.path).path
        fake.calls.append(Call(self.command, self.headers.get("X-Carrier-Host", ""), path, body))
        if path in fake.held:
            fake.gate.wait(timeout=30)
        status, name = fake.routes.get((self.command, path), (404, ""))
        payload = (RESPONSES / name).read_bytes() if name else b'{"error": "no route"}'
        self.send_response(status)
        kind = "application/xml" if name.endswith(".xml") else "application/json"
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _serve

    def log_message(self, *args):
        pass


def serve(monkeypatch):
    """Yield the fake carrier, karrio's requests sent to it and its token endpoints answering.

    A test module's ``fake_carrier`` fixture yields from this."""
    fake, server = start(monkeypatch)
    fake.answer("POST", "/security/v1/oauth/token", "ups/token.json")
    fake.answer("POST", "/oauth2/v3/token", "usps/token.json")
    yield fake
    fake.gate.set()
    server.shutdown()
    server.server_close()
