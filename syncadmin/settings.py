"""Settings, read from the environment (every variable is listed in docs/operations.md, "Settings").

With no variables set, everything runs embedded: SQLite and a Celery broker on the filesystem under ``var/``.
``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

from datetime import timedelta
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from syncadmin.env import (
    env_bool,
    env_choice,
    env_database,
    env_int,
    env_list,
    env_redis_url,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("SYNCADMIN_VAR_DIR") or BASE_DIR / "var")

ENVIRONMENT = env_choice("SYNCADMIN_ENV", "development", ("development", "production"))
PRODUCTION = ENVIRONMENT == "production"
DEBUG = env_bool("DEBUG", default=not PRODUCTION)
SECRET_KEY = env_str("SECRET_KEY")
if PRODUCTION:
    if DEBUG:
        raise ImproperlyConfigured("DEBUG: must be off when SYNCADMIN_ENV=production")
    if not SECRET_KEY or len(SECRET_KEY) < 32:
        raise ImproperlyConfigured("SECRET_KEY: set a random value of at least 32 characters in production")
elif not SECRET_KEY:
    SECRET_KEY = "development-only-insecure-key-do-not-use-in-production"  # noqa: S105 - refused in production

# Local names are always allowed so that health probes inside a container or on the host work.
# Encrypts connection secrets at rest (see syncadmin/crypto.py); falls back to SECRET_KEY.
SECRETS_KEY = env_str("SECRETS_KEY")
if SECRETS_KEY is not None and len(SECRETS_KEY.split(",")[0].strip()) < 32:
    raise ImproperlyConfigured("SECRETS_KEY: use at least 32 random characters")

ALLOWED_HOSTS = [*env_list("ALLOWED_HOSTS", []), "127.0.0.1", "localhost", "[::1]"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=PRODUCTION)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "syncadmin",
    "audit",
    "configurations",
    "users",
    "sync",
    "sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "syncadmin.urls"
WSGI_APPLICATION = "syncadmin.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "syncadmin.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {"default": env_database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # A file, not memory, so that a worker started by an end-to-end test sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns about a missing folder otherwise
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes anonymous requests 401 rather than 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["syncadmin.permissions.ModelPermissions"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": env_int("API_PAGE_SIZE", 50, minimum=1, maximum=1000),
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Salesforce ↔ Exchange sync API",
    "DESCRIPTION": "Outlook Configurations, synced users, assignment and sync operations.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Celery. Embedded default: kombu's filesystem transport and a file result backend under var/, so nothing
# needs a server. REDIS_URL switches both to Redis.
REDIS_URL = env_redis_url("REDIS_URL")
CELERY_DATA_DIR = VAR_DIR / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_RESULT_BACKEND = f"file://{CELERY_DATA_DIR / 'results'}"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_DATA_DIR / "queue"),
        "data_folder_out": str(CELERY_DATA_DIR / "queue"),
        "control_folder": str(CELERY_DATA_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_INTERVAL_SECONDS = env_int("CELERY_BEAT_INTERVAL_SECONDS", 30, minimum=1)
CELERY_HEARTBEAT_STALE_AFTER = timedelta(seconds=env_int("CELERY_HEARTBEAT_STALE_SECONDS", 120, minimum=10))

# The dispatcher: at most this many users per beat tick, each run's start spread over up to this many seconds.
SYNC_DISPATCH_BATCH = env_int("SYNC_DISPATCH_BATCH", 1000, minimum=1)
SYNC_DISPATCH_JITTER_SECONDS = env_int("SYNC_DISPATCH_JITTER_SECONDS", 10, minimum=0)
# How long a run's claim on its user's object lasts without progress: a killed worker blocks its user this long.
SYNC_LEASE_SECONDS = env_int("SYNC_LEASE_SECONDS", 300, minimum=5)
# Back-off after failed runs: base * 2^(failures - 1), capped; the server's own hint wins when longer.
SYNC_BACKOFF_BASE_SECONDS = env_int("SYNC_BACKOFF_BASE_SECONDS", 60, minimum=1)
SYNC_BACKOFF_CAP_SECONDS = env_int("SYNC_BACKOFF_CAP_SECONDS", 6 * 3600, minimum=1)
# A queued run not started after this long is taken as lost (e.g. Redis restarted without its data).
SYNC_QUEUED_RUN_STALE_SECONDS = env_int("SYNC_QUEUED_RUN_STALE_SECONDS", 900, minimum=10)

SANDBOX_DATA_DIR = Path(env_str("SANDBOX_DATA_DIR") or VAR_DIR / "sandbox")
# Which Exchange protocol serves the sandbox demo's mailboxes: its EWS emulator or its Graph emulator.
SANDBOX_EXCHANGE = env_choice("SANDBOX_EXCHANGE", "ews", choices=("ews", "graph"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))},
}
