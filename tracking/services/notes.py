"""Internal notes: staff write on an order, and the order's other open staff pages hear of it.

A note is not an event: it is no fact of the order, and nothing outside the staff pages
may ever see it (no webhook, e-mail, public page or shop API). So it is a row of its own,
and after it commits one push goes to the order's staff group only (never the public one).
"""

from functools import partial
from uuid import UUID

from django.db import transaction

from .. import push
from ..exceptions import InvalidNote, OrderNotFound
from ..models import OrderNote
from .recording import tracked_order_ensure

NOTE_MAX_LENGTH = 2000


@transaction.atomic
def order_note_add(*, order_id: UUID, author: str, body: str) -> OrderNote:
    """Add a note (author as actors are named, ``staff:ana``); tell the order's staff pages.

    An empty note, one over ``NOTE_MAX_LENGTH`` characters or one holding a NUL character
    is refused with :class:`InvalidNote`, and nothing is written; an order that does not
    exist is :class:`OrderNotFound`.
    """
    text = body.strip()
    if not text:
        raise InvalidNote("Write something in the note first.")
    if len(text) > NOTE_MAX_LENGTH:
        raise InvalidNote(f"A note holds at most {NOTE_MAX_LENGTH} characters ({len(text)} given).")
    if "\x00" in text:
        raise InvalidNote("The note holds a character that cannot be stored (NUL).")
    if tracked_order_ensure(order_id=order_id) is None:
        raise OrderNotFound(f"There is no order {order_id}.")
    note = OrderNote.objects.create(order_id=order_id, author=author[:200], body=text)
    transaction.on_commit(partial(push.send, [push.notes_message(order_id)]), robust=True)
    return note
