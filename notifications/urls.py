"""Staff pages of notifications (the Outbox, the webhook inbox) and the inbox's receiving URL."""

from django.urls import path

from . import views

app_name = "notifications"

urlpatterns = [
    path("staff/outbox/", views.outbox, name="outbox"),
    path("staff/outbox/<str:name>", views.outbox_message, name="outbox-message"),
    path("staff/outbox/<str:name>/html", views.outbox_message_html, name="outbox-message-html"),
    path("staff/webhook-inbox/", views.webhook_inbox, name="webhook-inbox"),
    path("staff/webhook-inbox/<str:name>", views.webhook_inbox_detail, name="webhook-inbox-item"),
    path("dev/webhook-inbox", views.webhook_inbox_receive, name="webhook-inbox-receive"),
]
