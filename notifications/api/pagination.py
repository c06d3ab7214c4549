from orderflow.api.pagination import CheckedCursorPagination


class WebhookEndpointCursorPagination(CheckedCursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    max_page_size = 200


class WebhookDeliveryCursorPagination(CheckedCursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    max_page_size = 200
