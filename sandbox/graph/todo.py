"""Microsoft To Do: task lists, tasks with linkedResources (the documented way to carry an external id) and open
extensions, and the tasks delta query.

A recurring task (`recurrence`, a patternedRecurrence) is one task standing for its open occurrence. Completing it
splits the completed occurrence off as a new, completed task and moves the recurring task (same id) on to its next
due date, open again; the last occurrence completes the task itself. This is Exchange's rule for recurring tasks (the
UpdateItem (Task) reference), which To Do tasks follow: Graph's outlookTask "complete" answered with "the completed
task in the series, and the next task in the series", and clients of the To Do API see the completed task keep its
id with the next due date and its status reset (thobach/MMM-MicrosoftToDo#51, RogerSelwyn/MS365-ToDo#62).

Other reports describe the opposite: the task written stays as it was completed and the next occurrence arrives as a
NEW task (a new id) with the same recurrence (microsoftgraph/microsoft-graph-docs#5424 for Outlook tasks). A mailbox
asks for that behaviour with the quirk `todo_completion_creates_next_task` (POST /_sandbox/mailboxes/{upn}/quirks),
so that the sync is tested against both: the completed task keeps its id and loses its recurrence, and the next
occurrence is a copy (linked resources and extensions included, as To Do copies them) due on the next date, open.
"""

import copy
import uuid
from datetime import UTC, date, datetime, timedelta

from sandbox.graph import delta
from sandbox.graph.common import (
    check_if_match,
    check_properties,
    collection,
    expect,
    expect_enum,
    json_body,
    read_dttz,
    shape,
    write_dttz,
    zone,
)
from sandbox.graph.errors import GraphError, not_found
from sandbox.graph.ids import change_key, etag
from sandbox.graph.odata import Query, parse_datetime
from sandbox.graph.recurrence import normalize, occurrence_dates
from sandbox.graph.store import now_iso

NEXT_AS_NEW_TASK = "todo_completion_creates_next_task"  # the quirk described in the module docstring
STATUS = ("notStarted", "inProgress", "completed", "waitingOnOthers", "deferred")
IMPORTANCE = ("low", "normal", "high")
WRITABLE = {"title", "body", "importance", "status", "isReminderOn", "reminderDateTime", "dueDateTime",
            "startDateTime", "completedDateTime", "categories", "recurrence", "linkedResources", "extensions"}
READONLY = {"id", "createdDateTime", "lastModifiedDateTime", "bodyLastModifiedDateTime", "hasAttachments"}
PROPERTIES = WRITABLE | READONLY | {"checklistItems", "attachments"}
LIST_PROPS = {"id", "displayName", "isOwner", "isShared", "wellknownListName", "tasks", "extensions"}
LINK_WRITABLE = {"webUrl", "applicationName", "displayName", "externalId"}
ITEM_OPTIONS = {"$select", "$expand"}
LIST_OPTIONS = {"$select", "$expand", "$filter", "$orderby", "$top", "$skip", "$count"}


# ---- lists ------------------------------------------------------------------------------------------------------
def list_json(rec: dict) -> dict:
    p = rec["props"]
    return {"@odata.etag": etag(change_key(rec["id"], rec["version"])), "displayName": p["displayName"],
            "isOwner": p.get("isOwner", True), "isShared": p.get("isShared", False),
            "wellknownListName": p.get("wellknownListName", "none"), "id": rec["id"]}


def get_list(mb: dict, list_id: str) -> dict:
    rec = mb["todo_lists"].get(list_id)
    if rec is None:
        raise not_found("The requested list was not found.", "ErrorItemNotFound")
    return rec


def lists(ctx):
    q = Query(ctx.args, LIST_OPTIONS, "todoTaskList", LIST_PROPS)
    rows = [(list_json(r), {}, None) for r in ctx.mb["todo_lists"].values()]
    return 200, collection(ctx, q, rows, "todo/lists", "todo/lists")


def create_list(ctx):
    body = check_properties(json_body(ctx), {"displayName"}, {"id", "isOwner", "isShared", "wellknownListName"},
                            "todoTaskList")
    if not isinstance(body.get("displayName"), str) or not body["displayName"].strip():
        raise GraphError(400, "invalidRequest", "The displayName of a list must not be empty.")
    rec = ctx.store.new_record(ctx.mb, "todo_lists", "L", {"displayName": body["displayName"], "isOwner": True,
                                                            "isShared": False, "wellknownListName": "none"})
    return 201, {"@odata.context": ctx.context("todo/lists/$entity"), **list_json(rec)}


def get_list_h(ctx, list_id):
    q = Query(ctx.args, ITEM_OPTIONS, "todoTaskList", LIST_PROPS)
    rec = get_list(ctx.mb, list_id)
    return 200, {"@odata.context": ctx.context("todo/lists/$entity"), **shape(list_json(rec), {}, q)}


def update_list(ctx, list_id):
    rec = get_list(ctx.mb, list_id)
    body = check_properties(json_body(ctx), {"displayName"}, {"id", "isOwner", "isShared", "wellknownListName"},
                            "todoTaskList")
    if "displayName" in body:
        rec["props"]["displayName"] = expect(body["displayName"], str, "displayName", "todoTaskList")
    ctx.store.changed(ctx.mb, rec)
    return 200, {"@odata.context": ctx.context("todo/lists/$entity"), **list_json(rec)}


def delete_list(ctx, list_id):
    rec = get_list(ctx.mb, list_id)
    if rec.get("default"):
        raise GraphError(400, "invalidRequest", "The default list cannot be deleted.")
    del ctx.mb["todo_lists"][list_id]
    for tid in [t["id"] for t in ctx.mb["tasks"].values() if t["list"] == list_id]:
        del ctx.mb["tasks"][tid]
    ctx.store.touch(ctx.mb)
    return 204, None


# ---- tasks ------------------------------------------------------------------------------------------------------
def task_ck(rec: dict) -> str:
    return change_key(rec["id"], rec["version"])


def task_json(rec: dict) -> dict:
    p = rec["props"]
    out = {"@odata.etag": etag(task_ck(rec)), "importance": p.get("importance", "normal"),
           "isReminderOn": p.get("isReminderOn", False), "status": p.get("status", "notStarted"),
           "title": p.get("title", ""), "createdDateTime": rec["created"], "lastModifiedDateTime": rec["modified"],
           "hasAttachments": False, "categories": p.get("categories", []), "id": rec["id"],
           "body": p.get("body", {"content": "", "contentType": "text"}),
           "bodyLastModifiedDateTime": p.get("bodyModified", rec["created"])}
    for name in ("dueDateTime", "startDateTime", "completedDateTime", "reminderDateTime"):
        if p.get(name):
            out[name] = write_dttz(parse_datetime(p[name]["utc"]), p[name]["tz"])
    if p.get("recurrence"):
        out["recurrence"] = p["recurrence"]
    return out


def link_json(link: dict) -> dict:
    return dict(link)


def _expandables(rec: dict) -> dict:
    return {"linkedResources": [link_json(x) for x in rec.get("links", [])],
            "extensions": [dict(x) for x in rec.get("extensions", [])], "checklistItems": []}


def get_task(mb: dict, list_id: str, task_id: str) -> dict:
    get_list(mb, list_id)
    rec = mb["tasks"].get(task_id)
    if rec is None or rec["list"] != list_id:
        raise not_found("The requested task was not found.", "ErrorItemNotFound")
    return rec


def _link(value) -> dict:
    if not isinstance(value, dict):
        raise GraphError(400, "RequestBodyRead", "A linkedResource is an object.")
    body = check_properties(value, LINK_WRITABLE, {"id"}, "linkedResource")
    for name in LINK_WRITABLE:
        expect(body.get(name), str, name, "linkedResource")
    if not body.get("applicationName") or not body.get("displayName"):
        raise GraphError(400, "invalidRequest", "A linkedResource needs applicationName and displayName.")
    return {"id": str(uuid.uuid4()), "webUrl": body.get("webUrl"), "applicationName": body["applicationName"],
            "displayName": body["displayName"], "externalId": body.get("externalId")}


def _extension(value) -> dict:
    if not isinstance(value, dict) or value.get("@odata.type", "").lstrip("#") != "microsoft.graph.openTypeExtension" \
            or not isinstance(value.get("extensionName"), str) or not value["extensionName"]:
        raise GraphError(400, "RequestBodyRead",
                         "An extension needs '@odata.type': 'microsoft.graph.openTypeExtension' and an extensionName.")
    ext = {k: v for k, v in value.items() if k != "id"}
    ext["@odata.type"] = "#microsoft.graph.openTypeExtension"
    ext["id"] = value["extensionName"]
    return ext


def _apply(rec: dict, body: dict) -> None:
    p = rec["props"]
    if "title" in body:
        p["title"] = expect(body["title"], str, "title", "todoTask") or ""
    if "body" in body:
        b = expect(body["body"] or {}, dict, "body", "todoTask")
        p["body"] = {"content": expect(b.get("content") or "", str, "content", "itemBody"),
                     "contentType": expect_enum(b.get("contentType", "text"), ("text", "html"), "bodyType")}
        p["bodyModified"] = now_iso()
    if "importance" in body:
        p["importance"] = expect_enum(body["importance"], IMPORTANCE, "importance")
    if "isReminderOn" in body:
        p["isReminderOn"] = bool(expect(body["isReminderOn"], bool, "isReminderOn", "todoTask"))
    if "categories" in body:
        p["categories"] = expect(body["categories"] or [], list, "categories", "todoTask")
    for name in ("dueDateTime", "startDateTime", "reminderDateTime", "completedDateTime"):
        if name in body:
            if body[name] is None:
                p.pop(name, None)
                continue
            when, tz_name = read_dttz(body[name], name, "todoTask")
            if name in ("dueDateTime", "startDateTime"):
                # To Do keeps only the date of a due or start date: midnight of that day, in UTC.
                local = when.astimezone(zone(tz_name))
                when = parse_datetime(local.date().isoformat() + "T00:00:00Z")
                tz_name = "UTC"
            p[name] = {"utc": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "tz": tz_name}
    if "status" in body:
        status = expect_enum(body["status"], STATUS, "taskStatus")
        if status == "completed" and p.get("status") != "completed" and "completedDateTime" not in body:
            p["completedDateTime"] = {"utc": now_iso()[:19] + "Z", "tz": "UTC"}
        if status != "completed":
            p.pop("completedDateTime", None)
        p["status"] = status
    if "recurrence" in body:
        if body["recurrence"] is None:
            p.pop("recurrence", None)
        else:
            first = _due_date(p) or datetime.now(UTC).date()
            p["recurrence"] = normalize(expect(body["recurrence"], dict, "recurrence", "todoTask"), first, "UTC")
    if "linkedResources" in body:
        rec["links"] = [_link(x) for x in expect(body["linkedResources"] or [], list, "linkedResources", "todoTask")]
    if "extensions" in body:
        rec["extensions"] = [_extension(x) for x in expect(body["extensions"] or [], list, "extensions", "todoTask")]


def _due_date(p: dict) -> date | None:
    return date.fromisoformat(p["dueDateTime"]["utc"][:10]) if p.get("dueDateTime") else None


def _next_occurrence(p: dict, after: date) -> date | None:
    """The first date of the task's recurrence after `after`, or None when the occurrence due then is the last."""
    for day in occurrence_dates(p["recurrence"], after + timedelta(days=366 * 10)):
        if day > after:
            return day
    return None


def _shift(p: dict, name: str, days: int) -> None:
    if p.get(name):
        moved = parse_datetime(p[name]["utc"]) + timedelta(days=days)
        p[name] = {"utc": moved.strftime("%Y-%m-%dT%H:%M:%SZ"), "tz": p[name]["tz"]}


def _move_to(p: dict, due: date, nxt: date) -> None:
    """Move a task's due, start and reminder times from the occurrence due on `due` to the one due on `nxt`."""
    days = (nxt - due).days
    if p.get("dueDateTime"):
        _shift(p, "dueDateTime", days)
    else:
        p["dueDateTime"] = {"utc": f"{nxt.isoformat()}T00:00:00Z", "tz": "UTC"}
    _shift(p, "startDateTime", days)
    _shift(p, "reminderDateTime", days)


def _regenerate(store, mb: dict, rec: dict) -> dict | None:
    """After `rec`, a recurring task, was completed: split the completed occurrence off as a new task and move `rec`
    on to the next occurrence (see the module docstring). Returns the completed task, or None for the last one."""
    p = rec["props"]
    due = _due_date(p) or datetime.now(UTC).date()
    nxt = _next_occurrence(p, due)
    if nxt is None:
        return None
    done = store.new_record(mb, "tasks", "T", {k: copy.deepcopy(v) for k, v in p.items() if k != "recurrence"},
                            list=rec["list"], links=copy.deepcopy(rec["links"]),
                            extensions=copy.deepcopy(rec["extensions"]))
    _move_to(p, due, nxt)
    p["status"] = "notStarted"
    p.pop("completedDateTime", None)
    return done


def _regenerate_as_new_task(store, mb: dict, rec: dict) -> dict | None:
    """After `rec`, a recurring task, was completed, under the quirk NEXT_AS_NEW_TASK: `rec` stays completed without
    its recurrence and the next occurrence is created as a new task with it. Returns that task, or None for the last
    occurrence (whose task simply stays completed)."""
    p = rec["props"]
    due = _due_date(p) or datetime.now(UTC).date()
    nxt = _next_occurrence(p, due)
    if nxt is None:
        return None
    following = {k: copy.deepcopy(v) for k, v in p.items() if k != "completedDateTime"}
    following["status"] = "notStarted"
    _move_to(following, due, nxt)
    p.pop("recurrence", None)
    return store.new_record(mb, "tasks", "T", following, list=rec["list"],
                            links=[{**copy.deepcopy(x), "id": str(uuid.uuid4())} for x in rec["links"]],
                            extensions=copy.deepcopy(rec["extensions"]))


def list_tasks(ctx, list_id):
    q = Query(ctx.args, LIST_OPTIONS, "todoTask", PROPERTIES)
    get_list(ctx.mb, list_id)
    rows = [(task_json(t), {}, _expandables(t)) for t in ctx.mb["tasks"].values() if t["list"] == list_id]
    return 200, collection(ctx, q, rows, f"todo/lists('{list_id}')/tasks", ctx.rel_path)


def create_task(ctx, list_id):
    get_list(ctx.mb, list_id)
    body = check_properties(json_body(ctx), WRITABLE, READONLY, "todoTask")
    if not isinstance(body.get("title"), str):
        raise GraphError(400, "invalidRequest", "A task needs a title.")
    rec = ctx.store.new_record(ctx.mb, "tasks", "T", {}, list=list_id, links=[], extensions=[])
    try:
        _apply(rec, body)
    except GraphError:
        del ctx.mb["tasks"][rec["id"]]
        raise
    return 201, {"@odata.context": ctx.context(f"todo/lists('{list_id}')/tasks/$entity"), **task_json(rec),
                 **({"linkedResources": _expandables(rec)["linkedResources"]} if rec["links"] else {})}


def get_task_h(ctx, list_id, task_id):
    q = Query(ctx.args, ITEM_OPTIONS, "todoTask", PROPERTIES)
    rec = get_task(ctx.mb, list_id, task_id)
    return 200, {"@odata.context": ctx.context(f"todo/lists('{list_id}')/tasks/$entity"),
                 **shape(task_json(rec), {}, q, _expandables(rec))}


def update_task(ctx, list_id, task_id):
    rec = get_task(ctx.mb, list_id, task_id)
    check_if_match(ctx, task_ck(rec))
    body = check_properties(json_body(ctx), WRITABLE, READONLY, "todoTask")
    was_completed = rec["props"].get("status") == "completed"
    _apply(rec, body)
    if rec["props"].get("recurrence") and rec["props"].get("status") == "completed" and not was_completed:
        if ctx.mb.get("quirks", {}).get(NEXT_AS_NEW_TASK):
            _regenerate_as_new_task(ctx.store, ctx.mb, rec)  # the answer is the completed task
        else:
            _regenerate(ctx.store, ctx.mb, rec)  # the answer is the task as it now is: the next occurrence
    ctx.store.changed(ctx.mb, rec)
    return 200, {"@odata.context": ctx.context(f"todo/lists('{list_id}')/tasks/$entity"), **task_json(rec)}


def delete_task(ctx, list_id, task_id):
    rec = get_task(ctx.mb, list_id, task_id)
    check_if_match(ctx, task_ck(rec))
    del ctx.mb["tasks"][task_id]
    ctx.store.touch(ctx.mb)
    return 204, None


# ---- linked resources and extensions ----------------------------------------------------------------------------
def list_links(ctx, list_id, task_id):
    q = Query(ctx.args, {"$select", "$filter", "$top", "$skip", "$count"}, "linkedResource",
              LINK_WRITABLE | {"id"})
    rec = get_task(ctx.mb, list_id, task_id)
    rows = [(link_json(x), {}, None) for x in rec["links"]]
    return 200, collection(ctx, q, rows, f"todo/lists('{list_id}')/tasks('{task_id}')/linkedResources", ctx.rel_path)


def create_link(ctx, list_id, task_id):
    rec = get_task(ctx.mb, list_id, task_id)
    link = _link(json_body(ctx))
    rec["links"].append(link)
    ctx.store.changed(ctx.mb, rec)
    return 201, {"@odata.context": ctx.context("linkedResources/$entity"), **link_json(link)}


def _find_link(rec, link_id):
    link = next((x for x in rec["links"] if x["id"] == link_id), None)
    if link is None:
        raise not_found("The requested linked resource was not found.", "ErrorItemNotFound")
    return link


def get_link(ctx, list_id, task_id, link_id):
    Query(ctx.args, {"$select"}, "linkedResource", LINK_WRITABLE | {"id"})
    rec = get_task(ctx.mb, list_id, task_id)
    return 200, {"@odata.context": ctx.context("linkedResources/$entity"), **link_json(_find_link(rec, link_id))}


def update_link(ctx, list_id, task_id, link_id):
    rec = get_task(ctx.mb, list_id, task_id)
    link = _find_link(rec, link_id)
    body = check_properties(json_body(ctx), LINK_WRITABLE, {"id"}, "linkedResource")
    for name, value in body.items():
        link[name] = expect(value, str, name, "linkedResource")
    ctx.store.changed(ctx.mb, rec)
    return 200, {"@odata.context": ctx.context("linkedResources/$entity"), **link_json(link)}


def delete_link(ctx, list_id, task_id, link_id):
    rec = get_task(ctx.mb, list_id, task_id)
    rec["links"].remove(_find_link(rec, link_id))
    ctx.store.changed(ctx.mb, rec)
    return 204, None


def create_extension(ctx, list_id, task_id):
    rec = get_task(ctx.mb, list_id, task_id)
    ext = _extension(json_body(ctx))
    if any(x["extensionName"] == ext["extensionName"] for x in rec["extensions"]):
        raise GraphError(409, "NameAlreadyExists", "An extension with the same name already exists.")
    rec["extensions"].append(ext)
    ctx.store.changed(ctx.mb, rec)
    return 201, {"@odata.context": ctx.context("extensions/$entity"), **ext}


def _find_extension(rec, name):
    ext = next((x for x in rec["extensions"] if x["extensionName"] == name), None)
    if ext is None:
        raise not_found("The extension was not found.", "ErrorItemNotFound")
    return ext


def get_extension(ctx, list_id, task_id, name):
    rec = get_task(ctx.mb, list_id, task_id)
    return 200, {"@odata.context": ctx.context("extensions/$entity"), **_find_extension(rec, name)}


def update_extension(ctx, list_id, task_id, name):
    rec = get_task(ctx.mb, list_id, task_id)
    ext = _find_extension(rec, name)
    for key, value in json_body(ctx).items():
        if key not in ("id", "extensionName", "@odata.type"):
            ext[key] = value
    ctx.store.changed(ctx.mb, rec)
    return 200, {"@odata.context": ctx.context("extensions/$entity"), **ext}


def delete_extension(ctx, list_id, task_id, name):
    rec = get_task(ctx.mb, list_id, task_id)
    rec["extensions"].remove(_find_extension(rec, name))
    ctx.store.changed(ctx.mb, rec)
    return 204, None


# ---- delta ------------------------------------------------------------------------------------------------------
def tasks_delta(ctx, list_id):
    def unsupported(name):
        return GraphError(400, "ErrorInvalidUrlQuery",
                          f"The following parameters are not supported with change tracking over the 'Tasks' "
                          f"resource: '{name}'.")

    get_list(ctx.mb, list_id)
    tokens = {"$skiptoken", "$deltatoken"}
    first = not any(k.lower() in tokens for k in ctx.args)
    q = Query(ctx.args, {"$select", "$expand", "$top", *tokens}, "todoTask", PROPERTIES,
              unsupported_message=unsupported)
    if q.top is not None and first and "odata.maxpagesize" not in ctx.prefer.lower():
        ctx.headers["prefer"] = f"odata.maxpagesize={q.top}"

    def entries(scope):
        return [(t["id"], task_ck(t)) for t in ctx.mb["tasks"].values() if t["list"] == scope["list"]]

    def render(task_id, options, scope):
        rec = ctx.mb["tasks"].get(task_id)
        if rec is None or rec["list"] != scope["list"]:
            return None
        obj = task_json(rec)
        if options.get("select"):
            keep = {"id", "@odata.etag", *options["select"]}
            obj = {k: v for k, v in obj.items() if k in keep}
        for name in options.get("expand", []):
            obj[name] = _expandables(rec).get(name, [])
        return obj

    options = {"select": q.select, "expand": list(q.expand)} if first else {}
    return 200, delta.run(ctx, kind="tasks", scope={"list": list_id}, path=f"todo/lists/{list_id}/tasks/delta",
                          context="Collection(todoTask)", entries=entries, render=render, options=options)
