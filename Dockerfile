# syntax=docker/dockerfile:1
# OrderFlow: one image for every process role (web, http, websocket, worker, beat,
# migrate); the role is the container's command, see deploy/entrypoint.sh.
#
#   docker build -t orderflow .
#   docker run --rm -e SECRET_KEY=... -e DATABASE_URL=... -e REDIS_URL=... orderflow web

ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtualenv holding the runtime dependencies -----------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv

# Only pyproject.toml decides this layer, so a code change reuses the installed
# dependencies. The project itself is not installed as a wheel: templates/ and static/
# live beside the packages and BASE_DIR is the source tree, which the runtime stage copies.
COPY pyproject.toml ./
RUN python -c "import tomllib; \
deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
open('requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
 && /opt/venv/bin/pip install --requirement requirements.txt \
 && /opt/venv/bin/pip check

# --- runtime ---------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=orderflow.settings \
    STATIC_ROOT=/app/staticfiles \
    PORT=8000

RUN groupadd --system --gid 10001 orderflow \
 && useradd --system --uid 10001 --gid orderflow --home-dir /app --no-create-home \
      --shell /usr/sbin/nologin orderflow

WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# Code and collected static files stay owned by root: the app user can read, not change them.
COPY . .

# The build needs settings that load, not a secret: DEBUG=false selects the manifest
# storage used at runtime, and the throwaway key lives only in this RUN's environment.
# The translations are compiled here (GNU gettext's msgfmt, removed again in the same layer):
# the repository keeps only the .po catalogues.
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends gettext >/dev/null \
 && DEBUG=false \
    SECRET_KEY=collectstatic-only-build-key-never-used-by-a-running-container-0000 \
    python manage.py compilemessages --locale pt_BR \
 && apt-get purge -y -qq gettext >/dev/null && apt-get autoremove -y -qq >/dev/null \
 && rm -rf /var/lib/apt/lists/* \
 && DEBUG=false \
    SECRET_KEY=collectstatic-only-build-key-never-used-by-a-running-container-0000 \
    python manage.py collectstatic --noinput \
 && chmod 0755 deploy/entrypoint.sh deploy/healthcheck.py

# The orderflow user and group made above, by number so a runtime can check it is not root.
USER 10001:10001
# 8000: HTTP and WebSocket (web, http, websocket roles; /metrics there); 9100: a worker's metrics
EXPOSE 8000 9100

# Liveness: GET /healthz for the web roles, a broker ping for a worker; see
# deploy/healthcheck.py (`healthcheck.py ready` asks /readyz instead).
HEALTHCHECK --interval=15s --timeout=10s --start-period=30s --retries=3 \
    CMD ["python", "/app/deploy/healthcheck.py"]

ENTRYPOINT ["/app/deploy/entrypoint.sh"]
CMD ["web"]
