"""``manage.py check_invariants``: does the database still hold what OrderFlow promises?"""

import argparse
import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from django.db import DatabaseError, connection

# the kernel's own checks; each context's come from its ``invariants`` module
from orderflow.events import invariants as _kernel_invariants  # noqa: F401
from orderflow.events import projector_invariants as _projector_invariants  # noqa: F401
from orderflow.invariants import Window, all_invariants, run_invariant

EPILOG = """\
Invariants (each PASS or FAIL with the rows checked and the violations found):
  events.nothing_stuck            no outbox row unrelayed, no delivery due or leased past
                                  the stuck threshold
  events.no_dead_letters          no delivery of the window is a dead letter
  events.done_has_inbox_entry     every done delivery has its inbox entry (effect once)
  events.sequence_gap_free        each aggregate's events numbered without gap or repeat
  events.projectors_caught_up     no projector behind the feed past the stuck threshold
  events.no_parked_events         no event of the window parked by a projector
  orders.one_order_per_key        at most one order per shop and idempotency key
                                  (or correlation id)
  orders.placed_event             every order has its order.placed event
  orders.transition_once          no order entered the same status twice
  orders.status_matches_history   an order's status is its last transition's
  orders.stock_balanced           on hand >= reserved >= 0; reserved = open orders' units
  payments.one_capture_per_order  no payment captured twice at the gateway
  payments.refunds_add_up         refunded amount = sum of succeeded refunds
  tracking.history_gap_free       an order's history is its events 1..n, once each
  tracking.matches_order          tracking keeps up and shows the order's status
  notifications.one_webhook_success  at most one successful POST per endpoint and event
  notifications.nothing_stuck     no e-mail or webhook waiting past its time

Read-only and bounded: each check runs in its own READ ONLY, REPEATABLE READ transaction
with a statement timeout, over the rows of the last --hours; a check that times out is
reported as an error (and counts as FAIL). Exit status 1 if any invariant fails.
"""


class Command(BaseCommand):
    help = (
        "Check OrderFlow's invariants against the database, read-only: print one PASS/FAIL "
        "line per invariant with counts, and exit 1 if any fails."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        return super().create_parser(
            prog_name, subcommand, formatter_class=_Formatter, epilog=EPILOG, **kwargs
        )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print one JSON document.")
        parser.add_argument(
            "--hours", type=float, default=24.0, help="Look at rows of the last HOURS (24)."
        )
        parser.add_argument(
            "--stuck-after",
            type=float,
            default=None,
            metavar="SECONDS",
            help="Work due longer than this is stuck (default: 30 sweep intervals, at least 30 s).",
        )
        parser.add_argument(
            "--max-rows",
            type=int,
            default=5000,
            help="Bound for checks that compare row by row (5000).",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=30.0,
            metavar="SECONDS",
            help="Statement timeout for each check's queries (30).",
        )
        parser.add_argument(
            "--only", action="append", default=[], metavar="PREFIX", help="e.g. orders."
        )

    def handle(self, *args, **options):
        stuck_after = options["stuck_after"]
        if stuck_after is None:
            stuck_after = max(30 * settings.EVENTS_SWEEP_INTERVAL, 30.0)
        window = Window.ending_now(
            hours=options["hours"], stuck_seconds=stuck_after, max_rows=options["max_rows"]
        )
        selected = [
            inv
            for inv in all_invariants()
            if not options["only"] or any(inv.name.startswith(p) for p in options["only"])
        ]
        if not selected:
            raise CommandError("No invariant matches --only.")
        try:
            connection.ensure_connection()
        except DatabaseError as error:
            # one clear line, rather than every check waiting out the pool's timeout
            raise CommandError(f"Cannot reach the database: {error}") from error
        results = [
            run_invariant(inv, window, timeout_seconds=options["timeout"]) for inv in selected
        ]
        failed = [r for r in results if not r.passed]
        if options["json"]:
            self.stdout.write(json.dumps(_document(results, window, stuck_after), indent=2))
        else:
            self._print(results)
        if failed:
            raise SystemExit(1)

    def _print(self, results) -> None:
        width = max(len(r.name) for r in results)
        for r in results:
            verdict = self.style.SUCCESS("PASS") if r.passed else self.style.ERROR("FAIL")
            counts = f"checked={r.checked} violations={r.violations}"
            self.stdout.write(f"{verdict}  {r.name:<{width}}  {counts}")
            if r.error:
                self.stdout.write(f"      error: {r.error}")
            for example in r.examples:
                self.stdout.write(f"      - {example}")
        failed = sum(not r.passed for r in results)
        summary = f"{len(results) - failed} passed, {failed} failed"
        self.stdout.write(self.style.ERROR(summary) if failed else self.style.SUCCESS(summary))


def _document(results, window: Window, stuck_after: float) -> dict:
    return {
        "passed": all(r.passed for r in results),
        "checked_at": window.now.isoformat(),
        "since": window.since.isoformat(),
        "stuck_after_seconds": stuck_after,
        "invariants": [
            {
                "name": r.name,
                "passed": r.passed,
                "checked": r.checked,
                "violations": r.violations,
                "examples": r.examples,
                "error": r.error,
                "description": r.description,
            }
            for r in results
        ],
    }


class _Formatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Keep the epilog's table as written (argparse would rewrap it)."""
