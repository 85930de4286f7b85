"""The console's Accounts page (admins only): every account that may log in to the console or use the API, with its
role; add one (a generated password shown once, or a given one), change a role, give a new password, deactivate or
reactivate. Every change goes through ``syncadmin.services`` (checked and audited). Also each console user's own
Change password page."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import views as auth_views
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse_lazy
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from syncadmin import services
from syncadmin.roles import ADMIN, API, ROLES, SUPPORT, role_of
from syncadmin.views import console_view

User = get_user_model()
PAGE_SIZE = 100
ROLE_CHOICES = [
    (SUPPORT, "support: reads everything, syncs now, tests connections, resets a user's sync"),
    (ADMIN, "admin: everything, including configurations, connections and accounts"),
    (API, "api: a REST client with a token, no console login"),
]
GENERATE, GIVEN = "generate", "given"


class AddAccountForm(forms.Form):
    username = forms.CharField(max_length=150, label="Username")
    email = forms.CharField(required=False, max_length=254, label="E-mail address (optional)")
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial=SUPPORT, label="Role")
    password_choice = forms.ChoiceField(
        choices=[(GENERATE, "Generate a password (shown once)"), (GIVEN, "Set this password:")],
        initial=GENERATE,
        widget=forms.RadioSelect,
        label="Password",
    )
    password = forms.CharField(
        required=False, strip=False, label="Password to set", widget=forms.PasswordInput(render_value=True)
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("password_choice") == GIVEN and not cleaned.get("password") and cleaned.get("role") != API:
            self.add_error("password", "Type the password to set, or choose to generate one.")
        return cleaned


def admin_page(view):
    """A console page (logged in, a console role) that only admins may use."""

    def wrapped(request, *args, **kwargs):
        if role_of(request.user) != ADMIN:
            raise PermissionDenied("Only admins manage accounts.")
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return console_view(wrapped)


def _page(request, form: AddAccountForm, *, shown: dict | None = None, status: int = 200):
    accounts = User.objects.prefetch_related("groups").order_by("username")
    page = Paginator(accounts, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [
        {
            "account": account,
            "role": role_of(account),
            "is_me": account.pk == request.user.pk,
            # Only a superuser changes a superuser (syncadmin.services refuses the others).
            "protected": account.is_superuser and not request.user.is_superuser,
        }
        for account in page.object_list
    ]
    return render(
        request,
        "syncadmin/accounts.html",
        {
            "page": page,
            "rows": rows,
            "form": form,
            "shown": shown,
            "roles": ROLES,
            "querystring": "",
        },
        status=status,
    )


@never_cache  # the response that shows a new password must not stay in any cache
@admin_page
@require_http_methods(["GET", "POST"])
def account_list(request):
    """The list and the add form; a valid POST adds the account and shows a generated password on this response
    only."""
    if request.method != "POST":
        return _page(request, AddAccountForm())
    form = AddAccountForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        given = data["password"] if data["password_choice"] == GIVEN else None
        try:
            added = services.add_account(
                data["username"], data["role"], password=given or None, email=data["email"], actor=request.user
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            shown = {"account": added.user, "role": data["role"], "password": added.generated_password, "created": True}
            return _page(request, AddAccountForm(), shown=shown)
    return _page(request, form, status=400)


def _refused(request, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


@admin_page
@require_POST
def account_role(request, pk: int):
    account = get_object_or_404(User, pk=pk)
    role = request.POST.get("role", "")
    try:
        changed = services.change_role(account, role, actor=request.user)
    except ValidationError as exc:
        _refused(request, exc)
    else:
        if changed:
            messages.success(
                request, f"{account.get_username()} now has the {role} role; it applies from their next request."
            )
        else:
            messages.info(request, f"{account.get_username()} has the {role} role already; nothing changed.")
    return redirect("accounts:list")


@never_cache
@admin_page
@require_POST
def account_password(request, pk: int):
    """A new generated password for the account, shown on this response only."""
    account = get_object_or_404(User, pk=pk)
    try:
        password = services.reset_password(account, actor=request.user)
    except ValidationError as exc:
        _refused(request, exc)
        return redirect("accounts:list")
    shown = {"account": account, "role": role_of(account), "password": password, "created": False}
    return _page(request, AddAccountForm(), shown=shown)


@admin_page
@require_POST
def account_deactivate(request, pk: int):
    account = get_object_or_404(User, pk=pk)
    try:
        changed = services.deactivate_account(account, actor=request.user)
    except ValidationError as exc:
        _refused(request, exc)
    else:
        if changed:
            messages.success(
                request,
                f"{account.get_username()} is deactivated: it can no longer log in and its API "
                "tokens authenticate nobody. Reactivate it to undo this.",
            )
        else:
            messages.info(request, f"{account.get_username()} was deactivated already; nothing changed.")
    return redirect("accounts:list")


@admin_page
@require_POST
def account_reactivate(request, pk: int):
    account = get_object_or_404(User, pk=pk)
    if services.reactivate_account(account, actor=request.user):
        messages.success(
            request,
            f"{account.get_username()} is active again: it may log in with its password, and "
            "its API tokens that are neither revoked nor expired work again.",
        )
    else:
        messages.info(request, f"{account.get_username()} is active already; nothing changed.")
    return redirect("accounts:list")


@method_decorator(console_view, name="dispatch")
class PasswordChangeView(auth_views.PasswordChangeView):
    """Every console user's own password (Django's form: the old password, the new one twice, the validators)."""

    http_method_names = ["get", "post", "head", "options"]  # not PUT, which Django's form views take as a POST
    template_name = "registration/password_change_form.html"
    success_url = reverse_lazy("dashboard")

    def form_valid(self, form):
        response = super().form_valid(form)
        messages.success(self.request, "Your password is changed. Use the new one from your next login.")
        return response
