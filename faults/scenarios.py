"""The scripted faults. Each runs against a fresh database (a copy of the seeded template)
and a fresh web + the Procfile's workers + beat, under the steady load, then settles and
is checked.

The backlog the probes read is every kind of work the design keeps in PostgreSQL: outbox
rows not yet relayed, saga deliveries open, each projector's lag (feed events of its types
past its checkpoint), and webhooks and e-mails queued. Dead letters are dead deliveries
and events a projector parked.
"""

import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import requests

# the choices module alone: this process runs without Django set up
from orders.choices import OrderStatus as S

from .infra import PrivatePostgres, PrivateRedis, read_pid
from .load import Load
from .receiver import Receiver
from .stack import Stack, base_env

#: the order statuses a saga ends in (the orders context's one vocabulary; plain values for SQL)
FINAL = tuple(status.value for status in (S.CONFIRMED, S.REJECTED, S.CANCELLED))
SAFE_SETTINGS = "faults.settings"
#: work due for longer than this after the run has settled is stuck
STUCK_AFTER = 15
#: without beat, an order open longer than this did not keep flowing
OPEN_TOO_LONG = 20
#: after the load stops, the work left must be done within this many seconds, or at least
#: shrink in every further SETTLE_PROGRESS-second window (a loaded box is slow; a stuck
#: one makes no progress), for at most SETTLE_MAX seconds
SETTLE_SECONDS = 180
SETTLE_PROGRESS = 30
SETTLE_MAX = 600
#: seconds the web may take to answer /readyz after its start (imports on a loaded box)
READY_SECONDS = 120
#: each scenario's web, worker and beat output, kept after the run for a post-mortem
LOGS = Path(tempfile.gettempdir()) / "orderflow-faults-logs"


@dataclass
class Run:
    """What every scenario shares: the private engines, the seeded template, the receiver."""

    pg: PrivatePostgres
    redis: PrivateRedis
    receiver: Receiver
    root: object
    seed: dict
    rate: float
    scale: float
    counter: int = 0


@dataclass
class Ctx:
    """One scenario's running stack and load, and what its fault reports."""

    run: Run
    database: str
    stack: Stack
    load: Load
    healed_at: float = 0.0  # time.time() when the fault ended
    notes: list[str] = field(default_factory=list)
    checks: list[dict] = field(default_factory=list)  # check_invariants documents
    requirements: dict[str, bool] = field(default_factory=dict)

    def seconds(self, full: float) -> float:
        return max(5.0, full * self.run.scale)


@dataclass(frozen=True)
class Scenario:
    name: str
    proves: str
    fault: Callable[[Ctx], None]
    settings: str = SAFE_SETTINGS
    control: bool = False


@dataclass
class Report:
    name: str
    control: bool
    passed: bool = False
    caught: bool = False
    accepted: int = 0
    orders: int = 0
    final: int = 0
    duplicates: int = 0
    lost: int = 0
    unanswered: int = 0
    dead_letters: int = 0
    recover_seconds: float | None = None
    failed_invariants: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    responses: dict = field(default_factory=dict)


# --- database reads, tolerant of the outages this suite causes ---
def query(run: Run, database: str, sql: str, params=()) -> list[tuple] | None:
    try:
        with run.pg.connect(database) as conn:
            return conn.execute(sql, params).fetchall()
    except psycopg.Error:
        return None


def scalar(run: Run, database: str, sql: str, params=()):
    rows = query(run, database, sql, params)
    return rows[0][0] if rows else None


def wait_for(condition: Callable[[], bool], *, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return False


def open_orders_before(ctx: Ctx, moment: float) -> int | None:
    return scalar(
        ctx.run,
        ctx.database,
        "SELECT count(*) FROM orders_order WHERE created_at <= to_timestamp(%s) "
        "AND status <> ALL(%s)",
        [moment, list(FINAL)],
    )


def caught_up(ctx: Ctx, moment: float) -> bool:
    """Every order placed by ``moment`` is final, every event committed by then is
    projected, and every webhook and e-mail it made was sent."""
    queued = scalar(
        ctx.run,
        ctx.database,
        "SELECT (SELECT count(*) FROM notifications_webhookdelivery"
        "        WHERE created_at <= to_timestamp(%(t)s) AND status IN ('queued', 'sending'))"
        "     + (SELECT count(*) FROM notifications_notification"
        "        WHERE created_at <= to_timestamp(%(t)s) AND status IN ('queued', 'sending'))",
        {"t": moment},
    )
    return (
        queued == 0
        and open_orders_before(ctx, moment) == 0
        and projector_lag(ctx, before=moment) == 0
    )


def projector_lag(ctx: Ctx, *, before: float | None = None) -> int | None:
    """Feed events each projector reads and has not passed, summed over the projectors.

    An event not relayed yet (no position) counts as behind. ``before``: only events
    committed by then. None when the database cannot be read.
    """
    total = 0
    for p in ctx.run.seed.get("projectors", []):
        lag = scalar(
            ctx.run,
            ctx.database,
            "SELECT count(*) FROM orderflow_outboxevent o WHERE o.type = ANY(%(types)s)"
            " AND (o.position IS NULL OR o.position > coalesce("
            "      (SELECT position FROM orderflow_projectorcheckpoint WHERE name = %(name)s), 0))"
            " AND (%(before)s::float8 IS NULL OR o.created_at <= to_timestamp(%(before)s))",
            {"types": p["event_types"], "name": p["name"], "before": before},
        )
        if lag is None:
            return None
        total += lag
    return total


def parked_events(ctx: Ctx) -> int:
    """Events a projector parked (its dead letters) and nobody replayed."""
    if not ctx.run.seed.get("projectors"):
        return 0
    return (
        scalar(
            ctx.run,
            ctx.database,
            "SELECT count(*) FROM orderflow_parkedevent WHERE replayed_at IS NULL",
        )
        or 0
    )


def backlog(ctx: Ctx) -> dict[str, int | None]:
    """Every kind of work waiting, by kind (None: the database could not be read)."""
    rows = query(
        ctx.run,
        ctx.database,
        "SELECT (SELECT count(*) FROM orderflow_outboxevent WHERE published_at IS NULL),"
        " (SELECT count(*) FROM orderflow_delivery WHERE status IN ('pending', 'running')),"
        " (SELECT count(*) FROM notifications_webhookdelivery"
        "  WHERE status IN ('queued', 'sending')),"
        " (SELECT count(*) FROM notifications_notification"
        "  WHERE status IN ('queued', 'sending'))",
    )
    unrelayed, deliveries, webhooks, emails = rows[0] if rows else (None,) * 4
    return {
        "unrelayed": unrelayed,
        "deliveries": deliveries,
        "projector lag": projector_lag(ctx),
        "webhooks": webhooks,
        "e-mails": emails,
    }


def running_deliveries(ctx: Ctx) -> int:
    return (
        scalar(
            ctx.run,
            ctx.database,
            "SELECT count(*) FROM orderflow_delivery WHERE status = 'running' "
            "AND lease_until > now()",
        )
        or 0
    )


def check_invariants(ctx: Ctx, *args: str) -> dict:
    """Run ``manage.py check_invariants --json`` in a process of its own; keep its document."""
    env = base_env(
        settings=SAFE_SETTINGS,
        database_url=ctx.run.pg.url(ctx.database),
        redis_url=ctx.run.redis.url,
        root=ctx.run.root,
    )
    done = subprocess.run(  # noqa: S603  (our own interpreter and manage.py)
        [sys.executable, "manage.py", "check_invariants", "--json", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    try:
        document = json.loads(done.stdout)
    except json.JSONDecodeError:
        document = {"passed": False, "invariants": [], "error": done.stderr[-2000:]}
    document["exit_code"] = done.returncode
    ctx.checks.append(document)
    return document


# --- the faults ---
def worker_child_kill(ctx: Ctx) -> None:
    """SIGKILL a pool process three times: the saga lane's while it has a delivery
    claimed, and (if another process runs them) the projectors' and senders' worker's."""
    lane = ctx.stack.worker_for("saga" if _has_queue(ctx, "saga") else "celery")
    others = [name for name in ctx.stack.workers if name != lane]
    for n in range(3):
        name = lane if n % 2 == 0 or not others else random.choice(others)
        if name == lane:
            wait_for(lambda: running_deliveries(ctx) > 0, timeout=10, interval=0.02)
        in_flight = running_deliveries(ctx)
        children = ctx.stack.worker_children(name)
        if not children:
            ctx.notes.append(f"worker {name} had no pool process to kill")
            continue
        child = random.choice(children)
        ctx.stack.kill_worker_child(name, child)
        ctx.notes.append(
            f"killed {name} pool pid {child} ({in_flight} deliveries claimed, "
            f"projector lag {projector_lag(ctx)})"
        )
        time.sleep(3)
    ctx.healed_at = time.time()


def worker_kill(ctx: Ctx) -> None:
    """SIGKILL every worker and its pool while the lane has deliveries claimed; new ones
    start 10 s later."""
    wait_for(lambda: running_deliveries(ctx) > 0, timeout=10, interval=0.02)
    in_flight = running_deliveries(ctx)
    killed = {name: ctx.stack.kill_worker(name) for name in list(ctx.stack.workers)}
    ctx.notes.append(
        "killed "
        + ", ".join(f"{name} pid {pid}" for name, pid in killed.items())
        + f" and their pools with {in_flight} deliveries claimed"
    )
    time.sleep(10)
    for name in killed:
        ctx.stack.start_worker(name)
    ctx.healed_at = time.time()


def _has_queue(ctx: Ctx, queue: str) -> bool:
    return any(queue in line.queues for line in ctx.stack.lines.values())


def redis_restart(ctx: Ctx) -> None:
    """Kill the private Redis (no persistence: queues, kick flags, cache all lost), restart."""
    ctx.run.redis.kill()
    time.sleep(2)
    ctx.run.redis.start()
    ctx.healed_at = time.time()
    ctx.notes.append("redis restarted empty after 2 s down")


def redis_pause(ctx: Ctx) -> None:
    """SIGSTOP the private Redis for 30 s (every client blocks), then SIGCONT."""
    seconds = ctx.seconds(30)
    ctx.run.redis.pause()
    time.sleep(seconds)
    ctx.run.redis.resume()
    ctx.healed_at = time.time()
    ctx.notes.append(f"redis paused {seconds:.0f} s")


def postgres_restart(ctx: Ctx) -> None:
    """pg_terminate_backend every app connection; then an immediate-mode restart."""
    pids_before = _app_pids(ctx)
    killed = ctx.run.pg.terminate_backends(ctx.database)
    time.sleep(5)
    ctx.run.pg.stop("immediate")
    time.sleep(ctx.seconds(8))
    ctx.run.pg.start()
    ctx.healed_at = time.time()
    ctx.notes.append(f"terminated {killed} backends; PostgreSQL down ~{ctx.seconds(8):.0f} s")
    ctx.requirements["API answered 503 problem+json during the outage"] = ctx.load.problem_503 > 0
    ctx.requirements["no process restarted"] = _app_pids(ctx) == pids_before


def beat_stop(ctx: Ctx) -> None:
    """Stop beat for a minute: the on-commit kick alone must keep the events flowing."""
    seconds = ctx.seconds(60)
    pid = ctx.stack.stop_beat()
    time.sleep(seconds)
    # checked before beat returns: no sweep has run for a minute
    during = check_invariants(
        ctx, "--only", "events.nothing_stuck", "--only", "orders.", "--stuck-after", "10"
    )
    stuck_orders = open_orders_before(ctx, time.time() - OPEN_TOO_LONG)
    behind = projector_lag(ctx, before=time.time() - OPEN_TOO_LONG)
    ctx.requirements[f"no order open > {OPEN_TOO_LONG} s without beat"] = stuck_orders == 0
    ctx.requirements[f"no event > {OPEN_TOO_LONG} s old unprojected without beat"] = behind == 0
    ctx.notes.append(
        f"beat pid {pid} stopped {seconds:.0f} s; during: checker "
        f"{'PASS' if during.get('passed') else 'FAIL'}, {stuck_orders} orders open "
        f"> {OPEN_TOO_LONG} s, {behind} events > {OPEN_TOO_LONG} s old unprojected"
    )
    ctx.notes += _waiting_on(ctx, OPEN_TOO_LONG)
    ctx.stack.start_beat()
    ctx.healed_at = time.time()


def webhook_hang(ctx: Ctx) -> None:
    """The shop's receiver holds every request unanswered for 20 s, then answers again."""
    seconds = ctx.seconds(20)
    ctx.run.receiver.hang()
    time.sleep(seconds)
    ctx.run.receiver.recover()
    ctx.healed_at = time.time()
    ctx.notes.append(f"receiver hung {seconds:.0f} s ({ctx.run.receiver.hung} requests held)")
    ctx.requirements["the hang held webhook requests"] = ctx.run.receiver.hung > 0


def _waiting_on(ctx: Ctx, seconds: float) -> list[str]:
    """What the orders open for longer than ``seconds`` wait on: their oldest open delivery."""
    rows = query(
        ctx.run,
        ctx.database,
        "SELECT DISTINCT ON (o.id) o.status, d.subscriber, d.status, d.attempts,"
        " round(extract(epoch FROM d.available_at - now())::numeric, 1) "
        "FROM orders_order o JOIN orderflow_delivery d ON d.aggregate_id = o.id::text "
        "WHERE o.created_at < now() - make_interval(secs => %s) AND o.status <> ALL(%s) "
        "AND d.status <> 'done' ORDER BY o.id, d.sequence LIMIT 5",
        [seconds, list(FINAL)],
    )
    return [
        f"  order {order} waits on {sub} ({status}, attempt {attempts}, due in {due} s)"
        for order, sub, status, attempts, due in rows or []
    ]


def _app_pids(ctx: Ctx) -> dict[str, int | None]:
    return {name: read_pid(ctx.stack.pidfile(name)) for name in ctx.stack.process_names}


SCENARIOS = [
    Scenario("worker-child-kill", "a saga step or projector batch killed mid-way is redone once",
             worker_child_kill),
    Scenario("worker-kill", "every worker killed loses nothing; new workers take over",
             worker_kill),
    Scenario("redis-restart", "Redis losing every queue and flag loses nothing", redis_restart),
    Scenario("redis-pause", "a frozen Redis delays but neither loses nor duplicates", redis_pause),
    Scenario("postgres-restart", "503 during the outage; recovery with no process restarted",
             postgres_restart),
    Scenario("beat-stop", "the on-commit kick alone keeps events flowing; the sweep catches up",
             beat_stop),
    Scenario("webhook-hang", "a hung receiver is retried until it answers, once per event",
             webhook_hang),
    Scenario("control-no-idempotency", "redis-pause with the idempotency store off: "
             "the checker must see duplicate orders", redis_pause,
             settings="faults.settings_no_idempotency", control=True),
    Scenario("control-no-kick", "beat-stop with the on-commit kick off: "
             "the checker must see stuck work", beat_stop,
             settings="faults.settings_no_kick", control=True),
]  # fmt: skip


# --- one scenario, start to end ---
def run_scenario(run: Run, scenario: Scenario, log: Callable[[str], None]) -> Report:
    run.counter += 1
    database = f"faults_{run.counter}"
    with run.pg.connect() as conn:
        conn.execute(f'CREATE DATABASE "{database}" TEMPLATE faults_template')
    env = base_env(
        settings=scenario.settings,
        database_url=run.pg.url(database),
        redis_url=run.redis.url,
        root=run.root,
    )
    stack = Stack(env, run.root, tag=scenario.name)
    load = None
    try:
        stack.start()
        if not wait_for(lambda: _ready(stack), timeout=READY_SECONDS):
            raise RuntimeError("the web did not become ready")
        run.receiver.reset()
        load = Load(
            url=stack.url, api_key=run.seed["api_key"], skus=run.seed["skus"], rate=run.rate
        ).start()
        ctx = Ctx(run=run, database=database, stack=stack, load=load)
        time.sleep(ctx.seconds(8))
        log(f"{scenario.name}: fault")
        scenario.fault(ctx)
        log(f"{scenario.name}: healed; waiting for recovery")
        recovered = wait_for(lambda: caught_up(ctx, ctx.healed_at), timeout=150)
        recover_seconds = round(time.time() - ctx.healed_at, 1) if recovered else None
        time.sleep(ctx.seconds(8))  # the load goes on after recovery
        load.stop(retry_for=60)
        log(f"{scenario.name}: load stopped; settling")
        settled = _settle(ctx)
        final_check = check_invariants(ctx, "--stuck-after", str(STUCK_AFTER))
        return _report(scenario, ctx, recover_seconds, settled, final_check)
    finally:
        if load is not None:
            load.stop(retry_for=0)
        stack.stop()
        stack.save_logs(LOGS)


def _ready(stack: Stack) -> bool:
    try:
        return requests.get(f"{stack.url}/readyz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _settle(ctx: Ctx) -> bool:
    """Wait until :func:`_settled`: SETTLE_SECONDS, then on while the work left shrinks."""
    started = time.monotonic()
    window_ends, left_before = started + SETTLE_SECONDS, None
    while time.monotonic() - started < SETTLE_MAX:
        if _settled(ctx):
            ctx.notes.append(f"settled {time.monotonic() - started:.0f} s after the load")
            return True
        if time.monotonic() >= window_ends:
            left = _work_left(ctx)
            if left is None or (left_before is not None and left >= left_before):
                break
            window_ends, left_before = time.monotonic() + SETTLE_PROGRESS, left
        time.sleep(1)
    ctx.notes.append(f"not settled {time.monotonic() - started:.0f} s after the load")
    return False


def _work_left(ctx: Ctx) -> int | None:
    open_orders = scalar(
        ctx.run,
        ctx.database,
        "SELECT count(*) FROM orders_order WHERE status <> ALL(%s)",
        [list(FINAL)],
    )
    counts = [open_orders, *backlog(ctx).values()]
    return None if any(n is None for n in counts) else sum(counts)


def _settled(ctx: Ctx) -> bool:
    """No open order and no work waiting of any kind."""
    open_orders = scalar(
        ctx.run,
        ctx.database,
        "SELECT count(*) FROM orders_order WHERE status <> ALL(%s)",
        [list(FINAL)],
    )
    return open_orders == 0 and all(n == 0 for n in backlog(ctx).values())


def _report(
    scenario: Scenario, ctx: Ctx, recover_seconds: float | None, settled: bool, final: dict
) -> Report:
    run, db = ctx.run, ctx.database
    accepted_ids = sorted({i for o in ctx.load.accepted for i in o.order_ids})
    present = scalar(
        run, db, "SELECT count(*) FROM orders_order WHERE id::text = ANY(%s)", [accepted_ids]
    )
    report = Report(
        name=scenario.name,
        control=scenario.control,
        accepted=len(ctx.load.accepted),
        orders=scalar(run, db, "SELECT count(*) FROM orders_order") or 0,
        final=scalar(
            run, db, "SELECT count(*) FROM orders_order WHERE status = ANY(%s)", [list(FINAL)]
        )
        or 0,
        duplicates=scalar(
            run,
            db,
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM "
            "orderflow_outboxevent WHERE type = 'order.placed' AND idempotency_key <> '' "
            "GROUP BY tenant_id, idempotency_key) per_key",
        )
        or 0,
        lost=len(accepted_ids) - (present or 0),
        unanswered=len(ctx.load.unanswered),
        dead_letters=(
            scalar(run, db, "SELECT count(*) FROM orderflow_delivery WHERE status = 'dead'") or 0
        )
        + parked_events(ctx),
        recover_seconds=recover_seconds,
        notes=list(ctx.notes),
        responses=dict(ctx.load.responses),
    )
    webhooks = dict(
        query(run, db, "SELECT status, count(*) FROM notifications_webhookdelivery GROUP BY 1")
        or []
    )
    report.notes.append(
        f"webhooks {webhooks}; receiver answered {sum(run.receiver.answered.values())}, "
        f"{run.receiver.duplicates} of them a second time"
    )
    waiting = {kind: n for kind, n in backlog(ctx).items() if n}
    if waiting:
        report.notes.append(f"backlog left: {waiting}")
    failed = [
        f"{i['name']}" for doc in ctx.checks for i in doc.get("invariants", []) if not i["passed"]
    ]
    report.failed_invariants = sorted(set(failed)) + [
        "check_invariants did not run" for doc in ctx.checks if "error" in doc
    ]
    requirements = {
        "every accepted order is in the database": report.lost == 0,
        "every order reached a final state": settled and report.final == report.orders,
        "every request was answered": report.unanswered == 0,
        "recovered within 150 s": recover_seconds is not None,
        "no 500 answered (an outage is a 503)": "500" not in ctx.load.responses,
        "no event parked by a projector": parked_events(ctx) == 0,
        **ctx.requirements,
    }
    report.notes += [f"NOT MET: {what}" for what, met in requirements.items() if not met]
    checker_passed = all(doc.get("passed") for doc in ctx.checks)
    report.caught = not checker_passed
    report.passed = checker_passed and all(requirements.values())
    return report
