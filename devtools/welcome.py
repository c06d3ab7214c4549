"""``python -m devtools.welcome FILE URL``: print what ``load_demo`` said, once the server answers.

``make run`` writes load_demo's summary (pages, logins, the demo key, a curl) to FILE
instead of the terminal, where the server's start-up lines would bury it; this process
(in Procfile.embedded) waits until URL answers, prints the summary as the last thing on
the terminal and removes FILE: the passwords and the key are shown once, and not kept
on disk. It then waits to be stopped, since honcho stops every process when one exits.
"""

import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

#: how long the server may take to answer for the first time
WAIT_SECONDS = 120.0


def server_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310  (our own server)
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:
        return False


def wait_for(url: str, *, seconds: float = WAIT_SECONDS) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server_answers(url):
            return True
        time.sleep(0.5)
    return False


def show(path: Path, url: str, *, out=sys.stdout, seconds: float = WAIT_SECONDS) -> bool:
    """Wait for the server at ``url``, then print the summary in ``path`` and remove it."""
    if not wait_for(f"{url.rstrip('/')}/healthz", seconds=seconds):
        print(f"The server did not answer at {url} within {seconds:g} s.", file=sys.stderr)
        return False
    if not path.exists():  # shown already (a second welcome, a restart)
        return False
    summary = path.read_text()
    path.unlink()
    print(f"\n{summary.rstrip()}\n\nReady (Ctrl-C stops it).", file=out, flush=True)
    return True


def main(argv: list[str]) -> int:
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    show(Path(argv[0]), argv[1])
    while not stop:
        signal.pause()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
