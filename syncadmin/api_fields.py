"""Serializer fields the apps' APIs share: names and free text people read, checked by the one rule of
``configurations.validation.text_errors`` (no control or bidirectional-text characters; a name shows at least one
character), with the schema publishing that same rule as a pattern so that clients can check before they send."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from configurations.validation import NAME_PATTERN, TEXT_PATTERN, text_errors


class _TextOnly:
    """Text fields take strings only, as the schema says: DRF's own also take numbers (0 becomes "0")."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            raise serializers.ValidationError("Enter text (a JSON string).", code="invalid")
        return super().to_internal_value(data)


class CharField(_TextOnly, serializers.CharField):
    pass


class EmailField(_TextOnly, serializers.EmailField):
    pass


class URLField(_TextOnly, serializers.URLField):
    pass


class _ReadableText(CharField):
    multiline = False

    def __init__(self, *, what: str = "name", **kwargs):
        self.what = what
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problems = text_errors(value, self.what, multiline=self.multiline) if value else []
        if problems:
            raise serializers.ValidationError(problems)
        return value


# With ``allow_blank=True``, the schema offers the empty string beside the pattern (drf-spectacular's ``oneOf``).
@extend_schema_field({"type": "string", "pattern": NAME_PATTERN})
class NameField(_ReadableText):
    """A name."""


@extend_schema_field({"type": "string", "pattern": TEXT_PATTERN})
class TextField(_ReadableText):
    """Free text: line breaks and tabs allowed."""

    multiline = True


class BooleanField(serializers.BooleanField):
    """``true`` or ``false`` only, as the schema says: DRF's own field also takes 1, 0, "yes", "on" and the like."""

    default_error_messages = {"invalid": "Enter true or false."}

    def to_internal_value(self, data):
        if isinstance(data, bool):
            return data
        self.fail("invalid")
