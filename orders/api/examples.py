"""Example requests and answers of the orders API, as ReDoc and Swagger UI show them.

Taken from real answers of the API (ids, numbers and times kept as they came) and checked
against the schema by ``orderflow/tests/api/test_operation_docs.py``. A list operation
names one item: drf-spectacular wraps it in the list and the page.
"""

from drf_spectacular.utils import OpenApiExample

ORDER_ID = "9ecfe41b-8a39-47e1-8b81-2aae8cf53595"

ORDER_BODY = {
    "customer": {"name": "Ana Souza", "email": "ana@example.com", "locale": "pt-BR"},
    "shipping_address": {
        "line1": "Rua A 1",
        "city": "São Paulo",
        "postal_code": "01000-000",
        "country": "BR",
    },
    "lines": [{"sku": "COFFEE-1KG", "quantity": 2}, {"sku": "MUG-CERAMIC", "quantity": 1}],
    "payment": {"token": "tok_ok"},
    "external_reference": "checkout-1042",
    "metadata": {"channel": "web"},
}

TRACKING_URL = "http://127.0.0.1:8000/track/kqYZLZ1hsgYYXxtffI2Slumj9eCv6iOw"
ORDER = {
    "id": ORDER_ID,
    "number": "OF-7SR8K4PG",
    "external_reference": "checkout-1042",
    "status": "placed",
    "status_reason": "",
    "currency": "EUR",
    "prices_include_tax": True,
    "subtotal": "59.70",
    "discount_total": "0.00",
    "discounts": [],
    "shipping_method": "",
    "shipping_total": "0.00",
    "tax_total": "9.95",
    "total": "59.70",
    "payment_mode": "charge",
    "payment_status": "pending",
    "refunded_total": "0.00",
    "customer": {"name": "Ana Souza", "email": "ana@example.com", "locale": "pt-BR"},
    "shipping_address": {
        "line1": "Rua A 1",
        "city": "São Paulo",
        "postal_code": "01000-000",
        "country": "BR",
    },
    "lines": [
        {
            "sku": "COFFEE-1KG",
            "name": "Coffee beans, 1 kg",
            "unit_price": "24.90",
            "quantity": 2,
            "discount_amount": "0.00",
            "line_total": "49.80",
            "tax_rate": "0.2000",
            "tax_amount": "8.30",
        },
        {
            "sku": "MUG-CERAMIC",
            "name": "Ceramic mug",
            "unit_price": "9.90",
            "quantity": 1,
            "discount_amount": "0.00",
            "line_total": "9.90",
            "tax_rate": "0.2000",
            "tax_amount": "1.65",
        },
    ],
    "allowed_actions": ["cancel"],
    "carrier": "",
    "tracking_number": "",
    "shipments": [],
    "tracking_url": TRACKING_URL,
    "metadata": {"channel": "web"},
    "created_at": "2026-11-25T10:53:32.345268Z",
    "updated_at": "2026-11-25T10:53:32.345286Z",
}
CONFIRMED = {
    **ORDER,
    "status": "confirmed",
    "payment_status": "captured",
    "allowed_actions": ["cancel", "ship"],
    "updated_at": "2026-11-25T10:53:33.101552Z",
}
SHIPPED = {
    **CONFIRMED,
    "status": "shipped",
    "allowed_actions": ["out_for_delivery", "deliver"],
    "carrier": "DHL",
    "tracking_number": "JD014600006281",
    "shipments": [
        {
            "id": "3f1d2c8e-5b7a-4e0f-9a41-6c2b8d9e7f10",
            "status": "in_transit",
            "carrier": "DHL",
            "service": "",
            "tracking_number": "JD014600006281",
            "lines": [{"sku": "COFFEE-1KG", "quantity": 2}, {"sku": "MUG-CERAMIC", "quantity": 1}],
            "eta": None,
            "tracking_url": TRACKING_URL,
            "created_at": "2026-11-25T14:02:11.408120Z",
            "updated_at": "2026-11-25T14:02:11.408120Z",
        }
    ],
    "updated_at": "2026-11-25T14:02:11.408120Z",
}


def order_answer(name: str, order: dict, status: str = "200") -> OpenApiExample:
    return OpenApiExample(name, value=order, response_only=True, status_codes=[status])


def no_body(name: str = "No body") -> OpenApiExample:
    """An action that takes no fields: no body at all, or ``{}``."""
    return OpenApiExample(name, value={}, request_only=True)


ORDER_CREATE = [
    OpenApiExample("Charge a card", value=ORDER_BODY, request_only=True),
    OpenApiExample(
        "Paid at the shop's own checkout",
        value={
            **ORDER_BODY,
            "payment": {"external_reference": "pi_3PqLx2", "amount": "59.70"},
            "shipping_method": "post",
            "discount_codes": ["COFFEE10"],
        },
        request_only=True,
    ),
    order_answer("Placed", ORDER, "201"),
]

PRODUCT = {
    "sku": "TEA-1KG",
    "name": "Black tea, 1 kg",
    "price": "18.50",
    "currency": "EUR",
    "tax_class": "standard",
    "weight_grams": 1050,
    "stock": 40,
    "reserved": 0,
    "available": 40,
}
PRODUCT_CREATE = [
    OpenApiExample(
        "Black tea",
        value={
            "sku": "TEA-1KG",
            "name": "Black tea, 1 kg",
            "price": "18.50",
            "stock": 40,
            "weight_grams": 1050,
        },
        request_only=True,
    ),
    OpenApiExample("Added", value=PRODUCT, response_only=True, status_codes=["201"]),
]
PRODUCT_UPDATE = [
    OpenApiExample("New price and stock", value={"price": "19.90", "stock": 55}, request_only=True),
    OpenApiExample(
        "Changed",
        value={**PRODUCT, "price": "19.90", "stock": 55, "available": 55},
        response_only=True,
    ),
]

CARRIER_EVENT = [
    OpenApiExample(
        "A failed delivery attempt",
        value={
            "tracking_number": "JD014600006281",
            "status": "delivery_failed",
            "location": "São Paulo depot",
            "note": "Nobody at home; we will try again tomorrow.",
            "event_id": "dhl-evt-88412",
        },
        request_only=True,
    ),
    OpenApiExample(
        "A parcel held for collection",
        value={
            "tracking_number": "JD014600006281",
            "status": "held",
            "location": "DHL ServicePoint, Rua Augusta 1200, São Paulo",
            "note": "Address incomplete: kept for collection for 7 days.",
            "event_id": "dhl-evt-88413",
        },
        request_only=True,
    ),
    OpenApiExample(
        "Recorded",
        value={"order_number": "OF-7SR8K4PG", "status": "shipped", "duplicate": False},
        response_only=True,
    ),
]
