"""A real server for browser tests: daphne (HTTP and WebSocket) and a Celery worker and beat,
on the test database and Redis, driven by Playwright on the system Chromium.

The browser is never downloaded: the tests skip, naming what is missing, when the
``chromium`` executable or the ``playwright`` package is not installed.
"""

import importlib.util
import json
import os
import shutil
import socket
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, connections

from devtools.processes import (
    ManagedProcess,
    ProcessFailedToStart,
    celery_beat,
    celery_worker,
    wait_until,
)
from orders import services
from orders.carriers import carrier_event_post
from tests.fixtures import WORKER_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium")
CARRIER = "demo-post"
CARRIER_SECRET = "browser-test-carrier-secret-0123456789"
STAFF_PASSWORD = "browser-test-password-42"

_missing = [
    reason
    for reason, missing in (
        ("the chromium executable (apt-get install -y chromium)", CHROMIUM is None),
        (
            "the playwright package (pip install -e '.[dev]')",
            importlib.util.find_spec("playwright") is None,
        ),
    )
    if missing
]
if _missing:
    pytest.skip(f"browser tests need {' and '.join(_missing)}", allow_module_level=True)

from playwright.sync_api import Browser, expect, sync_playwright  # noqa: E402

# expect() waits for its condition 5 s by default: a tight bound on a loaded machine (a
# socket's handshake, a push behind a worker's batch). Every wait stays bounded.
expect.set_options(timeout=30_000)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LiveStack:
    base_url: str
    env: dict[str, str]
    processes: list[ManagedProcess] = field(default_factory=list)
    api_key: str = ""

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(  # noqa: S310  (our own server on loopback)
            f"{self.base_url}/api/v1/{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            return json.loads(response.read())

    def carrier(self, tracking_number: str, status: str, **fields) -> dict:
        response = carrier_event_post(
            base_url=self.base_url,
            carrier=CARRIER,
            secret=CARRIER_SECRET,
            event={"tracking_number": tracking_number, "status": status, **fields},
        )
        assert response.status == 200, response.body
        return response.body

    def logs(self) -> str:
        return "".join(line for process in self.processes for line in process.output[-60:])


#: the stack's processes name their PostgreSQL sessions so (libpq reads PGAPPNAME), so that
#: its teardown waits for their sessions only: this process's own pool keeps its sessions
#: open (after a test that used many threads, 20 of them for minutes), and counting those
#: made every browser test's teardown wait its whole minute
STACK_APPLICATION_NAME = "orderflow-browser-stack"


def _no_stack_sessions() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [STACK_APPLICATION_NAME],
        )
        return cursor.fetchone()[0] == 0


@contextmanager
def _stack(*, with_workers: bool) -> Iterator[LiveStack]:
    db = connection.settings_dict
    port = _free_port()
    env = {
        **os.environ,
        **WORKER_ENV,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
        "PGAPPNAME": STACK_APPLICATION_NAME,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CARRIER_SECRETS": f"{CARRIER}={CARRIER_SECRET}",
        "TRACKING_HEARTBEAT_SECONDS": "1",
        # a page behind may resync at every heartbeat: ten times the default's rate
        "TRACKING_RESYNCS_PER_MINUTE": "120",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    stack = LiveStack(base_url=f"http://127.0.0.1:{port}", env=env)
    with tempfile.TemporaryDirectory() as schedule_dir:
        daphne = ManagedProcess(
            "daphne",
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "orderflow.asgi:application"],
            env,
            ready_marker="Listening on TCP address",
        )  # fmt: skip
        stack.processes.append(daphne)
        if with_workers:
            # as ``Procfile``: the saga lane's worker, the flow worker (projectors, senders,
            # beat's tasks), and beat
            stack.processes += [
                celery_worker(env, concurrency=1, name="saga", queues=[settings.EVENTS_SAGA_QUEUE]),
                celery_worker(
                    env,
                    name="flow",
                    queues=[settings.EVENTS_FLOW_QUEUE, settings.CELERY_TASK_DEFAULT_QUEUE],
                ),
                celery_beat(env, schedule_dir=schedule_dir),
            ]
        try:
            for process in stack.processes:
                process.start()
        except ProcessFailedToStart as error:
            for process in stack.processes:
                process.stop()
            pytest.fail(str(error))
        try:
            yield stack
        finally:
            for process in reversed(stack.processes):
                process.stop()
            # the server's pooled connections end with it; let PostgreSQL notice before
            # the test database is flushed or dropped
            wait_until(_no_stack_sessions, timeout=60)


@pytest.fixture
def demo_shop(transactional_db):
    shop = services.shop_create(name="Browser Coffee", currency="EUR", slug="browser-coffee")
    services.shop_carrier_bind(shop=shop, carrier=CARRIER)
    for sku, name, price in (
        ("COFFEE-1KG", "Coffee beans, 1 kg", "24.90"),
        ("MUG-CERAMIC", "Ceramic mug", "9.90"),
    ):
        services.product_create(shop=shop, sku=sku, name=name, price=price, stock=500)
    return shop


@pytest.fixture
def live_stack(demo_shop) -> Iterator[LiveStack]:
    """daphne, a Celery worker and beat: the full mode, as `make stack` runs it."""
    with _stack(with_workers=True) as stack:
        stack.api_key = services.api_key_create(shop=demo_shop, name="browser")[1]
        yield stack


@pytest.fixture
def web_only(demo_shop) -> Iterator[LiveStack]:
    """daphne alone: events are handled by the test itself, whose pushes go nowhere."""
    with _stack(with_workers=False) as stack:
        stack.api_key = services.api_key_create(shop=demo_shop, name="browser")[1]
        yield stack


@pytest.fixture
def staff(transactional_db):
    user = get_user_model().objects.create_user(
        username="operator", password=STAFF_PASSWORD, is_staff=True
    )
    user.groups.add(Group.objects.get(name="operator"))
    return user


@pytest.fixture
def supervisor(transactional_db):
    """A supervisor: the operator's work and money's (refunds, returns' refunds)."""
    user = get_user_model().objects.create_user(
        username="sara", password=STAFF_PASSWORD, is_staff=True
    )
    user.groups.add(Group.objects.get(name="supervisor"))
    return user


@pytest.fixture
def browser() -> Iterator[Browser]:
    # Playwright's sync API keeps an event loop in this thread between calls; the ORM in
    # the test body is still plain synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                ],
            )
            yield browser
            browser.close()
            # connections opened by the test body while Playwright's loop ran belong to
            # that context; close them here, or the test database cannot be dropped
            connections.close_all()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def log_in(page, stack: LiveStack, user) -> None:
    page.goto(f"{stack.base_url}/admin/login/?next=/staff/")
    # by the fields' ids: the login form speaks the browser's language (pt-BR contexts too)
    page.locator("#id_username").fill(user.username)
    page.locator("#id_password").fill(STAFF_PASSWORD)
    page.locator('#login-form [type="submit"]').click()
    page.wait_for_url(f"{stack.base_url}/staff/")
