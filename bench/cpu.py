"""CPU accounting from ``/proc``: per process tree, and the whole box.

A process tree's CPU so far is, over its live processes, ``utime + stime + cutime + cstime``:
a child that exited and was reaped added its own time and its reaped children's to its
parent's ``cutime``/``cstime``, so every process that ever ran under the root is counted
exactly once — PostgreSQL backends that disconnected, a Celery pool process replaced, a
wrk thread — as long as the root itself lives. The difference of two readings is the CPU
the tree spent between them.
"""

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

PROC = Path("/proc")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def stat_fields(stat: str) -> list[str]:
    """The fields of a ``/proc/<pid>/stat`` line after the command name (field 3 onwards).

    The command name is in parentheses and may hold spaces and parentheses itself, so the
    line is split after its *last* closing parenthesis.
    """
    return stat.rpartition(")")[2].split()


def _children(proc: Path) -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = stat_fields((entry / "stat").read_text())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def tree(pid: int, *, proc: Path = PROC, children: Mapping[int, list[int]] | None = None):
    """``pid`` and the ids of its live descendants."""
    children = _children(proc) if children is None else children
    found, frontier = [pid], [pid]
    while frontier:
        kids = children.get(frontier.pop(), [])
        found.extend(kids)
        frontier.extend(kids)
    return found


def ticks(pid: int, *, proc: Path = PROC) -> int:
    """utime + stime + cutime + cstime of one process, in clock ticks (0 if it is gone)."""
    try:
        fields = stat_fields((proc / str(pid) / "stat").read_text())
    except (FileNotFoundError, ProcessLookupError):
        return 0
    # fields[0] is field 3 (state): utime, stime, cutime, cstime are fields 14 to 17
    return sum(int(value) for value in fields[11:15])


def tree_seconds(
    pid: int | None, *, proc: Path = PROC, children: Mapping[int, list[int]] | None = None
) -> float:
    """CPU seconds the tree under ``pid`` has spent so far (see the module's docstring)."""
    if pid is None:
        return 0.0
    children = _children(proc) if children is None else children
    return sum(ticks(p, proc=proc) for p in tree(pid, proc=proc, children=children)) / CLOCK_TICKS


def box_seconds(*, proc: Path = PROC) -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from the ``cpu`` line of /proc/stat.

    Busy is everything but idle and iowait; guest time is already inside user and nice.
    """
    line = (proc / "stat").read_text().splitlines()[0].split()
    values = [int(v) for v in line[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (values + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy / CLOCK_TICKS, (busy + idle + iowait) / CLOCK_TICKS


class Meter:
    """CPU of named process trees (one or more roots per kind) and of the box, between marks."""

    def __init__(self, roots: Mapping[str, Iterable[int | None]], *, proc: Path = PROC):
        self.roots = {kind: list(pids) for kind, pids in roots.items()}
        self.proc = proc
        self._start: dict[str, float] | None = None

    def read(self) -> dict[str, float]:
        children = _children(self.proc)
        out = {
            kind: sum(tree_seconds(pid, proc=self.proc, children=children) for pid in pids)
            for kind, pids in self.roots.items()
        }
        out["_box_busy"], out["_box_total"] = box_seconds(proc=self.proc)
        return out

    def start(self) -> None:
        self._start = self.read()

    def stop(self) -> dict[str, float]:
        """CPU seconds per kind since ``start()``, plus ``_box_busy`` and ``_box_total``."""
        if self._start is None:
            raise RuntimeError("Meter.stop() before start()")
        end = self.read()
        return {kind: end[kind] - self._start[kind] for kind in end}


def per_order_ms(spent: Mapping[str, float], orders: int) -> dict:
    """CPU milliseconds per order per kind, their total, and the box's busy CPU for comparison.

    ``total`` adds the kinds measured; ``box_busy`` is the whole machine over the same window
    (other people's work included), ``box_cores_busy`` its average busy cores.
    """
    orders = max(orders, 1)
    kinds = {k: v for k, v in spent.items() if not k.startswith("_")}
    out = {kind: round(seconds / orders * 1000, 2) for kind, seconds in sorted(kinds.items())}
    out["total"] = round(sum(kinds.values()) / orders * 1000, 2)
    if "_box_busy" in spent:
        out["box_busy"] = round(spent["_box_busy"] / orders * 1000, 2)
    return out
