"""The console's template filters: a time as people say it ("2 minutes ago", the exact local time on hover), a number
with its noun in the right plural, and a data set filter in words."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils import dateformat, timezone
from django.utils.html import format_html

from configurations import soql

register = template.Library()


@register.filter
def get_item(mapping, key):
    """`mapping[key]` in a template (None when absent)."""
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def quantity(number, nouns: str) -> str:
    """``5|quantity:"minute"`` → "5 minutes"; ``1|quantity:"entry,entries"`` → "1 entry"."""
    singular, _, plural = nouns.partition(",")
    return f"{number} {singular if number == 1 else (plural or singular + 's')}"


def _ago(seconds: float) -> str:
    """A span as people say it: "just now", "2 minutes", "3 hours", "4 days"."""
    seconds = abs(seconds)
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            return quantity(int(seconds // size), unit)
    return ""


def relative(moment: datetime, now: datetime | None = None) -> str:
    """ "2 minutes ago", "in 5 minutes", "just now"; a date beyond a month either way."""
    seconds = ((now or timezone.now()) - moment).total_seconds()
    if abs(seconds) > 31 * 86400:
        return dateformat.format(timezone.localtime(moment), "j M Y")
    span = _ago(seconds)
    if not span:
        return "just now" if seconds >= 0 else "in a few seconds"
    return f"{span} ago" if seconds >= 0 else f"in {span}"


def exact(moment: datetime) -> str:
    """The exact time in the server's time zone, e.g. "22 Nov 2026, 03:00:05 UTC" (the page's script shows the
    reader's own)."""
    local = timezone.localtime(moment)
    return f"{dateformat.format(local, 'j M Y, H:i:s')} {local.tzname()}"


@register.filter
def when(moment: datetime | None, empty: str = "—"):
    """A <time>: "2 minutes ago", with the exact time in its title. console.js turns the title into the reader's
    local time and keeps the words current while the page stays open."""
    if not moment:
        return empty
    return format_html(
        '<time datetime="{}" title="{}" data-when>{}</time>', moment.isoformat(), exact(moment), relative(moment)
    )


def clock_text(moment: datetime, now: datetime | None = None) -> str:
    """ "14:03" within a day of now, else "3 Nov, 14:03"."""
    near = abs(((now or timezone.now()) - moment).total_seconds()) < 20 * 3600
    return dateformat.format(timezone.localtime(moment), "H:i" if near else "j M, H:i")


@register.filter
def clock(moment: datetime | None, empty: str = "—"):
    """A <time> as a time of day ("14:03"; with the date beyond a day from now), the exact time in its title; in the
    reader's time zone once console.js has run."""
    if not moment:
        return empty
    return format_html(
        '<time datetime="{}" title="{}" data-clock>{}</time>', moment.isoformat(), exact(moment), clock_text(moment)
    )


# A data set filter as a read-only page says it (the form's labels carry input hints).
_FILTER_WORDS = {
    "equals": "equals",
    "not_equals": "does not equal",
    "contains": "contains",
    "starts_with": "starts with",
    "in": "is one of",
    "greater_than": "is greater than",
    "less_than": "is less than",
}


@register.filter
def filter_words(row, sync_object: str = "") -> str:
    """``{"field": "MailingCountry", "op": "in", "value": ["France", "Spain"]}`` → 'Mailing Country (MailingCountry)
    is one of “France”, “Spain”' (the label where the field catalogue has one)."""
    row = row if isinstance(row, dict) else {}
    field, op, value = row.get("field", ""), row.get("op", ""), row.get("value")
    label = getattr(soql, "FIELD_LABELS", {}).get(sync_object, {}).get(field)
    named = f"{label} ({field})" if label and label != field else field
    if op == "is_empty":
        return f"{named} is {'empty' if value in (True, 'true', None, '') else 'not empty'}"
    values = value if isinstance(value, list) else [value]
    shown = ", ".join(f"“{v}”" for v in values)
    return f"{named} {_FILTER_WORDS.get(op, op)} {shown}"
