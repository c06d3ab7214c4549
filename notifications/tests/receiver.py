"""Real servers for the webhook tests, bound to 127.0.0.1 only.

``WebhookReceiver`` answers scripted statuses, counts what arrives and verifies every
request with the reference Standard Webhooks library (``standardwebhooks`` from PyPI), as
a shop's receiver would. ``Canary`` only counts TCP connections: the SSRF tests point
forbidden URLs at it and expect it to hear nothing.
"""

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    verify_error: str = ""

    @property
    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.json["event_id"]


@dataclass
class WebhookReceiver:
    """``secrets`` maps a path to the endpoint secret its requests are verified with."""

    secrets: dict[str, str] = field(default_factory=dict)
    #: statuses to answer, in order; 200 once they are used up
    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    port: int = 0
    #: when given, every request is held until the gate opens (a hanging receiver)
    gate: threading.Event | None = None
    #: when given, the body of every answer (else "answered <status>")
    answer: bytes | None = None

    def __post_init__(self):
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "WebhookReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver._record(self.path, dict(self.headers.items()), body)
                if receiver.gate is not None:
                    receiver.gate.wait(timeout=120)  # bounded: never outlive the test run
                status = receiver._next_status()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(
                    f"answered {status}".encode() if receiver.answer is None else receiver.answer
                )

            def log_message(self, *args):
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening: connections to the port are refused until ``start()``."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> None:
        secret = self.secrets.get(path)
        verified, error = False, "no secret for this path"
        if secret:
            try:
                Webhook(secret).verify(body, headers)
                verified, error = True, ""
            except WebhookVerificationError as exc:
                error = str(exc)
        with self._lock:
            self.received.append(Received(path, headers, body, verified, error))

    def _next_status(self) -> int:
        with self._lock:
            return self.script.pop(0) if self.script else 200

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


class Canary:
    """A TCP listener on 127.0.0.1 that counts the connections made to it."""

    def __init__(self):
        self.connections = 0
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(16)
        self.port = self._socket.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._socket.close()
