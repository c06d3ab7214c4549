"""make faults starts the processes the Procfile declares: its worker lines, parsed; its
``http:`` line."""

import os
from pathlib import Path

import requests

from devtools.processes import wait_until
from faults.infra import read_pid
from faults.stack import Stack, WorkerLine, worker_lines

LANE_LAYOUT = """\
# the saga lane and the general worker
web: .venv/bin/python -m orderflow.asgi_server -p ${WEB_PORT:-8000} orderflow.asgi:application
http: .venv/bin/gunicorn --bind 127.0.0.1:$((${WEB_PORT:-8000} + 1)) orderflow.wsgi:application
saga: .venv/bin/celery -A orderflow worker -Q saga -c 1 -l info -n saga@%h --without-gossip
flow: .venv/bin/celery -A orderflow worker --queues=flow,celery -c ${FLOW_CONCURRENCY:-2} \
--loglevel=info --pidfile=var/flow.pid
beat: .venv/bin/celery -A orderflow beat -l info -s var/celerybeat-schedule
"""


def test_each_worker_line_keeps_its_own_options_but_not_names_logs_or_pidfiles(tmp_path: Path):
    procfile = tmp_path / "Procfile"
    procfile.write_text(LANE_LAYOUT)

    lines = worker_lines({"FLOW_CONCURRENCY": "3"}, procfile)

    assert lines == [
        WorkerLine("saga", ("-Q", "saga", "-c", "1", "--without-gossip")),
        WorkerLine("flow", ("--queues=flow,celery", "-c", "3")),
    ]
    assert [line.queues for line in lines] == [{"saga"}, {"flow", "celery"}]


def test_a_variable_without_a_value_takes_its_default(tmp_path: Path):
    procfile = tmp_path / "Procfile"
    procfile.write_text(LANE_LAYOUT)

    (_, flow) = worker_lines({}, procfile)

    assert flow.options == ("--queues=flow,celery", "-c", "2")


def test_a_worker_naming_no_queue_consumes_celerys_default_queue(tmp_path: Path):
    procfile = tmp_path / "Procfile"
    procfile.write_text("worker: .venv/bin/celery -A orderflow worker -l info -c 4\n")

    (worker,) = worker_lines({}, procfile)

    assert worker == WorkerLine("worker", ("-c", "4"))
    assert worker.queues == {"celery"}
    assert WorkerLine("w", ("-Qsaga,flow",)).queues == {"saga", "flow"}


def test_the_projects_procfile_gives_the_saga_lane_a_worker_of_its_own():
    lines = worker_lines({})

    (lane,) = [line for line in lines if "saga" in line.queues]
    assert lane.queues == {"saga"}  # never behind projector or sender work
    assert set().union(*(line.queues for line in lines)) >= {"saga", "flow", "celery"}


def test_the_suites_api_server_is_the_procfiles_http_line_on_the_stacks_port(tmp_path: Path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONUNBUFFERED": "1"}
    stack = Stack(env, tmp_path, tag="http")
    stack.web.start(timeout=90)
    try:
        # granian says a worker started before the worker accepts: ask until one answers
        assert wait_until(lambda: _healthy(stack.url), timeout=60), "".join(stack.web.output)
        pid = read_pid(stack.pidfile("web"))  # the suite signals it by this pid
        assert "granian" in Path(f"/proc/{pid}/cmdline").read_bytes().decode()
    finally:
        stack.web.stop()


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/healthz", timeout=5).status_code == 200
    except requests.ConnectionError:
        return False
