#!/usr/bin/env python
"""Container health check for the OrderFlow image: ``healthcheck.py [web|ready|worker]``.

web     GET /healthz answers 200: the server process answers (liveness). The image's
        HEALTHCHECK uses this, so a dependency outage never gets a healthy web container
        replaced.
ready   GET /readyz answers 200: database, migrations, cache and broker all work
        (readiness; docker-compose.yml uses it, so ``docker compose ps`` tells).
worker  the Celery worker of this container answers a ping through the broker.

The request names an allowed host and says it came over HTTPS, so neither ALLOWED_HOSTS
nor SECURE_SSL_REDIRECT can turn a healthy server into a failed check. Without an
argument the role is read from the container's processes (``orderflow.asgi_server``,
granian, daphne or gunicorn is the web role, ``celery ... worker`` a worker), so the
image's one HEALTHCHECK serves every role; any other role (beat, migrate) counts as
healthy while it runs, having no cheap probe.
Exit status 0 is healthy, 1 unhealthy; the reason goes to stderr, where
``docker inspect`` shows it.
"""

import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

TIMEOUT_SECONDS = 5


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a redirect is an answer to report, not one to follow


def _allowed_host() -> str:
    for host in os.environ.get("ALLOWED_HOSTS", "").split(","):
        host = host.strip()
        if host and host != "*" and not host.startswith("."):
            return host
    return "localhost"


def check_http(path: str) -> str | None:
    url = f"http://127.0.0.1:{os.environ.get('PORT', '8000')}{path}"
    request = urllib.request.Request(
        url, headers={"Host": _allowed_host(), "X-Forwarded-Proto": "https"}
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError as error:
        return f"{url}: {error}"
    return None if status == 200 else f"{url} answered {status}"


def check_worker() -> str | None:
    destination = f"celery@{socket.gethostname()}"
    command = [
        *(sys.executable, "-m", "celery", "-A", "orderflow", "inspect", "ping"),
        *("--destination", destination, "--timeout", str(TIMEOUT_SECONDS)),
    ]
    try:
        result = subprocess.run(  # noqa: S603 (a fixed command line)
            command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS * 2, check=False
        )
    except subprocess.TimeoutExpired:
        return f"no answer from {destination} within {TIMEOUT_SECONDS * 2} s"
    if result.returncode != 0 or "pong" not in result.stdout:
        return f"{destination} did not answer a ping: {result.stdout}{result.stderr}".strip()
    return None


CHECKS = {
    "web": lambda: check_http("/healthz"),
    "ready": lambda: check_http("/readyz"),
    "worker": check_worker,
}


#: what the entrypoint's HTTP roles run (``web`` and ``websocket``: daphne through
#: ``python -m orderflow.asgi_server``; ``http``: granian), and servers run by hand
WEB_PROGRAMS = frozenset({"orderflow.asgi_server", "granian", "daphne", "gunicorn"})


def detect_role(proc: Path = Path("/proc")) -> str | None:
    """Name the role from the processes running in this container, or None."""
    for cmdline in proc.glob("[0-9]*/cmdline"):
        try:
            argv = [os.path.basename(arg) for arg in cmdline.read_text().split("\0") if arg]
        except OSError:
            continue  # the process ended while we looked
        if WEB_PROGRAMS.intersection(argv):
            return "web"
        if "celery" in argv and "worker" in argv:
            return "worker"
    return None


def main(argv: list[str]) -> int:
    role = argv[0] if argv else detect_role()
    check = CHECKS.get(role or "")
    problem = check() if check else None
    if problem:
        print(f"unhealthy ({role}): {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
