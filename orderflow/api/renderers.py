"""The API's JSON renderer: DRF's JSON, encoded by orjson instead of the standard library."""

import orjson
from rest_framework.renderers import JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

_drf_default = JSONEncoder().default


class OrjsonRenderer(JSONRenderer):
    """Render compact UTF-8 JSON, as DRF's renderer does, several times faster.

    Types orjson does not know (lazy strings, ``Decimal``…) and datetimes go through DRF's
    own encoder, so every value reads as before (UTC as ``Z``); a request asking for
    ``; indent=`` gets DRF's renderer.
    """

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if self.get_indent(accepted_media_type, renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        rendered = orjson.dumps(
            data,
            default=_drf_default,
            option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS,
        )
        # as DRF does: JSON that is also valid JavaScript
        return rendered.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
