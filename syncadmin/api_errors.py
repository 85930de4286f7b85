"""What the API says when an object named in the path does not exist: "Configuration 7 does not exist.", in the
product's words rather than the model's class name. Shared by the exception handler (``syncadmin.api_views``) and
the schema's 404 descriptions (``syncadmin.openapi``); it imports nothing, so either may load it first."""

from __future__ import annotations

# The product's name for each model an API path can name, by the model's class name (what Django's
# ``get_object_or_404`` puts in its message); a model not listed is called by its verbose name.
NOUNS = {
    "OutlookConfiguration": "Configuration",
    "SyncUser": "User",
    "SyncRun": "Run",
    "AuditEntry": "Audit entry",
    "ApiToken": "API token",
    "Connection": "Connection",
}
MAX_IDENTIFIER = 60  # a path segment is echoed back, but never at any length


def object_noun(model) -> str:
    """``Configuration`` for OutlookConfiguration; a model's capitalised verbose name otherwise."""
    name = model._meta.object_name
    return NOUNS.get(name) or str(model._meta.verbose_name).capitalize()


def missing_object(noun: str, identifier) -> str:
    """The sentence a 404 answers with: ``Configuration 7 does not exist.``"""
    identifier = str(identifier)
    if len(identifier) > MAX_IDENTIFIER:
        identifier = identifier[:MAX_IDENTIFIER] + "…"
    return f"{noun} {identifier} does not exist."
