from django.core.management.base import BaseCommand

from orders.services.reconcile import stock_reconcile


class Command(BaseCommand):
    help = (
        "Recompute reserved stock from open orders and report drift; --fix repairs it. "
        "Reserved must equal the units of orders that hold stock (reserved, paid, confirmed)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--fix", action="store_true", help="Set reserved to the computed value."
        )
        parser.add_argument("--shop", help="Only this shop (slug).")

    def handle(self, *args, fix, shop, **options):
        drifts = stock_reconcile(fix=fix, shop_slug=shop)
        if not drifts:
            self.stdout.write(self.style.SUCCESS("No drift: reserved stock matches open orders."))
            return
        for drift in drifts:
            self.stdout.write(
                f"{drift.shop_slug}\t{drift.sku}\treserved {drift.recorded}\t"
                f"open orders hold {drift.computed}\t({drift.computed - drift.recorded:+d})"
            )
        verb = "Fixed" if fix else "Found"
        style = self.style.SUCCESS if fix else self.style.WARNING
        self.stdout.write(style(f"{verb} drift on {len(drifts)} product(s)."))
        if not fix:
            self.stdout.write("Run again with --fix to repair.")
