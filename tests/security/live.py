"""OrderFlow in either run mode as real processes, and a client that sends a corpus case.

Full mode runs what ``Procfile`` runs: gunicorn serves ``/api/`` and daphne serves the
pages and ``/ws/``, on a PostgreSQL database of its own and Redis (this run's key prefix).
Embedded mode runs what ``make run`` runs: ``manage.py runserver`` with nothing in the
environment but a temporary SQLite file, so the local-memory cache, the in-memory channel
layer and eager Celery are in use. Either is prepared with the project's own management
commands (``migrate``, ``create_shop``, ``createsuperuser``) and seeded through the API,
then waited for by polling ``/healthz`` with a deadline.

Requests go out through ``http.client`` byte for byte (a path is sent as written, a header
may carry Latin-1 bytes), so that what arrives is what the corpus says.
"""

import contextlib
import hashlib
import http.client
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import psycopg
import redis
from psycopg import sql
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect as ws_connect

from devtools.processes import ManagedProcess, ProcessFailedToStart, wait_until
from orders.carriers import (
    CARRIER_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    carrier_signature,
)

from .corpus import VALID_ORDER, Case

REPO_ROOT = Path(__file__).resolve().parents[2]
CARRIER = "corpus-post"
CARRIER_SECRET = "corpus-carrier-secret-0123456789abcdef"
STAFF_USER = "corpus-staff"
STAFF_PASSWORD = "corpus-staff-password-42"
SECRET_KEY = "corpus-secret-key-for-tests-only-0123456789abcdefghijklmnopqrstuvwxyz"
#: tables a refused request must leave exactly as they were
WATCHED_TABLES = (
    "orders_shop",
    "orders_product",
    "orders_order",
    "orders_orderline",
    "orders_ordertransition",
    "notifications_webhookendpoint",
)
#: tables that only grow: a refused request must not add a row (a published event)
COUNTED_TABLES = ("orderflow_outboxevent",)
#: generous: the suite may run beside other engineers' on a loaded 2-core machine
STARTUP_SECONDS = 180
REQUEST_TIMEOUT = 60


class SetupFailed(RuntimeError):
    pass


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes
    headers: dict[str, str]

    def json(self) -> object:
        return json.loads(self.body)


@dataclass(frozen=True)
class SocketOutcome:
    """How a WebSocket session went: refused at the handshake, or what came and how it ended."""

    handshake_status: int  # 101 when accepted
    first_frame: dict | None = None
    answered_after_messages: bool = False
    close_code: int | None = None

    def describe(self) -> str:
        return (
            f"handshake {self.handshake_status}, first frame "
            f"{(self.first_frame or {}).get('type')!r}, answered after the messages: "
            f"{self.answered_after_messages}, close code {self.close_code}"
        )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _manage(env: dict[str, str], *args: str) -> str:
    """Run a management command as an operator would; fail the setup with its output."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise SetupFailed(f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def http_request(
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str | bytes] | None = None,
    body: bytes | None = None,
) -> Answer:
    """Send one request exactly as given and return the answer."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        connection.putrequest(method, path, skip_accept_encoding=True)
        headers = dict(headers or {})
        if body is not None and not any(k.lower() == "content-length" for k in headers):
            headers["Content-Length"] = str(len(body))
        for name, value in headers.items():
            connection.putheader(name, value)
        # the server may answer (a 413, say) before it has read the whole body
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            connection.endheaders(body)
        try:
            response = connection.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            # an HTTP server may drop a request that is not valid HTTP without answering
            return Answer(
                status=0, content_type="", body=b"(closed without a response)", headers={}
            )
        content = response.read()
        return Answer(
            status=response.status,
            content_type=response.getheader("Content-Type", ""),
            body=content,
            # repeated headers (Set-Cookie) joined, one per line
            headers={k.lower(): "\n".join(response.msg.get_all(k)) for k in response.msg},
        )
    finally:
        connection.close()


@dataclass
class Target:
    """OrderFlow running in one mode, seeded, with everything a case's placeholders name."""

    mode: str
    api_port: int
    page_port: int
    processes: list[ManagedProcess]
    fingerprint_rows: Callable[[], dict[str, object]]
    placeholders: dict[str, str] = field(default_factory=dict)
    staff_cookie: str = ""
    csrf_token: str = ""

    # --- sending -------------------------------------------------------------------------
    def port_for(self, path: str) -> int:
        return self.api_port if path.startswith("/api/") else self.page_port

    def fill(self, text: str) -> str:
        for name, value in self.placeholders.items():
            text = text.replace("{" + name + "}", value)
        return text

    def request(self, method: str, path: str, *, body=None, headers=None, auth=True) -> Answer:
        """A well-formed request from shop A (setup and cleanup, not the corpus)."""
        all_headers: dict[str, str | bytes] = {"Content-Type": "application/json"}
        if auth:
            all_headers["Authorization"] = f"Bearer {self.placeholders['key']}"
        if method == "POST":
            all_headers["Idempotency-Key"] = str(uuid.uuid4())
        all_headers.update(headers or {})
        data = json.dumps(body).encode() if body is not None else None
        return http_request(self.port_for(path), method, path, headers=all_headers, body=data)

    def send(self, case: Case) -> Answer:
        path = self.fill(case.path)
        body = case.body
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
        headers: dict[str, str | bytes] = {"X-Correlation-ID": f"corpus-{case.id}"[:100]}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if case.auth == "shop":
            headers["Authorization"] = f"Bearer {self.placeholders['key']}"
        if case.method == "POST" and case.auth == "shop":
            headers["Idempotency-Key"] = str(uuid.uuid4())
        if case.staff:
            headers["Cookie"] = self.staff_cookie
            headers["X-CSRFToken"] = self.csrf_token
            headers["Referer"] = f"http://127.0.0.1:{self.page_port}/staff/"
        if case.carrier is not None:
            timestamp = (
                str(int(time.time())) if case.carrier.timestamp == "now" else case.carrier.timestamp
            )
            signature: str | bytes = case.carrier.signature
            if signature == "valid":
                signature = carrier_signature(
                    secret=CARRIER_SECRET, timestamp=timestamp, body=body or b""
                )
            headers[CARRIER_HEADER] = case.carrier.carrier
            headers[TIMESTAMP_HEADER] = timestamp.encode("utf-8")
            headers[SIGNATURE_HEADER] = signature
        for name, value in case.headers.items():
            headers[name] = self.fill(value) if isinstance(value, str) else value
        return http_request(self.port_for(path), case.method, path, headers=headers, body=body)

    def open_socket(self, case: Case) -> SocketOutcome:
        """Open the case's socket, send its messages, and see how the server copes."""
        uri = f"ws://127.0.0.1:{self.page_port}{self.fill(case.path)}"
        headers = {"Cookie": self.staff_cookie} if case.staff else {}
        origin = case.headers.get("Origin", f"http://127.0.0.1:{self.page_port}")
        try:
            socket_ = ws_connect(
                uri,
                origin=origin,
                additional_headers=headers,
                open_timeout=REQUEST_TIMEOUT,
                close_timeout=5,
                max_size=None,
            )
        except InvalidStatus as refused:
            return SocketOutcome(handshake_status=refused.response.status_code)
        with socket_:
            try:
                first = json.loads(socket_.recv(timeout=REQUEST_TIMEOUT))
            except ConnectionClosed as closed:
                return SocketOutcome(101, close_code=_close_code(closed))
            try:
                for message in case.messages:
                    socket_.send(message)
                # frames are handled in order: the answer to this resync proves the
                # messages before it were handled without ending the socket
                socket_.send(json.dumps({"type": "resync"}))
                while True:
                    frame = json.loads(socket_.recv(timeout=REQUEST_TIMEOUT))
                    if frame.get("type") == "snapshot":
                        return SocketOutcome(101, first, answered_after_messages=True)
            except ConnectionClosed as closed:
                return SocketOutcome(101, first, close_code=_close_code(closed))

    # --- state ---------------------------------------------------------------------------
    def fingerprint(self) -> dict[str, object]:
        return self.fingerprint_rows()

    def logs(self, lines: int = 60) -> str:
        return "".join(line for process in self.processes for line in process.output[-lines:])


def _close_code(closed: ConnectionClosed) -> int | None:
    frame = closed.rcvd
    return frame.code if frame is not None else 1006


def _digest(tables: dict[str, list[tuple]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for table, rows in tables.items():
        rendered = sorted(repr(row) for row in rows)
        result[table] = (len(rows), hashlib.sha256("\n".join(rendered).encode()).hexdigest()[:16])
    return result


def _postgres_fingerprint(url: str):
    def fingerprint() -> dict[str, object]:
        with psycopg.connect(url, autocommit=True) as conn:
            tables = {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in WATCHED_TABLES}  # noqa: S608
            counts = {
                t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
                for t in COUNTED_TABLES
            }
        return {**_digest(tables), **counts}

    return fingerprint


def _sqlite_fingerprint(path: str):
    def fingerprint() -> dict[str, object]:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
        try:
            tables = {t: conn.execute(f"SELECT * FROM {t}").fetchall() for t in WATCHED_TABLES}  # noqa: S608
            counts = {
                t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608
                for t in COUNTED_TABLES
            }
        finally:
            conn.close()
        return {**_digest(tables), **counts}

    return fingerprint


# --- the two run modes ---------------------------------------------------------------------
def _base_env(home: str) -> dict[str, str]:
    """A clean environment: nothing of the developer's shell or of the test run leaks in."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "CARRIER_SECRETS": f"{CARRIER}={CARRIER_SECRET}",
        # the corpus sends a few hundred requests a minute; the limit has its own tests
        "API_RATE_LIMIT": "100000/minute",
    }


def _wait_healthy(target: Target) -> None:
    ports = {target.api_port, target.page_port}

    def healthy() -> bool:
        for port in ports:
            try:
                if http_request(port, "GET", "/healthz").status != 200:
                    return False
            except OSError:
                return False
        return True

    if not wait_until(healthy, timeout=STARTUP_SECONDS, interval=0.2):
        raise SetupFailed(f"{target.mode} mode did not become healthy:\n{target.logs()}")


def _create_shop(env: dict[str, str], name: str, slug: str) -> str:
    output = _manage(env, "create_shop", name, "--slug", slug, "--currency", "EUR")
    return output.strip().splitlines()[-1]


def _seed(target: Target, env: dict[str, str]) -> None:
    """Two shops with a catalog and an order each, a webhook endpoint, a logged-in staff user."""
    key_a = _create_shop(env, "Corpus Shop A", "corpus-a")
    key_b = _create_shop(env, "Corpus Shop B", "corpus-b")
    _manage(env, "createsuperuser", "--noinput", "--username", STAFF_USER, "--email", "s@x.test")
    target.placeholders.update(key=key_a, missing_id=str(uuid.uuid4()))

    def ok(answer: Answer, what: str) -> dict:
        if answer.status not in (200, 201):
            raise SetupFailed(f"seeding {what}: {answer.status} {answer.body[:500]!r}")
        return answer.json()

    for sku, price in (("CORPUS-1", "10.00"), ("CORPUS-PRICEY", "9999999999.99")):
        ok(
            target.request(
                "POST", "/api/v1/products",
                body={"sku": sku, "name": sku.title(), "price": price, "stock": 1_000_000},
            ),
            sku,
        )  # fmt: skip
    order = ok(target.request("POST", "/api/v1/orders", body=VALID_ORDER), "order A")
    endpoint = ok(
        target.request(
            "POST",
            "/api/v1/webhook-endpoints",
            # inactive: nothing is ever sent to it, so no case waits on the network
            body={"url": "https://93.184.216.34/corpus-hook", "active": False},
        ),
        "webhook endpoint",
    )
    b_headers = {"Authorization": f"Bearer {key_b}"}
    ok(
        target.request(
            "POST", "/api/v1/products", headers=b_headers,
            body={"sku": "CORPUS-B", "name": "B", "price": "5.00", "stock": 1000},
        ),
        "product B",
    )  # fmt: skip
    other = ok(
        target.request(
            "POST",
            "/api/v1/orders",
            headers=b_headers,
            body={**VALID_ORDER, "lines": [{"sku": "CORPUS-B", "quantity": 1}]},
        ),
        "order B",
    )
    token = order["tracking_url"].rstrip("/").rsplit("/", 1)[-1]
    target.placeholders.update(
        order_id=order["id"],
        other_order_id=other["id"],
        sku="CORPUS-1",
        other_sku="CORPUS-B",
        endpoint_id=endpoint["id"],
        token=token,
        token_upper=token.upper() if token.upper() != token else token + "X",
        other_token=other["tracking_url"].rstrip("/").rsplit("/", 1)[-1],
    )
    _log_in_staff(target)


def _log_in_staff(target: Target) -> None:
    """Log the staff user in through the admin's login form, as a browser would."""
    page = http_request(target.page_port, "GET", "/admin/login/?next=/staff/")
    cookie = re.search(r"csrftoken=([^;]+)", page.headers.get("set-cookie", ""))
    form_token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)
    if not (cookie and form_token):
        raise SetupFailed(f"no CSRF token on the login page: {page.status} {page.body[:300]!r}")
    csrf = cookie.group(1)
    answer = http_request(
        target.page_port,
        "POST",
        "/admin/login/?next=/staff/",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf}",
            "Referer": f"http://127.0.0.1:{target.page_port}/admin/login/",
        },
        body=urlencode(
            {
                "username": STAFF_USER,
                "password": STAFF_PASSWORD,
                "csrfmiddlewaretoken": form_token.group(1).decode(),
                "next": "/staff/",
            }
        ).encode(),
    )
    cookies = answer.headers.get("set-cookie", "")
    session = re.search(r"sessionid=([^;]+)", cookies)
    if answer.status != 302 or not session:
        raise SetupFailed(f"staff login failed: {answer.status} {answer.body[:300]!r}")
    # logging in rotates the CSRF secret: the forms after it need the new one
    rotated = re.search(r"csrftoken=([^;]+)", cookies)
    csrf = rotated.group(1) if rotated else csrf
    target.staff_cookie = f"csrftoken={csrf}; sessionid={session.group(1)}"
    target.csrf_token = csrf


def _start(target: Target) -> None:
    try:
        for process in target.processes:
            process.start(timeout=STARTUP_SECONDS)
    except ProcessFailedToStart as error:
        for process in target.processes:
            process.stop()
        raise SetupFailed(str(error)) from None


@contextlib.contextmanager
def embedded_mode() -> Iterator[Target]:
    """``make run``'s mode: runserver, SQLite, nothing else configured."""
    with tempfile.TemporaryDirectory(prefix="orderflow-corpus-") as home:
        db_path = str(Path(home) / "db.sqlite3")
        env = {
            **_base_env(home),
            "SQLITE_PATH": db_path,
            "STATIC_ROOT": str(Path(home) / "static"),
            # the local mailbox and the webhook inbox of embedded mode, kept out of the repository
            "MAILBOX_PATH": str(Path(home) / "mailbox"),
            "WEBHOOK_INBOX_PATH": str(Path(home) / "webhook-inbox"),
            "DJANGO_SUPERUSER_PASSWORD": STAFF_PASSWORD,
        }
        _manage(env, "migrate", "--noinput")
        port = free_port()
        server = ManagedProcess(
            "runserver (embedded)",
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            env,
            ready_marker="Starting ASGI/Daphne",
        )
        target = Target(
            mode="embedded",
            api_port=port,
            page_port=port,
            processes=[server],
            fingerprint_rows=_sqlite_fingerprint(db_path),
        )
        _start(target)
        try:
            _wait_healthy(target)
            _seed(target, env)
            yield target
        finally:
            server.stop()


@contextlib.contextmanager
def full_mode(redis_url: str) -> Iterator[Target]:
    """``Procfile``'s mode: gunicorn for the API, daphne for pages and sockets, PG + Redis."""
    run = f"orderflow-corpus-{os.getpid()}"
    db_name = f"orderflow_corpus_{os.getpid()}"
    server_url = "postgres://postgres@127.0.0.1:5432/postgres"
    db_url = f"postgres://postgres@127.0.0.1:5432/{db_name}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(db_name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))
    with tempfile.TemporaryDirectory(prefix="orderflow-corpus-") as home:
        env = {
            **_base_env(home),
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "DEBUG": "false",
            "SECURE_SSL_REDIRECT": "false",
            "SECRET_KEY": SECRET_KEY,
            "LOG_FORMAT": "console",
            "DJANGO_SUPERUSER_PASSWORD": STAFF_PASSWORD,
            # this run's own cache keys, channel layer and queue on the shared Redis
            "TEST_CACHE_KEY_PREFIX": run,
            "TEST_CHANNEL_LAYER_PREFIX": run,
            "TEST_CELERY_QUEUE": run,
        }
        api_port, page_port = free_port(), free_port()
        try:
            _manage(env, "migrate", "--noinput")
            gunicorn = ManagedProcess(
                "gunicorn (full)",
                [sys.executable, "-m", "gunicorn", "--config", "deploy/gunicorn.conf.py",
                 "--bind", f"127.0.0.1:{api_port}", "--workers", "1",
                 "orderflow.wsgi:application"],
                env,
                ready_marker="Booting worker",
            )  # fmt: skip
            daphne = ManagedProcess(
                "daphne (full)",
                [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(page_port),
                 "orderflow.asgi:application"],
                env,
                ready_marker="Listening on TCP address",
            )  # fmt: skip
            target = Target(
                mode="full",
                api_port=api_port,
                page_port=page_port,
                processes=[gunicorn, daphne],
                fingerprint_rows=_postgres_fingerprint(db_url),
            )
            _start(target)
            try:
                _wait_healthy(target)
                _seed(target, env)
                yield target
            finally:
                for process in reversed(target.processes):
                    process.stop()
        finally:
            with psycopg.connect(server_url, autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(db_name)
                    )
                )
            client = redis.Redis.from_url(redis_url)
            keys = [*client.scan_iter(match=f"{run}*"), run]
            client.delete(*keys)
