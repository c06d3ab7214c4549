"""The order's transition table and ``transition()``, the only writer of ``Order.status``."""

from itertools import pairwise

from . import repository
from .choices import OrderStatus as S
from .exceptions import InvalidTransition
from .models import Order, OrderTransition

TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (S.PLACED, S.RESERVED),
        (S.PLACED, S.REJECTED),
        (S.PLACED, S.CANCELLED),
        (S.RESERVED, S.PAID),
        (S.RESERVED, S.CANCELLED),
        (S.PAID, S.CONFIRMED),
        (S.PAID, S.CANCELLED),
        (S.CONFIRMED, S.SHIPPED),
        (S.CONFIRMED, S.PARTIALLY_SHIPPED),
        (S.CONFIRMED, S.CANCELLED),
        (S.PARTIALLY_SHIPPED, S.SHIPPED),
        (S.SHIPPED, S.OUT_FOR_DELIVERY),
        (S.SHIPPED, S.DELIVERED),
        (S.OUT_FOR_DELIVERY, S.DELIVERED),
    }
)

#: What a shop or staff member may ask for, by name, and the status it leads to.
#: The other transitions (reserve, pay, confirm, reject) belong to the saga alone.
ACTIONS: dict[str, str] = {
    "cancel": S.CANCELLED,
    "ship": S.SHIPPED,
    "out_for_delivery": S.OUT_FOR_DELIVERY,
    "deliver": S.DELIVERED,
}

FINAL_STATUSES = frozenset({S.DELIVERED, S.REJECTED, S.CANCELLED})

REASON_MAX_LENGTH = Order._meta.get_field("status_reason").max_length
ACTOR_MAX_LENGTH = OrderTransition._meta.get_field("actor").max_length


def can_transition(current: str, target: str) -> bool:
    return (current, target) in TRANSITIONS


def allowed_actions(status: str) -> list[str]:
    return [action for action, target in ACTIONS.items() if (status, target) in TRANSITIONS]


def transition(order: Order, *, to: str, actor: str = "system", reason: str = "") -> Order:
    """Move ``order`` to ``to``, record who and why, or raise :class:`InvalidTransition` (409).

    The update is conditional on the status and version the caller read, so two
    concurrent writers can never both win: the loser matches no row and gets a 409
    instead of silently overwriting the winner.
    """
    return transition_path(order, [to], actor=actor, reason=reason)


def transition_path(
    order: Order, path: list[str], *, actor: str = "system", reason: str = ""
) -> Order:
    """Move ``order`` along ``path`` (e.g. paid, then confirmed) in one write, each hop recorded.

    Every hop must be a legal transition; the first from the status the caller read. As
    :func:`transition`: conditional on the status and version read, one statement on
    PostgreSQL (the update and the history rows together), ``version`` counts each hop.
    """
    if not path or not can_transition(order.status, path[0]):
        raise _invalid(order, path[0] if path else order.status)
    for source, target in pairwise(path):
        if not can_transition(source, target):
            raise ValueError(f"{source} -> {target} is not a transition")
    # A rejection lists every short SKU and a staff username may have 150 characters: both
    # can outgrow their columns, and a failed write here would strand the order. The event
    # keeps them whole.
    reason = reason[:REASON_MAX_LENGTH]
    actor = actor[:ACTOR_MAX_LENGTH]
    if not repository.transition_rows(order, path, actor=actor, reason=reason):
        order.refresh_from_db(fields=["status", "version"])
        raise _invalid(order, path[0], changed=True)
    return order


def refusal(order: Order, target: str) -> InvalidTransition:
    """The error for asking ``order`` to become ``target`` from where it is (409)."""
    return _invalid(order, target)


def _invalid(order: Order, target: str, *, changed: bool = False) -> InvalidTransition:
    status_label = S(order.status).label.lower()
    target_label = S(target).label.lower()
    if changed:
        # the move may still be legal from the new state: the caller must look again
        detail = (
            f"The order changed meanwhile and is now {status_label}; read it again before "
            f"asking for {target_label}."
        )
    else:
        detail = f"The order is {status_label}; it cannot become {target_label}."
    return InvalidTransition(
        detail,
        extra={"order_status": order.status, "allowed_actions": allowed_actions(order.status)},
    )
