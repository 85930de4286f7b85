"""Settings, read from the environment (every variable is listed in docs/operations.md, "Settings").

With no variables set, everything runs embedded: SQLite and a Celery broker on the filesystem under ``var/``.
``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

from datetime import timedelta
from pathlib import Path

from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE
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

# ---- Stored secrets' key (logins) --------------------------------------------------------------------------------
# Encrypts connection secrets at rest (see syncadmin/crypto.py): a comma-separated list, newest first. Required in
# production, and apart from SECRET_KEY there, so that changing one never loses the other's data; in development it
# falls back to SECRET_KEY so that `make run` and the tests need nothing.
SECRETS_KEY = env_str("SECRETS_KEY")
if SECRETS_KEY is not None and len(SECRETS_KEY.split(",")[0].strip()) < 32:
    raise ImproperlyConfigured("SECRETS_KEY: use at least 32 random characters")
if PRODUCTION and not SECRETS_KEY:
    raise ImproperlyConfigured(
        "SECRETS_KEY: set it in production, to at least 32 random characters, e.g. from: "
        'python3 -c "import secrets; print(secrets.token_urlsafe(32))". It encrypts the stored connection secrets; '
        "if secrets were saved before with SECRET_KEY, set SECRETS_KEY=<new key>,<your SECRET_KEY> and run "
        "python manage.py rotate_secrets (see the README)"
    )
if PRODUCTION and SECRETS_KEY.split(",")[0].strip() == SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRETS_KEY: its first key must differ from SECRET_KEY in production; set a new random value (and keep "
        "SECRET_KEY after it in the list until python manage.py rotate_secrets has run)"
    )
# ---- end of stored secrets' key ----------------------------------------------------------------------------------

# Local names are always allowed so that health probes inside a container or on the host work.
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
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "csp",
    "syncadmin",
    "audit",
    "configurations",
    "users",
    "sync",
    "sandbox",
    "apitokens",
    "alerts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "syncadmin.security.no_store",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as axes asks: it turns a refused login into the lockout page
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
        # IMMEDIATE: a transaction takes the write lock when it begins, so concurrent writers wait (up to the
        # timeout) instead of failing with "database is locked" when a read turns into a write (e.g. a storm of
        # failed logins, each counted in one transaction).
        {"timeout": 20, "transaction_mode": "IMMEDIATE",
         "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"}
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
        "apitokens.auth.TokenAuthentication",
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

# ---- API requests and schema (api) -------------------------------------------------------------------------------
# JSON only, as the contract says, through a parser with a size and nesting limit (syncadmin/parsers.py): a hostile
# body is a 400 or 413 naming the limit, never a server error. Tests' APIClient sends JSON by default accordingly.
# The schema documents every operation's error statuses (syncadmin/openapi.py).
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = ["syncadmin.parsers.JSONParser"]
REST_FRAMEWORK["TEST_REQUEST_DEFAULT_FORMAT"] = "json"
# A missing object named in the path answers in our words ("Configuration 7 does not exist."), in one place.
REST_FRAMEWORK["EXCEPTION_HANDLER"] = "syncadmin.api_views.exception_handler"
REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "syncadmin.openapi.AutoSchema"
# ---- end of API requests and schema ------------------------------------------------------------------------------

# ---- Logins, sessions and security headers (logins) -------------------------------------------------------------
# Login throttling (django-axes, on the console's and the admin's login alike). Failures count against the account
# and against the client address, each on its own: after LOGIN_FAILURE_LIMIT of them within LOGIN_COOLOFF_MINUTES,
# logins to that account, and logins from that address, are refused with 429 until the cool-off has passed since
# the last counted failure, even with the right password. Refused attempts are turned away before the password is
# hashed and do not extend the pause, so the page can say when it ends. Counts live in the database (no cache).
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1, maximum=24 * 60))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A success does not wipe the failures: axes would wipe the address's too, letting a guesser reset the count by
# logging in to an account of their own.
AXES_RESET_ON_SUCCESS = False
AXES_LOCKOUT_CALLABLE = "syncadmin.security.lockout_response"
AXES_CLIENT_IP_CALLABLE = "syncadmin.security.client_address"
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]
AXES_VERBOSE = False  # no start-up banner in every command's output
# How many reverse proxies stand in front of the server, each adding the address it saw to X-Forwarded-For: the
# client's address is then the entry the outermost one added. 0 means REMOTE_ADDR, the connection's own address
# (which, behind a proxy, is the proxy's: every login would count against one address).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 1 if SECURE_PROXY_SSL_HEADER else 0, minimum=0, maximum=5)

# Sessions end after SESSION_IDLE_MINUTES without a request (each request saves the session, restarting the clock).
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_MINUTES", 8 * 60, minimum=5, maximum=30 * 24 * 60) * 60
SESSION_SAVE_EVERY_REQUEST = True

# HTTPS. Browsers are told to use HTTPS only (HSTS) in production; Django sends the header on HTTPS requests only
# (directly or through BEHIND_TLS_PROXY), so never on the plain-http development server. /healthz stays reachable
# over plain http for probes inside the container when SECURE_SSL_REDIRECT is on.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if PRODUCTION else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)

# Content-Security-Policy (django-csp): everything the console, the admin, the browsable API and /api/docs/ load
# comes from this server. Scripts are files (an inline one needs the request's nonce, as /api/docs/ has); inline
# styles stay allowed for the style attributes of the dashboard's bars, htmx's indicator rule and the API pages.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# ---- end of logins, sessions and security headers ----------------------------------------------------------------

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

# The dispatcher: at most this many users per beat tick; each object's next due time gets a random share of the
# jitter, so users who synced together drift apart (messages themselves are never delayed: see sync/queue.py).
SYNC_DISPATCH_BATCH = env_int("SYNC_DISPATCH_BATCH", 1000, minimum=1)
SYNC_DISPATCH_JITTER_SECONDS = env_int("SYNC_DISPATCH_JITTER_SECONDS", 10, minimum=0)
# How long a run's claim on its user's object lasts without progress: a killed worker blocks its user this long.
SYNC_LEASE_SECONDS = env_int("SYNC_LEASE_SECONDS", 300, minimum=5)
# Back-off after failed runs: base * 2^(failures - 1), capped; the server's own hint wins when longer.
SYNC_BACKOFF_BASE_SECONDS = env_int("SYNC_BACKOFF_BASE_SECONDS", 60, minimum=1)
SYNC_BACKOFF_CAP_SECONDS = env_int("SYNC_BACKOFF_CAP_SECONDS", 6 * 3600, minimum=1)
# A queued run not started after this long no longer blocks its user's object (a backstop: see recovery below).
SYNC_QUEUED_RUN_STALE_SECONDS = env_int("SYNC_QUEUED_RUN_STALE_SECONDS", 900, minimum=10)
# Finished runs (with their record errors) and previews older than this are pruned once a day (sync.retention); the
# dashboard's trends show 14 days.
SYNC_RUN_RETENTION_DAYS = env_int("SYNC_RUN_RETENTION_DAYS", 30, minimum=15)
# Failed runs and runs with record errors are kept longer (never less than SYNC_RUN_RETENTION_DAYS).
SYNC_FAILED_RUN_RETENTION_DAYS = env_int("SYNC_FAILED_RUN_RETENTION_DAYS", 90, minimum=15)

# --- Change feeds (sync/feeds/, `manage.py listen`) ----------------------------------------------------------------
# The Salesforce org feed polls every SALESFORCE_FEED_SECONDS, and every SALESFORCE_FEED_IDLE_SECONDS after ten quiet
# minutes. Objects whose feeds are healthy run when a change marks them dirty (several changes within
# SYNC_DEBOUNCE_SECONDS make one run) and otherwise every SYNC_SWEEP_HOURS as a safety net. Graph mailboxes get
# change notifications posted to GRAPH_NOTIFICATION_URL (the public URL of /graph/notifications/); unset, the
# listener polls their delta every GRAPH_DELTA_POLL_SECONDS instead.
SALESFORCE_FEED_SECONDS = env_int("SALESFORCE_FEED_SECONDS", 30, minimum=1)
SALESFORCE_FEED_IDLE_SECONDS = env_int("SALESFORCE_FEED_IDLE_SECONDS", 120, minimum=1)
SYNC_SWEEP_HOURS = env_int("SYNC_SWEEP_HOURS", 6, minimum=1)
SYNC_DEBOUNCE_SECONDS = env_int("SYNC_DEBOUNCE_SECONDS", 3, minimum=0)
GRAPH_NOTIFICATION_URL = (env_str("GRAPH_NOTIFICATION_URL") or "").strip()
GRAPH_DELTA_POLL_SECONDS = env_int("GRAPH_DELTA_POLL_SECONDS", 60, minimum=5)
# The listener's claim (one active listener per deployment) and how stale its heartbeat may be before the feeds it
# serves count as down (objects then poll at their configuration's interval until it is back).
LISTENER_LEASE_SECONDS = env_int("LISTENER_LEASE_SECONDS", 60, minimum=5)
LISTENER_STALE_SECONDS = env_int("LISTENER_STALE_SECONDS", 90, minimum=10)
# Recovery (sync/recovery.py, every beat tick): a queued run whose message the broker no longer holds this long after
# it was sent (lost in a broker restart, or its task could not reach the database) is sent again, at most
# SYNC_RUN_MAX_SENDS times, then closed as never started. A run whose object was busy waits SYNC_BUSY_RETRY_SECONDS.
SYNC_QUEUED_RUN_RESEND_SECONDS = env_int("SYNC_QUEUED_RUN_RESEND_SECONDS", 120, minimum=5)
SYNC_RUN_MAX_SENDS = env_int("SYNC_RUN_MAX_SENDS", 20, minimum=1)
SYNC_BUSY_RETRY_SECONDS = env_int("SYNC_BUSY_RETRY_SECONDS", 30, minimum=1)

# --- API tokens (apitokens/) ------------------------------------------------------------------------------------
# An address that sends this many invalid API tokens within the window gets 429 (with Retry-After) on every token
# request until the window has passed; counted with DRF's throttle in the Django cache.
API_TOKEN_FAILURES_LIMIT = env_int("API_TOKEN_FAILURES_LIMIT", 20, minimum=1)
API_TOKEN_FAILURES_WINDOW_SECONDS = env_int("API_TOKEN_FAILURES_WINDOW_SECONDS", 300, minimum=1)
# The client's address is the one logins are counted against (syncadmin.security.client_address, TRUSTED_PROXY_COUNT).
# With Redis, the cache is shared by every web process (gunicorn runs several), so counts are per deployment; the
# embedded default keeps Django's per-process memory cache.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
# --- end of API tokens -------------------------------------------------------------------------------------------

# ---- Alerts (alerts/) ---------------------------------------------------------------------------------------------
# E-mail goes through Django's SMTP backend with these settings (`make run` points it at the sandbox's SMTP sink).
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS, EMAIL_USE_SSL: set one of them, not both")
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT_SECONDS", 10, minimum=1, maximum=300)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "sync-console@localhost")
# The same cause (e.g. users needing attention for the same code) is alerted at most once per this many hours.
ALERTS_REPEAT_HOURS = env_int("ALERTS_REPEAT_HOURS", 24, minimum=1, maximum=24 * 30)
# With the daily digest on, it is sent at the first tick after this hour (TIME_ZONE).
ALERTS_DIGEST_HOUR = env_int("ALERTS_DIGEST_HOUR", 8, minimum=0, maximum=23)
# A failed delivery is tried again after base * 2^(attempts - 1) seconds (capped), at most this many times in all.
ALERTS_MAX_ATTEMPTS = env_int("ALERTS_MAX_ATTEMPTS", 8, minimum=1, maximum=50)
ALERTS_BACKOFF_BASE_SECONDS = env_int("ALERTS_BACKOFF_BASE_SECONDS", 60, minimum=1)
ALERTS_BACKOFF_CAP_SECONDS = env_int("ALERTS_BACKOFF_CAP_SECONDS", 3600, minimum=1)
# ---- end of alerts -----------------------------------------------------------------------------------------------

SANDBOX_DATA_DIR = Path(env_str("SANDBOX_DATA_DIR") or VAR_DIR / "sandbox")
# Which Exchange protocol serves the sandbox demo's mailboxes: its EWS emulator or its Graph emulator.
SANDBOX_EXCHANGE = env_choice("SANDBOX_EXCHANGE", "ews", choices=("ews", "graph"))
# The sandbox's ports (`manage.py sandbox` and `connect_sandbox` default to them; `make run` moves them with these).
SANDBOX_SALESFORCE_PORT = env_int("SANDBOX_SALESFORCE_PORT", 8443, minimum=1, maximum=65535)
SANDBOX_EXCHANGE_PORT = env_int("SANDBOX_EXCHANGE_PORT", 8444, minimum=1, maximum=65535)
SANDBOX_GRAPH_PORT = env_int("SANDBOX_GRAPH_PORT", 8445, minimum=1, maximum=65535)
# The sandbox's SMTP sink (alerts' e-mails in development; the console lists them under DEBUG at /alerts/mail/).
SANDBOX_SMTP_PORT = env_int("SANDBOX_SMTP_PORT", 8025, minimum=1, maximum=65535)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"))},
    # Django gives its own logger a console handler under DEBUG; every line would be printed twice with ours.
    "loggers": {"django": {"handlers": [], "level": "INFO", "propagate": True}},
}
