"""Staff pages of the notifications context: send one of an order's e-mails again.

The order page (tracking) lists the order's customer e-mails; its "Send again" buttons
post here. The result comes back as a message on the order page, never an error page;
a role that may not resend gets the 403 page, and nothing changes.
"""

from uuid import UUID

from django.contrib import messages
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from orderflow import roles

from . import services
from .exceptions import NotificationError


@require_POST
@roles.staff_permission_required(roles.RESEND_EMAIL)
def order_email_resend(request, order_id: UUID, notification_id: int):
    try:
        notification = services.email_notification_resend_for_order(
            order_id=order_id,
            notification_id=notification_id,
            actor=f"staff:{request.user.get_username()}",
        )
    except NotificationError as error:
        messages.error(request, f"Not sent again: {error.detail}")
    else:
        messages.success(
            request,
            f"“{notification.subject or notification.template}” is being sent again "
            f"to {notification.recipient or 'the customer'}.",
        )
    return redirect("tracking:order", order_id=order_id)
