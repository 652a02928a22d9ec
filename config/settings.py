"""Parley settings, read from the environment only (12-factor).

Every variable is listed in README.md and .env.example. Without DATABASE_URL and REDIS_URL the
project runs embedded: SQLite, the in-memory channel layer, eager Celery and local-memory cache.
"""

import base64
import hashlib
from pathlib import Path

import environ
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG: bool = env.bool("DEBUG", default=False)

SECRET_KEY: str = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "parley-insecure-development-key-never-use-in-production"  # noqa: S105

# Fernet key(s) for per-channel credentials at rest. A comma-separated list allows rotation:
# the first key encrypts, every key decrypts.
_field_keys: list[str] = env.list("FIELD_ENCRYPTION_KEY", default=[])
if not _field_keys:
    if not DEBUG:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY must be set when DEBUG is off.")
    _field_keys = [base64.urlsafe_b64encode(hashlib.sha256(SECRET_KEY.encode()).digest()).decode()]
for _key in _field_keys:
    try:
        Fernet(_key.encode())
    except ValueError:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be URL-safe base64 of 32 bytes (a Fernet key)."
        ) from None
FIELD_ENCRYPTION_KEYS: list[str] = _field_keys

ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# HTTPS is opt-in so that DEBUG=0 behind plain HTTP (or a TLS-terminating proxy) just works.
HTTPS_ONLY: bool = env.bool("HTTPS_ONLY", default=False)
SECURE_SSL_REDIRECT = HTTPS_ONLY
SESSION_COOKIE_SECURE = HTTPS_ONLY
CSRF_COOKIE_SECURE = HTTPS_ONLY
SECURE_HSTS_SECONDS = 31536000 if HTTPS_ONLY else 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS_ONLY else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
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
    "channels",
    "inbox",
    "connectors",
    "loyalty",
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
    "inbox.views.middleware.OrganizationScopeMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

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
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the embedded server, its timer thread and a shell share the file.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=0))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Connections per server process for the webhook receiver's async pool (PostgreSQL only).
WEBHOOK_DB_POOL_SIZE = env.int("WEBHOOK_DB_POOL_SIZE", default=4)
# Webhook batches a web process may run itself, right after answering, while they are free
# (the rest go to the Celery workers); 0 sends every event to the workers.
WEBHOOK_INLINE_SLOTS = env.int("WEBHOOK_INLINE_SLOTS", default=1)

# ---- PostgreSQL connection pool (opt-in, per process) ---------------------------------------
# DATABASE_POOL_SIZE > 0 gives each process Django's psycopg pool of that many connections,
# opened once and lent to each task or request, instead of a new connection every time (Celery
# closes a worker's connections after every task, whatever DATABASE_CONN_MAX_AGE says). For
# Celery workers run with `--pool threads`, set it to the worker's --concurrency. Not for prefork
# workers: Celery throws a prefork child's pool away after every task.
DATABASE_POOL_SIZE: int = env.int("DATABASE_POOL_SIZE", default=0)
if DATABASE_POOL_SIZE > 0 and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # Django refuses persistent connections with a pool
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": DATABASE_POOL_SIZE,
        "max_size": DATABASE_POOL_SIZE,
        "timeout": 10,  # seconds a thread waits for a free connection before an error
    }
# ---- end of the connection pool -------------------------------------------------------------

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "inbox.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Meta batches up to 1,000 updates in one POST: allow large webhook bodies.
DATA_UPLOAD_MAX_MEMORY_SIZE = 20 * 1024 * 1024

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Served straight from the source folders: no collectstatic step is part of set-up.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REDIS_URL: str = env.str("REDIS_URL", default="")
# Namespace of realtime keys and channel-layer groups in Redis: deployments (or test runs)
# sharing one Redis need different ones.
REALTIME_PREFIX: str = env.str("REALTIME_PREFIX", default="parley")

if REDIS_URL:
    # Pub/sub: a group message is one PUBLISH, heard once per server process and handed to its
    # sockets in memory. The list-based layer costs several round trips per send and per
    # receive, and keeps nothing we need: an event a socket missed is replayed from the
    # realtime log (inbox.realtime). Keep it on REDIS_URL alone: the publisher relies on that.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": REALTIME_PREFIX},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "parley",
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND: str | None = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_RESULT_BACKEND = None
    CELERY_TASK_ALWAYS_EAGER = True

# Lets several deployments (or test runs) share one Redis without taking each other's tasks.
CELERY_TASK_DEFAULT_QUEUE: str = env.str("CELERY_QUEUE", default="celery")
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "sweep-webhook-events": {"task": "connectors.sweep_webhook_events", "schedule": 15.0},
    "sweep-deliveries": {"task": "inbox.sweep_deliveries", "schedule": 5.0},
    "prune-webhook-events": {"task": "connectors.prune_webhook_events", "schedule": 3600.0},
    # New channels, failed checks (within a minute) and, every
    # CHANNEL_SUBSCRIPTION_CHECK_SECONDS, every channel: is the platform still sending to us?
    "check-channel-subscriptions": {
        "task": "connectors.check_channel_subscriptions",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
    # SLA warnings and breaches, snoozes, follow-ups, auto-resolve: each takes effect within
    # about a second of its time. A run that waited in the queue longer than a few seconds is
    # dropped: the next one does the same work.
    "sweep-timers": {
        "task": "inbox.sweep_timers",
        "schedule": 1.0,
        "options": {"expires": 5.0},
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: a request carrying `Authorization: Token` is judged by the token alone.
        "inbox.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "inbox.api.errors.problem_exception_handler",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Parley API",
    "DESCRIPTION": "Multi-tenant customer-service inbox for Messenger and X.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # Docs assets are served from the installed package, never from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Platform apps: one Meta app and one X app serve every tenant.
META_APP_ID: str = env.str("META_APP_ID", default="")
META_APP_SECRET: str = env.str("META_APP_SECRET", default="")
META_VERIFY_TOKEN: str = env.str("META_VERIFY_TOKEN", default="")
META_GRAPH_URL: str = env.str("META_GRAPH_URL", default="https://graph.facebook.com/v25.0").rstrip(
    "/"
)
TWITTER_CONSUMER_SECRET: str = env.str("TWITTER_CONSUMER_SECRET", default="")
TWITTER_OAUTH2_CLIENT_ID: str = env.str("TWITTER_OAUTH2_CLIENT_ID", default="")
TWITTER_OAUTH2_CLIENT_SECRET: str = env.str("TWITTER_OAUTH2_CLIENT_SECRET", default="")
TWITTER_API_URL: str = env.str("TWITTER_API_URL", default="https://api.x.com").rstrip("/")
# The X webhook's id (from `POST /2/webhooks`): with it, X accounts are subscribed to the
# Account Activity API by themselves; without it, subscribe them by hand.
TWITTER_WEBHOOK_ID: str = env.str("TWITTER_WEBHOOK_ID", default="")
# How often each channel's webhook subscription is checked (and renewed when the platform
# dropped it). Meta drops a page after about an hour of failed deliveries.
CHANNEL_SUBSCRIPTION_CHECK_SECONDS: int = env.int("CHANNEL_SUBSCRIPTION_CHECK_SECONDS", default=900)
# How long processed and ignored raw webhook events are kept (failed ones stay for a replay).
WEBHOOK_RETENTION_DAYS: int = env.int("WEBHOOK_RETENTION_DAYS", default=30)
if DEBUG:
    # Development only: let `manage.py simulate` sign webhooks for the demo out of the box.
    META_APP_SECRET = META_APP_SECRET or "parley-dev-meta-app-secret"
    META_VERIFY_TOKEN = META_VERIFY_TOKEN or "parley-dev-verify-token"
    if not (TWITTER_CONSUMER_SECRET or TWITTER_OAUTH2_CLIENT_SECRET):
        TWITTER_CONSUMER_SECRET = "parley-dev-x-consumer-secret"  # noqa: S105

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # One line per finished task (sweeps run every few seconds) is noise, not information.
    "loggers": {"celery.app.trace": {"level": "WARNING"}},
}
