"""The settings module's promises, checked in fresh processes with an explicit environment.

Settings are read once per process, so each case runs ``manage.py`` in a subprocess
with exactly the variables it names: nothing leaks in from the test runner's own
environment (which points at PostgreSQL and Redis).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SETTINGS_FILE = REPO_ROOT / "orderflow" / "settings.py"

# Hosts under .invalid never resolve (RFC 2606): a check that tried to connect would fail.
DATABASE_URL = "postgres://orderflow:orderflow@db.invalid:5432/orderflow"
REDIS_URL = "redis://redis.invalid:6379/0"
# A 64-character key of the kind the ImproperlyConfigured message tells operators to make.
STRONG_SECRET_KEY = "k3Vq9xT2mZ8rW1pL6sN4bY7cH0dF5gJ2aQ9eR3tU8iO1wE6yP4lK7zX0vB5nM2cA"


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``manage.py`` with only PATH and ``env`` in its environment."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "env",
    [
        pytest.param({"DEBUG": "false", "DATABASE_URL": DATABASE_URL}, id="debug-off"),
        pytest.param({"DATABASE_URL": DATABASE_URL}, id="full-mode-default"),
        pytest.param(
            {"DEBUG": "false", "DATABASE_URL": DATABASE_URL, "SECRET_KEY": "too-short"},
            id="short-key",
        ),
    ],
)
def test_refuses_to_start_without_a_real_secret_key_when_debug_is_off(env):
    result = run_manage("check", **env)

    assert result.returncode != 0
    assert "django.core.exceptions.ImproperlyConfigured: SECRET_KEY must be set" in result.stderr
    assert "secrets.token_urlsafe(64)" in result.stderr


def test_deploy_check_passes_with_production_settings():
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DEBUG="false",
        SECRET_KEY=STRONG_SECRET_KEY,
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
    )

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_embedded_mode_is_chosen_when_nothing_is_set():
    probe = (
        "import json; from django.conf import settings as s; print(json.dumps({"
        "'debug': s.DEBUG, 'database': s.DATABASES['default']['ENGINE'], "
        "'cache': s.CACHES['default']['BACKEND'], "
        "'channel_layer': s.CHANNEL_LAYERS['default']['BACKEND'], "
        "'celery_eager': s.CELERY_TASK_ALWAYS_EAGER, 'broker': s.CELERY_BROKER_URL}))"
    )

    result = run_manage("shell", "--no-imports", "-c", probe)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "debug": True,
        "database": "django.db.backends.sqlite3",
        "cache": "django.core.cache.backends.locmem.LocMemCache",
        "channel_layer": "channels.layers.InMemoryChannelLayer",
        "celery_eager": True,
        "broker": "memory://",
    }


GENERIC = "-c plan_cache_mode=force_generic_plan -c enable_seqscan=off -c jit=off"
CUSTOM = "-c plan_cache_mode=force_custom_plan"


@pytest.mark.parametrize(
    ("knobs", "planning"),
    [
        pytest.param({}, GENERIC, id="default"),
        pytest.param({"DB_GENERIC_PLANS": "false"}, CUSTOM, id="off"),
        pytest.param({"DB_PREPARED_STATEMENTS": "false"}, CUSTOM, id="nothing-prepared"),
        pytest.param(
            {"DB_PREPARED_STATEMENTS": "false", "DB_GENERIC_PLANS": "true"}, GENERIC, id="forced"
        ),
    ],
)
def test_full_mode_connections_plan_prepared_statements_once_unless_told_not_to(knobs, planning):
    probe = (
        "from django.conf import settings as s; print(s.DATABASES['default']['OPTIONS']['options'])"
    )
    env = {"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL, "SECRET_KEY": STRONG_SECRET_KEY}
    env.update(knobs)

    result = run_manage("shell", "--no-imports", "-c", probe, **env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == planning


def _knobs_read_by_settings() -> set[str]:
    source = SETTINGS_FILE.read_text()
    return set(re.findall(r"\benv(?:\.\w+)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']", source))


def test_every_environment_variable_is_documented():
    knobs = _knobs_read_by_settings()
    table = (REPO_ROOT / "docs" / "configuration.md").read_text()
    documented_rows = set(re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \|", table, re.M))
    env_example = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", (REPO_ROOT / ".env.example").read_text(), re.M)
    )

    assert "SECRET_KEY" in knobs  # the pattern still finds what settings.py reads
    assert knobs - documented_rows == set(), "add these to docs/configuration.md's table"
    assert knobs - env_example == set(), "add these to .env.example"


_CONNECTIONS_PROBE = (
    "import json; from django.conf import settings as s; d = s.DATABASES['default']; "
    "print(json.dumps({'max_age': d['CONN_MAX_AGE'], 'pool': 'pool' in d['OPTIONS']}))"
)


@pytest.mark.parametrize(
    ("wsgi", "knobs", "expected"),
    [
        pytest.param(False, {}, {"max_age": 0, "pool": True}, id="any-process-pools"),
        pytest.param(True, {}, {"max_age": 300, "pool": False}, id="wsgi-server-keeps"),
        pytest.param(
            True, {"DB_CONN_MAX_AGE": "60"}, {"max_age": 60, "pool": False}, id="wsgi-max-age"
        ),
        pytest.param(
            True,
            {"DB_PERSISTENT_CONNECTIONS": "false"},
            {"max_age": 0, "pool": True},
            id="wsgi-told-to-pool",
        ),
    ],
)
def test_a_wsgi_server_keeps_one_connection_per_thread_and_other_processes_pool(
    wsgi, knobs, expected
):
    # a WSGI server imports orderflow.wsgi, which loads the settings; any other process
    # (ASGI server, Celery, manage.py) loads them first
    code = ("import orderflow.wsgi; " if wsgi else "import django; django.setup(); ") + (
        _CONNECTIONS_PROBE
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "orderflow.settings",
        "DATABASE_URL": DATABASE_URL,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": STRONG_SECRET_KEY,
        **knobs,
    }

    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected
