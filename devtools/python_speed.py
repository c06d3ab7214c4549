"""How fast an interpreter runs plain Python: compare builds of the same version.

    .venv/bin/python -m devtools.python_speed [--rounds 7]
    /usr/bin/python3.11 devtools/python_speed.py
    ~/.pyenv/versions/3.11.7/bin/python devtools/python_speed.py

Runs a fixed piece of work of the kinds OrderFlow's processes spend their time on — dicts
and lists built, JSON encoded and decoded, small objects made and their methods called,
a regular expression matched — and prints the best of ``--rounds`` runs in process CPU
milliseconds, with the interpreter's version and path. Standard library only, so any
Python 3.11 runs it without a venv. Two builds of one version differ here by how they
were compiled (profile-guided and link-time optimisation, a static or a shared libpython):
docs/performance.md and the Makefile's choice of ``PYTHON``.
"""

import argparse
import json
import os
import platform
import re
import sys
import time

EMAIL = re.compile(r"(\w+)@(\w+)\.example")


class _Line:
    def __init__(self, quantity: int):
        self.quantity = quantity

    def total(self) -> int:
        return self.quantity * 3 + 1


def work() -> int:
    """One round: about 0.1 s of CPU on the project's 2-core machine."""
    rows = {str(i): [i, i * 2, {"sku": f"SKU-{i}", "quantity": i % 7}] for i in range(20_000)}
    decoded = json.loads(json.dumps(rows))
    total = sum(_Line(i).total() for i in range(200_000))
    matched = sum(1 for i in range(20_000) if EMAIL.match(f"customer{i}@shop.example"))
    return len(decoded) + total + matched


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    best = float("inf")
    for _ in range(max(1, args.rounds)):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    executable = os.path.realpath(sys.executable)
    version = platform.python_version()
    print(f"{best * 1000:.1f} ms CPU (best of {args.rounds}): Python {version}, {executable}")


if __name__ == "__main__":
    main()
