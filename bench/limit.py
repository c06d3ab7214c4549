"""The limit: the intake transaction's SQL run by pgbench, with no Python in the way.

``bench/limit.sql`` holds the statements POST /api/v1/orders runs for one order (see its
header). pgbench runs it prepared, at rising client counts, each for a fixed time; the
best rate is what PostgreSQL on this machine can take. The same script then runs at that
client count in turns between the HTTP intake's steps near its knee (``beside``): the
ceiling the intake is read against, measured in the same minutes as the intake.
"""

import os
import re
import statistics
import subprocess
from pathlib import Path
from urllib.parse import urlparse

from orders import services
from orders.models import Product, Shop

from . import live
from .intake import forget_orders

SCRIPT = Path(__file__).resolve().parent / "limit.sql"
CLIENT_COUNTS = (1, 2, 4, 8, 16, 32)


class Pgbench:
    """pgbench running the intake script for a shop of its own; its orders forgotten at exit."""

    def __init__(self, env: dict[str, str]):
        self.database_url = env["DATABASE_URL"]
        self.shop, _ = live.shop_with_catalog("Bench pgbench shop")
        _, self.raw_key = services.api_key_create(shop=self.shop, name="pgbench")

    def __enter__(self) -> "Pgbench":
        return self

    def __exit__(self, *exc) -> bool:
        # the orders pgbench wrote must not reach the later phases' workers as a backlog
        forget_orders(self.shop)
        return False

    def run(self, *, clients: int, seconds: float) -> dict:
        return _pgbench(
            self.database_url, self.shop, self.raw_key, clients=clients, seconds=seconds
        )


def pgbench_limit(pgbench: Pgbench, *, seconds: float) -> dict:
    """Run the intake script at 1, 2, 4 … clients for ``seconds`` each; report every step."""
    steps = [pgbench.run(clients=clients, seconds=seconds) for clients in CLIENT_COUNTS]
    best = max(steps, key=lambda step: step["tps"])
    return {
        "best_tps": best["tps"],
        "best_clients": best["clients"],
        "steps": steps,
        "script": SCRIPT.name,
        "shop_id": pgbench.shop.pk,
    }


def beside(steps: list[dict]) -> dict | None:
    """The limit measured between the intake's steps: the median of the pgbench turns a ramp
    ran before its steps (``limit_tps``), with their spread; None if it ran none.

    The search above runs minutes before the intake and reports its best client count's
    rate, the highest of six noisy readings; the turns run at that client count in the same
    minutes as the intake's steps near its knee, so a neighbour's load weighs on both.
    """
    turns = [step["limit_tps"] for step in steps if step.get("limit_tps") is not None]
    if not turns:
        return None
    return {"median_tps": round(statistics.median(turns), 1), "turns": len(turns),
            "min_tps": min(turns), "max_tps": max(turns)}  # fmt: skip


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
