"""Example answers and requests of the payments API, as ReDoc and Swagger UI show them.

Checked against the schema by ``orderflow/tests/api/test_operation_docs.py``.
"""

from drf_spectacular.utils import OpenApiExample

INVOICE = {
    "id": "5b0c1d7e-2f4a-4c8e-9a61-0d2e7c3b9f14",
    "number": "2026-000123",
    "kind": "invoice",
    "order_id": "9ecfe41b-8a39-47e1-8b81-2aae8cf53595",
    "order_number": "OF-7SR8K4PG",
    "seller": {
        "name": "Café Aurora",
        "legal_name": "Café Aurora Lda.",
        "email": "orders@cafe-aurora.example",
        "address": "Rua das Flores 12, 1200-195 Lisboa, PT",
        "tax_id": "PT509876543",
    },
    "buyer": {
        "name": "Ana Souza",
        "email": "ana@example.com",
        "address": "Rua A 1, 01000-000 São Paulo, BR",
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
    "currency": "EUR",
    "discount_total": "0.00",
    "shipping_total": "0.00",
    "subtotal": "49.75",
    "tax_rate": "0.2000",
    "taxes": [{"rate": "0.2000", "net": "49.75", "tax": "9.95"}],
    "tax": "9.95",
    "total": "59.70",
    "issued_at": "2026-11-25T10:53:33.204117Z",
    "credit_note": None,
    "credit_notes": [],
}

REFUND = {
    "id": "0c6f2a55-7d1e-4b3a-8f0e-3a9d5b1c7e22",
    "amount": "9.90",
    "currency": "EUR",
    "status": "succeeded",
    "reason": "The mug arrived chipped.",
    "lines": [{"sku": "MUG-CERAMIC", "quantity": 1}],
    "restock": False,
    "credit_note": "2026-000131",
    "created_at": "2026-11-27T09:12:40.551203Z",
}

REFUND_CREATE = [
    OpenApiExample(
        "A line's share",
        value={
            "lines": [{"sku": "MUG-CERAMIC", "quantity": 1}],
            "reason": "The mug arrived chipped.",
        },
        request_only=True,
    ),
    OpenApiExample(
        "An amount", value={"amount": "5.00", "reason": "Late delivery"}, request_only=True
    ),
    OpenApiExample("Refunded", value=REFUND, response_only=True, status_codes=["201"]),
]
