"""Delivery of change and lifecycle notifications to the URLs subscriptions registered, as Microsoft Graph does it:
from a background thread (never inside the request that made the change), what happened within a short delay sent
together in one ``{"value": [...]}`` POST per URL, retried with exponential back-off while the receiver fails or
does not answer in time, and dropped once the retry window (4 hours at Graph; ``retry_seconds`` here) has passed.

Also the validation handshake (a POST with ``?validationToken=``), which the subscription request itself waits for.
"""

import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from urllib.parse import quote

log = logging.getLogger(__name__)

DEFAULTS = {
    "batch_delay_seconds": 0.2,  # changes within this delay of the first go out in one POST
    "retry_seconds": 4 * 3600,  # Graph keeps retrying a failing receiver for up to 4 hours
    "backoff_seconds": 1.0,  # first retry after this, doubling on each failure ...
    "max_backoff_seconds": 60.0,  # ... up to this
    "timeout_seconds": 3.0,  # Graph expects a receiver to answer a notification within 3 seconds
}
VALIDATION_TIMEOUT_SECONDS = 10  # Graph's limit for the validation handshake


def http_post(url: str, body: bytes, content_type: str, timeout: float) -> tuple[int, str, bytes]:
    """(status, content type, body) of a POST; raises OSError on a network failure or timeout. No proxies: the
    receivers the sandbox talks to are on this machine or named explicitly."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    # Only http and https URLs get here: subscriptions.check_url refuses every other scheme.
    request = urllib.request.Request(url, data=body, method="POST",  # noqa: S310
                                     headers={"Content-Type": content_type})
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", "") if e.headers else "", e.read() or b""


def validate_endpoint(url: str, token: str) -> str | None:
    """The validation handshake: None when the endpoint echoed the token, else Graph's error message."""
    separator = "&" if "?" in url else "?"
    try:
        status, content_type, body = http_post(f"{url}{separator}validationToken={quote(token, safe='')}", b"",
                                               "text/plain; charset=utf-8", VALIDATION_TIMEOUT_SECONDS)
    except TimeoutError:
        return "Subscription validation request timed out."
    except OSError as e:
        if "timed out" in str(e):
            return "Subscription validation request timed out."
        return ("Subscription validation request failed. Notification endpoint must respond with 200 OK to "
                "validation request.")
    if status != 200:
        return ("Subscription validation request failed. Notification endpoint must respond with 200 OK to "
                "validation request.")
    if not content_type.lower().startswith("text/plain"):
        return "Subscription validation request failed. Response must be of content type text/plain."
    if body.decode("utf-8", "replace") != token:
        return "Subscription validation request failed. Response must exactly match validationToken query parameter."
    return None


class Deliveries:
    """The outgoing notifications: batches per URL, each with its due time and attempts so far.

    ``alive(subscription_id)`` says whether a subscription still exists; entries of one that has gone (deleted,
    expired, removed) are not sent, except lifecycle notifications that announce its removal.
    """

    def __init__(self, alive, settings: dict | None = None):
        self.alive = alive
        self.settings = {**DEFAULTS, **(settings or {})}
        self.cond = threading.Condition()
        self.batches: list[dict] = []
        self.counts: Counter = Counter()  # change, lifecycle, failed_attempts, dropped, validation
        self.by_subscription: dict[str, Counter] = {}
        self._thread: threading.Thread | None = None
        self._stopped = False

    # ---- queue -------------------------------------------------------------------------------------------------
    def enqueue(self, url: str, subscription_id: str, entry: dict, *, kind: str, after_removal: bool = False) -> None:
        now = time.monotonic()
        with self.cond:
            batch = next((b for b in self.batches if b["url"] == url and b["kind"] == kind and not b["attempts"]
                          and not b["sending"]), None)
            if batch is None:
                batch = {"url": url, "kind": kind, "entries": [], "due": now + self.settings["batch_delay_seconds"],
                         "attempts": 0, "first_attempt": None, "sending": False}
                self.batches.append(batch)
            batch["entries"].append({"subscription": subscription_id, "entry": entry, "after_removal": after_removal})
            self._start()
            self.cond.notify_all()

    def pending(self, subscription_id: str) -> int:
        with self.cond:
            return sum(1 for b in self.batches for e in b["entries"] if e["subscription"] == subscription_id)

    def counters(self, subscription_id: str) -> dict:
        with self.cond:
            c = self.by_subscription.get(subscription_id, Counter())
            return {"deliveries": c["change"], "lifecycle_deliveries": c["lifecycle"],
                    "failed_attempts": c["failed_attempts"], "dropped": c["dropped"]}

    def totals(self) -> dict:
        with self.cond:
            return {k: self.counts[k] for k in ("change", "lifecycle", "validation", "failed_attempts", "dropped")}

    def clear(self, *, counts_only: bool = False) -> None:
        with self.cond:
            self.counts.clear()
            self.by_subscription.clear()
            if not counts_only:
                self.batches.clear()

    def count(self, name: str, subscription_id: str | None = None, n: int = 1) -> None:
        with self.cond:
            self.counts[name] += n
            if subscription_id:
                self.by_subscription.setdefault(subscription_id, Counter())[name] += n

    def stop(self) -> None:
        with self.cond:
            self._stopped = True
            self.cond.notify_all()

    # ---- worker ------------------------------------------------------------------------------------------------
    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, daemon=True, name="graph-notifications")
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self.cond:
                while not self._stopped:
                    now = time.monotonic()
                    due = [b for b in self.batches if b["due"] <= now and not b["sending"]]
                    if due:
                        break
                    waiting = [b["due"] for b in self.batches if not b["sending"]]
                    self.cond.wait(timeout=min(waiting) - now if waiting else 1.0)
                if self._stopped:
                    return
                for batch in due:
                    batch["sending"] = True
            for batch in due:
                try:
                    self._send(batch)
                except Exception:  # one bad batch must not stop every later notification
                    log.exception("Sending Graph notifications to %s failed unexpectedly.", batch["url"])
                    with self.cond:
                        if batch in self.batches:
                            self.batches.remove(batch)

    def _send(self, batch: dict) -> None:
        entries = [e for e in batch["entries"] if e["after_removal"] or self.alive(e["subscription"])]
        if not entries:
            with self.cond:
                self.batches.remove(batch)
            return
        body = json.dumps({"value": [e["entry"] for e in entries]}).encode()
        now = time.monotonic()
        try:
            status, _type, _body = http_post(batch["url"], body, "application/json; charset=utf-8",
                                             self.settings["timeout_seconds"])
            ok = 200 <= status < 300
            reason = f"HTTP {status}"
        except OSError as e:
            ok, reason = False, str(e)
        with self.cond:
            batch["sending"] = False
            if ok:
                self.batches.remove(batch)
                for e in entries:
                    self.counts[batch["kind"]] += 1
                    self.by_subscription.setdefault(e["subscription"], Counter())[batch["kind"]] += 1
                return
            batch["entries"] = entries
            batch["attempts"] += 1
            batch["first_attempt"] = batch["first_attempt"] or now
            self.counts["failed_attempts"] += 1
            for e in entries:
                self.by_subscription.setdefault(e["subscription"], Counter())["failed_attempts"] += 1
            backoff = min(self.settings["backoff_seconds"] * 2 ** (batch["attempts"] - 1),
                          self.settings["max_backoff_seconds"])
            if now + backoff - batch["first_attempt"] > self.settings["retry_seconds"]:
                log.warning("Dropping %d Graph notification(s) for %s after retrying for %.0f s (last: %s).",
                            len(entries), batch["url"], now - batch["first_attempt"], reason)
                self.batches.remove(batch)
                self.counts["dropped"] += len(entries)
                for e in entries:
                    self.by_subscription.setdefault(e["subscription"], Counter())["dropped"] += 1
                return
            batch["due"] = now + backoff
            self.cond.notify_all()
