from django.conf import settings
from django.core.management.base import BaseCommand

from syncadmin.services import ensure_initial_admin


class Command(BaseCommand):
    help = "Create the first admin account if there is none, and print its login."

    def handle(self, *args, **options):
        login_file = settings.VAR_DIR / "admin-login.txt"
        user, password = ensure_initial_admin()
        if password is not None:
            login_file.parent.mkdir(parents=True, exist_ok=True)
            login_file.write_text(f"username: {user.username}\npassword: {password}\n")
            login_file.chmod(0o600)
            self.stdout.write(f"Created the admin account.  Username: {user.username}  Password: {password}")
        elif login_file.exists():
            self.stdout.write(f"Admin login (as first created): {' '.join(login_file.read_text().split())}")
        else:
            self.stdout.write(
                f"Admin account: {user.username} (password unchanged; set one with "
                f"`python manage.py changepassword {user.username}`)"
            )
