from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from syncadmin.roles import ROLES, role_of
from syncadmin.services import create_account, issue_token, set_role


class Command(BaseCommand):
    help = "Print an API token for an account (the token is the last line of output)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", choices=ROLES, help="give the account this role (default for --create: api)")
        parser.add_argument("--create", action="store_true", help="create the account if it does not exist")
        parser.add_argument("--rotate", action="store_true", help="replace the existing token with a new one")

    def handle(self, *args, username, role, create, rotate, **options):
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
        self.stdout.write(f"Token for {username!r} (role {role_of(user)}):")
        self.stdout.write(issue_token(user, rotate=rotate))
