"""The image's HEALTHCHECK names each container's role from what the entrypoint runs.

Without an argument, ``deploy/healthcheck.py`` reads the role from the processes in
``/proc``; a role it does not recognise counts as healthy, unchecked. Each role's command
line here is the one ``deploy/entrypoint.sh`` really executes: the entrypoint runs with
stand-ins for ``python``, ``granian`` and ``celery`` first on the PATH, which record their
arguments as ``/proc/<pid>/cmdline`` would show them.
"""

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

STAND_IN = """#!/bin/sh
{ printf '%s\\0' "$0"; for arg in "$@"; do printf '%s\\0' "$arg"; done; } > "$CMDLINE_OUT"
"""


@pytest.fixture(scope="module")
def healthcheck():
    spec = importlib.util.spec_from_file_location(
        "healthcheck", REPO_ROOT / "deploy" / "healthcheck.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _entrypoint_cmdline(role: str, tmp_path: Path) -> bytes:
    """What ``entrypoint.sh <role>`` executes, as the bytes of its process's cmdline."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for program in ("python", "granian", "celery"):
        stand_in = bin_dir / program
        stand_in.write_text(STAND_IN)
        stand_in.chmod(0o755)
    out = tmp_path / "cmdline"
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CMDLINE_OUT": str(out),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    subprocess.run(["sh", str(REPO_ROOT / "deploy" / "entrypoint.sh"), role], env=env, check=True)
    return out.read_bytes()


def _proc_with(tmp_path: Path, *cmdlines: bytes) -> Path:
    proc = tmp_path / "proc"
    for pid, cmdline in enumerate(cmdlines, start=1):
        (proc / str(pid)).mkdir(parents=True)
        (proc / str(pid) / "cmdline").write_bytes(cmdline)
    (proc / "self").mkdir()  # not a pid: never read
    return proc


@pytest.mark.parametrize(
    ("role", "checked_as"),
    [("web", "web"), ("websocket", "web"), ("http", "web"), ("worker", "worker"), ("beat", None)],
)
def test_each_entrypoint_role_is_checked_as_what_it_serves(
    healthcheck, tmp_path: Path, role: str, checked_as: str | None
):
    served = _entrypoint_cmdline(role, tmp_path)
    itself = b"python\0/app/deploy/healthcheck.py\0"  # the check runs in the container too

    assert healthcheck.detect_role(_proc_with(tmp_path, itself, served)) == checked_as


def test_a_server_run_by_hand_is_a_web_role(healthcheck, tmp_path: Path):
    gunicorn = b"/venv/bin/python\0/venv/bin/gunicorn\0-c\0deploy/gunicorn.conf.py\0"

    assert healthcheck.detect_role(_proc_with(tmp_path, gunicorn)) == "web"
