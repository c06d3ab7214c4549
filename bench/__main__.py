"""Run the benchmark: ``make bench`` (or ``python -m bench --quick`` for a short run)."""

import argparse
import json
import os
import platform
import time
from pathlib import Path

from . import environment

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts, for a smoke run")
    parser.add_argument(
        "--workers",
        type=int,
        default=4,
        help="Celery worker processes end to end (default 4: twice the cores, as handlers "
        "wait on PostgreSQL and Redis round trips)",
    )
    args = parser.parse_args()

    env = environment.apply()
    environment.recreate_database()

    # Django reads its settings from the environment set just above, so the project's
    # modules are imported only after setup.
    import django

    django.setup()
    from django.core.management import call_command
    from rich.console import Console
    from rich.table import Table

    from . import deliveries, intake, limit, pipeline, rss

    console = Console()
    if not console.is_terminal:
        console = Console(width=140)  # a log file: keep each row on one line
    call_command("migrate", verbosity=0)
    scale = 0.2 if args.quick else 1.0
    # Intake first, on a quiet database: the limit (pgbench), then HTTP (wrk on gunicorn).
    with console.status("The limit: the intake transaction through pgbench…"):
        intake_limit = limit.pgbench_limit(env, seconds=3 if args.quick else 8)
    with console.status("Intake over HTTP, then the naive baseline, at rising rates…"):
        web = intake.web_capacity(env, step_seconds=4 if args.quick else 10)
    with console.status("Peak RSS of daphne, a Celery worker and beat after boot…"):
        rss_after_boot = rss.after_boot(env)
    report: dict = {
        "machine": {
            "cores": os.cpu_count(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "python": platform.python_version(),
            # the machine is shared: how busy it was (1, 5, 15 min) after the intake phases
            "load_average": [round(load, 2) for load in os.getloadavg()],
        },
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }

    report["limit"] = intake_limit
    report["intake"] = {
        **web["intake"],
        "server": web["server"],
        "ratio_vs_limit": round(web["intake"]["max_sustained_rate"] / intake_limit["best_tps"], 3),
    }
    report["naive"] = web["naive"]
    report["rss_mb"] = {"gunicorn_after_intake": web["rss_mb"], **rss_after_boot}
    with console.status("Celery baseline: one no-op task per delivery…"):
        baseline = deliveries.celery_task_baseline(env, count=int(5000 * scale))
    with console.status("Delivery throughput: a committed backlog of no-op deliveries…"):
        throughput = deliveries.delivery_throughput(env, count=int(20000 * scale))
    with console.status("Delivery latency at a steady rate…"):
        latency = deliveries.delivery_latency(env, rate=200, seconds=15 * scale)
    with console.status("End to end: rising rates, then the highest flat one measured…"):
        e2e = pipeline.end_to_end(
            env,
            rates=[5, *range(10, 201, 10)],
            step_seconds=8 if args.quick else 20,
            final_seconds=20 if args.quick else 60,
            burst_seconds=5 if args.quick else 15,
            workers=args.workers,
        )
    report["end_to_end"] = e2e
    report["deliveries"] = {
        "celery_baseline": baseline,
        "throughput": throughput,
        "ratio_vs_one_task_per_delivery": round(
            throughput["per_second"] / baseline["per_second"], 2
        ),
        "latency": latency,
    }

    table = Table(title=f"OrderFlow bench — {report['machine']['cores']} cores")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row(
        "limit: the intake transaction through pgbench, orders/s (clients)",
        f"{intake_limit['best_tps']} ({intake_limit['best_clients']})",
    )
    table.add_row(
        "intake over HTTP (gunicorn): max orders/s with P99 ≤ 200 ms, errors ≤ 0.1 %",
        f"{report['intake']['max_sustained_rate']}",
    )
    table.add_row(
        "intake at that rate: P50 / P95 / P99, error rate",
        f"{report['intake']['p50_ms']} / {report['intake']['p95_ms']} / "
        f"{report['intake']['p99_ms']} ms, {report['intake']['error_rate']}",
    )
    table.add_row("intake ÷ limit", f"{report['intake']['ratio_vs_limit']}")
    table.add_row(
        "naive DRF create (no idempotency, no outbox): max orders/s",
        f"{report['naive']['max_sustained_rate']}",
    )
    table.add_row(
        "web CPU per order at the first step: intake / naive",
        f"{report['intake']['web_cpu_ms_per_order']} / "
        f"{report['naive']['web_cpu_ms_per_order']} ms",
    )
    rss_mb = report["rss_mb"]
    table.add_row(
        "peak RSS MiB: gunicorn master / worker, daphne, Celery worker parent / child, beat",
        f"{rss_mb['gunicorn_after_intake']['parent']} / "
        f"{rss_mb['gunicorn_after_intake']['max_child']}, {rss_mb['daphne']['parent']}, "
        f"{rss_mb['celery_worker']['parent']} / {rss_mb['celery_worker']['max_child']}, "
        f"{rss_mb['celery_beat']['parent']}",
    )
    table.add_row("Celery baseline: no-op tasks/s (2 processes)", str(baseline["per_second"]))
    table.add_row("no-op deliveries/s (2 processes)", str(throughput["per_second"]))
    table.add_row(
        "deliveries ÷ one-task-per-delivery",
        f"{report['deliveries']['ratio_vs_one_task_per_delivery']}x",
    )
    table.add_row(
        f"commit → handled at {latency['achieved_rate']}/s: P50 / P99",
        f"{latency['p50_ms']} / {latency['p99_ms']} ms",
    )
    pipeline.add_rows(table, e2e)
    console.print(table)

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2))
    console.print(f"Results written to {RESULTS / 'latest.json'}")


if __name__ == "__main__":
    main()
