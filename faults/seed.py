"""Seed the template database: a shop, its catalog, an API key and a webhook endpoint.

Run by the suite as ``python -m faults.seed <receiver url>`` with the template database's
environment; prints what the load generator needs, and the projectors (name and event
types) whose lag the suite's backlog probe reads, as one JSON line.
"""

import json
import sys
from decimal import Decimal

import django


def main() -> None:
    django.setup()
    from notifications.services.endpoints import shop_event_types, webhook_endpoint_create
    from orders import services

    receiver_url = sys.argv[1]
    shop = services.shop_create(name="Faults Shop", currency="EUR")
    skus = [f"FAULT-{n}" for n in range(20)]
    for sku in skus:
        services.product_create(
            shop=shop, sku=sku, name=sku, price=Decimal("9.90"), stock=1_000_000
        )
    _, key = services.api_key_create(shop=shop, name="faults")
    webhook_endpoint_create(
        shop_id=shop.id, url=f"{receiver_url}/shop/{shop.id}", event_types=shop_event_types()
    )
    print(
        json.dumps({"shop_id": shop.id, "api_key": key, "skus": skus, "projectors": _projectors()})
    )


def _projectors() -> list[dict]:
    from orderflow.events.projectors import all_projectors

    return [{"name": p.name, "event_types": sorted(p.event_types)} for p in all_projectors()]


if __name__ == "__main__":
    main()
