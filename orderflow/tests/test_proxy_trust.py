"""X-Forwarded-Proto is believed only when a trusted proxy is configured."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PRINT_HEADER = "from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"


def proxy_ssl_header(**env: str) -> str:
    """SECURE_PROXY_SSL_HEADER as a fresh process with exactly ``env`` reads it."""
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", PRINT_HEADER],
        cwd=REPO_ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_client_sent_forwarded_proto_does_not_make_a_request_secure(rf, settings):
    assert settings.TRUSTED_PROXY_COUNT == 0
    request = rf.get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")

    assert request.is_secure() is False


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "None"),
        ({"TRUSTED_PROXY_COUNT": "0"}, "None"),
        ({"TRUSTED_PROXY_COUNT": "1"}, "('HTTP_X_FORWARDED_PROTO', 'https')"),
    ],
)
def test_the_forwarded_proto_header_is_trusted_only_behind_a_proxy(env, expected):
    assert proxy_ssl_header(**env) == expected
