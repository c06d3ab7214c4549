"""make faults starts the workers the Procfile declares: its worker lines, parsed."""

from pathlib import Path

from faults.stack import WorkerLine, worker_lines

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
