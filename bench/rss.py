"""Peak resident memory of a process the bench started, and of its children.

The kernel keeps each process's high-water mark (``VmHWM`` in ``/proc/<pid>/status``), so
one reading just before the process is stopped gives its peak over its whole life: no
sampling thread, and no dependency (psutil is not installed).
"""

import tempfile
import time
from pathlib import Path

from devtools.processes import ManagedProcess, celery_beat, celery_worker

from . import live

PROC = Path("/proc")


def peak_rss_mb(process: ManagedProcess) -> dict:
    """Peak RSS of ``process`` and of each of its live descendants, in MiB.

    Call it while the process runs (before ``stop()``): a process that has exited has no
    ``/proc`` entry left to read. Returns ``{"parent": …, "children": [...], "max_child":
    …, "total": …}``; ``total`` adds the peaks, an upper bound of what they held at once
    (copy-on-write pages shared after a fork are counted in each process).
    """
    if process.pid is None:
        raise RuntimeError(f"{process.name} was never started")
    parent = _vm_hwm_kib(process.pid)
    children = [kib for kib in map(_vm_hwm_kib, descendants(process.pid)) if kib is not None]
    if parent is None:
        raise RuntimeError(f"{process.name} (pid {process.pid}) is not running")
    children_mb = sorted((round(kib / 1024, 1) for kib in children), reverse=True)
    return {
        "parent": round(parent / 1024, 1),
        "children": children_mb,
        "max_child": children_mb[0] if children_mb else None,
        "total": round((parent + sum(children)) / 1024, 1),
    }


def after_boot(env: dict[str, str], *, settle_seconds: float = 3) -> dict:
    """Peak RSS of daphne, a Celery worker (2 processes) and beat, started and left idle.

    The floor each process kind costs; the end-to-end phases read the same processes
    under load with :func:`peak_rss_mb`.
    """
    with tempfile.TemporaryDirectory(prefix="orderflow-bench-beat-") as schedule_dir:
        processes = {
            "daphne": live.daphne(env, live.free_port()),
            "celery_worker": celery_worker(env, concurrency=2, name="rss"),
            "celery_beat": celery_beat(env, schedule_dir=schedule_dir),
        }
        try:
            for process in processes.values():
                process.start()
            time.sleep(settle_seconds)
            return {kind: peak_rss_mb(process) for kind, process in processes.items()}
        finally:
            for process in processes.values():
                process.stop()


def _vm_hwm_kib(pid: int) -> int | None:
    try:
        status = (PROC / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None


def descendants(pid: int) -> list[int]:
    """The ids of the live processes under ``pid``, its children's children included."""
    children_of: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        # the command name (2nd field) is in parentheses and may hold spaces: split after it
        ppid = int(stat.rpartition(")")[2].split()[1])
        children_of.setdefault(ppid, []).append(int(entry.name))
    found, frontier = [], [pid]
    while frontier:
        kids = children_of.get(frontier.pop(), [])
        found.extend(kids)
        frontier.extend(kids)
    return found
