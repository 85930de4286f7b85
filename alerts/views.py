"""The console's Alerts page (admins only): where alerts go, and the alerts sent. Under DEBUG, the mail page lists
the e-mails the sandbox's SMTP sink received."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from alerts.forms import FORM_FIELD, AlertSettingsForm
from alerts.models import Alert, AlertSettings
from alerts.services import update_settings
from sandbox.smtp_sink import kept_messages
from syncadmin.roles import ADMIN, role_of

PAGE_SIZE = 50


def admin_view(view):
    """Logged in (else the login page), with the admin role (else 403)."""

    @login_required
    def wrapped(request, *args, **kwargs):
        if role_of(request.user) != ADMIN:
            raise PermissionDenied("Only admins set where alerts go.")
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


@require_http_methods(["GET", "POST"])
@admin_view
def alert_page(request):
    """The settings form and the sent log; a valid POST saves the settings."""
    row = AlertSettings.load()
    status = 200
    if request.method == "POST":
        form = AlertSettingsForm(request.POST)
        if form.is_valid():
            try:
                update_settings(form.as_settings(), actor=request.user)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    name = FORM_FIELD.get(field, field)
                    form.add_error(name if name in form.fields else None, errors)
            else:
                messages.success(request, "The alert settings are saved: alerts go where they say from the next "
                                          "check, within a minute.")
                return redirect("alerts:page")
        status = 400
    else:
        form = AlertSettingsForm.initial_from(row)
    alerts = Alert.objects.select_related("digest").order_by("-created_at", "-pk")
    page = Paginator(alerts, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "alerts/page.html", {
        "form": form, "settings": row, "page": page, "querystring": "",
        "repeat_hours": settings.ALERTS_REPEAT_HOURS, "digest_hour": settings.ALERTS_DIGEST_HOUR,
        "mail_page": settings.DEBUG,
    }, status=status)


@require_GET
@admin_view
def sink_mail(request):
    """The e-mails the sandbox's SMTP sink kept (development only: 404 without DEBUG)."""
    if not settings.DEBUG:
        raise Http404("The mail page exists in development (DEBUG) only.")
    folder = settings.SANDBOX_DATA_DIR / "mail"
    return render(request, "alerts/mail.html", {"kept": kept_messages(folder), "folder": folder,
                                                "smtp": f"{settings.EMAIL_HOST}:{settings.EMAIL_PORT}"})
