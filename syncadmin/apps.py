from django.apps import AppConfig
from django.db.models.signals import post_migrate


class SyncAdminConfig(AppConfig):
    name = "syncadmin"
    verbose_name = "Sync administration"

    def ready(self):
        # syncadmin.roles reaches the auth models, which cannot be imported before the app registry is ready.
        from syncadmin.roles import ensure_roles

        # After every migrate, so permissions of models added later reach the groups too.
        post_migrate.connect(ensure_roles, dispatch_uid="syncadmin.ensure_roles")
