from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from syncadmin.roles import ROLES, role_of
from syncadmin.services import create_account, issue_token, set_role


class Command(BaseCommand):
    help = ("Issue a new API token for an account and print it (the token is the last line of output). Only a hash "
            "is kept, so each call issues another token; --rotate revokes the account's earlier ones.")

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=ROLES, help="give the account this role (default for --create: api)")
        parser.add_argument("--create", action="store_true", help="create the account if it does not exist")
        parser.add_argument("--rotate", action="store_true", help="revoke the account's other tokens first")
        parser.add_argument("--name", default="createtoken", help="what the token is for (shown in the token list)")
        parser.add_argument("--expires-in-days", type=int, metavar="DAYS", help="the token expires after DAYS days")

    def handle(self, *args, username, role, create, rotate, name, expires_in_days, **options):
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be at least 1; leave it out for a token that does not expire.")
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create:
                raise CommandError(f"no account named {username!r}; add --create to create it")
            user = create_account(username, role or "api")
            self.stdout.write(f"Created account {username!r} with role {role or 'api'}.")
        elif role:
            set_role(user, role)
        if role_of(user) is None:
            raise CommandError(f"account {username!r} has no role; give it one with --role {'|'.join(ROLES)}")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        try:
            key = issue_token(user, rotate=rotate, name=name, expires_at=expires_at)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        if rotate:
            self.stdout.write(f"Revoked the earlier tokens of {username!r}.")
        expiry = f", expires {expires_at:%Y-%m-%d}" if expires_at else ""
        self.stdout.write(f"New token {name!r} for {username!r} (role {role_of(user)}{expiry}); it is shown only "
                          "this once:")
        self.stdout.write(key)
