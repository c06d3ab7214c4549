"""Money and dates for customers, in the active language: ``{% load customer_format %}``.

``{{ order.total|money:order.currency }}`` and ``{{ invoice.issued_at|long_date }}``; the
formats are CLDR's, through Babel (``orderflow.customer_locale``).
"""

from django import template

from orderflow import customer_locale

register = template.Library()


@register.filter
def money(amount, currency: str) -> str:
    if amount is None or amount == "":
        return ""
    return customer_locale.money(amount, currency)


@register.filter
def long_date(value) -> str:
    return customer_locale.long_date(value)


@register.filter
def date_time(value) -> str:
    return customer_locale.date_time(value)


@register.simple_tag
def html_lang() -> str:
    return customer_locale.html_lang()
