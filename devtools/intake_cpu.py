"""Client CPU of ``POST /api/v1/orders`` per order, in-process: no HTTP server, no load generator.

    DATABASE_URL=postgres://…/scratch REDIS_URL=redis://127.0.0.1:6379/7 DEBUG=false \\
    SECRET_KEY=… API_RATE_LIMIT=1000000/minute .venv/bin/python -m devtools.intake_cpu 1500

Calls the WSGI application (``orderflow.wsgi``: the intake's fast route ahead of Django's
middleware, the lean path, its two statements, the rate limit and the lane kick; with
``FAST_ROUTES=false``, every middleware and the URL resolver around the same lean path) with
N new orders of two lines, each under its own Idempotency-Key, after 200 to warm up, then N
replays of the last one (same key, same body); prints the process's CPU and the wall time
per order and per replay. A scratch database (migrated here) only: it adds a shop, its
catalog and the orders.
Run it in two checkouts in turn (``PYTHONPATH=<checkout>``) to compare them on a noisy box:
the process's own CPU moves less than a server's throughput does.
"""

import io
import os
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orderflow.settings")

# first, as a WSGI server imports it: it sets Django up with a WSGI server's settings
from orderflow.wsgi import application

# isort: split
from django.core.management import call_command

from bench import live
from orders import services

WARM_UP = 200
BODY = (
    b'{"customer":{"name":"Bench Customer","email":"bench@example.com"},'
    b'"shipping_address":{"line1":"1 Bench St","city":"Lisbon","postal_code":"1000-001",'
    b'"country":"PT"},"lines":[{"sku":"BENCH-0","quantity":1},{"sku":"BENCH-1","quantity":2}],'
    b'"payment":{"token":"tok_ok"}}'
)


def _post(raw_key: str, idempotency_key: str, *, replayed: bool = False) -> None:
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api/v1/orders",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8001",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(BODY),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(BODY)),
        "HTTP_AUTHORIZATION": f"Bearer {raw_key}",
        "HTTP_IDEMPOTENCY_KEY": idempotency_key,
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8001",
    }
    status: list = []  # the status line, then the headers
    body = application(environ, lambda line, headers, *_: status.extend([line, dict(headers)]))
    content = b"".join(body)
    body.close()
    if not status[0].startswith("201") or replayed != ("Idempotent-Replayed" in status[1]):
        sys.exit(f"POST /api/v1/orders answered {status[0]}: {content[:300]!r}")


def main(count: int) -> None:
    call_command("migrate", verbosity=0)
    shop, _ = live.shop_with_catalog(f"Intake CPU shop {time.time()}")
    _, raw_key = services.api_key_create(shop=shop, name="intake-cpu")
    run = str(time.time())
    for index in range(WARM_UP):
        _post(raw_key, f"{run}-warm-{index}")
    cpu, wall = time.process_time(), time.perf_counter()
    for index in range(count):
        _post(raw_key, f"{run}-{index}")
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(
        f"{count} orders: {cpu / count * 1000:.3f} ms CPU per order, "
        f"{wall / count * 1000:.3f} ms wall per order"
    )
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        _post(raw_key, f"{run}-{count - 1}", replayed=True)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(
        f"{count} replays: {cpu / count * 1000:.3f} ms CPU per replay, "
        f"{wall / count * 1000:.3f} ms wall per replay"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1500)
