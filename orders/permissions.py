"""Which staff permission each order action needs, by the order's status.

Cancelling is two different acts: before the payment is captured it only releases stock,
after it it refunds money, so it needs the operator's or the supervisor's permission.
"""

from orderflow import roles

from .services.lifecycle import PAID_STATUSES

#: the permission of each action that does not depend on the status
_ACTION_PERMISSIONS = {
    "ship": roles.SHIP,
    "out_for_delivery": roles.DELIVER,
    "deliver": roles.DELIVER,
    "change_address": roles.CHANGE_ADDRESS,
    # it refunds the units not shipped: the supervisor's, as every refund
    "cancel_remainder": roles.REFUND,
}


def action_permission(*, action: str, status: str) -> str:
    """Name the permission a staff member needs to ask for ``action`` on an order in ``status``."""
    if action == "cancel":
        return roles.REFUND if status in PAID_STATUSES else roles.CANCEL_UNPAID
    return _ACTION_PERMISSIONS[action]


#: marking a parcel's delivery exception handled is the operator's, who handles parcels
PARCEL_ISSUE_PERMISSION = roles.DELIVER

#: opening a return for the customer (on the order page) is the operator's, as its steps
RETURN_REQUEST_PERMISSION = roles.SHIP

#: the permission each step of a return needs: the operator handles the parcel (approve,
#: reject, receive), the supervisor the money (refund, or close without one)
RETURN_STEP_PERMISSIONS = {
    "approve": roles.SHIP,
    "reject": roles.SHIP,
    "receive": roles.SHIP,
    "refund": roles.REFUND,
    "close": roles.REFUND,
}
