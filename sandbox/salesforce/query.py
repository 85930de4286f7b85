"""Running a compiled SOQL query against the store: visibility, filtering, ordering, paging and rendering."""

import secrets
import time

from sandbox.salesforce import ids
from sandbox.salesforce.errors import ApiError
from sandbox.salesforce.soql import Query, comparable, value_getter

PAGE_SIZE = 2000
CURSOR_TTL_SECONDS = 15 * 60


class Row:
    """A record plus a cache of the parent records its relationship paths reach."""

    __slots__ = ("_parents", "record", "store")

    def __init__(self, record: dict, store):
        self.record, self.store, self._parents = record, store, {}

    def parent(self, hops) -> dict | None:
        key = tuple(h[1] for h in hops)
        if key in self._parents:
            return self._parents[key]
        current = self.record
        for rel, _name, _poly in hops:
            target = current.get(rel.name)
            current = self.store.get(target) if target else None
            if current is None:
                break
        self._parents[key] = current
        return current


def run(query: Query, store, access, include_deleted: bool) -> list[Row]:
    sobject = query.sobject.name
    rows = []
    predicate = query.where
    for record in store.of_type(sobject):
        if record.get("IsDeleted") and not include_deleted:
            continue
        if query.owner is not None and record.get("OwnerId") != query.owner:
            continue
        if not access.can_see(sobject, record):
            continue
        row = Row(record, store)
        if predicate is None or predicate(row):
            rows.append(row)
    rows.sort(key=lambda row: row.record["Id"])
    for ref, descending, nulls_last in reversed(query.order):
        getter = value_getter(ref)
        present = [row for row in rows if getter(row) is not None]
        absent = [row for row in rows if getter(row) is None]
        present.sort(key=lambda row: comparable(ref.ftype, getter(row)), reverse=descending)
        rows = present + absent if nulls_last else absent + present
    if query.offset:
        rows = rows[query.offset:]
    if query.limit is not None:
        rows = rows[:query.limit]
    return rows


def render(row: Row, query: Query, version: str) -> dict:
    record = row.record
    sobject = query.sobject.name
    out = {"attributes": {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{record['Id']}"}}
    for ref in query.fields:
        if not ref.hops:
            out[ref.field.name] = record.get(ref.field.name)
            continue
        container, current_hops = out, []
        for hop in ref.hops:
            current_hops.append(hop)
            name = hop[1]
            if name in container and container[name] is None:
                break
            if name not in container:
                parent = row.parent(current_hops)
                if parent is None:
                    container[name] = None
                    break
                parent_type = ids.type_of(parent["Id"])
                container[name] = {"attributes": {
                    "type": parent_type, "url": f"/services/data/v{version}/sobjects/{parent_type}/{parent['Id']}"}}
            container = container[name]
        else:
            parent = row.parent(ref.hops)
            if ref.pseudo == "Type":
                container["Type"] = ids.type_of(parent["Id"])
            else:
                key = ref.field.name if ref.field else ref.pseudo
                container[key] = parent.get(key)
    return out


class Cursors:
    """Server-side query locators for ``nextRecordsUrl``; they expire after 15 minutes, as Salesforce's do."""

    def __init__(self):
        self.items: dict[str, dict] = {}

    def clear(self) -> None:
        self.items.clear()

    def page(self, query: Query, rows: list[Row], start: int, version: str, batch: int, locator: str | None,
             user_id: str) -> dict:
        chunk = rows[start:start + batch]
        body = {"totalSize": len(rows), "done": start + batch >= len(rows),
                "records": [render(row, query, version) for row in chunk]}
        if not body["done"]:
            now = time.time()
            for key in [k for k, v in self.items.items() if v["expires"] < now]:
                del self.items[key]
            if locator is None:
                locator = "01g8d" + secrets.token_hex(5).upper() + "SbX"
                locator = locator + ids.checksum(locator)
            self.items[locator] = {"query": query, "rows": rows, "expires": now + CURSOR_TTL_SECONDS,
                                   "batch": batch, "user_id": user_id}
            body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{start + batch}"
        return body

    def next_page(self, locator_text: str, version: str, user_id: str) -> dict:
        locator, _, position = locator_text.rpartition("-")
        entry = self.items.get(locator)
        if entry is None or not position.isdigit() or entry["expires"] < time.time() or \
                entry["user_id"] != user_id:
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self.page(entry["query"], entry["rows"], int(position), version, entry["batch"], locator, user_id)
