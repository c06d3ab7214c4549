"""``make run``'s terminal stays quiet: the server logs real requests, not the simulator's.

The embedded mode as ``Procfile.embedded`` runs it (runserver and ``simulate``, on a fresh
SQLite database with the demo data), with the simulator sped up: it places orders, ships
them and plays the carrier, and the server's output has no line for any of it. A request
from anyone else still gets its one access line. So the newcomer's summary, printed once
the server answers, stays the last thing on the terminal until someone uses the app.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from devtools.processes import ManagedProcess
from devtools.welcome import wait_for

ROOT = Path(__file__).resolve().parent.parent
#: enough of the simulator's traffic to have seen every kind of call it makes
ORDERS_TO_SEE = 3
WAIT_SECONDS = 180


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _embedded_env(tmp_path: Path, base_url: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE")
        and not key.startswith("TEST_")
    }
    return env | {
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        "MAILBOX_PATH": str(tmp_path / "mailbox"),
        "WEBHOOK_INBOX_PATH": str(tmp_path / "webhook-inbox"),
        "PUBLIC_BASE_URL": base_url,
        "PYTHONUNBUFFERED": "1",
    }


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _get(url: str, key: str) -> dict:
    request = urllib.request.Request(  # noqa: S310  (our own server on loopback)
        url, headers={"Authorization": f"Bearer {key}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (loopback)
        return json.loads(response.read())


def test_the_server_logs_real_requests_and_none_of_the_simulators(tmp_path):
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = _embedded_env(tmp_path, base_url)
    _manage(env, "migrate", "--noinput", "--verbosity", "0")
    summary = _manage(env, "load_demo")
    key = next(
        line.split(": ", 1)[1]
        for line in summary.splitlines()
        if line.startswith("Demo shop API key: ")
    )
    web = ManagedProcess(
        "web",
        [sys.executable, "manage.py", "runserver", "--skip-checks", "--noreload",
         f"127.0.0.1:{port}"],
        env,
        ready_marker="Quit the server with CONTROL-C.",
    )  # fmt: skip
    simulator_output = tmp_path / "simulate.log"
    web.start(timeout=120)
    try:
        # runserver prints its banner before it listens; healthz answers once it does
        assert wait_for(f"{base_url}/healthz", seconds=60), web.output[-20:]
        with simulator_output.open("w") as out:
            simulator = subprocess.Popen(
                [sys.executable, "manage.py", "simulate", "-v", "0", "--rate", "2",
                 "--pace", "0.3", "--base-url", base_url],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            try:
                # given the simulator's orders placed, shipped and carried (a parcel delivered)
                asked = 0
                deadline = time.monotonic() + WAIT_SECONDS
                while True:
                    orders = _get(f"{base_url}/api/v1/orders?limit=100", key)["results"]
                    asked += 1
                    delivered = [order for order in orders if order["status"] == "delivered"]
                    if len(orders) >= ORDERS_TO_SEE and delivered:
                        break
                    assert time.monotonic() < deadline, (orders, web.output[-20:])
                    time.sleep(0.5)
            finally:
                simulator.terminate()
                simulator.wait(15)
    finally:
        web.stop()

    # then the server logged each of this test's requests, and nothing else
    access_lines = [line for line in web.output if "django.channels.server" in line]
    assert "HTTP GET /healthz" in access_lines[0]
    assert len(access_lines[1:]) == asked, access_lines
    assert all("HTTP GET /api/v1/orders?limit=100 200" in line for line in access_lines[1:])
    assert simulator_output.read_text() == ""
