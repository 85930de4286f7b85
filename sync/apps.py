from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = "Sync"

    def ready(self):
        # Register the Celery tasks in every process, not only in workers: sync.queue sends them by name, and with
        # CELERY_TASK_ALWAYS_EAGER a registered task runs in place. Models must be loaded first, hence not at the top.
        from sync import tasks  # noqa: F401
