"""The console's API tokens page (admins only): every token with its state, issue one (its key shown once), revoke
one."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apitokens.forms import IssueTokenForm
from apitokens.models import ApiToken
from apitokens.services import issue_token, revoke_token
from syncadmin.roles import ADMIN, role_of

PAGE_SIZE = 100


def admin_view(view):
    """Logged in (else the login page), with the admin role (else 403)."""

    @login_required
    def wrapped(request, *args, **kwargs):
        if role_of(request.user) != ADMIN:
            raise PermissionDenied("Only admins manage API tokens.")
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def _page(request, form, issued=None, status=200):
    tokens = ApiToken.objects.select_related("user").order_by("-created_at", "-pk")
    page = Paginator(tokens, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "apitokens/list.html", {"page": page, "form": form, "issued": issued,
                                                    "querystring": ""}, status=status)


@never_cache  # the response that shows a new key must not stay in any cache
@admin_view
def token_list(request):
    """The list and the issue form; a valid POST issues a token and shows its key on this response only."""
    if request.method != "POST":
        return _page(request, IssueTokenForm())
    form = IssueTokenForm(request.POST)
    if form.is_valid():
        try:
            issued = issue_token(form.cleaned_data["user"], form.cleaned_data["name"],
                                 expires_at=form.expires_at(), actor=request.user)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            return _page(request, IssueTokenForm(), issued=issued)
    return _page(request, form, status=400)


@require_POST
@admin_view
def token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken.objects.select_related("user"), pk=pk)
    if revoke_token(token, actor=request.user):
        messages.success(request, f"API token {token.name!r} ({token.prefix}…) of {token.user.get_username()} is "
                                  "revoked: it authenticates nobody from now on.")
    else:
        messages.info(request, f"API token {token.name!r} ({token.prefix}…) was already revoked; nothing changed.")
    return redirect("apitokens:list")
