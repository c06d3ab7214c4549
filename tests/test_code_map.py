"""docs/code-map.md cannot go stale silently: every repository path it names exists.

A repository path is a code span holding one relative path: with a ``/`` in it (``orders/``,
``orders/services/stock.py``) or a file name at the root (``Makefile``, ``.env.example``).
Not paths: URLs (``/api/v1/events``), placeholders (``<context>/models.py``), commands
(``manage.py load_demo``, with a space) and dotted module names (``tracking.measure_layers``).
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAP = ROOT / "docs" / "code-map.md"
CODE_SPAN = re.compile(r"`([^`\n]+)`")
#: a file at the root, named alone: a known name, or a name with a file's ending
ROOT_FILE = re.compile(
    r"^(Makefile|Dockerfile|Procfile(\.\w+)?|\.?[\w-]+\.(py|md|toml|yml|txt|example))$"
)


def repository_paths(text: str) -> list[str]:
    paths = []
    for span in CODE_SPAN.findall(text):
        if any(c in span for c in " <>*{}$") or span.startswith("/"):
            continue
        if "/" in span or ROOT_FILE.match(span):
            paths.append(span)
    return paths


def missing(text: str, root: Path = ROOT) -> list[str]:
    return [path for path in repository_paths(text) if not (root / path).exists()]


def test_every_path_on_the_code_map_exists():
    assert missing(MAP.read_text()) == []


def test_the_map_names_paths_enough_to_be_checked():
    # a map whose paths the rule no longer sees would pass with nothing checked
    paths = repository_paths(MAP.read_text())

    assert len(paths) > 150
    assert {"orders/services/returns.py", "tracking/queues.py", "Makefile", ".env.example"} <= set(
        paths
    )


def test_a_made_up_path_is_reported(tmp_path):
    (tmp_path / "orders" / "services").mkdir(parents=True)
    (tmp_path / "orders" / "services" / "stock.py").write_text("")
    (tmp_path / "Makefile").write_text("")
    text = (
        "| stock | `orders/services/stock.py`, `orders/services/made_up.py`, `orders/` |\n"
        "| the rest | `Makefile`, `Procfile`, `tracking/`, `/api/v1/events`, "
        "`<context>/models.py`, `manage.py load_demo`, `tracking.measure_layers` |\n"
    )

    assert missing(text, tmp_path) == ["orders/services/made_up.py", "Procfile", "tracking/"]
