"""Delta queries: rounds of pages joined by ``@odata.nextLink`` ($skiptoken) ending in an ``@odata.deltaLink``
($deltatoken), with deletions and departures reported as ``@removed``.

A state token names a server-side state (kept in the mailbox, so tokens survive a restart): the collection it
tracks, the options of the first request (window, $select, $expand), the snapshot of ``{id: changeKey}`` the client
holds at the end of the round, and for a skip token the entries still to send. An incremental round compares the
collection with the snapshot, so an update, a creation, a deletion or a move out of the collection is reported once
however many times it happened. Unknown or forgotten tokens answer 410 Gone, as Exchange Online does when its delta
token cache no longer holds a token.
"""

from sandbox.graph.errors import GraphError
from sandbox.graph.odata import page_size

DEFAULT_PAGE = 100
MAX_PAGE = 1000


def sync_state_not_found() -> GraphError:
    return GraphError(410, "SyncStateNotFound",
                      "The sync state is not found or has expired. Please start a new synchronization round "
                      "without a delta token.")


def run(ctx, *, kind: str, scope: dict, path: str, context: str, entries, render, options: dict,
        outside=None) -> dict:
    """One delta request.

    entries(scope): the collection now, as an ordered list of (id, changeKey); render(id, options, scope): the
    representation of one entry, or None if it is gone. ``options`` are the first request's (select, expand, …) and
    ``scope`` what the collection is (folder, list, window); both are kept in the state. A scope of None on a
    request with a token means "the state's" (calendarView windows come from the first request only).
    outside(scope), for calendarView: {id: changeKey} of the calendar's items outside the window. As Microsoft
    documents, the next round reports those added, changed or deleted since as ``@removed`` too.
    """
    store, mb = ctx.store, ctx.mb
    args = {k.lower(): v for k, v in ctx.args.items()}
    skip, delta_token = args.get("$skiptoken"), args.get("$deltatoken")
    size, asked = page_size(ctx.prefer, DEFAULT_PAGE, MAX_PAGE)
    if skip or delta_token:
        state = mb["delta_states"].get(skip or delta_token)
        if state is None or state["kind"] != kind or (scope is not None and state["scope"] != scope) or \
                (skip and "pending" not in state) or (delta_token and "pending" in state):
            raise sync_state_not_found()
        options, scope = state["options"], state["scope"]
        if not asked:
            size = state.get("page_size", size)
    if skip:
        pending, snapshot = list(state["pending"]), state["snapshot"]
    else:
        current = entries(scope)
        known = state["snapshot"] if delta_token else {}
        current_ids = {i for i, _ in current}
        pending = [["item", i] for i, ck in current if known.get(i) != ck]
        pending += [["removed", i] for i in known if i not in current_ids]
        snapshot = dict(current)
    outside_now = outside(scope) if outside is not None and not skip else None
    if outside_now is not None and delta_token:
        before = state.get("outside", {})
        noise = [i for i, ck in outside_now.items() if before.get(i) != ck and i not in snapshot]
        noise += [i for i in before if i not in outside_now and i not in snapshot]
        reported = {i for _k, i in pending}
        pending += [["removed", i] for i in noise if i not in reported]
    if asked:
        ctx.extra_headers.append(("Preference-Applied", f"odata.maxpagesize={size}"))
    page, rest = pending[:size], pending[size:]
    value = []
    for entry_kind, entry_id in page:
        obj = render(entry_id, options, scope) if entry_kind == "item" else None
        value.append(obj if obj is not None else {"id": entry_id, "@removed": {"reason": "deleted"}})
    base_state = {"kind": kind, "scope": scope, "options": options, "snapshot": snapshot, "page_size": size}
    if outside is not None:
        base_state["outside"] = outside_now if outside_now is not None else state.get("outside", {})
    out = {"@odata.context": ctx.context(context)}
    if rest:
        token = store.save_delta_state(mb, {**base_state, "pending": rest})
        out["@odata.nextLink"] = ctx.url(path, {"$skiptoken": token})
    else:
        token = store.save_delta_state(mb, base_state)
        out["@odata.deltaLink"] = ctx.url(path, {"$deltatoken": token})
    out["value"] = value
    return out
