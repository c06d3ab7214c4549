"""The import rules that keep the contexts apart, checked on every module's imports.

- The kernel (``orderflow``) imports no context, except the wiring declared below.
- A context imports another only through its ``events`` (what it publishes) and its
  ``interface`` (its small read surface), never its models, services or selectors.
- Nothing in the kernel or a context imports the tooling: the demo (``demo``), which uses the
  contexts from the outside, as a client would, and the developer tools (``devtools``: the
  processes the tests run, the measurement tools, which place orders as tests do).

Tests are outside the rules (a cross-context test may set up any context's rows), and so
are migrations. Imports inside functions count too: a hidden import is still a dependency.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KERNEL = "orderflow"
CONTEXTS = ("orders", "payments", "tracking", "notifications")
TOOLING = ("demo", "devtools")
#: what another context may import of a context
PUBLIC_SURFACE = ("events", "interface")
#: the kernel's imports of a context, each with why it is wiring and not a dependency
KERNEL_WIRING = {
    # the ASGI application mounts tracking's socket routes, as urls.py mounts the contexts'
    # URLs (by string there); docs/architecture.md, "Wiring"
    ("orderflow/asgi.py", "tracking.routing"),
}


def _modules():
    for package in (KERNEL, *CONTEXTS, *TOOLING):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).parts
            if "tests" in parts or "migrations" in parts:
                continue
            yield path


def _imports(path: Path):
    """Each absolute module ``path`` imports (``from orders import x`` gives ``orders.x`` too)."""
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            if "." not in node.module:
                # ``from orders import interface`` names the module it takes
                yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _broken_rules(path: Path) -> list[str]:
    relative = path.relative_to(ROOT).as_posix()
    owner = relative.split("/")[0]
    broken = []
    for name in sorted(set(_imports(path))):
        parts = name.split(".")
        target = parts[0]
        if target == owner:
            continue
        if target in TOOLING and owner in (KERNEL, *CONTEXTS):
            broken.append(f"{relative} imports the tooling: {name}")
        elif target not in CONTEXTS or owner in TOOLING:
            continue
        elif owner == KERNEL:
            if (relative, name) not in KERNEL_WIRING:
                broken.append(f"{relative} (the kernel) imports a context: {name}")
        elif len(parts) == 1:
            # ``from orders import x``: fine when each x is events or interface (checked as
            # orders.x); ``import orders`` alone reaches everything
            if not _names_only_the_surface(path, target):
                broken.append(f"{relative} imports {name} beyond its events and interface")
        elif parts[1] not in PUBLIC_SURFACE:
            broken.append(f"{relative} imports {name}: only {target}.events or .interface")
    return broken


def _names_only_the_surface(path: Path, target: str) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import) and any(a.name == target for a in node.names):
            return False
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module == target
            and any(alias.name not in PUBLIC_SURFACE for alias in node.names)
        ):
            return False
    return True


def test_the_kernel_and_the_contexts_keep_to_the_import_rules():
    broken = [rule for path in _modules() for rule in _broken_rules(path)]

    assert broken == []


def test_every_declared_exception_is_still_needed():
    # an exception nobody uses any more would let the next one in unnoticed
    imports = {path.relative_to(ROOT).as_posix(): set(_imports(path)) for path in _modules()}

    assert [(path, name) for path, name in KERNEL_WIRING if name not in imports[path]] == []


@pytest.mark.parametrize(
    ("owner", "source", "broken"),
    [
        ("payments", "from orders.models import Order", True),
        ("payments", "from orders.services import order_place", True),
        ("payments", "import orders.selectors", True),
        ("payments", "from orders import models", True),
        ("payments", "from orders import events, interface", False),
        ("payments", "from orders.interface import order_payment_request", False),
        ("tracking", "def f():\n    from payments.models import Payment\n", True),
        ("orderflow", "from orders import interface", True),
        ("orderflow", "from demo.traffic import SIMULATOR_USER_AGENT", True),
        ("orders", "from demo.management.commands.load_demo import DEMO_SHOP_SLUG", True),
        ("demo", "from orders.services import product_create", False),
        ("devtools", "from orders.models import Product", False),
        ("payments", "from devtools.saga_steps_cpu import main", True),
    ],
)
def test_the_rules_see_a_crossing(tmp_path, monkeypatch, owner, source, broken):
    # given a module of ``owner`` with ``source``, laid out as in the repository
    module = tmp_path / owner / "module.py"
    module.parent.mkdir()
    module.write_text(source)
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)

    assert bool(_broken_rules(module)) is broken
