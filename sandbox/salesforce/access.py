"""Profiles, object permissions and record visibility (a private sharing model with one sharing rule).

Org-wide defaults are Private: a user sees the records they own. Sharing rule: contacts on an account a user
owns are shared with that user read/write. Activities (events, tasks) are "controlled by parent": visible to
whoever can see their WhatId or WhoId record, unless private. Private events are visible to their owner and to
System Administrators only. Profiles with ``view_all``/``modify_all`` see/edit everything else.
"""

from sandbox.salesforce.ids import type_of

CRUD = {"read": True, "create": True, "edit": True, "delete": True}
READ = {"read": True, "create": False, "edit": False, "delete": False}
NONE = {"read": False, "create": False, "edit": False, "delete": False}
DATA_OBJECTS = ("Account", "Contact", "Lead", "Event", "Task", "EventRelation")

PROFILES: dict[str, dict] = {
    "System Administrator": {
        "description": "Full access, sees every record including private events.",
        "objects": {**dict.fromkeys(DATA_OBJECTS, CRUD), "User": READ, "Profile": READ, "Organization": READ},
        "view_all": True, "modify_all": True, "private_events": True,
    },
    "Sales Manager": {
        "description": "Sees and edits every record (View All / Modify All on data objects).",
        "objects": {**dict.fromkeys(DATA_OBJECTS, CRUD), "User": READ, "Profile": READ, "Organization": READ},
        "view_all": True, "modify_all": True, "private_events": False,
    },
    "Standard User": {
        "description": "Full CRUD on own records and contacts on own accounts.",
        "objects": {**dict.fromkeys(DATA_OBJECTS, CRUD), "User": READ, "Profile": READ, "Organization": READ},
        "view_all": False, "modify_all": False, "private_events": False,
    },
    "Read Only": {
        "description": "Reads what is shared with them; cannot create, edit or delete.",
        "objects": {**dict.fromkeys(DATA_OBJECTS, READ), "User": READ, "Profile": READ, "Organization": READ},
        "view_all": False, "modify_all": False, "private_events": False,
    },
    "Minimum Access": {
        "description": "Accounts and contacts read-only; no access to leads, events and tasks.",
        "objects": {"Account": READ, "Contact": READ, "Lead": NONE, "Event": NONE, "Task": NONE,
                    "EventRelation": NONE, "User": READ, "Profile": READ, "Organization": READ},
        "view_all": False, "modify_all": False, "private_events": False,
    },
}


class Access:
    """Answers permission questions for one user against the current store."""

    def __init__(self, store, user: dict):
        self.store = store
        self.user = user
        profile = store.get(user["ProfileId"])
        self.profile_name = profile["Name"] if profile else "Minimum Access"
        self.profile = PROFILES.get(self.profile_name, PROFILES["Minimum Access"])
        self.user_id = user["Id"]

    def perms(self, sobject: str) -> dict:
        return self.profile["objects"].get(sobject, NONE)

    def can(self, sobject: str, action: str) -> bool:
        return self.perms(sobject).get(action, False)

    def can_see(self, sobject: str, record: dict, depth: int = 0) -> bool:
        if not self.can(sobject, "read"):
            return False
        if sobject in ("User", "Profile", "Organization"):
            return True
        if sobject == "Event" and record.get("IsPrivate") and record.get("OwnerId") != self.user_id:
            return self.profile["private_events"]
        if self.profile["view_all"] or record.get("OwnerId") == self.user_id:
            return True
        if depth > 2:
            return False
        if sobject == "Contact":
            account = self.store.get(record.get("AccountId") or "")
            return bool(account and account.get("OwnerId") == self.user_id)
        if sobject in ("Event", "Task"):
            for key in ("WhatId", "WhoId"):
                parent = self.store.get(record.get(key) or "")
                if parent and not parent.get("IsDeleted") and self.can_see(
                        type_of(parent["Id"]), parent, depth + 1):
                    return True
            return False
        if sobject == "EventRelation":
            event = self.store.get(record.get("EventId") or "")
            return bool(event and self.can_see("Event", event, depth + 1))
        return False

    def can_edit(self, sobject: str, record: dict) -> bool:
        if not self.can(sobject, "edit") or not self.can_see(sobject, record):
            return False
        if self.profile["modify_all"] or record.get("OwnerId") == self.user_id:
            return True
        if sobject == "Contact":
            account = self.store.get(record.get("AccountId") or "")
            return bool(account and account.get("OwnerId") == self.user_id)
        if sobject == "EventRelation":
            event = self.store.get(record.get("EventId") or "")
            return bool(event and self.can_edit("Event", event))
        return False

    def can_delete(self, sobject: str, record: dict) -> bool:
        return self.can(sobject, "delete") and self.can_edit(sobject, record)
