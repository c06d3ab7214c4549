"""Where e-mail goes by default: never the log; embedded mode's local mailbox; SMTP when asked."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "import json, django; from django.conf import settings; django.setup();"
    "print(json.dumps([settings.EMAIL_BACKEND, settings.EMAIL_FILE_PATH, settings.EMAIL_HOST]))"
)


def _settings(**environment: str) -> list[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("EMAIL_URL", "EMAIL_FILE_PATH", "DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env |= {"DJANGO_SETTINGS_MODULE": "orderflow.settings", **environment}
    done = subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("environment", "backend"),
    [
        ({"DATABASE_URL": "postgres://u@127.0.0.1/x"}, "django.core.mail.backends.filebased"),
        ({}, "notifications.mailbox.MailboxBackend"),
        (
            {"DATABASE_URL": "postgres://u@127.0.0.1/x", "EMAIL_URL": "mailbox://"},
            "notifications.mailbox.MailboxBackend",
        ),
        ({"EMAIL_URL": "consolemail://"}, "django.core.mail.backends.console"),
        (
            {"DATABASE_URL": "postgres://u@127.0.0.1/x", "EMAIL_URL": "smtp+tls://u:p@mx:587"},
            "django.core.mail.backends.smtp",
        ),
    ],
    ids=[
        "full-mode-file-outbox",
        "embedded-local-mailbox",
        "full-mode-mailbox-when-asked",
        "console-when-asked",
        "smtp-when-set",
    ],
)
def test_the_default_email_backend(environment, backend):
    email_backend, file_path, host = _settings(**environment)

    assert email_backend == (backend if backend.endswith("Backend") else f"{backend}.EmailBackend")
    assert file_path == str(ROOT / "var" / "mail")
    if backend.endswith("smtp"):
        assert host == "mx"
