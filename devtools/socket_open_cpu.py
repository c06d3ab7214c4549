"""CPU of opening public tracking sockets (``/ws/track/<token>/``) by process, as the bench does.

    .venv/bin/python -m devtools.socket_open_cpu 200 [--projected] [--rounds 2] [--py-spy OUT]

On a private PostgreSQL and Redis (``bench.environment``), places ``N`` orders through the
orders service (no worker runs, so no order has its tracking row yet: the bench's sockets
open as soon as the 201 names them, before the projector has recorded the order; with
``--projected`` the rows are made first), starts daphne as ``Procfile``'s ``web:`` line
runs it, then opens one socket per order — at most 20 connecting at once, as
``bench/sockets.py`` does — waits for each snapshot and keeps the sockets open until all
are; then closes them. Prints the CPU per socket of daphne, PostgreSQL and Redis, and the
SQL statements and Redis commands per socket. ``--py-spy OUT`` records daphne through the
opening (raw, ``--gil``) into OUT.
"""

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sockets", type=int, nargs="?", default=200)
    parser.add_argument("--projected", action="store_true", help="record the orders first")
    parser.add_argument("--rounds", type=int, default=1, help="new orders and sockets each")
    parser.add_argument("--statements", action="store_true", help="list the SQL run")
    parser.add_argument("--py-spy", dest="py_spy", help="record daphne into this file")
    args = parser.parse_args()

    from bench import environment

    env = environment.apply()
    try:
        environment.recreate_database()
        import django

        django.setup()
        _run(env, environment.engines(), args)
    finally:
        environment.stop()


def _run(env, engines, args) -> None:
    import psycopg
    import redis
    from django.core.management import call_command

    from bench import cpu, live
    from devtools.processes import ManagedProcess
    from tracking import services as tracking_services

    call_command("migrate", verbosity=0)
    shop, skus = live.shop_with_catalog("Socket opening shop")
    port = live.free_port()
    web_env = {**live.process_env(), "TRACKING_SOCKETS_PER_CLIENT": str(args.sockets + 50)}
    # Procfile's web: line (daphne through orderflow.asgi_server)
    web = ManagedProcess(
        "web",
        [sys.executable, "-m", "orderflow.asgi_server", "-b", "127.0.0.1", "-p", str(port),
         "orderflow.asgi:application"],
        {**web_env, "LOG_LEVEL": "INFO"},  # the "listening" line is logged at INFO
        ready_marker="Listening on TCP address",
    )  # fmt: skip
    pids = engines.pids()
    counter = redis.Redis.from_url(engines.redis_url)
    database = psycopg.connect(engines.database_url, autocommit=True)
    database.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    print(f"{'sockets':>7} | CPU ms per socket: {'daphne':>7} {'postgres':>8} {'redis':>6}"
          f" | SQL statements, Redis commands per socket")  # fmt: skip
    web.start()
    try:
        for _ in range(args.rounds):
            orders = [live.place(shop, skus) for _ in range(args.sockets)]
            if args.projected:
                for order in orders:
                    tracking_services.tracked_order_ensure(order_id=order.pk)
            meter = cpu.Meter(
                {"daphne": [web.process.pid], "postgres": [pids["postgres"]],
                 "redis": [pids["redis"]]}
            )  # fmt: skip
            counter.config_resetstat()
            if args.statements:
                database.execute("SELECT pg_stat_statements_reset()")
            statements = _statements(database)
            spy = _spy(web.process.pid, args.py_spy)
            meter.start()
            opened = asyncio.run(_open(port, [order.tracking_token for order in orders]))
            spent = meter.stop()
            if spy is not None:
                spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
                spy.wait()
            commands = sum(s["calls"] for s in counter.info("commandstats").values())
            sql = _statements(database) - statements - 1
            n = max(opened, 1)
            print(
                f"{opened:>7} | {'':>19}{spent['daphne'] / n * 1000:>7.2f} "
                f"{spent['postgres'] / n * 1000:>8.2f} {spent['redis'] / n * 1000:>6.2f}"
                f" | {sql / n:.1f}, {commands / n:.1f}",
                flush=True,
            )
            if args.statements:
                for calls, query in database.execute(
                    "SELECT calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 150) "
                    "FROM pg_stat_statements ORDER BY calls DESC LIMIT 25"
                ):
                    print(f"{calls:>7} {query}")
    finally:
        web.stop()


async def _open(port: int, tokens: list[str]) -> int:
    from websockets.asyncio.client import connect

    gate = asyncio.Semaphore(20)
    sockets = []

    async def one(token):
        async with gate:
            socket = await connect(
                f"ws://127.0.0.1:{port}/ws/track/{token}/",
                origin=f"http://127.0.0.1:{port}",
                proxy=None,
                open_timeout=30,
            )
            await asyncio.wait_for(socket.recv(), 30)
            sockets.append(socket)

    await asyncio.gather(*(one(token) for token in tokens))
    for socket in sockets:
        await socket.close()
    return len(sockets)


def _statements(database) -> int:
    """Statements run so far in every database (``pg_stat_statements``, this reading included)."""
    found = database.execute("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements")
    return int(found.fetchone()[0])


def _spy(pid: int, out: str | None):
    if out is None:
        return None
    spy_bin = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    process = subprocess.Popen(
        [spy_bin, "record", "--pid", str(pid), "--format", "raw", "--gil", "-r", "200",
         "-o", out, "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    time.sleep(1.0)  # py-spy attaches
    return process


if __name__ == "__main__":
    sys.exit(main())
