"""The customer's language: which one a page or an e-mail is in, and money and dates in it.

A customer reads OrderFlow in Brazilian Portuguese or English (``settings.LANGUAGES``).
The order records the customer's choice as ``pt-BR`` or ``en`` (``customer.locale`` in
the API); Django names the same languages ``pt-br`` and ``en``, and Babel (CLDR data, the
formats every locale agrees on) ``pt_BR`` and ``en``. This module turns one into the other
and holds the rules, so the tracking page and the e-mails choose alike:

- an e-mail is in the order's language;
- the tracking page is in the order's language, unless the visitor asks for the other one:
  a ``?lang=`` link on the page first, then the browser's ``Accept-Language``;
- an order without a language (recorded before it was one) reads in ``LANGUAGE_CODE``.
"""

import functools
from datetime import date, datetime
from decimal import Decimal

from babel import Locale
from babel.dates import format_date, format_time, get_datetime_format
from babel.numbers import format_currency
from django.conf import settings
from django.utils import timezone, translation
from django.utils.translation.trans_real import parse_accept_lang_header

#: the API's spelling of each language, by Django's
API_CODES = {"en": "en", "pt-br": "pt-BR"}


def supported(code: str | None) -> str | None:
    """Django's code of the supported language ``code`` names (``pt``, ``pt-BR``, ``en-GB``:
    any variant of a language there is), or None."""
    if not code or not isinstance(code, str) or len(code) > 35:
        return None
    code = code.strip().lower().replace("_", "-")
    languages = [language for language, _ in settings.LANGUAGES]
    if code in languages:
        return code
    generic = code.split("-", 1)[0]
    for language in languages:
        if language.split("-", 1)[0] == generic:
            return language
    return None


def default_language() -> str:
    return supported(settings.LANGUAGE_CODE) or settings.LANGUAGES[0][0]


def order_language(order_locale: str | None) -> str:
    """The language of an order's e-mails (its ``customer_locale``, else the default)."""
    return supported(order_locale) or default_language()


def browser_language(accept_language: str | None) -> str | None:
    """The supported language the browser prefers most, or None (no header, ``*``, or only
    languages OrderFlow does not speak)."""
    for code, _quality in parse_accept_lang_header((accept_language or "")[:500]):
        found = supported(code) if code != "*" else None
        if found:
            return found
    return None


def page_language(*, order_locale: str | None, accept_language: str | None, asked: str = "") -> str:
    """The tracking page's language: what the visitor asked for by the page's own link,
    else the browser's preference where it names a language OrderFlow speaks, else the
    order's language."""
    return supported(asked) or browser_language(accept_language) or order_language(order_locale)


def babel_locale(language: str | None = None) -> str:
    """Babel's name for ``language`` (default: the active one): ``pt_BR``, ``en``."""
    return translation.to_locale(supported(language or translation.get_language()) or "en")


def money(amount: Decimal | str | int, currency: str, language: str | None = None) -> str:
    """``R$ 1.234,50`` in pt-BR, ``R$1,234.50`` in English: the locale's own format."""
    try:
        value = Decimal(str(amount))
    except ArithmeticError:
        return f"{amount} {currency}"
    return _currency(str(value), currency, babel_locale(language))


def long_date(value: date | datetime | None, language: str | None = None) -> str:
    """``4 de dezembro de 2026`` / ``December 4, 2026`` (a moment is read in TIME_ZONE)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = timezone.localtime(value) if timezone.is_aware(value) else value
        value = value.date()
    return _long_date(value, babel_locale(language))


# Babel reads the locale's patterns and formats a value in ≈ 40 µs; an e-mail shows a
# dozen amounts, mostly the same few prices. What a value looks like in a locale never
# changes while the process runs (the CLDR data ships with Babel), so each is kept.
@functools.lru_cache(maxsize=4096)
def _currency(value: str, currency: str, locale: str) -> str:
    return format_currency(Decimal(value), currency, locale=_locale(locale))


@functools.lru_cache(maxsize=1024)
def _long_date(value: date, locale: str) -> str:
    return format_date(value, "long", locale=_locale(locale))


@functools.cache
def _locale(name: str) -> Locale:
    # Babel parses a locale's name and loads its data again for each call given a name
    return Locale.parse(name)


def date_time(value: datetime | None, language: str | None = None) -> str:
    """``4 de dez. de 2026 13:05`` / ``Dec 4, 2026, 1:05 PM`` (in TIME_ZONE; the page's
    script shows it again in the reader's own time zone)."""
    if value is None:
        return ""
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    locale = _locale(babel_locale(language))
    # the locale's own way of joining a medium date to a short time (no seconds)
    return get_datetime_format("medium", locale=locale).format(
        format_time(value, "short", locale=locale), format_date(value, "medium", locale=locale)
    )


def html_lang(language: str | None = None) -> str:
    """The ``lang`` attribute of a page or an e-mail: ``pt-BR``, ``en``."""
    return API_CODES.get(supported(language or translation.get_language()) or "", "en")
