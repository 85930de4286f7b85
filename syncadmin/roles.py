"""The three roles of the console and the API, as Django groups with model permissions.

- ``admin``: everything.
- ``support``: reads everything; may sync now, test a connection and reset a user's sync; changes no
  configuration and no assignment.
- ``api``: a REST client (a service account): an admin's rights, through the API only (no console login).

The groups are brought in line with this table after every ``migrate``; permissions of models that later
migrations add are picked up then.
"""

from django.contrib.auth.models import Group, Permission

ADMIN, SUPPORT, API = "admin", "support", "api"
ROLES = (ADMIN, SUPPORT, API)

# Apps whose models the roles govern.
DOMAIN_APPS = ("audit", "configurations", "users", "sync")

# Permissions support staff hold beyond reading: "<app_label>.<codename>", declared by the models' Meta.
SUPPORT_ACTIONS = ("users.sync_now", "users.reset_sync", "users.test_connection")


def _permissions_for(role: str) -> list[Permission]:
    domain = Permission.objects.filter(content_type__app_label__in=DOMAIN_APPS)
    if role == ADMIN:
        return list(domain) + list(Permission.objects.filter(content_type__app_label="apitokens"))
    if role == API:
        return list(domain)
    wanted = [action.split(".", 1) for action in SUPPORT_ACTIONS]
    actions = [p for p in domain if [p.content_type.app_label, p.codename] in wanted]
    return list(domain.filter(codename__startswith="view_")) + actions


def ensure_roles(**kwargs) -> None:
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(_permissions_for(role))


def role_of(user) -> str | None:
    """The user's role: ``admin`` for superusers, else the first role group they belong to."""
    if not user or not user.is_authenticated:
        return None
    if user.is_superuser:
        return ADMIN
    names = {group.name for group in user.groups.all()}
    return next((role for role in ROLES if role in names), None)


def may_use_console(user) -> bool:
    return role_of(user) in (ADMIN, SUPPORT)
