"""The per-request context of the EWS emulator's operation handlers: store, acting mailbox, time zone, paging."""

import contextlib

from sandbox.exchange import soap
from sandbox.exchange.soap import EwsError, error_message, local
from sandbox.exchange.store import Store


class Context:
    """What one request's handlers need: the store, who acts on which mailbox, the request's time zone."""

    M = soap.M

    def __init__(self, store: Store, op: str, user: str, acting: dict | None, impersonating: bool, tz):
        self.store, self.op, self.user, self.acting, self.impersonating, self.tz = (
            store, op, user, acting, impersonating, tz)

    def check_access(self, mb: dict) -> None:
        if self.acting is None or mb["email"] != self.acting["email"]:
            raise EwsError("ErrorAccessDenied")

    @contextlib.contextmanager
    def per_message(self, msgs):
        before = len(msgs)
        try:
            yield
        except EwsError as e:
            for extra in list(msgs)[before:]:
                msgs.remove(extra)
            self.error(msgs, e)

    def error(self, msgs, err: EwsError) -> None:
        error_message(msgs, self.op, err)

    def page(self, rows: list, req) -> tuple[list, dict]:
        view = next((c for c in req if local(c.tag).endswith(("PageItemView", "PageFolderView"))), None)
        total = len(rows)
        if view is None:
            return rows, {"TotalItemsInView": total, "IncludesLastItemInRange": "true"}
        max_entries = int(view.get("MaxEntriesReturned")) if view.get("MaxEntriesReturned") else None
        if local(view.tag).startswith("Fractional"):
            num, den = int(view.get("Numerator")), int(view.get("Denominator"))
            if den <= 0 or num < 0 or num > den:
                raise EwsError("ErrorInvalidPagingMaxRows" if den <= 0 else "ErrorInvalidIndexedPagingParameters",
                               "Invalid fractional paging parameters.")
            start = total * num // den
            page = rows[start: start + max_entries if max_entries is not None else None]
            end = start + len(page)
            return page, {"NumeratorOffset": end, "AbsoluteDenominator": total, "TotalItemsInView": total,
                          "IncludesLastItemInRange": "true" if end >= total else "false"}
        offset = int(view.get("Offset") or 0)
        if max_entries is not None and max_entries < 1:
            raise EwsError("ErrorInvalidPagingMaxRows", "MaxEntriesReturned must be positive.")
        if view.get("BasePoint") == "End":
            stop = max(0, total - offset)
            begin = 0 if max_entries is None else max(0, stop - max_entries)
            page = rows[begin:stop]
            return page, {"IndexedPagingOffset": begin, "TotalItemsInView": total,
                          "IncludesLastItemInRange": "true" if begin == 0 else "false"}
        page = rows[offset: offset + max_entries if max_entries is not None else None]
        end = offset + len(page)
        return page, {"IndexedPagingOffset": end, "TotalItemsInView": total,
                      "IncludesLastItemInRange": "true" if end >= total else "false"}
