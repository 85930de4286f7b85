"""HTTP to Salesforce: the one requests session a client sends everything through, which applies the connection's
TLS trust and timeout (an interactive test's, cut to its deadline), refuses forbidden addresses, counts each request
by operation and keeps what Salesforce reports in its response headers (the org's API usage, its clock)."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from sync.connectors.base import CallCounter, SalesforceSettings, guard, request_timeout

_LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


class SalesforceSession(requests.Session):
    """A requests session that always applies the connection's TLS trust and timeout, counts every request in
    `calls` and remembers the headers Salesforce reports its limits (`limit_info`) and clock (`server_time`) in."""

    def __init__(self, settings: SalesforceSettings, calls: CallCounter):
        super().__init__()
        guard(self)
        self.verify = settings.verify
        self._timeout = settings.timeout_seconds
        self._calls = calls
        self.limit_info: tuple[int, int] | None = None  # (used, allocation) of the org's daily API requests
        self.server_time: datetime | None = None  # Salesforce's clock at the last response

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["timeout"] = request_timeout(kwargs.get("timeout") or self._timeout)
        if kwargs.get("verify") is None:  # an environment CA bundle must not override the configured trust
            kwargs["verify"] = self.verify
        self._calls.add(operation_name(str(method), str(url)))
        response = super().request(method, url, *args, **kwargs)
        self._observe(response)
        return response

    def _observe(self, response: requests.Response) -> None:
        found = _LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if found:
            self.limit_info = (int(found.group(1)), int(found.group(2)))
        date_header = response.headers.get("Date")
        if date_header:
            with contextlib.suppress(TypeError, ValueError):
                self.server_time = parsedate_to_datetime(date_header).astimezone(UTC)


def operation_name(method: str, url: str) -> str:
    """A short name for a request, for the call counter: ``query``, ``POST composite/sobjects``, ``token``..."""
    path = urlsplit(url).path
    if path.startswith("/services/oauth2/"):
        return path.rsplit("/", 1)[-1]
    parts = [part for part in path.split("/") if part]
    if parts[:2] == ["services", "data"] and len(parts) > 3:
        head = parts[3]
        if head in ("query", "queryAll"):
            return head
        if head == "composite":
            return f"{method.upper()} composite/{parts[4] if len(parts) > 4 else ''}".rstrip("/")
        if head == "sobjects":
            return "describe"
        return head
    return path


def retry_after(response: requests.Response) -> float | None:
    """The seconds a ``Retry-After`` header asks us to wait, when it gives a number."""
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None
