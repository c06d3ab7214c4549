"""Run the benchmark: ``make bench`` (or ``python -m bench --quick`` for a short run).

Every phase runs against a private PostgreSQL and Redis started for this run
(``bench/environment.py``): their CPU and statement counts are the bench's alone.
"""

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

from . import environment

RESULTS = Path(__file__).resolve().parent / "results"
#: the intake's steps from this share of the pgbench limit on each get a pgbench turn before
#: them (the steps near the knee: the limit beside them is what the intake is read against)
PAIRED_FROM = 0.25
FULL_RATES = [10, 25, 50, 75, 100, 125, 150, 175, 200, 250, 300]
QUICK_RATES = [10, 25, 50, 75, 100, 125, 150]


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short steps, for a smoke run")
    parser.add_argument(
        "--only",
        choices=["intake", "pipeline"],
        help="run only the intake phases (limit, intake, naive) or only the end-to-end phase",
    )
    parser.add_argument(
        "--procfile",
        default=str(Path(__file__).resolve().parent.parent / "Procfile"),
        help="the Procfile whose lines the end-to-end phase runs (default: the repository's)",
    )
    parser.add_argument(
        "--measure-at",
        type=int,
        metavar="RATE",
        help="measure the end-to-end window at this many orders/s, whatever the search found "
        "(per-order costs depend on the rate, since batches grow with it: give two runs the "
        "same rate to compare them)",
    )
    args = parser.parse_args()

    env = environment.apply()
    try:
        _run(args, env)
    finally:
        environment.stop()


def _run(args, env: dict[str, str]) -> None:
    environment.recreate_database()
    # Django reads its settings from the environment set just above, so the project's
    # modules are imported only after setup.
    import django

    django.setup()
    from django.core.management import call_command
    from rich.console import Console
    from rich.table import Table

    from . import pipeline

    console = Console()
    if not console.is_terminal:
        console = Console(width=160)  # a log file: keep each row on one line
    call_command("migrate", verbosity=0)
    engines = environment.engines()
    report: dict = {
        "machine": {
            "cores": os.cpu_count(),
            "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
            "python": platform.python_version(),
            # which build: one compiled without PGO and LTO costs 20-30 % more (Makefile)
            "python_executable": os.path.realpath(sys.executable),
            # the machine is shared: how busy it was (1, 5, 15 min) at the start and the end
            "load_average_at_start": [round(load, 2) for load in os.getloadavg()],
        },
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "quick": args.quick,
        "postgres": {
            "private": engines is not None,
            "settings": engines.postgres.settings() if engines else None,
            "copied_from_machine": engines.machine if engines else None,
        },
    }
    table = Table(title=f"OrderFlow bench — {report['machine']['cores']} cores")
    table.add_column("measure")
    table.add_column("value", justify="right")

    table.add_row(
        "Python (the stack's interpreter: .venv's)",
        f"{report['machine']['python']}, {report['machine']['python_executable']}",
    )
    if engines is not None:
        pg = report["postgres"]["settings"]
        table.add_row(
            "private PostgreSQL (tuned like the machine's) and Redis",
            ", ".join(
                f"{name} {pg.get(name)}"
                for name in ("shared_buffers", "fsync", "synchronous_commit", "autovacuum")
            )
            + ", pg_stat_statements",
        )
    if args.only in (None, "intake"):
        try:
            _intake(args, env, report, table, console)
        except Exception as error:  # reported; the end-to-end phase still runs
            report["intake_error"] = f"{type(error).__name__}: {error}"
            table.add_row("intake phases: FAILED", report["intake_error"][:200])
    if args.only in (None, "pipeline"):
        if engines is None:
            raise SystemExit(
                "the end-to-end phase needs the private engines (no BENCH_DATABASE_URL)"
            )
        log_dir = RESULTS / "logs"
        shutil.rmtree(log_dir, ignore_errors=True)
        intake_peak = (report.get("intake") or {}).get("max_sustained_rate")
        with console.status("End to end: the Procfile stack, rising rates, measure, burst…"):
            e2e = _end_to_end(
                env,
                engines,
                rates=QUICK_RATES if args.quick else FULL_RATES,
                step_seconds=6 if args.quick else 15,
                final_seconds=20 if args.quick else 60,
                burst_seconds=10 if args.quick else 60,
                burst_rate=intake_peak or None,
                drain_timeout=30 if args.quick else 300,
                log_dir=log_dir,
                procfile_path=Path(args.procfile),
                measure_rate=args.measure_at,
            )
        report["end_to_end"] = e2e
        if "error" in e2e:
            table.add_row("end to end: FAILED (see below and bench/results/logs/)", "—")
        else:
            pipeline.add_rows(table, e2e)
            beside = intake_beside_pipeline(report)
            if beside is not None:
                report["intake"]["while_pipeline_runs"] = beside
                table.add_row(
                    "intake alone → while the pipeline runs (the burst, asked at the "
                    "intake's peak): orders/s taken, errors",
                    f"{beside['alone']} → {beside['achieved_rate']}, {beside['errors']}",
                )
    report["machine"]["load_average_at_end"] = [round(load, 2) for load in os.getloadavg()]
    table.add_row(
        "load average (1, 5, 15 min) at start → end",
        f"{report['machine']['load_average_at_start']} → "
        f"{report['machine']['load_average_at_end']}",
    )
    console.print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=2, default=str))
    console.print(f"Results written to {RESULTS / 'latest.json'}")
    if "error" in report.get("end_to_end", {}):
        console.print("[bold red]end to end failed:[/]", report["end_to_end"]["error"], markup=True)
        raise SystemExit(1)


def intake_beside_pipeline(report: dict) -> dict | None:
    """The intake's rate alone and while the pipeline runs (the burst: orders posted at
    the intake's peak to the running stack), side by side; None without both phases."""
    intake = report.get("intake") or {}
    burst = (report.get("end_to_end") or {}).get("burst") or {}
    if not intake.get("max_sustained_rate") or burst.get("achieved_rate") is None:
        return None
    return {
        "alone": intake["max_sustained_rate"],
        "achieved_rate": burst["achieved_rate"],
        "rate_asked": burst.get("rate_asked"),
        "errors": burst.get("errors"),
    }


def _end_to_end(*args, **kwargs) -> dict:
    """The end-to-end phase; a failure is reported (with the stack's logs), not lost."""
    from . import pipeline

    try:
        return pipeline.end_to_end(*args, **kwargs)
    except Exception as error:
        return {"error": f"{type(error).__name__}: {error}"}


def _intake(args, env, report: dict, table, console) -> None:
    """H8's phases: the limit (pgbench), then the HTTP intake and the naive baseline."""
    from . import intake, limit

    step_seconds = 4 if args.quick else 10
    with limit.Pgbench(env) as pgbench:
        with console.status("The limit: the intake transaction through pgbench…"):
            intake_limit = limit.pgbench_limit(pgbench, seconds=3 if args.quick else 8)

        def limit_turn(rate: int) -> float | None:
            """A pgbench turn before each intake step near the knee, at the best client count."""
            if rate < PAIRED_FROM * intake_limit["best_tps"]:
                return None
            return pgbench.run(clients=intake_limit["best_clients"], seconds=step_seconds)["tps"]

        with console.status("Intake over HTTP (pgbench turns between its steps), then the naive"
                            " baseline, at rising rates…"):  # fmt: skip
            web = intake.web_capacity(env, step_seconds=step_seconds, limit_turn=limit_turn)
    held = web["intake"]["max_sustained_rate"]
    beside = limit.beside(web["intake"]["steps"])
    intake_limit["beside_intake"] = beside
    report["limit"] = intake_limit
    report["intake"] = {
        **web["intake"],
        "server": web["server"],
        # the limit measured in the same minutes as the intake's steps near its knee
        "ratio_vs_limit": round(held / beside["median_tps"], 3) if beside else None,
        "ratio_vs_limit_search": round(held / intake_limit["best_tps"], 3),
    }
    report["naive"] = web["naive"]
    report["intake_before"] = web.get("before")
    report["intake_servers"] = web.get("servers")
    report["rss_mb"] = {"gunicorn_after_intake": web["rss_mb"]}
    table.add_row(
        "limit: the intake transaction through pgbench, orders/s (clients)",
        f"{intake_limit['best_tps']} ({intake_limit['best_clients']})",
    )
    if beside:
        table.add_row(
            "limit beside the intake's steps: median of N pgbench turns (lowest, highest)",
            f"{beside['median_tps']} of {beside['turns']} "
            f"({beside['min_tps']}, {beside['max_tps']})",
        )
    table.add_row(
        "intake over HTTP: max orders/s with P99 ≤ 200 ms, errors ≤ 0.1 %",
        f"{report['intake']['max_sustained_rate']}",
    )
    table.add_row(
        "intake at that rate: P50 / P95 / P99, error rate",
        f"{report['intake']['p50_ms']} / {report['intake']['p95_ms']} / "
        f"{report['intake']['p99_ms']} ms, {report['intake']['error_rate']}",
    )
    table.add_row(
        "intake ÷ limit: beside its steps; the search's best",
        f"{report['intake']['ratio_vs_limit'] or '— (no turn: held under a quarter of it)'}; "
        f"{report['intake']['ratio_vs_limit_search']}",
    )
    table.add_row(
        "naive DRF create (no idempotency, no outbox): max orders/s",
        f"{report['naive']['max_sustained_rate']}",
    )
    table.add_row(
        "web CPU per order at the first step: intake / naive",
        f"{report['intake']['web_cpu_ms_per_order']} / "
        f"{report['naive']['web_cpu_ms_per_order']} ms",
    )
    intake = report["intake"]
    table.add_row(
        "intake: SQL statements / commits per order; replays/s (same key and body)",
        f"{intake.get('statements_per_order')} / {intake.get('commits_per_order')}; "
        f"{intake.get('replays_per_second')}",
    )
    for name, figures in (report.get("intake_servers") or {}).items():
        table.add_row(
            f"intake on {name}: max orders/s, P99, web CPU per order",
            f"{figures['max_sustained_rate']}, {figures['p99_ms']} ms, "
            f"{figures['web_cpu_ms_per_order']} ms",
        )
    before = report.get("intake_before")
    if before:
        table.add_row(
            "intake before (every order through the DRF view): max orders/s, P99, web CPU",
            f"{before['max_sustained_rate']}, {before['p99_ms']} ms, "
            f"{before['web_cpu_ms_per_order']} ms",
        )


if __name__ == "__main__":
    main()
