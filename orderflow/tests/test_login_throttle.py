"""Login throttling (django-axes): failed logins lock a (username, address) pair out."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from orderflow.client_ip import client_ip

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery staple"
LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def staff():
    return get_user_model().objects.create_user(
        username="ops", password=PASSWORD, is_staff=True, is_superuser=True
    )


def log_in(client: Client, password: str, address: str = "203.0.113.5"):
    return client.post(LOGIN, {"username": "ops", "password": password}, REMOTE_ADDR=address)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_a_locked_out_pair_is_refused_even_with_the_right_password(client, staff, settings):
    failures = [log_in(client, "wrong") for _ in range(settings.AXES_FAILURE_LIMIT)]

    response = log_in(client, PASSWORD)

    # each failure re-showed the form; the lockout answers 429 with what to do
    assert [r.status_code for r in failures[:-1]] == [200] * (settings.AXES_FAILURE_LIMIT - 1)
    assert failures[-1].status_code == 429
    assert response.status_code == 429
    assert response.content.decode() == settings.AXES_COOLOFF_MESSAGE
    assert "15 minutes" in settings.AXES_COOLOFF_MESSAGE
    assert not logged_in(client)
    attempt = AccessAttempt.objects.get()
    assert (attempt.username, attempt.ip_address) == ("ops", "203.0.113.5")


def test_the_lockout_ends_after_the_cool_off(client, staff, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(client, "wrong")
    assert log_in(client, PASSWORD).status_code == 429

    # the last failure is now older than the cool-off
    AccessAttempt.objects.update(
        attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1)
    )
    response = log_in(client, PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert logged_in(client)


def test_fewer_failures_than_the_limit_do_not_lock_and_a_success_resets_them(
    client, staff, settings
):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        log_in(client, "wrong")

    response = log_in(client, PASSWORD)
    again = log_in(Client(), "wrong")

    assert response.status_code == 302
    assert logged_in(client)
    # the success forgot the earlier failures: one more failure starts a new count
    assert again.status_code == 200
    assert AccessAttempt.objects.get().failures_since_start == 1


def test_a_forged_forwarded_address_behind_a_proxy_still_counts_without_a_500(
    client, staff, settings
):
    settings.TRUSTED_PROXY_COUNT = 1

    response = client.post(
        LOGIN,
        {"username": "ops", "password": "wrong"},
        REMOTE_ADDR="10.0.0.9",
        HTTP_X_FORWARDED_FOR="'; DROP TABLE users; --",
    )

    assert response.status_code == 200
    assert AccessAttempt.objects.get().ip_address == "10.0.0.9"


def test_a_lockout_binds_the_username_and_address_together(staff, settings):
    attacker, colleague = Client(), Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        log_in(attacker, "wrong", address="198.51.100.66")

    response = log_in(colleague, PASSWORD, address="203.0.113.5")

    assert log_in(attacker, PASSWORD, address="198.51.100.66").status_code == 429
    assert response.status_code == 302
    assert logged_in(colleague)


@pytest.mark.parametrize(
    ("hops", "forwarded", "expected"),
    [
        (0, "192.0.2.1", "10.0.0.9"),  # no proxy: a client-sent header proves nothing
        (1, "192.0.2.1", "192.0.2.1"),
        (1, "6.6.6.6, 192.0.2.1", "192.0.2.1"),  # the client wrote the left part
        (2, "6.6.6.6, 192.0.2.1, 10.1.1.1", "192.0.2.1"),
        (2, "192.0.2.1", "10.0.0.9"),  # fewer entries than proxies: not vouched for
        (1, "192.0.2.1, not-an-address", "10.0.0.9"),  # no address to store
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_the_client_address_is_read_only_from_trusted_proxies(
    rf, settings, hops, forwarded, expected
):
    settings.TRUSTED_PROXY_COUNT = hops
    request = rf.get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR=forwarded)

    assert client_ip(request) == expected


def _axes_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("axes")]


def test_a_login_logs_one_axes_line_not_its_bookkeeping(client, staff, caplog):
    caplog.set_level("INFO")

    log_in(client, PASSWORD)

    # "Successful login", and none of "Reset 0", "Cleaned up 0", "Deleted 0 ..." after it
    lines = _axes_lines(caplog)
    assert len(lines) == 1, lines
    assert lines[0].startswith("AXES: Successful login by ")


def test_bookkeeping_that_cleared_something_is_still_logged(client, staff, caplog):
    log_in(client, "wrong")
    log_in(client, "wrong")
    caplog.set_level("INFO")
    caplog.clear()

    log_in(client, PASSWORD)

    lines = _axes_lines(caplog)
    assert lines[0].startswith("AXES: Successful login by ")
    assert "AXES: Reset 1 access attempts from database." in lines, lines
