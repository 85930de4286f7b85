"""What the two Exchange field maps (EWS in `exchange.py`, Microsoft Graph in `graph.py`) share: text cleaning, the
plain text of HTML bodies, and canonical words both use. Pure: no exchangelib, no HTTP, no Django."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

# Canonical task priorities (Salesforce picklist values); Outlook's importance has the same three.
PRIORITIES = ("High", "Normal", "Low")

# Exchange's own limits on the texts we write, per object and canonical field (characters, UTF-16 code units):
# it cuts a Subject to 255 and refuses a given name or surname over 255 (ErrorPropertyUpdate); other texts keep
# what they are given (exchangelib's test_text_field_settings against real servers). The engine cuts texts to what
# both ends hold (sync.engine.canonical.TEXT_LIMITS), never more than this.
TEXT_LIMITS: dict[str, dict[str, int]] = {
    "contacts": {"first_name": 255, "last_name": 255},
    "events": {"subject": 255},
    "tasks": {"subject": 255},
}


def clean(value: Any) -> str | None:
    """A single-line text value stripped, or None when empty."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def clean_body(value: Any) -> str | None:
    """A multi-line text value with "\\n" line ends (inner spacing kept), or None when blank."""
    if value is None:
        return None
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return text if text.strip() else None


class _TextExtractor(HTMLParser):
    _BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"}
    _SKIP = {"style", "script", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self._SKIP:
            self._skip += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag in self._BLOCK and tag != "br":
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(" ".join(data.split("\n")) if data.strip() else (" " if data else ""))


def html_to_text(html: str) -> str:
    """Plain text of an HTML body (Outlook stores most bodies as HTML): tags dropped, blocks as line breaks."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).split("\n")]
    # Blocks open and close with line breaks; empty paragraphs are spacing, not content.
    return "\n".join(line for line in lines if line)
