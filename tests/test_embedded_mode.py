"""``make run``'s first steps on a fresh clone: migrate and load_demo on SQLite, nothing set.

The test suite runs on PostgreSQL; embedded mode's SQLite only meets the migrations here
(and in the security corpus's embedded target). A PostgreSQL-only construct in a model's
state — an ``OpClass`` index, say — breaks SQLite when a later migration makes it rebuild
the table, and every newcomer's ``make run`` with it.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _manage(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE")
        and not key.startswith("TEST_")
    }
    env |= {
        "SQLITE_PATH": str(tmp_path / "db.sqlite3"),
        "MAILBOX_PATH": str(tmp_path / "mailbox"),
        "WEBHOOK_INBOX_PATH": str(tmp_path / "webhook-inbox"),
        "PUBLIC_BASE_URL": "http://127.0.0.1:8041",
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_a_fresh_sqlite_database_migrates_and_takes_the_demo_data(tmp_path):
    migrated = _manage(tmp_path, "migrate", "--noinput", "--verbosity", "0")
    assert migrated.returncode == 0, migrated.stderr[-3000:]

    loaded = _manage(tmp_path, "load_demo")

    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.splitlines()[1] == "  Board (staff):     http://127.0.0.1:8041/staff/"
