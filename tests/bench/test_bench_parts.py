"""The bench's pure parts: Procfile parsing, /proc CPU accounting, percentiles, the flat rule."""

import os

import pytest

from bench import cpu, measure
from bench.pipeline import listening_ports, socket_entries, stack_env
from bench.receiver import event_type, parse_head
from devtools import procfile

TICK = os.sysconf("SC_CLK_TCK")


# --- Procfile -----------------------------------------------------------------------------
def test_procfile_lines_in_order_without_comments():
    text = (
        "# a comment\n\n"
        "web: .venv/bin/python -m x -p ${WEB_PORT:-8000}\n"
        "  # indented comment\n"
        "http: gunicorn --bind 127.0.0.1:$((${WEB_PORT:-8000} + 1)) app\n"
        "saga: celery -A orderflow worker -Q saga -c 1\n"
    )
    assert procfile.parse(text) == [
        ("web", ".venv/bin/python -m x -p ${WEB_PORT:-8000}"),
        ("http", "gunicorn --bind 127.0.0.1:$((${WEB_PORT:-8000} + 1)) app"),
        ("saga", "celery -A orderflow worker -Q saga -c 1"),
    ]


def test_procfile_refuses_a_line_without_a_name_and_a_duplicate():
    with pytest.raises(ValueError, match="line 2"):
        procfile.parse("web: a\nnot a process line\n")
    with pytest.raises(ValueError, match="twice"):
        procfile.parse("web: a\nweb: b\n")


def test_the_repository_procfile_parses_and_declares_the_servers():
    names = [name for name, _ in procfile.read()]
    assert "web" in names
    assert "beat" in names


def test_a_line_runs_in_its_own_session_and_stops_with_its_children(tmp_path):
    line = procfile.Line("sleeper", "sleep 60 & sleep 60", dict(os.environ), tmp_path / "s.log")
    line.start()
    try:
        assert line.running()
        assert os.getpgid(line.pid) == line.pid  # its own process group
    finally:
        line.stop(timeout=5)
    assert not line.running()
    assert all(p == line.pid or not _alive(p) for p in [line.pid])


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stack_env_is_make_stack_plus_the_private_engines():
    env = stack_env(
        {
            "PATH": "/bin",
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "TEST_CELERY_QUEUE": "q",
            "LOG_LEVEL": "WARNING",
            "DATABASE_URL": "postgres://x@127.0.0.1:5999/db",
            "REDIS_URL": "redis://127.0.0.1:6999/0",
        },
        8100,
    )
    assert env["PATH"] == "/bin"
    assert "DJANGO_SETTINGS_MODULE" not in env  # the stack runs orderflow.settings
    assert "TEST_CELERY_QUEUE" not in env
    assert "LOG_LEVEL" not in env
    assert env["DEBUG"] == "false"
    assert env["WEB_PORT"] == "8100"
    assert env["DATABASE_URL"].endswith(":5999/db")
    assert env["REDIS_URL"].endswith(":6999/0")


# --- /proc CPU accounting -------------------------------------------------------------------
def _stat(proc, pid, ppid, utime, stime, cutime=0, cstime=0, comm="python"):
    (proc / str(pid)).mkdir(parents=True)
    # fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    # utime stime cutime cstime ...
    rest = f"S {ppid} 1 1 0 -1 0 0 0 0 0 {utime} {stime} {cutime} {cstime} 20 0 1 0"
    (proc / str(pid) / "stat").write_text(f"{pid} ({comm}) {rest}\n")


def test_tree_cpu_counts_live_processes_and_reaped_children_once(tmp_path):
    proc = tmp_path
    _stat(proc, 10, 1, utime=100, stime=50, cutime=30, cstime=20)  # reaped children: 50
    _stat(proc, 11, 10, utime=40, stime=10, comm="postgres: bench (idle) )x")
    _stat(proc, 12, 11, utime=5, stime=5)
    _stat(proc, 99, 1, utime=1000, stime=1000)  # not ours
    assert cpu.tree(10, proc=proc) == [10, 11, 12]
    assert cpu.tree_seconds(10, proc=proc) == pytest.approx((150 + 50 + 50 + 10) / TICK)
    assert cpu.tree_seconds(None, proc=proc) == 0.0


def test_a_process_gone_counts_zero_and_the_meter_takes_differences(tmp_path):
    proc = tmp_path
    _stat(proc, 10, 1, utime=100, stime=0)
    (proc / "stat").write_text("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 1 1 1\n")
    meter = cpu.Meter({"web": [10], "gone": [4242]}, proc=proc)
    meter.start()
    (proc / "10" / "stat").write_text("10 (python) S 1 1 1 0 -1 0 0 0 0 0 300 100 0 0 20 0 1 0\n")
    (proc / "stat").write_text("cpu  400 0 150 900 50 0 0 0 0 0\n")
    spent = meter.stop()
    assert spent["web"] == pytest.approx(300 / TICK)
    assert spent["gone"] == 0
    assert spent["_box_busy"] == pytest.approx(400 / TICK)
    assert spent["_box_total"] == pytest.approx(500 / TICK)


def test_per_order_adds_the_kinds_and_keeps_the_box_apart():
    out = cpu.per_order_ms({"web": 1.0, "postgres": 0.5, "_box_busy": 2.0}, 100)
    assert out == {"postgres": 5.0, "web": 10.0, "total": 15.0, "box_busy": 20.0}


def test_the_meter_reads_this_process():
    meter = cpu.Meter({"me": [os.getpid()]})
    meter.start()
    deadline = os.times()[0] + 0.05
    while os.times()[0] < deadline:
        pass
    assert meter.stop()["me"] > 0


def test_listening_ports_finds_this_process_socket():
    import socket

    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert port in listening_ports([os.getpid()])
    assert port not in listening_ports([os.getpid()])


# --- percentiles and the flat rule ------------------------------------------------------------
def test_percentile_is_nearest_rank():
    values = list(range(1, 101))  # 1..100
    assert measure.percentile(values, 50) == 50
    assert measure.percentile(values, 99) == 99
    assert measure.percentile(values, 100) == 100
    assert measure.percentile([7.0], 99) == 7.0
    assert measure.percentile([3, 1, 2], 50) == 2
    with pytest.raises(ValueError, match="no values"):
        measure.percentile([], 50)


def test_percentiles_report_count_and_none_without_samples():
    assert measure.percentiles([]) == {"count": 0}
    out = measure.percentiles([10.0, 20.0, 30.0, 40.0])
    assert out == {"count": 4, "p50_ms": 20.0, "p99_ms": 40.0, "max_ms": 40.0}


def test_a_steady_backlog_is_flat():
    samples = [(t, 300 + (t % 3) * 40) for t in range(20)]
    ok, grown = measure.flat(samples, rate=100)
    assert ok
    assert abs(grown) < 10


def test_a_growing_backlog_is_not_flat():
    samples = [(t, 100 * t) for t in range(20)]  # 100 items more each second at 10 orders/s
    ok, grown = measure.flat(samples, rate=10)
    assert not ok
    assert grown == pytest.approx(100)


def test_a_standing_queue_is_not_flat_even_if_it_does_not_grow():
    samples = [(t, 10_000) for t in range(20)]
    assert measure.flat(samples, rate=10) == (False, 0.0)


def test_a_saga_lane_falling_behind_is_not_flat_though_the_items_look_flat():
    # 75 orders/s, the lane confirming 50: 25 more orders a second wait for their saga,
    # each one item (its order.placed) where the rule assumes twenty
    items = [(t, 400 + 25 * t) for t in range(20)]
    sagas = [(t, 10 + 25 * t) for t in range(20)]
    assert measure.flat(items, rate=75)[0]
    assert not measure.flat(items, rate=75, sagas=sagas)[0]


def test_sagas_finishing_as_fast_as_orders_come_are_flat():
    items = [(t, 300 + (t % 3) * 40) for t in range(20)]
    sagas = [(t, 5 + t % 4) for t in range(20)]
    assert measure.flat(items, rate=75, sagas=sagas)[0]


def test_too_few_samples_are_not_flat():
    assert measure.flat([(0, 0), (1, 0)], rate=10)[0] is False


# --- the peers' parsing -------------------------------------------------------------------
def test_receiver_parses_a_head_and_the_event_type():
    line, headers = parse_head(b"POST /shop/1 HTTP/1.1\r\nwebhook-id: abc\r\nContent-Length: 2")
    assert line == "POST /shop/1 HTTP/1.1"
    assert headers == {"webhook-id": "abc", "content-length": "2"}
    assert event_type(b'{"type": "order.placed"}') == "order.placed"
    assert event_type(b"not json") == ""


def test_socket_entries_reads_single_and_batched_pushes(tmp_path):
    import json

    out = tmp_path / "s.jsonl"
    rows = [
        {"order": "o1", "opened": 1.0},
        {"order": "o2", "error": "TimeoutError"},
        {"order": "o1", "at": 2.0, "message": json.dumps({"entry": {"sequence": 2}})},
        {
            "order": "o1",
            "at": 3.0,
            "message": json.dumps({"entries": [{"sequence": 3}, {"sequence": 4}]}),
        },
        {"order": "o1", "at": 4.0, "message": json.dumps({"type": "heartbeat"})},
        {
            "order": "o1",
            "at": 5.0,
            "message": json.dumps({"type": "steps", "steps": [{"sequence": 5}], "view": {}}),
        },
    ]
    out.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{truncated")
    entries, opened, errors = socket_entries(out)
    assert (opened, errors) == (1, 1)
    assert [(o, at, e["sequence"]) for o, at, e in entries] == [
        ("o1", 2.0, 2),
        ("o1", 3.0, 3),
        ("o1", 3.0, 4),
        ("o1", 5.0, 5),
    ]


# --- the receiver process -----------------------------------------------------------------
def test_the_receiver_answers_keep_alive_and_records_each_webhook(tmp_path):
    import http.client
    import subprocess
    import sys

    from bench.live import free_port

    port, out = free_port(), tmp_path / "hooks.tsv"
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.receiver", str(port), str(out)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout.readline().strip() == "listening"
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        sockets = set()
        for n in range(3):  # one connection, three requests
            client.request(
                "POST",
                "/shop/1",
                body=f'{{"type": "order.placed", "n": {n}}}',
                headers={"webhook-id": f"evt-{n}", "Content-Type": "application/json"},
            )
            response = client.getresponse()
            assert response.status == 200
            assert response.read() == b""
            sockets.add(client.sock)  # None if the server had closed the connection
        assert len(sockets) == 1
        assert None not in sockets
        client.close()
    finally:
        process.terminate()
        process.wait(10)
    rows = [row.split("\t") for row in out.read_text().splitlines()]
    assert [(r[1], r[2]) for r in rows] == [(f"evt-{n}", "order.placed") for n in range(3)]
    assert all(float(r[0]) > 0 for r in rows)


def test_wrk_connections_keep_each_connection_busier_than_the_keep_alive():
    from bench.pipeline import wrk_connections

    assert wrk_connections(10) == 5  # one request per connection every 0.5 s
    assert wrk_connections(1) == 2
    assert wrk_connections(2000) == 64


def test_failure_excerpts_keep_warnings_and_skip_printed_e_mails(tmp_path):
    from bench.pipeline import problems

    log = tmp_path / "worker.log"
    log.write_text(
        '{"level": "info", "message": "ready."}\n'
        '{"level": "warning", "logger": "celery.redirected", "message": "Subject: ..."}\n'
        '{"level": "warning", "logger": "orderflow.events.lane", "message": "delivery failed"}\n'
        "Traceback (most recent call last):\n"
    )
    assert problems(log).splitlines() == [
        '{"level": "warning", "logger": "orderflow.events.lane", "message": "delivery failed"}',
        "Traceback (most recent call last):",
    ]


def test_the_window_is_measured_at_the_rate_asked_else_the_highest_kept():
    from bench.pipeline import window_rate

    assert window_rate(asked=25, best=50, rates=[10, 25, 50, 75]) == 25
    assert window_rate(asked=None, best=50, rates=[10, 25, 50, 75]) == 50
    assert window_rate(asked=None, best=None, rates=[10, 25, 50, 75]) == 10


@pytest.mark.django_db(transaction=True)
def test_the_sockets_placer_places_orders_and_names_their_tracking_tokens(live_server):
    """The socket process's own orders: a 201 over one kept-alive connection, and the token
    its socket opens on is the order's."""
    from bench import live
    from bench.sockets import Placer
    from orders.models import Order
    from testkit.factories import api_key_for

    shop, skus = live.shop_with_catalog("Placer Shop")
    placer = Placer(live_server.url, api_key_for(shop), skus[:3])

    first, second = placer.place(), placer.place()

    orders = {str(o.id): o.tracking_token for o in Order.objects.filter(shop=shop)}
    assert orders == dict([first, second])


@pytest.mark.django_db(transaction=True)
def test_the_sockets_placer_says_why_an_order_was_refused(live_server):
    from bench.sockets import Placer

    placer = Placer(live_server.url, "not-a-key", ["BENCH-0"])

    with pytest.raises(RuntimeError, match=r"^401"):
        placer.place()


# --- the limit beside the intake's steps ----------------------------------------------------
def test_the_limit_beside_the_intake_is_the_median_of_its_turns():
    from bench import limit

    steps = [{"rate": 100}, {"rate": 600, "limit_tps": 1800.0},
             {"rate": 800, "limit_tps": 1500.0}, {"rate": 1000, "limit_tps": 1700.0},
             {"rate": 1000, "limit_tps": 2100.0}]  # fmt: skip
    assert limit.beside(steps) == {
        "median_tps": 1750.0, "turns": 4, "min_tps": 1500.0, "max_tps": 2100.0,
    }  # fmt: skip
    assert limit.beside(steps[:4])["median_tps"] == 1700.0
    assert limit.beside([{"rate": 100}]) is None


def test_the_ramp_runs_a_limit_turn_before_each_step_that_asks_for_one(monkeypatch):
    from bench import intake

    order = []

    def step(url, *, rate, **_):
        order.append(("wrk", rate))
        return {"rate": rate, "achieved_rate": float(rate), "sustained": rate <= 550,
                "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0, "error_rate": 0.0}  # fmt: skip

    def turn(rate):
        order.append(("pgbench", rate))
        return 1000.0 + rate if rate >= 400 else None

    monkeypatch.setattr(intake, "wrk_step", step)
    ramped = intake.ramp("http://x", key="k", skus=["S"], seconds=1,
                         rates=(200, 400, 600), limit_turn=turn)  # fmt: skip

    # every step is preceded by its turn; a missed step runs twice, then the gap is halved
    assert order == [("pgbench", 200), ("wrk", 200), ("pgbench", 400), ("wrk", 400),
                     ("pgbench", 600), ("wrk", 600), ("pgbench", 600), ("wrk", 600),
                     ("pgbench", 500), ("wrk", 500), ("pgbench", 550), ("wrk", 550),
                     ("pgbench", 575), ("wrk", 575)]  # fmt: skip
    assert [s.get("limit_tps") for s in ramped["steps"]] == [
        None, 1400.0, 1600.0, 1600.0, 1500.0, 1550.0, 1575.0
    ]  # fmt: skip
    assert ramped["max_sustained_rate"] == 550.0


def test_the_intake_alone_is_reported_beside_the_intake_while_the_pipeline_runs():
    from bench.__main__ import intake_beside_pipeline

    report = {
        "intake": {"max_sustained_rate": 728.9},
        "end_to_end": {"burst": {"rate_asked": 728.9, "achieved_rate": 286.0, "errors": 0}},
    }
    assert intake_beside_pipeline(report) == {
        "alone": 728.9, "achieved_rate": 286.0, "rate_asked": 728.9, "errors": 0,
    }  # fmt: skip
    assert intake_beside_pipeline({"end_to_end": report["end_to_end"]}) is None  # --only pipeline
    assert intake_beside_pipeline({"intake": report["intake"], "end_to_end": {}}) is None
