"""Run the processes a ``Procfile`` declares, each line as its own process group.

``make stack`` runs ``Procfile`` through honcho; ``make bench`` runs the same lines with this
module so that it can find each line's processes (for their CPU and memory) and stop them:
every line is ``bash -c <command>`` in a new session, its output appended to a log file.
"""

import contextlib
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
_LINE = re.compile(r"^([A-Za-z0-9_-]+):\s*(.+)$")


def parse(text: str) -> list[tuple[str, str]]:
    """(name, command) of each process line, in order; comments and blank lines skipped.

    A name may appear once only (honcho refuses duplicates too).
    """
    entries: list[tuple[str, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"Procfile line {number} is not 'name: command': {raw!r}")
        name, command = match.group(1), match.group(2).strip()
        if any(name == seen for seen, _ in entries):
            raise ValueError(f"Procfile names {name!r} twice")
        entries.append((name, command))
    return entries


def read(path: Path | str = REPO_ROOT / "Procfile") -> list[tuple[str, str]]:
    return parse(Path(path).read_text())


@dataclass
class Line:
    """One Procfile line running as ``bash -c`` in its own session."""

    name: str
    command: str
    env: dict[str, str]
    log: Path
    process: subprocess.Popen | None = None

    def start(self) -> "Line":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                ["bash", "-c", self.command],
                cwd=REPO_ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def tail(self, lines: int = 40) -> str:
        try:
            return "".join(self.log.read_text(errors="replace").splitlines(True)[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the process group; whatever is left after ``timeout`` is SIGKILLed."""
        if self.process is None:
            return
        if self.process.poll() is None:
            _signal_group(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout)
        _signal_group(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)


def start_all(
    entries: list[tuple[str, str]], env: dict[str, str], log_dir: Path
) -> dict[str, Line]:
    """Start every line; if one fails to start, stop the ones started and re-raise."""
    lines: dict[str, Line] = {}
    try:
        for name, command in entries:
            lines[name] = Line(name, command, env, log_dir / f"{name}.log").start()
    except BaseException:
        stop_all(lines)
        raise
    return lines


def stop_all(lines: dict[str, Line]) -> None:
    for line in reversed(list(lines.values())):
        line.stop()


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
