from django.urls import NoReverseMatch, reverse

from syncadmin.roles import role_of

# (label, URL name). Sections whose pages have not been built yet are shown disabled, not as dead links.
NAVIGATION = (
    ("Dashboard", "dashboard"),
    ("Configurations", "configurations:list"),
    ("Users", "users:list"),
    ("Sync runs", "sync:runs"),
    ("Connections", "sync:connections"),
    ("Audit trail", "audit:list"),
)


def navigation(request):
    items = []
    for label, name in NAVIGATION:
        try:
            url = reverse(name)
        except NoReverseMatch:
            url = None
        active = url is not None and (request.path == url if url == "/" else request.path.startswith(url))
        items.append({"label": label, "url": url, "active": active})
    return {"navigation": items, "role": role_of(getattr(request, "user", None))}
