import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from orderflow.roles import ROLES, roles_sync
from orders import services
from orders.models import Shop
from orders.services import price_settings

DEMO_SHOP_SLUG = "demo-coffee"
#: the carrier the demo shop ships with (the simulator plays it; its secret is in DEBUG's
#: CARRIER_SECRETS)
DEMO_CARRIER = "demo-post"
#: sku, name, price (tax included), stock, tax class, weight in grams: coffee is food, at
#: the reduced rate; the rest at the standard one
DEMO_PRODUCTS = [
    ("COFFEE-1KG", "Coffee beans, 1 kg", "24.90", 500, "reduced", 1000),
    ("COFFEE-250G", "Coffee beans, 250 g", "7.90", 800, "reduced", 250),
    ("ESPRESSO-1KG", "Espresso blend, 1 kg", "27.50", 300, "reduced", 1000),
    ("DECAF-500G", "Decaf, 500 g", "13.40", 120, "reduced", 500),
    ("GRINDER-HAND", "Hand grinder", "59.00", 40, "standard", 600),
    ("GRINDER-ELEC", "Electric burr grinder", "189.00", 15, "standard", 3500),
    ("MOKA-6", "Moka pot, 6 cups", "34.90", 60, "standard", 800),
    ("FRENCH-PRESS", "French press, 1 l", "29.90", 75, "standard", 700),
    ("FILTER-100", "Paper filters, 100", "3.50", 1000, "standard", 150),
    ("MUG-CERAMIC", "Ceramic mug", "9.90", 200, "standard", 400),
    ("SCALE-01", "Brewing scale, 0.1 g", "39.00", 25, "standard", 500),
    ("KETTLE-GOOSE", "Gooseneck kettle", "69.00", 3, "standard", 1200),
]
#: the shop's standard rate (its own ``tax_rate``) and its other rates, (class, country,
#: rate): a blank country is every other country (docs/pricing.md)
DEMO_STANDARD_RATE = Decimal("0.20")
DEMO_TAX_RATES = [("reduced", "", Decimal("0.055"))]
#: post, by weight, is the default: an order that names no method ships by post
DEMO_SHIPPING_METHODS = [
    {
        "code": "post",
        "name": "Post, by weight",
        "kind": "weight",
        "weight_bands": [
            {"up_to_grams": 1000, "price": "5.00"},
            {"up_to_grams": 5000, "price": "9.00"},
            {"up_to_grams": 20000, "price": "15.00"},
        ],
        "free_above": Decimal("80.00"),
        "is_default": True,
    },
    {
        "code": "courier",
        "name": "Courier, next working day",
        "kind": "flat",
        "price": Decimal("14.90"),
        "countries": ["BR", "PT"],
    },
]


class Command(BaseCommand):
    help = (
        "Load demo data: a demo shop with a fresh API key, a dozen products with stock, a "
        "superuser and one staff user per role (viewer, operator, supervisor), each with a "
        "random password printed once. Safe to run again: it tops up what is missing, keeps "
        "existing users' passwords and prints a new key."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin", help="The superuser's name.")
        parser.add_argument(
            "--password",
            help="The superuser's password (default: a random one). With DEBUG off it must "
            "pass the password validators.",
        )
        parser.add_argument(
            "--base-url",
            help="Where the server will answer (default: PUBLIC_BASE_URL, else "
            "http://127.0.0.1:8000); the printed links start with it.",
        )

    @transaction.atomic
    def handle(self, *args, username, password, base_url, **options):
        shop = Shop.objects.filter(slug=DEMO_SHOP_SLUG).first() or services.shop_create(
            name="Demo Coffee Roasters",
            currency="EUR",
            slug=DEMO_SHOP_SLUG,
            contact_email="shop@example.com",
        )
        existing = set(shop.products.values_list("sku", flat=True))
        for sku, name, price, stock, tax_class, weight in DEMO_PRODUCTS:
            if sku not in existing:
                services.product_create(
                    shop=shop,
                    sku=sku,
                    name=name,
                    price=Decimal(price),
                    stock=stock,
                    tax_class=tax_class,
                    weight_grams=weight,
                )
        _pricing(shop)
        services.shop_carrier_bind(shop=shop, carrier=DEMO_CARRIER)
        _, raw_key = services.api_key_create(shop=shop, name="demo")

        if password is not None and not settings.DEBUG:
            # a password typed on a command line of a real deployment must not be a weak one
            try:
                validate_password(password)
            except ValidationError as error:
                raise CommandError(f"--password: {' '.join(error.messages)}") from None
        roles_sync()
        logins = [_login(username, password=password, role=None)] + [
            _login(role, password=None, role=role) for role in ROLES
        ]

        base_url = (base_url or settings.PUBLIC_BASE_URL or DEFAULT_BASE_URL).rstrip("/")
        self.stdout.write(summary(base_url=base_url, shop=shop, logins=logins, raw_key=raw_key))


def _pricing(shop: Shop) -> None:
    """Give the demo shop its tax rates and shipping methods, the ones it lacks.

    A shop that has any already keeps them as they are (someone may have changed them to
    try pricing out); its standard rate is set while it is still 0.
    """
    if not shop.tax_rate:
        price_settings.shop_settings_update(shop=shop, tax_rate=DEMO_STANDARD_RATE)
    if not shop.tax_rates.exists():
        for tax_class, country, rate in DEMO_TAX_RATES:
            price_settings.tax_rate_create(
                shop=shop, tax_class=tax_class, country=country, rate=rate
            )
    if not shop.shipping_methods.exists():
        for method in DEMO_SHIPPING_METHODS:
            price_settings.shipping_method_create(shop=shop, **method)


#: where ``runserver`` answers when nothing says otherwise
DEFAULT_BASE_URL = "http://127.0.0.1:8000"


def summary(*, base_url: str, shop: Shop, logins: list[tuple[str, str, str]], raw_key: str) -> str:
    """What a newcomer needs to start: the pages, the logins per role, the key, one curl.

    ``make run`` prints it last, once the server answers (devtools/welcome.py), so that it
    is not buried under the server's start-up lines. The curl is one line: it stays
    copyable from any terminal.
    """
    order = (
        '{"customer": {"name": "Ana Souza", "email": "ana@example.com"}, '
        '"shipping_address": {"line1": "Rua A 1", "city": "São Paulo", '
        '"postal_code": "01000-000", "country": "BR"}, '
        '"lines": [{"sku": "COFFEE-1KG", "quantity": 2}], "payment": {"token": "tok_ok"}}'
    )
    pages = [
        ("Board (staff)", "/staff/"),
        ("Outbox (e-mails)", "/staff/outbox/"),
        ("Webhook inbox", "/staff/webhook-inbox/"),
        ("API docs", "/api/docs/"),
        ("Admin", "/admin/"),
    ]
    lines = [f"OrderFlow at {base_url}, demo shop {shop.name} ({len(DEMO_PRODUCTS)} products)"]
    lines += [f"  {label + ':':<18} {base_url}{path}" for label, path in pages]
    lines.append("Staff logins (a new password is shown only once):")
    lines += [f"  {name:<12} {role:<11} {shown}" for name, role, shown in logins]
    lines.append("What each role may do:")
    lines += [f"  {role:<12} {role_summary(role)}" for role in ROLES]
    lines.append(f"Demo shop API key: {raw_key}")
    lines.append("Place an order:")
    lines.append(
        f"  curl -s {base_url}/api/v1/orders -H 'Authorization: Bearer {raw_key}' "
        "-H 'Content-Type: application/json' -H \"Idempotency-Key: $(date +%s%N)\" "
        f"-d '{order}'"
    )
    return "\n".join(lines)


def role_summary(role: str) -> str:
    """What a role may do, from its permissions, in a few words (a superuser: everything)."""
    if role not in ROLES:
        return "everything, the admin included"
    names = list(ROLES)
    before = names[names.index(role) - 1] if names.index(role) else None
    added = [c for c in ROLES[role] if before is None or c not in ROLES[before]]
    words = ", ".join(codename.replace("_", " ") for codename in added)
    return words if before is None else f"as {before}, and: {words}"


def _login(username: str, *, password: str | None, role: str | None) -> tuple[str, str, str]:
    """Create the user (a superuser when ``role`` is None) unless it exists; say how to log in.

    A new user gets ``password`` or a random one, never a fixed demo password: the demo data
    may well be loaded where others can reach the server.
    """
    User = get_user_model()
    user = User.objects.filter(username=username).first()
    shown = "(already existed; password unchanged)"
    if user is None:
        password = password or secrets.token_urlsafe(12)
        if role is None:
            user = User.objects.create_superuser(username=username, email="", password=password)
        else:
            user = User.objects.create_user(username=username, password=password, is_staff=True)
        shown = password
    if role is not None:
        user.groups.add(Group.objects.get(name=role))
    return username, role or "superuser", shown
