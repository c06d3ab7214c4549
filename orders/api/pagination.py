from rest_framework.pagination import CursorPagination


class OrderCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200


class ProductCursorPagination(CursorPagination):
    ordering = ("sku",)
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 500
