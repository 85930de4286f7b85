from django.core.management.base import BaseCommand, CommandError

from syncadmin import crypto
from syncadmin.services import rotate_stored_secrets


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret with the first key of SECRETS_KEY (a comma-separated list, newest first), "
        "so that the older keys can then be removed. All or nothing; audited."
    )

    def handle(self, *args, **options):
        try:
            rotated = rotate_stored_secrets()
        except crypto.SecretUnreadable as exc:
            raise CommandError(str(exc)) from exc
        keys = len(crypto.key_materials())
        self.stdout.write(
            f"Re-encrypted {rotated} stored secret{'' if rotated == 1 else 's'} with the newest key."
            + (f" The other {keys - 1} key{'' if keys == 2 else 's'} in SECRETS_KEY can now be removed."
               if keys > 1 else "")
        )
