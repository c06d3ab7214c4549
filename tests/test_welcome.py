"""make run's welcome: load_demo's summary printed once the server answers, then removed."""

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from devtools import welcome


class _Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_prints_the_summary_last_once_the_server_answers_and_removes_it(tmp_path, server_url):
    summary = tmp_path / "welcome.txt"
    summary.write_text("OrderFlow at http://127.0.0.1:8041\nDemo shop API key: abc.def\n")
    out = io.StringIO()

    shown = welcome.show(summary, server_url, out=out)

    assert shown
    assert out.getvalue().splitlines() == [
        "",
        "OrderFlow at http://127.0.0.1:8041",
        "Demo shop API key: abc.def",
        "",
        "Ready (Ctrl-C stops it).",
    ]
    assert not summary.exists()  # the passwords and the key are not kept on disk
    assert not welcome.show(summary, server_url, out=out)  # once


def test_says_so_when_no_server_answers(tmp_path, capsys):
    summary = tmp_path / "welcome.txt"
    summary.write_text("secret")

    assert not welcome.show(summary, "http://127.0.0.1:9", seconds=0)

    assert "did not answer at http://127.0.0.1:9" in capsys.readouterr().err
    assert summary.exists()
