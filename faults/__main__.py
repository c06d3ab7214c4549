"""Run the fault suite: ``make faults`` (``FAULTS_ARGS="--only redis-pause --quick"``).

Starts a private PostgreSQL and Redis in a temporary directory, seeds a template database,
then runs each scenario against a fresh copy of it with its own web, worker and beat, and
prints one row per scenario. Exit status 1 if a scenario fails or a control goes unseen.
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .infra import PrivatePostgres, PrivateRedis, free_port
from .receiver import Receiver
from .scenarios import LOGS, SAFE_SETTINGS, SCENARIOS, Report, Run, run_scenario
from .stack import base_env

RATE = 5.0  # orders per second: the whole stack shares two cores with the faults


def main() -> int:
    parser = argparse.ArgumentParser(prog="make faults", description=__doc__)
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="SCENARIO",
        choices=[s.name for s in SCENARIOS],
        help="run only these scenarios",
    )
    parser.add_argument("--quick", action="store_true", help="shorter faults and loads")
    parser.add_argument("--json", metavar="PATH", help="also write the reports as JSON")
    args = parser.parse_args()  # fmt: skip
    scenarios = [s for s in SCENARIOS if not args.only or s.name in args.only]

    # Ctrl-C and SIGTERM both unwind through the ``finally`` below, which cleans up
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    console = Console(width=None if sys.stdout.isatty() else 200)
    root = Path(tempfile.mkdtemp(prefix="orderflow-faults-"))
    root.chmod(0o755)  # the cluster's owner, postgres, must reach its directory
    pg, redis = PrivatePostgres(root), PrivateRedis(root)
    receiver = Receiver(free_port())
    reports: list[Report] = []
    started = time.monotonic()
    try:
        with console.status("Starting a private PostgreSQL and Redis…"):
            pg.init().start()
            redis.start()
            receiver.start()
            seed = _template(pg, redis, receiver, root)
        console.log(f"private PostgreSQL :{pg.port}, Redis :{redis.port}, in {root}")
        console.log(f"the processes' output goes to {LOGS}")
        run = Run(pg=pg, redis=redis, receiver=receiver, root=root, seed=seed,
                  rate=RATE, scale=0.5 if args.quick else 1.0)  # fmt: skip
        for scenario in scenarios:
            with console.status(f"{scenario.name}: {scenario.proves}…") as status:
                try:
                    report = run_scenario(run, scenario, lambda text: status.update(text))
                except Exception as error:  # one scenario's crash is its FAIL, not the run's
                    report = Report(scenario.name, scenario.control, notes=[f"crashed: {error}"])
            reports.append(report)
            console.log(_line(report))
    except KeyboardInterrupt:
        console.log("interrupted: cleaning up")
        return 130
    finally:
        receiver.stop()
        with contextlib.suppress(Exception):
            redis.kill()
        pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)

    console.print(_table(reports, minutes=(time.monotonic() - started) / 60))
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in reports], indent=2, default=str))
    ok = all(r.caught if r.control else r.passed for r in reports)
    console.print("[bold green]PASS[/]" if ok else "[bold red]FAIL[/]")
    return 0 if ok else 1


def _template(pg: PrivatePostgres, redis: PrivateRedis, receiver: Receiver, root: Path) -> dict:
    """Create, migrate and seed ``faults_template``; every scenario starts from a copy."""
    with pg.connect() as conn:
        conn.execute("CREATE DATABASE faults_template")
    env = base_env(
        settings=SAFE_SETTINGS,
        database_url=pg.url("faults_template"),
        redis_url=redis.url,
        root=root,
    )
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], env=env, check=True
    )
    seeded = subprocess.run(  # noqa: S603  (our own interpreter and module)
        [sys.executable, "-m", "faults.seed", receiver.url],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(seeded.stdout.strip().splitlines()[-1])


def _verdict(report: Report) -> str:
    if report.control:
        return "[green]caught[/]" if report.caught else "[red]MISSED[/]"
    return "[green]PASS[/]" if report.passed else "[red]FAIL[/]"


def _line(report: Report) -> str:
    return (
        f"{report.name}: {_verdict(report)} accepted={report.accepted} "
        f"final={report.final}/{report.orders} duplicates={report.duplicates} "
        f"dead={report.dead_letters} recover={report.recover_seconds} s "
        f"responses={report.responses} {'; '.join(report.notes)}"
        + (f" failed: {', '.join(report.failed_invariants)}" if report.failed_invariants else "")
    )


def _table(reports: list[Report], *, minutes: float) -> Table:
    table = Table(title=f"OrderFlow faults — {len(reports)} scenarios in {minutes:.1f} min")
    for column, justify in [
        ("scenario", "left"),
        ("verdict", "left"),
        ("accepted", "right"),
        ("final / orders", "right"),
        ("duplicates", "right"),
        ("lost", "right"),
        ("dead letters", "right"),
        ("recover s", "right"),
        ("invariants failed / notes", "left"),
    ]:
        table.add_column(column, justify=justify)  # fmt: skip
    for r in reports:
        table.add_row(
            r.name,
            _verdict(r),
            str(r.accepted),
            f"{r.final} / {r.orders}",
            str(r.duplicates),
            str(r.lost),
            str(r.dead_letters),
            "—" if r.recover_seconds is None else f"{r.recover_seconds:.1f}",
            "\n".join([*r.failed_invariants, *r.notes]),
        )
    return table


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
