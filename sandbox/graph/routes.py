"""The Graph paths the emulator serves under /v1.0/users/{user}/, each with its handler and the path template
used for call statistics and fault matching."""

import re

from sandbox.graph import contacts, events, todo

# (method, template, handler). {id} segments are captured in order and passed to the handler.
ROUTES = [
    ("GET", "contactFolders", contacts.list_folders),
    ("POST", "contactFolders", contacts.create_folder),
    ("GET", "contactFolders/{id}", contacts.get_folder_h),
    ("PATCH", "contactFolders/{id}", contacts.update_folder),
    ("DELETE", "contactFolders/{id}", contacts.delete_folder),
    ("GET", "contactFolders/{id}/contacts/delta", contacts.contacts_delta),
    ("GET", "contactFolders/{id}/contacts", lambda ctx, f: contacts.list_contacts(ctx, f)),
    ("POST", "contactFolders/{id}/contacts", lambda ctx, f: contacts.create_contact(ctx, f)),
    ("GET", "contactFolders/{id}/contacts/{id}", lambda ctx, f, c: contacts.get_contact_h(ctx, c, f)),
    ("PATCH", "contactFolders/{id}/contacts/{id}", lambda ctx, f, c: contacts.update_contact(ctx, c, f)),
    ("DELETE", "contactFolders/{id}/contacts/{id}", lambda ctx, f, c: contacts.delete_contact(ctx, c, f)),
    ("GET", "contacts", contacts.list_contacts),
    ("POST", "contacts", contacts.create_contact),
    ("GET", "contacts/{id}", contacts.get_contact_h),
    ("PATCH", "contacts/{id}", contacts.update_contact),
    ("DELETE", "contacts/{id}", contacts.delete_contact),
    ("GET", "events", events.list_events),
    ("POST", "events", events.create_event),
    ("GET", "calendar/events", events.list_events),
    ("POST", "calendar/events", events.create_event),
    ("GET", "events/{id}/instances", events.instances),
    ("GET", "calendar/events/{id}/instances", events.instances),
    ("GET", "events/{id}", events.get_event),
    ("PATCH", "events/{id}", events.update_event),
    ("DELETE", "events/{id}", events.delete_event),
    ("GET", "calendar/events/{id}", events.get_event),
    ("PATCH", "calendar/events/{id}", events.update_event),
    ("DELETE", "calendar/events/{id}", events.delete_event),
    ("GET", "calendarView/delta", events.calendar_view_delta),
    ("GET", "calendar/calendarView/delta", events.calendar_view_delta),
    ("GET", "calendarView", events.calendar_view),
    ("GET", "calendar/calendarView", events.calendar_view),
    ("GET", "todo/lists", todo.lists),
    ("POST", "todo/lists", todo.create_list),
    ("GET", "todo/lists/{id}", todo.get_list_h),
    ("PATCH", "todo/lists/{id}", todo.update_list),
    ("DELETE", "todo/lists/{id}", todo.delete_list),
    ("GET", "todo/lists/{id}/tasks/delta", todo.tasks_delta),
    ("GET", "todo/lists/{id}/tasks", todo.list_tasks),
    ("POST", "todo/lists/{id}/tasks", todo.create_task),
    ("GET", "todo/lists/{id}/tasks/{id}", todo.get_task_h),
    ("PATCH", "todo/lists/{id}/tasks/{id}", todo.update_task),
    ("DELETE", "todo/lists/{id}/tasks/{id}", todo.delete_task),
    ("GET", "todo/lists/{id}/tasks/{id}/linkedResources", todo.list_links),
    ("POST", "todo/lists/{id}/tasks/{id}/linkedResources", todo.create_link),
    ("GET", "todo/lists/{id}/tasks/{id}/linkedResources/{id}", todo.get_link),
    ("PATCH", "todo/lists/{id}/tasks/{id}/linkedResources/{id}", todo.update_link),
    ("DELETE", "todo/lists/{id}/tasks/{id}/linkedResources/{id}", todo.delete_link),
    ("POST", "todo/lists/{id}/tasks/{id}/extensions", todo.create_extension),
    ("GET", "todo/lists/{id}/tasks/{id}/extensions/{id}", todo.get_extension),
    ("PATCH", "todo/lists/{id}/tasks/{id}/extensions/{id}", todo.update_extension),
    ("DELETE", "todo/lists/{id}/tasks/{id}/extensions/{id}", todo.delete_extension),
]
# OData allows a key in parentheses as well as a segment: contacts('AAMk…') is contacts/AAMk….
KEY_IN_PARENS = re.compile(r"^([A-Za-z]+)\('([^']*)'\)$")
FUNCTION_ALIASES = {"delta()": "delta", "microsoft.graph.delta": "delta", "microsoft.graph.delta()": "delta"}


def split(rel_path: str) -> list[str]:
    out = []
    for seg in rel_path.split("/"):
        if not seg:
            continue
        m = KEY_IN_PARENS.match(seg)
        if m:
            out += [m.group(1), m.group(2)]
        else:
            out.append(FUNCTION_ALIASES.get(seg, seg))
    return out


def match(method: str, segments: list[str]):
    """(handler, template, ids) for the route, or (None, reason, allowed methods)."""
    allowed = []
    for m, template, handler in ROUTES:
        parts = template.split("/")
        if len(parts) != len(segments):
            continue
        ids = []
        for want, got in zip(parts, segments, strict=True):
            if want == "{id}":
                if got in ("delta", "instances"):
                    break
                ids.append(got)
            elif want.lower() != got.lower():
                break
        else:
            if m == method:
                return handler, template, ids
            allowed.append(m)
    return None, None, allowed


def template_of(segments: list[str]) -> str:
    """A stats/fault name for a path no route matched: its literal segments, ids replaced."""
    literal = {p for _m, t, _h in ROUTES for p in t.split("/") if p != "{id}"}
    return "/".join(s if s in literal else "{id}" for s in segments)
