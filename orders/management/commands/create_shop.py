from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from orders import services


class Command(BaseCommand):
    help = "Create a shop and print its new API key alone on the last line (shown only once)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="The shop's display name.")
        parser.add_argument("--currency", default="EUR", help="ISO 4217 code (default EUR).")
        parser.add_argument("--slug", help="URL-safe identifier (default: from the name).")
        parser.add_argument("--email", default="", help="Contact e-mail for the shop.")
        parser.add_argument("--key-name", default="default", help="A label for the API key.")
        parser.add_argument(
            "--carrier",
            action="append",
            default=[],
            dest="carriers",
            help="A carrier the shop ships with (repeat for more); only these carry its "
            "parcels and report on them.",
        )

    @transaction.atomic
    def handle(self, *args, name, currency, slug, email, key_name, carriers, **options):
        try:
            shop = services.shop_create(
                name=name, currency=currency, slug=slug, contact_email=email
            )
            for carrier in carriers:
                services.shop_carrier_bind(shop=shop, carrier=carrier)
        except ValidationError as error:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.message_dict.items())
            raise CommandError(problems) from None
        _, raw_key = services.api_key_create(shop=shop, name=key_name)
        ships_with = f", ships with {', '.join(carriers)}" if carriers else ""
        self.stdout.write(
            f"Created shop {shop.name!r} (slug {shop.slug}, {shop.currency}{ships_with}). "
            "Its API key follows; it is stored hashed and will not be shown again."
        )
        self.stdout.write(raw_key)
