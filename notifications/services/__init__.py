"""Write use cases of the notifications context, one module per subdomain."""

from .deliveries import (
    webhook_deliveries_drain,
    webhook_deliveries_due_exist,
    webhook_deliveries_purge,
    webhook_deliveries_replay_since,
    webhook_deliveries_send_due,
    webhook_delivery_replay,
)
from .emails import (
    email_notification_resend,
    email_notification_resend_for_order,
    email_notifications_drain,
    email_notifications_due_exist,
    email_notifications_queue_for_event,
    email_notifications_send_due,
)
from .endpoints import (
    TEST_EVENT_TYPE,
    shop_event_types,
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_room_check,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_send_test,
    webhook_endpoint_update,
    webhook_url_validate,
)
from .projection import notifications_project, projected_event_types
from .queues import SendResult

__all__ = [
    "TEST_EVENT_TYPE",
    "SendResult",
    "email_notification_resend",
    "email_notification_resend_for_order",
    "email_notifications_drain",
    "email_notifications_due_exist",
    "email_notifications_queue_for_event",
    "email_notifications_send_due",
    "notifications_project",
    "projected_event_types",
    "shop_event_types",
    "webhook_deliveries_drain",
    "webhook_deliveries_due_exist",
    "webhook_deliveries_purge",
    "webhook_deliveries_replay_since",
    "webhook_deliveries_send_due",
    "webhook_delivery_replay",
    "webhook_endpoint_create",
    "webhook_endpoint_delete",
    "webhook_endpoint_room_check",
    "webhook_endpoint_rotate_secret",
    "webhook_endpoint_send_test",
    "webhook_endpoint_update",
    "webhook_url_validate",
]
