"""Staff pages of the notifications context: the Outbox (the local mailbox) and the webhook inbox.

Both are for trying OrderFlow on one machine (``make run``): what customers would have
received by e-mail, and what a shop's receiver gets from a webhook. Reading them needs the
staff view permission, as the board does: they show customers' names and addresses. The
inbox's receiving URL is open (a webhook sender has no session): the signature is checked.
"""

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from orderflow import roles

from . import inbox, mailbox
from .selectors import webhook_endpoint_secrets_at_url

SHOWN = 200
#: the HTML part is shown in a sandboxed frame: no script, no form, no navigation of the page
HTML_PART_POLICY = "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'"


@require_safe
@roles.staff_permission_required(roles.VIEW)
def outbox(request):
    """The newest e-mails of the local mailbox, newest first."""
    local = settings.LOCAL_MAILBOX
    return render(
        request,
        "notifications/outbox.html",
        {
            "local_mailbox": local,
            "messages_shown": mailbox.mailbox_list(limit=SHOWN) if local else [],
            "total": mailbox.mailbox_count() if local else 0,
            "shown_limit": SHOWN,
            "keep": settings.MAILBOX_KEEP,
            "email_backend": settings.EMAIL_BACKEND,
        },
    )


@require_safe
@roles.staff_permission_required(roles.VIEW)
def outbox_message(request, name: str):
    """One e-mail: its headers, text part and (in a sandboxed frame) HTML part."""
    return render(request, "notifications/outbox_message.html", {"message": _message_or_404(name)})


@require_safe
@xframe_options_sameorigin
@roles.staff_permission_required(roles.VIEW)
def outbox_message_html(request, name: str):
    """The e-mail's HTML part alone, for the frame on its page (sandboxed by CSP)."""
    response = HttpResponse(_message_or_404(name).html, content_type="text/html; charset=utf-8")
    response["Content-Security-Policy"] = HTML_PART_POLICY
    return response


def _message_or_404(name: str) -> mailbox.MailboxMessage:
    message = mailbox.mailbox_get(name) if settings.LOCAL_MAILBOX else None
    if message is None:
        raise Http404("No such e-mail in the mailbox (only the newest are kept).")
    return message


@csrf_exempt  # a webhook sender has no session; the signature is what authenticates
@require_POST
def webhook_inbox_receive(request):
    """Receive a webhook as a shop would: verify its signature, answer 204 or 400, keep it."""
    if not settings.WEBHOOK_INBOX:
        raise Http404("The webhook inbox is off (WEBHOOK_INBOX).")
    length = request.headers.get("Content-Length", "")
    if length.isdigit() and int(length) > inbox.MAX_BODY_BYTES:
        return HttpResponse(
            f"Body over {inbox.MAX_BODY_BYTES} bytes.", status=413, content_type="text/plain"
        )
    body = request.body
    headers = {key.lower(): value for key, value in request.headers.items()}
    verification = inbox.verify(
        body=body,
        headers=headers,
        endpoints=webhook_endpoint_secrets_at_url(url=inbox.inbox_url()),
    )
    inbox.inbox_record(body=body, headers=headers, verification=verification)
    if verification.verified:
        return HttpResponse(status=204)
    return HttpResponse(
        f"Signature not verified: {verification.reason}", status=400, content_type="text/plain"
    )


@require_safe
@roles.staff_permission_required(roles.VIEW)
def webhook_inbox(request):
    """What the inbox received, newest first; ``?shop=<id>`` shows one shop's."""
    shop = request.GET.get("shop", "")
    # ASCII digits only ("²" is a digit to str.isdigit), and no more than an id can hold
    shop_id = int(shop) if shop.isascii() and shop.isdigit() and len(shop) <= 18 else None
    enabled = settings.WEBHOOK_INBOX
    return render(
        request,
        "notifications/webhook_inbox.html",
        {
            "enabled": enabled,
            "inbox_url": inbox.inbox_url(),
            "received": inbox.inbox_list(limit=SHOWN, shop_id=shop_id) if enabled else [],
            "shop_id": shop_id,
            "shown_limit": SHOWN,
        },
    )


@require_safe
@roles.staff_permission_required(roles.VIEW)
def webhook_inbox_detail(request, name: str):
    """One received webhook: its headers, body and whether its signature held."""
    received = inbox.inbox_get(name) if settings.WEBHOOK_INBOX else None
    if received is None:
        raise Http404("No such webhook in the inbox (only the newest are kept).")
    return render(
        request,
        "notifications/webhook_inbox_detail.html",
        {"received": received, "inbox_url": inbox.inbox_url()},
    )
