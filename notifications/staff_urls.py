"""Staff actions on an order's e-mails (the order page itself is the tracking context's)."""

from django.urls import path

from . import staff_views

app_name = "emails"

urlpatterns = [
    path(
        "<uuid:order_id>/emails/<int:notification_id>/resend",
        staff_views.order_email_resend,
        name="email-resend",
    ),
]
