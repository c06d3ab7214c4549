"""The API's JSON parser: orjson, whose limits make every hostile body a 400, not a 500.

The standard library's parser recurses once per nesting level: a body nested a few
thousand levels deep raised ``RecursionError``, which DRF's parser does not catch (500).
orjson refuses more than 1024 levels, lone UTF-16 surrogates (which PostgreSQL could not
store) and numbers beyond a double, each with a ``JSONDecodeError``; this parser turns
every one of them into the ``malformed-request`` problem, as a syntax error is.
"""

import codecs

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding

#: orjson's fixed nesting limit (arrays and objects), documented here for the API's readers
MAX_DEPTH = 1024


class OrjsonParser(JSONParser):
    """Parse a JSON body with orjson; a body it refuses is a ``ParseError`` (400)."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = get_encoding(parser_context or {})
        raw = stream.read()
        try:
            # orjson reads UTF-8 bytes itself; any other declared charset is decoded first
            text = raw if codecs.lookup(encoding).name == "utf-8" else raw.decode(encoding)
            return orjson.loads(text)
        except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
