"""The orders context's errors; the API renders each as a problem (see orderflow.errors)."""

from orderflow.errors import DomainError, FieldError, InputError


class OrderError(DomainError):
    """Base of the orders context's errors.

    ``writes_stand`` False (most errors): a refusal, raised inside its service's
    transaction, so nothing it did is kept. True: raised by the service after its
    transaction committed, because what it did is a fact to keep (a refund the payment
    provider declined); a caller that runs the service in a transaction of its own (the
    API's idempotency store) answers the error without rolling that transaction back.
    """

    writes_stand: bool = False


class InvalidTransition(OrderError):
    status = 409
    code = "invalid-transition"
    title = "Action not allowed in the order's state"


class RefundNotAllowed(OrderError):
    """A cancel that would refund a paid order, asked by someone who may not refund."""

    status = 403
    code = "permission-denied"
    title = "Permission denied"


class OrderInputError(InputError, OrderError):
    """The order cannot be placed as asked (unknown SKU, duplicate line, wrong currency)."""


class ProductInputError(InputError, OrderError):
    """A catalog change that the catalog's rules refuse (duplicate SKU)."""


class UnknownShipment(OrderError):
    """A carrier named a tracking number that none of its parcels has."""

    status = 404
    code = "not-found"
    title = "Not found"


class CarrierNotBound(InputError, OrderError):
    """A shop shipped with a carrier it is not bound to: that carrier's reports are not its."""


class TrackingNumberInUse(OrderError):
    """The carrier's tracking number already names a parcel on the road."""

    status = 409
    code = "tracking-number-in-use"
    title = "Tracking number already on the road"


class AmbiguousParcel(OrderError):
    """A carrier's report matches more than one parcel: applying it to any would be a guess."""

    status = 409
    code = "ambiguous-parcel"
    title = "More than one parcel has this tracking number"


class ExternalReferenceTaken(OrderError):
    """The shop already has an order under this external reference; nothing was placed.

    ``extra`` names the first order (``order_id``, ``order_number``), so that a shop whose
    checkout retried without its Idempotency-Key finds the order it already placed.
    """

    status = 409
    code = "external-reference-taken"
    title = "External reference already used"

    def __init__(self, *, reference: str, order_id, order_number: str):
        detail = (
            f"Order {order_number} already has the external reference {reference!r}; "
            "an order's reference is unique in its shop."
        )
        super().__init__(
            detail,
            errors=[FieldError(attr="external_reference", code="taken", detail=detail)],
            extra={"order_id": str(order_id), "order_number": order_number},
        )
        self.order_id = order_id


class DiscountUnavailable(OrderError):
    """A discount code the order names can no longer be used; nothing was placed.

    409 rather than 400: the request was right when the shop's checkout built it, and
    another order took the last use (or this customer's one use) meanwhile.
    ``errors`` names the code's position in ``discount_codes``.
    """

    status = 409
    code = "discount-unavailable"
    title = "Discount code no longer available"

    def __init__(self, *, index: int, code: str, reason: str):
        detail = {
            "discount_exhausted": f"Discount code {code!r} has been used as often as it may be.",
            "discount_already_used": f"Discount code {code!r} is once per customer, and this "
            "customer has used it.",
        }[reason]
        super().__init__(
            detail,
            errors=[FieldError(attr=f"discount_codes.{index}", code=reason, detail=detail)],
            extra={"discount_code": code},
        )
        self.reason = reason


class DiscountExhausted(DiscountUnavailable):
    code = "discount-exhausted"
    title = "Discount code used up"

    def __init__(self, *, index: int, code: str):
        super().__init__(index=index, code=code, reason="discount_exhausted")


class DiscountAlreadyUsed(DiscountUnavailable):
    code = "discount-already-used"
    title = "Discount code already used by this customer"

    def __init__(self, *, index: int, code: str):
        super().__init__(index=index, code=code, reason="discount_already_used")


class PriceSettingInputError(InputError, OrderError):
    """A tax rate, shipping method or discount code the shop's settings' rules refuse."""


class PriceSettingTaken(OrderError):
    """A shipping method's or discount's code (or a tax rate's class and country) is taken."""

    status = 409
    code = "already-exists"
    title = "Already exists"


class DiscountInUse(OrderError):
    """A discount code that orders carry cannot be deleted: their history names it."""

    status = 409
    code = "discount-in-use"
    title = "Discount code in use"


class ShipmentExceedsOrder(OrderError):
    """A parcel holds more units of a SKU than remain to ship; nothing was shipped.

    409 rather than 400: the request may have been right when it was built, and another
    parcel took the units meanwhile. ``extra`` names the SKU and what remains.
    """

    status = 409
    code = "shipment-exceeds-order"
    title = "More than remains to ship"

    def __init__(self, *, index: int, sku: str, requested: int, remaining: int):
        detail = (
            f"{requested} x {sku} is more than remains to ship of {sku} ({remaining}); "
            "nothing was shipped."
        )
        super().__init__(
            detail,
            errors=[
                FieldError(attr=f"lines.{index}.quantity", code="exceeds_remaining", detail=detail)
            ],
            extra={"sku": sku, "requested": requested, "remaining": remaining},
        )


class RestockNotPossible(InputError, OrderError):
    """Units asked back on hand that never left the warehouse, or more of a line than is
    left to put back (earlier restocks count)."""


class ReturnNotAllowed(OrderError):
    """The order has not shipped (or the return is not in a state that allows the step)."""

    status = 409
    code = "return-not-allowed"
    title = "Return not possible in this state"


class ReturnInputError(InputError, OrderError):
    """A return's lines break a rule: a SKU not on the order, more units than can come back."""


class ReturnRefundRefused(OrderError):
    """The payments context refused the return's refund (nothing captured, too much)."""

    status = 409
    code = "return-refund-refused"
    title = "The return's refund was refused"


class ReturnRefundDeclined(ReturnRefundRefused):
    """The payment provider declined the return's refund; the return stays received.

    The declined refund and its gateway attempt are committed (support sees them; the
    next try is a refund of its own, under a new gateway key): the same problem as any
    refused refund, raised once they stand.
    """

    writes_stand = True


class CarrierAccountInputError(InputError, OrderError):
    """A carrier account the carrier's connector cannot use (unknown carrier, missing field)."""


class CarrierAccountTaken(OrderError):
    status = 409
    code = "already-exists"
    title = "The shop already has an account with this carrier"


class RemainderNotCancellable(OrderError):
    """Nothing of the order waits in the warehouse to be cancelled: it has not shipped at all
    (cancel the whole order), has shipped in full, or is over. ``extra`` says which."""

    status = 409
    code = "remainder-not-cancellable"
    title = "Nothing left to cancel"


class RemainderPaymentPending(OrderError):
    """The payment of a partly shipped order is still being captured (capture on shipment):
    the remainder's refund would find nothing to give back yet. Retry in a moment."""

    status = 409
    code = "payment-in-flight"
    title = "The order's payment is still being captured"


class RemainderRefundRefused(OrderError):
    """The payments context refused the remainder's refund (earlier refunds gave back those
    units or that money already); nothing was cancelled."""

    status = 409
    code = "remainder-refund-refused"
    title = "The remainder's refund was refused"


class RemainderRefundDeclined(RemainderRefundRefused):
    """The payment provider declined the remainder's refund; nothing was cancelled.

    As :class:`ReturnRefundDeclined`: the declined refund and its gateway attempt are
    committed, and the next try is a new refund under a new gateway key.
    """

    writes_stand = True
