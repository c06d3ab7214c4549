"""The one base for domain errors, so the API can render any context's error as a problem.

A context subclasses :class:`DomainError` in its ``exceptions.py``; the problem+json
handler reads ``status``, ``code`` and ``title`` from the class and ``detail`` and
``extra`` from the instance. The kernel never imports the subclasses.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field; ``attr`` is a dotted path such as ``lines.0.sku``."""

    attr: str
    code: str
    detail: str


class DomainError(Exception):
    status: int = 400
    code: str = "domain-error"
    title: str = "The request cannot be carried out"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        extra: dict | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.extra = extra or {}
        self.headers = headers or {}


class InputError(DomainError):
    """Input that passed the schema but breaks a rule only the domain knows (unknown SKU)."""

    status = 400
    code = "validation-error"
    title = "Invalid input"
