"""exchangelib items ⇄ the EWS views of `sync.mappings.exchange` (plain values), and EWS date conversions."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from exchangelib import Body, EWSDate, EWSDateTime, EWSTimeZone
from exchangelib.indexed_properties import EmailAddress, PhoneNumber, PhysicalAddress

from sync.connectors.ews.recurrence import ews_zone, recurrence_to_ews
from sync.engine.records import SyncObject
from sync.engine.recurrence import Recurrence


def required_after_save(model: type, name: str) -> bool:
    """Whether EWS refuses to clear this field of a saved item (an update leaves it alone rather than clear it)."""
    field = model.get_field_by_fieldname(name)
    return bool(field.is_required or field.is_required_after_save)


def item_view(object_type: SyncObject, item: Any) -> dict[str, Any]:
    """An exchangelib item as the mapping's EWS view (plain values)."""
    body = getattr(item, "body", None)
    view: dict[str, Any] = {"body": str(body) if body is not None else None,
                            "body_is_html": type(body).__name__ == "HTMLBody"}
    if object_type is SyncObject.CONTACTS:
        view.update({name: getattr(item, name) for name in
                     ("given_name", "surname", "company_name", "job_title", "department", "birthday")})
        view["email_addresses"] = {e.label: e.email for e in (item.email_addresses or [])}
        view["phone_numbers"] = {p.label: p.phone_number for p in (item.phone_numbers or [])}
        view["physical_addresses"] = {
            a.label: {"street": a.street, "city": a.city, "state": a.state, "zipcode": a.zipcode,
                      "country": a.country} for a in (item.physical_addresses or [])}
    elif object_type is SyncObject.EVENTS:
        view.update({name: getattr(item, name) for name in
                     ("subject", "location", "start", "end", "is_all_day", "legacy_free_busy_status",
                      "sensitivity")})
        if view["is_all_day"]:
            view["end"] = _all_day_last_day(item) or view["end"]
    else:
        view.update({name: getattr(item, name) for name in
                     ("subject", "due_date", "status", "importance", "reminder_is_set", "reminder_due_by")})
    return view


_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")


def _all_day_last_day(item: Any) -> date | None:
    """An all-day event's last day, from its first day and Exchange's own Duration.

    exchangelib reads an all-day end by taking 24 hours off the end instant and reading the date in the event's
    zone: after a night the clocks go forward that lands on 23:00 two days back, a day early. The first day is read
    right, and the first midnight plus the duration is the end midnight, whatever the clocks did in between."""
    match = _DURATION.match(str(getattr(item, "duration", None) or ""))
    tz = getattr(item, "_start_timezone", None)
    if match is None or tz is None or not isinstance(item.start, date) or isinstance(item.start, datetime):
        return None
    days, hours, minutes, seconds = (int(g or 0) for g in match.groups())
    first = datetime(item.start.year, item.start.month, item.start.day, tzinfo=tz)
    end = datetime.fromtimestamp(first.timestamp() + days * 86400 + hours * 3600 + minutes * 60 + seconds, UTC)
    end_tz = getattr(item, "_end_timezone", None) or tz
    return date.fromordinal(end.astimezone(end_tz).date().toordinal() - 1)


def own_zone(item: Any) -> EWSTimeZone | None:
    """An all-day event's own start zone, which an update keeps; None for none or UTC (what this product wrote
    before it knew its users' zones: such an event is moved to its owner's midnights on its next update)."""
    tz = getattr(item, "_start_timezone", None)
    if not isinstance(tz, EWSTimeZone) or tz.key in ("UTC", "Etc/UTC", "GMT", "Etc/GMT"):
        return None
    return tz


def ews_datetime(value: datetime | None) -> EWSDateTime | None:
    if value is None:
        return None
    return EWSDateTime.from_datetime(value.astimezone(UTC)).astimezone(EWSTimeZone("UTC"))


def ews_date(value: date | None) -> EWSDate | None:
    return EWSDate(value.year, value.month, value.day) if value is not None else None


_PERCENT_FOR_STATUS = {"Completed": Decimal(100), "NotStarted": Decimal(0)}


def model_kwargs(object_type: SyncObject, view: Mapping[str, Any],
                 time_zone: EWSTimeZone | str | None = None) -> dict[str, Any]:
    """exchangelib constructor kwargs from an EWS view (None clears a field on update).

    `time_zone`: where an all-day event's midnights are (the item's own zone on update, else its owner's; blank:
    UTC). Exchange keeps an all-day event from midnight to midnight in its start zone, and Outlook shows it so
    there: days written as UTC midnights show from 01:00 to 01:00 in Paris."""
    kwargs: dict[str, Any] = {"body": Body(view["body"]) if view.get("body") else None}
    if object_type is SyncObject.CONTACTS:
        kwargs.update({name: view.get(name) for name in
                       ("given_name", "surname", "company_name", "job_title", "department")})
        kwargs["birthday"] = ews_date(view.get("birthday"))
        # Outlook lists contacts by display name (required by EWS): "First Last", else the company.
        name = " ".join(n for n in (view.get("given_name"), view.get("surname")) if n)
        kwargs["display_name"] = name or view.get("company_name") or view.get("email_addresses", {}).get(
            "EmailAddress1") or "(no name)"
        kwargs["email_addresses"] = [EmailAddress(label=label, email=email)
                                     for label, email in (view.get("email_addresses") or {}).items()] or None
        kwargs["phone_numbers"] = [PhoneNumber(label=label, phone_number=number)
                                   for label, number in (view.get("phone_numbers") or {}).items()] or None
        kwargs["physical_addresses"] = [PhysicalAddress(label=label, **parts)
                                        for label, parts in (view.get("physical_addresses") or {}).items()] or None
    elif object_type is SyncObject.EVENTS:
        kwargs.update({name: view.get(name) for name in
                       ("subject", "location", "is_all_day", "legacy_free_busy_status", "sensitivity")})
        series: Recurrence | None = view.get("recurrence")
        if view.get("is_all_day"):
            kwargs["start"], kwargs["end"] = ews_date(view.get("start")), ews_date(view.get("end"))
            zone = time_zone if isinstance(time_zone, EWSTimeZone) else ews_zone(time_zone)
            kwargs["_start_timezone"] = kwargs["_end_timezone"] = zone
        elif series is not None:
            # A series keeps its times of day in its own zone (daylight saving moves the UTC times, not these).
            tz = ews_zone(series.tz)
            kwargs["start"] = ews_datetime(view.get("start")).astimezone(tz) if view.get("start") else None
            kwargs["end"] = ews_datetime(view.get("end")).astimezone(tz) if view.get("end") else None
        else:
            kwargs["start"], kwargs["end"] = ews_datetime(view.get("start")), ews_datetime(view.get("end"))
        if series is not None:  # only then: an update never clears the recurrence of an item
            first = kwargs["start"].date() if isinstance(kwargs["start"], datetime) else kwargs["start"]
            kwargs["recurrence"] = recurrence_to_ews(series, first)
    else:
        kwargs.update({name: view.get(name) for name in ("subject", "status", "importance", "reminder_is_set")})
        # The percentage EWS requires with the status: without it exchangelib keeps its default (0), then warns
        # and corrects it on every completed task. Other statuses leave the user's own percentage alone.
        kwargs["percent_complete"] = _PERCENT_FOR_STATUS.get(view.get("status") or "")
        kwargs["due_date"] = ews_date(view.get("due_date"))
        kwargs["reminder_due_by"] = ews_datetime(view.get("reminder_due_by"))
    return kwargs
