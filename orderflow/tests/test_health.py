import pytest
from django.core.management import call_command
from django.test import override_settings

pytestmark = pytest.mark.django_db

UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
        "OPTIONS": {"socket_connect_timeout": 0.5},
    }
}


def test_healthz_answers_without_touching_dependencies(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_lists_every_check_when_ready(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "migrations", "cache", "broker"}
    assert all(check["ok"] for check in body["checks"].values())
    assert body["checks"]["database"]["detail"] == "postgresql"
    assert body["checks"]["cache"]["detail"] == "RedisCache"


def test_readyz_is_503_while_redis_is_unreachable_and_200_after(client):
    with override_settings(CACHES=UNREACHABLE_REDIS):
        down = client.get("/readyz")
    up = client.get("/readyz")

    assert down.status_code == 503
    assert down.json()["status"] == "unavailable"
    assert down.json()["checks"]["cache"]["ok"] is False
    assert down.json()["checks"]["database"]["ok"] is True
    assert up.status_code == 200


def test_readyz_logs_why_a_check_failed_and_answers_only_unavailable(client, caplog):
    with override_settings(CACHES=UNREACHABLE_REDIS), caplog.at_level("WARNING", "orderflow"):
        down = client.get("/readyz")

    assert down.json()["checks"]["cache"]["detail"] == "unavailable"
    assert "127.0.0.1" not in down.content.decode()
    assert "Error" not in down.content.decode()
    failures = [r.getMessage() for r in caplog.records if r.name == "orderflow.health"]
    assert len(failures) == 1
    assert failures[0].startswith("Readiness check cache failed: ConnectionError: ")


def test_doctor_prints_checks_and_backlog(capsys):
    call_command("doctor")

    out = capsys.readouterr().out
    assert "ok   database    postgresql" in out
    assert "events: 0 not relayed, 0 due, 0 in flight" in out


def test_doctor_fails_when_a_dependency_is_down(capsys):
    with override_settings(CACHES=UNREACHABLE_REDIS), pytest.raises(SystemExit) as exit_info:
        call_command("doctor")

    assert exit_info.value.code == 1
    assert "FAIL cache" in capsys.readouterr().out
