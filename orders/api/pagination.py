from orderflow.api.pagination import CheckedCursorPagination


class OrderCursorPagination(CheckedCursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    max_page_size = 200


class ProductCursorPagination(CheckedCursorPagination):
    ordering = ("sku",)
    page_size = 100
    max_page_size = 500
