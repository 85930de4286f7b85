"""The API's one request parser: JSON (the contract: JSON in and out), with limits, so that a hostile body is a 400 or
a 413 that says what is wrong rather than a server error or a worker busy for minutes.

- Size: at most ``MAX_BYTES`` (Django's own upload limit does not apply to a body DRF reads as a stream).
- Nesting: at most ``MAX_DEPTH`` levels of objects and lists (Python's JSON decoder would otherwise raise
  RecursionError, a 500, for a few thousand ``[``; and every later walk of the data would recurse as deep).
- Text: no unpaired UTF-16 surrogate (``"\\ud800"`` decodes to a Python string no database can store).
"""

from __future__ import annotations

import codecs
import re
from typing import Any

from rest_framework import parsers, status
from rest_framework.exceptions import APIException, ParseError
from rest_framework.utils import json

_SURROGATE = re.compile("[\ud800-\udfff]")


class RequestTooLarge(APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "request_too_large"


class JSONParser(parsers.JSONParser):
    # The largest legitimate body is an assignment of 50,000 users by their longest identifiers (about 13 MB).
    MAX_BYTES = 16 * 1024 * 1024
    # The deepest legitimate body, a configuration with a filter's list of values, nests 5 levels.
    MAX_DEPTH = 32

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        parser_context = parser_context or {}
        request = parser_context.get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if declared and declared.isdigit() and int(declared) > self.MAX_BYTES:
            raise self._too_large()
        body = stream.read(self.MAX_BYTES + 1) if stream is not None else b""
        if len(body) > self.MAX_BYTES:
            raise self._too_large()
        encoding = parsers.get_encoding(parser_context)
        parse_constant = json.strict_constant if self.strict else None
        try:
            data = json.loads(codecs.decode(body, encoding), parse_constant=parse_constant)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:
            raise self._too_deep() from None
        self._check(data)
        return data

    def _check(self, data: Any) -> None:
        """Depth and text of the parsed body, without recursion (the depth is what is being checked)."""
        pending = [(data, 0)]
        while pending:
            value, depth = pending.pop()
            if isinstance(value, dict | list):
                if depth >= self.MAX_DEPTH:
                    raise self._too_deep()
                items = value.items() if isinstance(value, dict) else enumerate(value)
                for key, item in items:
                    if isinstance(key, str) and _SURROGATE.search(key):
                        raise self._not_text()
                    pending.append((item, depth + 1))
            elif isinstance(value, str) and _SURROGATE.search(value):
                raise self._not_text()

    def _too_large(self) -> RequestTooLarge:
        return RequestTooLarge(f"The request body is larger than {self.MAX_BYTES // (1024 * 1024)} MiB; send less in "
                               "each request (for example, assign users in batches).")

    def _too_deep(self) -> ParseError:
        return ParseError(f"JSON parse error - objects and lists nest more than {self.MAX_DEPTH} levels deep; send "
                          "the flat shape the API documents.")

    def _not_text(self) -> ParseError:
        return ParseError("JSON parse error - a string holds an unpaired UTF-16 surrogate (\\ud800 to \\udfff), "
                          "which is not text; send valid Unicode.")
