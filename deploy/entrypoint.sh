#!/bin/sh
# Start one OrderFlow process role; the image's default is `web`.
#
#   web        HTTP and WebSocket in one ASGI server (daphne) on $PORT (default 8000):
#              the simple choice, used by docker-compose.yml
#   http       HTTP only, through granian (WSGI, $WEB_CONCURRENCY processes of $WEB_THREADS
#              threads): plain requests are several times faster than through ASGI (see
#              DESIGN), and granian held a lower P99 and less CPU per order on average
#              than gunicorn (docs/performance.md); deploy/gunicorn.conf.py stays for
#              running gunicorn by hand
#   websocket  /ws/ only, through daphne: run it beside `http` behind a router (deploy/k8s/)
#   worker     a Celery worker; run as many as the backlog needs; metrics on
#              $WORKER_METRICS_PORT (default 9100)
#   beat       the Celery scheduler; run exactly one
#   migrate    apply database migrations, then exit
#   manage     any manage.py command, e.g. `manage create_shop "Loja" --currency BRL`
#
# Extra arguments after the role go to the underlying program. Each role `exec`s, so the
# program is PID 1 and receives the container's stop signal directly.
set -eu

role="${1:-web}"
[ "$#" -gt 0 ] && shift

# Long-running roles: traces name the role, and every process of the container writes its
# Prometheus samples to one directory, from which any of them serves the sum
# (multiprocess mode, see orderflow/observability/metrics/exposition.py). The directory starts empty:
# files left by a previous run would add stale counts.
case "$role" in
  web|http|websocket|worker|beat)
    export OTEL_SERVICE_NAME="${OTEL_SERVICE_NAME:-orderflow-$role}"
    export PROMETHEUS_MULTIPROC_DIR="${PROMETHEUS_MULTIPROC_DIR:-/tmp/orderflow-metrics}"
    mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
    find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -delete
    ;;
esac

case "$role" in
  web|websocket)
    # daphne, its access lines through LOGGING (JSON, tracking tokens redacted)
    exec python -m orderflow.asgi_server -b 0.0.0.0 -p "${PORT:-8000}" "$@" orderflow.asgi:application
    ;;
  http)
    exec granian --interface wsgi --host 0.0.0.0 --port "${PORT:-8000}" \
      --workers "${WEB_CONCURRENCY:-2}" --blocking-threads "${WEB_THREADS:-4}" \
      --no-access-log "$@" orderflow.wsgi:application
    ;;
  worker)
    export WORKER_METRICS_PORT="${WORKER_METRICS_PORT:-9100}"
    export WORKER_METRICS_ADDRESS="${WORKER_METRICS_ADDRESS:-0.0.0.0}"
    exec celery -A orderflow worker -l info "$@"
    ;;
  beat)
    # The schedule file goes to /tmp: the app user cannot write to /app.
    exec celery -A orderflow beat -l info --schedule /tmp/celerybeat-schedule "$@"
    ;;
  migrate)
    exec python manage.py migrate --noinput "$@"
    ;;
  manage)
    exec python manage.py "$@"
    ;;
  *)
    echo "usage: entrypoint.sh web|http|websocket|worker|beat|migrate|manage [args...] (got: $role)" >&2
    exit 64
    ;;
esac
