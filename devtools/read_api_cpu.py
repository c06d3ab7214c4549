"""Client CPU of ``GET /api/v1/orders/{id}`` and ``GET /api/v1/orders`` per request, in-process.

    DATABASE_URL=postgres://…/scratch REDIS_URL=redis://127.0.0.1:6379/7 DEBUG=false \\
    SECRET_KEY=… API_RATE_LIMIT=1000000/minute .venv/bin/python -m devtools.read_api_cpu 1000

Calls the WSGI application (``orderflow.wsgi``, as granian serves it) with N reads of one
order and N reads of the first page of the shop's orders (the default page), after 100 of
each to warm up, and prints the process's CPU and wall time per request and the SQL
statements each sent. ``--profile FILE`` writes a cProfile of the timed reads. A scratch
database (migrated here) only: it adds a shop, its catalog and 60 orders.
Run it in two checkouts in turn (``PYTHONPATH=<checkout>``) to compare them.
"""

import argparse
import cProfile
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
from devtools.statements import sent_statements
from orders import services

WARM_UP = 100
ORDERS = 60


def _get(raw_key: str, path: str, query: str = "") -> bytes:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8001",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "HTTP_AUTHORIZATION": f"Bearer {raw_key}",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8001",
    }
    status: list = []
    body = application(environ, lambda line, headers, *_: status.extend([line, dict(headers)]))
    content = b"".join(body)
    body.close()
    if not status[0].startswith("200"):
        sys.exit(f"GET {path} answered {status[0]}: {content[:300]!r}")
    return content


def _timed(label: str, count: int, read, profile: cProfile.Profile | None) -> None:
    with sent_statements() as statements:
        read()
    per_request = len(statements)
    if profile is not None:
        profile.enable()
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(count):
        read()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    if profile is not None:
        profile.disable()
    print(
        f"{count} {label}: {cpu / count * 1000:.3f} ms CPU, {wall / count * 1000:.3f} ms wall "
        f"per request; {per_request} SQL statements each"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("count", type=int, nargs="?", default=1000)
    parser.add_argument("--profile", help="write a cProfile of the timed reads here")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    shop, skus = live.shop_with_catalog(f"Read CPU shop {time.time()}")
    _, raw_key = services.api_key_create(shop=shop, name="read-cpu")
    orders = [live.place(shop, skus) for _ in range(ORDERS)]
    path = f"/api/v1/orders/{orders[-1].id}"

    def one():
        return _get(raw_key, path)

    def page():
        return _get(raw_key, "/api/v1/orders")

    for _ in range(WARM_UP):
        one()
        page()
    profile = cProfile.Profile() if args.profile else None
    _timed("order reads", args.count, one, profile)
    _timed("first-page reads", args.count // 4 or 1, page, profile)
    if profile is not None:
        profile.dump_stats(args.profile)


if __name__ == "__main__":
    main()
