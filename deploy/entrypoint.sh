#!/bin/sh
# Start one OrderFlow process role; the image's default is `web`.
#
#   web      HTTP and WebSocket (ASGI, daphne) on $PORT (default 8000)
#   worker   a Celery worker; run as many as the backlog needs
#   beat     the Celery scheduler; run exactly one
#   migrate  apply database migrations, then exit
#   manage   any manage.py command, e.g. `manage create_shop "Loja" --currency BRL`
#
# Extra arguments after the role go to the underlying program. Each role `exec`s, so the
# program is PID 1 and receives the container's stop signal directly.
set -eu

role="${1:-web}"
[ "$#" -gt 0 ] && shift

case "$role" in
  web)
    exec daphne -b 0.0.0.0 -p "${PORT:-8000}" "$@" orderflow.asgi:application
    ;;
  worker)
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
    echo "usage: entrypoint.sh web|worker|beat|migrate|manage [args...] (got: $role)" >&2
    exit 64
    ;;
esac
