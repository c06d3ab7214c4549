"""The shop's webhook receiver: answers 200 and counts each webhook-id; can hang on demand."""

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    """While ``hanging``, a request is held until the hang ends and then dropped unanswered."""

    def __init__(self, port: int):
        self.port = port
        self.answered: Counter[str] = Counter()  # webhook-id -> 200s answered
        self.hung = 0
        self._hang = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Receiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if receiver._hang.is_set():
                    with receiver._lock:
                        receiver.hung += 1
                    while receiver._hang.is_set():
                        time.sleep(0.1)
                    self.close_connection = True
                    return  # never answered: the sender timed out long ago
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                with receiver._lock:
                    receiver.answered[self.headers.get("webhook-id", "")] += 1

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def hang(self) -> None:
        self._hang.set()

    def recover(self) -> None:
        self._hang.clear()

    def reset(self) -> None:
        with self._lock:
            self.answered.clear()
            self.hung = 0

    @property
    def duplicates(self) -> int:
        """Webhook-ids answered 200 more than once (the sender thought it failed)."""
        return sum(n - 1 for n in self.answered.values() if n > 1)

    def stop(self) -> None:
        self.recover()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
