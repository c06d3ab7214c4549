"""The limit: the intake transaction's SQL run by pgbench, with no Python in the way.

``bench/limit.sql`` holds the statements POST /api/v1/orders runs for one order (see its
header). pgbench runs it prepared, at rising client counts, each for a fixed time; the
best rate is what PostgreSQL on this machine can take, the ceiling the HTTP intake is
read against.
"""

import os
import re
import subprocess
from pathlib import Path
from urllib.parse import urlparse

from orders import services
from orders.models import Product, Shop

from . import live
from .intake import forget_orders

SCRIPT = Path(__file__).resolve().parent / "limit.sql"
CLIENT_COUNTS = (1, 2, 4, 8, 16, 32)


def pgbench_limit(env: dict[str, str], *, seconds: float) -> dict:
    """Run the intake script at 1, 2, 4 … clients for ``seconds`` each; report every step."""
    shop, _ = live.shop_with_catalog("Bench pgbench shop")
    _, raw_key = services.api_key_create(shop=shop, name="pgbench")
    try:
        steps = [
            _pgbench(env["DATABASE_URL"], shop, raw_key, clients=clients, seconds=seconds)
            for clients in CLIENT_COUNTS
        ]
    finally:
        # the orders pgbench wrote must not reach the later phases' workers as a backlog
        forget_orders(shop)
    best = max(steps, key=lambda step: step["tps"])
    return {
        "best_tps": best["tps"],
        "best_clients": best["clients"],
        "steps": steps,
        "script": SCRIPT.name,
        "shop_id": shop.pk,
    }


def _pgbench(database_url: str, shop: Shop, raw_key: str, *, clients: int, seconds: float) -> dict:
    url = urlparse(database_url)
    product_id0 = Product.objects.get(shop=shop, sku="BENCH-0").pk
    argv = [
        "pgbench", "--no-vacuum", "--protocol=prepared", f"--file={SCRIPT}",
        f"--client={clients}", f"--jobs={min(clients, 2)}", f"--time={max(1, round(seconds))}",
        f"--define=shop_id={shop.pk}", f"--define=key_prefix={raw_key.partition('.')[0]}",
        f"--define=product_id0={product_id0}",
        "-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432),
        "-U", url.username or "postgres", url.path.lstrip("/"),
    ]  # fmt: skip
    env = {"PGPASSWORD": url.password} if url.password else {}
    done = subprocess.run(
        argv, capture_output=True, text=True, check=False, env={**_base_env(), **env}
    )
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return {
        "clients": clients,
        "tps": round(float(_field(done.stdout, r"tps = ([\d.]+)")), 1),
        "latency_ms": float(_field(done.stdout, r"latency average = ([\d.]+) ms")),
        "transactions": int(_field(done.stdout, r"actually processed: (\d+)")),
        "failed": int(_field(done.stdout, r"number of failed transactions: (\d+)", default="0")),
    }


def _field(output: str, pattern: str, default: str | None = None) -> str:
    found = re.search(pattern, output)
    if found is None:
        if default is not None:
            return default
        raise RuntimeError(f"pgbench printed no {pattern!r}:\n{output[-2000:]}")
    return found.group(1)


def _base_env() -> dict[str, str]:
    """The environment without PG* variables, so that only the arguments name the server."""
    return {name: value for name, value in os.environ.items() if not name.startswith("PG")}
