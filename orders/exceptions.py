"""The orders context's errors; the API renders each as a problem (see orderflow.errors)."""

from orderflow.errors import DomainError, InputError


class OrderError(DomainError):
    """Base of the orders context's errors."""


class InvalidTransition(OrderError):
    status = 409
    code = "invalid-transition"
    title = "Action not allowed in the order's state"


class OrderInputError(InputError, OrderError):
    """The order cannot be placed as asked (unknown SKU, duplicate line, wrong currency)."""


class ProductInputError(InputError, OrderError):
    """A catalog change that the catalog's rules refuse (duplicate SKU)."""


class UnknownShipment(OrderError):
    """A carrier named a tracking number that none of its parcels has."""

    status = 404
    code = "not-found"
    title = "Not found"
