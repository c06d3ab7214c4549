"""The base of every input serializer of the API: a body field nobody reads is an error.

DRF drops fields a serializer does not declare, so ``PATCH /products/X {"prise": 9}``
answered 200 and changed nothing: the client's typo passed as success. Like Stripe, the API
answers 400 instead, naming each unknown field by its path (``customer.nickname``,
``lines.0.colour``), together with any other error of the same body. Nested serializers
derive from the same base, so nested objects are as strict as the top level.

The OpenAPI schema says so too: request bodies of these serializers are documented with
``additionalProperties: false``, so a client generator and schemathesis know it.

And a field takes its own JSON type only: a string for a string, an integer for an
integer, ``true``/``false`` for a flag (DRF would coerce ``7`` to ``"7"`` or ``"yes"`` to
``True``).
"""

from collections.abc import Mapping

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.plumbing import get_class
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail, ValidationError

UNKNOWN_FIELD_CODE = "unknown_field"


#: text PostgreSQL can store: DRF refuses NUL in every CharField and the JSON parser a lone
#: UTF-16 surrogate, so the schema says so
STORABLE_TEXT_PATTERN = r"^[^\x00\ud800-\udfff]*$"


class StrictInputSerializer(serializers.Serializer):
    """A serializer that refuses body fields it does not declare (400, each one named).

    Its strings are taken as sent, not trimmed: DRF strips surrounding whitespace before
    checking length, pattern and blankness, so ``" BR"`` passed ``^[A-Z]{2}$`` and 201
    characters passed ``maxLength: 200``. Untrimmed, what the API accepts is exactly what
    its schema describes.
    """

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            for leaf in (field, getattr(field, "child", None)):
                if isinstance(leaf, serializers.CharField):
                    leaf.trim_whitespace = False
                _take_only_its_json_type(leaf)
        return fields

    def to_internal_value(self, data):
        unknown = []
        if isinstance(data, Mapping):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = [name for name in data if name not in writable]
        errors = {}
        try:
            value = super().to_internal_value(data)
        except ValidationError as exc:
            if not unknown or not isinstance(exc.detail, dict):
                raise
            errors = dict(exc.detail)
        for name in unknown:
            errors[name] = [ErrorDetail(f"Unknown field {name!r}.", code=UNKNOWN_FIELD_CODE)]
        if errors:
            raise ValidationError(errors)
        return value


#: the JSON type each kind of field takes, and nothing else: DRF's fields coerce (a
#: CharField takes ``7`` as ``"7"``, an IntegerField ``"5"``, ``5.0`` and ``true``, a
#: BooleanField ``0``, ``"yes"`` and ``"on"``), so the API accepted more than its schema says
_JSON_TYPES = (
    (serializers.BooleanField, lambda value: isinstance(value, bool)),
    (
        serializers.IntegerField,
        lambda value: isinstance(value, int) and not isinstance(value, bool),
    ),
    (serializers.CharField, lambda value: isinstance(value, str)),
)


def _take_only_its_json_type(field) -> None:
    """Refuse, with the field's own ``invalid`` message, a value of another JSON type."""
    for kind, accepts in _JSON_TYPES:
        if isinstance(field, kind):
            coerce = field.to_internal_value

            def to_internal_value(data, coerce=coerce, accepts=accepts, field=field):
                if not accepts(data):
                    field.fail("invalid", input=data)
                return coerce(data)

            field.to_internal_value = to_internal_value
            return


class NoFieldsInputSerializer(StrictInputSerializer):
    """The body of an operation that takes no fields: none, or ``{}``; any field is unknown."""


class StrictInputSerializerExtension(OpenApiSerializerExtension):
    """Document a strict serializer's request body as closed to other properties."""

    target_class = StrictInputSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        # the base class's map_serializer() maps target_class, the base itself: map the target
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if get_class(self.target).__doc__ is None:
            # an undocumented serializer inherits this base's docstring, which says nothing
            # about its body
            schema.pop("description", None)
        if direction == "request":
            schema["additionalProperties"] = False
            _document_list_lengths(self.target, schema)
            _document_storable_text(schema)
        return schema


def _document_storable_text(schema: dict) -> None:
    """Give each free-form string (no pattern, format or enum of its own) the storable pattern."""
    for prop in schema.get("properties", {}).values():
        for string in (prop, prop.get("items")):
            if (
                isinstance(string, dict)
                and string.get("type") == "string"
                and not {"pattern", "format", "enum"} & set(string)
            ):
                string["pattern"] = STORABLE_TEXT_PATTERN


def _document_list_lengths(serializer, schema: dict) -> None:
    """Say how many items a nested list takes; drf-spectacular leaves that out."""
    for name, field in get_class(serializer)().fields.items():
        prop = schema.get("properties", {}).get(name)
        if not isinstance(field, serializers.ListSerializer) or prop is None:
            continue
        if field.min_length is not None:
            prop["minItems"] = field.min_length
        if field.max_length is not None:
            prop["maxItems"] = field.max_length
