"""The alert operations: read and change where alerts go (`update_settings`, audited), and the beat tick
(`tick`): find what must be alerted (`alerts.causes`), hold it for the digest or queue it, then deliver what is due
(`alerts.delivery`)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from alerts.causes import Found, find_causes
from alerts.delivery import deliver_due
from alerts.models import Alert, AlertSettings, Cause, Channel
from audit.models import AuditEntry
from audit.services import record
from sync.connectors.base import destination_problem, https_or_loopback
from syncadmin.crypto import encrypt

MAX_EMAILS = 20
MAX_AFTER_MINUTES = 7 * 24 * 60
USERS_LISTED = 50  # an alert names at most this many users, and says how many there are in all
FIELDS = ("emails", "webhook_url", "webhook_secret", "after_minutes", "digest", "api_share_threshold")


def settings_as_dict(row: AlertSettings) -> dict:
    """The settings as the API and the audit trail show them: the secret only as whether one is set."""
    return {
        "emails": list(row.emails),
        "webhook_url": row.webhook_url,
        "webhook_secret_set": row.has_secret,
        "after_minutes": row.after_minutes,
        "digest": row.digest,
        "api_share_threshold": row.api_share_threshold,
    }


def _clean_emails(value, errors: dict) -> list[str]:
    if isinstance(value, str):
        value = value.replace(",", "\n").split()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors["emails"] = ["Give the e-mail addresses as a list of strings, for example [\"ops@example.com\"]."]
        return []
    emails, bad = [], []
    for address in (v.strip() for v in value):
        if not address or address.lower() in emails:
            continue
        try:
            validate_email(address)
        except ValidationError:
            bad.append(address)
        emails.append(address.lower())
    if bad:
        what = "is not an e-mail address" if len(bad) == 1 else "are not e-mail addresses"
        errors["emails"] = [f"{', '.join(bad)} {what}: correct or remove {'it' if len(bad) == 1 else 'them'}, then "
                            "save again."]
    elif len(emails) > MAX_EMAILS:
        errors["emails"] = [f"{len(emails)} addresses were given; alerts go to at most {MAX_EMAILS}: use a mailing "
                            "list's address for more people."]
    return emails


def _webhook_problem(url: str) -> str | None:
    if not https_or_loopback(url):
        return ("Use an https URL for the webhook: plain http is allowed only to this machine (localhost, 127.0.0.1, "
                "::1), since alerts name your users.")
    problem = destination_problem(url)
    if problem:
        return (f"Alerts may not be sent there: {problem}. Point the webhook at the receiving service's own address "
                "(link-local, cloud metadata, unspecified and multicast addresses are refused).")
    return None


def validate_settings(row: AlertSettings, data: dict) -> dict:
    """The cleaned changes in `data` (any of `FIELDS`), or ValidationError naming each wrong field."""
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(data) - set(FIELDS) - {"webhook_secret_set"})
    if unknown:
        errors["non_field_errors"] = [f"Unknown field{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: the "
                                      f"alert settings are {', '.join(FIELDS)}."]
    clean: dict = {}
    if "emails" in data:
        clean["emails"] = _clean_emails(data["emails"], errors)
    if "webhook_url" in data:
        url = data["webhook_url"]
        if url is None:
            url = ""
        if not isinstance(url, str) or len(url) > 500:
            errors["webhook_url"] = ["Give the webhook URL as text of at most 500 characters, or leave it empty."]
        else:
            url = url.strip()
            if url and not url.lower().startswith(("http://", "https://")):
                errors["webhook_url"] = ["The webhook URL must start with https:// (or http:// to this machine)."]
            elif url and (problem := _webhook_problem(url)):
                errors["webhook_url"] = [problem]
            clean["webhook_url"] = url
    if "webhook_secret" in data and data["webhook_secret"] not in (None, ""):
        secret = data["webhook_secret"]
        if not isinstance(secret, str) or not 16 <= len(secret) <= 200:
            errors["webhook_secret"] = ["Use a shared secret of 16 to 200 characters (a random one), which the "
                                        "receiver uses to check each alert's signature."]
        else:
            clean["webhook_secret"] = secret
    if "after_minutes" in data:
        value = data["after_minutes"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_AFTER_MINUTES:
            errors["after_minutes"] = [f"Give a whole number of minutes from 1 to {MAX_AFTER_MINUTES} (a week)."]
        else:
            clean["after_minutes"] = value
    if "digest" in data:
        if not isinstance(data["digest"], bool):
            errors["digest"] = ["Give true (one daily digest instead of immediate alerts) or false."]
        else:
            clean["digest"] = data["digest"]
    if "api_share_threshold" in data:
        value = data["api_share_threshold"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            errors["api_share_threshold"] = ["Give the share of the daily API allocation as a number above 0 and "
                                             "at most 1, for example 0.8 for 80 %."]
        else:
            clean["api_share_threshold"] = float(value)
    url = clean.get("webhook_url", row.webhook_url)
    if url and not (clean.get("webhook_secret") or row.has_secret) and "webhook_url" not in errors:
        errors["webhook_secret"] = ["Set a shared secret with the webhook URL: every alert is signed with it so the "
                                    "receiver can tell it came from this server."]
    if errors:
        raise ValidationError(errors)
    return clean


@transaction.atomic
def update_settings(data: dict, *, actor=None) -> AlertSettings:
    """Change where alerts go. Audited (never the secret). Turning the digest off sends what it held at the next
    tick."""
    row = AlertSettings.objects.select_for_update().get(pk=AlertSettings.load().pk)
    clean = validate_settings(row, data)
    before = settings_as_dict(row)
    secret = clean.pop("webhook_secret", None)
    for name, value in clean.items():
        setattr(row, name, value)
    if secret:
        row.webhook_secret_encrypted = encrypt(secret)
    if not row.webhook_url:
        row.webhook_secret_encrypted = ""
    row.save()
    if before["digest"] and not row.digest:
        Alert.objects.filter(state=Alert.State.HELD).update(state=Alert.State.PENDING, next_attempt_at=timezone.now())
    after = settings_as_dict(row)
    old, new = {k: v for k, v in before.items() if after[k] != v}, {k: v for k, v in after.items() if before[k] != v}
    if secret and before["webhook_secret_set"]:
        old["webhook_secret"], new["webhook_secret"] = "(set)", "(changed)"
    if new:
        record(AuditEntry.Action.ALERT_SETTINGS_CHANGED, actor, subject="Alert settings",
               summary="Changed where alerts go", changes={"before": old, "after": new})
    return row


def channels_of(row: AlertSettings) -> list[tuple[str, list[str]]]:
    """The channels alerts go to now, each with its recipients."""
    channels = []
    if row.emails:
        channels.append((Channel.EMAIL, list(row.emails)))
    if row.webhook_url and row.has_secret:
        channels.append((Channel.WEBHOOK, [row.webhook_url]))
    return channels


def _repeat_period() -> timedelta:
    return timedelta(hours=django_settings.ALERTS_REPEAT_HOURS)


def queue_alerts(found: list[Found], row: AlertSettings, now: datetime) -> list[Alert]:
    """One alert per new cause and channel; a cause alerted within the repeat period is left out (two queries)."""
    channels = channels_of(row)
    if not found or not channels:
        return []
    recent = set(Alert.objects.filter(cause_key__in=[f.key for f in found], created_at__gt=now - _repeat_period())
                 .values_list("cause_key", flat=True))
    state = Alert.State.HELD if row.digest else Alert.State.PENDING
    alerts = [
        Alert(created_at=now, cause=f.cause, cause_key=f.key, code=f.code, subject=f.subject, body=f.body,
              users=f.users[:USERS_LISTED], user_count=f.user_count, channel=channel, recipients=recipients,
              state=state, next_attempt_at=now if state == Alert.State.PENDING else None)
        for f in found if f.key not in recent
        for channel, recipients in channels
    ]
    return Alert.objects.bulk_create(alerts)


def digest_due(row: AlertSettings, now: datetime) -> bool:
    local = timezone.localtime(now)
    if local.hour < django_settings.ALERTS_DIGEST_HOUR:
        return False
    return row.last_digest_at is None or timezone.localtime(row.last_digest_at).date() < local.date()


def build_digests(row: AlertSettings, now: datetime) -> list[Alert]:
    """Gather the held alerts into one digest per channel (to the channel's current recipients)."""
    digests = []
    for channel, recipients in channels_of(row):
        held = list(Alert.objects.filter(state=Alert.State.HELD, channel=channel).order_by("created_at", "pk"))
        if not held:
            continue
        users = sorted({u for alert in held for u in alert.users})
        lines = [f"- {timezone.localtime(a.created_at):%Y-%m-%d %H:%M}: {a.subject}\n  {a.body}" for a in held]
        digest = Alert.objects.create(
            created_at=now, cause=Cause.DIGEST, cause_key=f"digest:{channel}:{now:%Y-%m-%d}", code="",
            subject=f"Daily digest: {len(held)} alert{'s' if len(held) != 1 else ''} since the last digest",
            body="\n".join(["These alerts were held for the daily digest (alerts are set to a daily digest on the "
                            "console's Alerts page):", "", *lines]),
            users=users[:USERS_LISTED], user_count=len(users), channel=channel, recipients=recipients,
            next_attempt_at=now)
        Alert.objects.filter(pk__in=[a.pk for a in held]).update(state=Alert.State.DIGESTED, digest=digest)
        digests.append(digest)
    row.last_digest_at = now
    return digests


def tick(now: datetime | None = None) -> list[Alert]:
    """The beat's alert tick: queue new alerts (or hold them for the digest), build the daily digest when due, then
    deliver what is due. Returns the alerts created. The number of queries does not grow with the users."""
    now = now or timezone.now()
    with transaction.atomic():
        row = AlertSettings.objects.select_for_update().get(pk=AlertSettings.load().pk)
        created = queue_alerts(find_causes(row, now), row, now)
        if row.digest and digest_due(row, now):
            created += build_digests(row, now)
        row.evaluated_until = now
        row.save(update_fields=["evaluated_until", "last_digest_at"])
    deliver_due(now, secret_of=row)
    return created
