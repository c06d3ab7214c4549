"""Django settings for OrderFlow, read top to bottom; one environment variable per knob.

Two run modes share this one module:

* embedded (nothing set): SQLite, local-memory cache, in-memory channel layer and
  Celery eager — one process, nothing else to install;
* full (``DATABASE_URL`` and ``REDIS_URL`` set): PostgreSQL through Django's psycopg
  pool, Redis for the cache, the channel layer and the Celery broker.

Every knob is listed in docs/configuration.md.
"""

import sys
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

# --- Mode ---------------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default="")
REDIS_URL = env.str("REDIS_URL", default="")
FULL_MODE = bool(DATABASE_URL)

# --- Core -----------------------------------------------------------------------------------
# DEBUG defaults to on only in embedded mode, so a deployment that names its database
# gets the safe default without having to remember it.
DEBUG = env.bool("DEBUG", default=not FULL_MODE)

_DEV_SECRET_KEY = "orderflow-insecure-development-key-never-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=_DEV_SECRET_KEY)
if not DEBUG and (SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured(
        "SECRET_KEY must be set to a random value of at least 50 characters when DEBUG is off "
        "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(64))')."
    )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",  # runserver serves the ASGI application (HTTP and WebSocket)
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "axes",
    "channels",
    "orderflow",
    "orders",
    "payments",
    "tracking",
    "notifications",
    "demo",  # demo tooling outside the contexts: load_demo, simulate
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "orderflow.correlation.CorrelationIdMiddleware",
    "orderflow.api.middleware.ApiProblemMiddleware",
    "orderflow.api.middleware.RequestBodyLimitMiddleware",
    "orderflow.api.middleware.OutageMiddleware",
    # staff pages in the staff member's language; outside sessions and messages, so that a
    # message is stored in the page's language (orderflow/staff_language.py)
    "orderflow.staff_language.StaffLanguageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # a NUL or an impossible date-hierarchy year in an admin URL: a 400, not a 500
    "orderflow.admin_guard.AdminQueryGuardMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # last, as django-axes asks: it turns a locked-out login into its 429 answer
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "orderflow.urls"
WSGI_APPLICATION = "orderflow.wsgi.application"
ASGI_APPLICATION = "orderflow.asgi.application"

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

# --- Database -----------------------------------------------------------------------------
if FULL_MODE:
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must name a PostgreSQL database (postgres://…).")
    # Django's psycopg pool, except in a WSGI server: persistent connections leak under ASGI,
    # where every request may run on a different thread, but a WSGI server (granian's
    # blocking threads, gunicorn's gthread workers: the process that imported
    # ``orderflow.wsgi`` before these settings) runs every request on one of a fixed set of
    # threads, and each keeps its connection between requests: a pool's checkout and return
    # on every request was ≈ 5 % of a new order's CPU (docs/performance.md). A connection
    # broken meanwhile fails one request (503) and is closed at its end; one older than
    # ``DB_CONN_MAX_AGE`` seconds is closed at the end of the request that finds it so.
    PERSISTENT_CONNECTIONS = env.bool(
        "DB_PERSISTENT_CONNECTIONS", default="orderflow.wsgi" in sys.modules
    )
    DATABASES["default"]["CONN_MAX_AGE"] = (
        env.int("DB_CONN_MAX_AGE", default=300) if PERSISTENT_CONNECTIONS else 0
    )
    # The hot statements (outbox insert, saga steps, claims, projector batches, intake) run
    # on psycopg cursors with ``prepare=True``; Django turns prepared statements off for
    # every cursor (``prepare_threshold=None``, for PgBouncer before 1.21 in transaction
    # mode), which made them unnamed statements parsed and planned on every run. Django's
    # own cursors bind on the client and never prepare, so this touches only those.
    # ``DB_PREPARED_STATEMENTS=false`` behind a pooler that cannot keep them.
    # Planned once too (``force_generic_plan``): planning was 29 % of PostgreSQL's CPU in
    # the bench, the foreign-key checks' included (the triggers' plans are cached the same
    # way). A generic plan is made without the values, from the statistics of the moment,
    # and kept: a table small at that moment would keep a sequential scan as it grows (the
    # queue tables swing by orders of magnitude, and autovacuum analyses at most once a
    # minute), so sequential scans are off where an index serves (``enable_seqscan=off``
    # leaves one where no index does, costed at 10^10 — which would make PostgreSQL JIT-
    # compile the query, 200 ms for a one-row table: ``jit=off``, as OLTP wants anyway).
    # The few statements whose best plan depends on their values run with them in the
    # text (``workqueue.execute_planned``).
    # ``DB_GENERIC_PLANS=false``: every run planned for its values, sequential scans on
    # (the default without prepared statements: an unnamed statement's generic plan would
    # be made again on every run, all of the risk and none of the saving).
    prepared = env.bool("DB_PREPARED_STATEMENTS", default=True)
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5 if prepared else None
    options = DATABASES["default"]["OPTIONS"].get("options", "")
    planning = (
        "-c plan_cache_mode=force_generic_plan -c enable_seqscan=off -c jit=off"
        if env.bool("DB_GENERIC_PLANS", default=prepared)
        else "-c plan_cache_mode=force_custom_plan"
    )
    DATABASES["default"]["OPTIONS"]["options"] = f"{options} {planning}".strip()
    if not PERSISTENT_CONNECTIONS:
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
            "max_size": env.int("DB_POOL_MAX_SIZE", default=20),
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0),
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env.str("SQLITE_PATH", default=str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, channel layer, Celery -----------------------------------------------------------
#: seconds a Redis connect, read or write may take before it fails: a frozen Redis then
#: delays a request by that much (the throttle fails open) instead of holding it
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=1.0)
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's backend on one pooled client per process (see orderflow/cache.py)
            "BACKEND": "orderflow.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "orderflow",
            # passed to redis-py's ConnectionPool.from_url()
            "OPTIONS": {
                "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
                "socket_timeout": REDIS_SOCKET_TIMEOUT,
            },
        }
    }
    # Redis pub/sub: a group_send is one PUBLISH (0.9 ms median, 0.2 ms CPU with its
    # receive) where the list-based layer takes 8 ms and 1.8 ms CPU (python -m
    # devtools.measure_layers). Pushes are hints either way (the pages resync from the
    # database), so the list layer's buffering buys the live pages nothing.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "orderflow"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=120)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 10
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing a kick must not hang a request on a frozen broker either. The read timeout
# stays at least 5 s: the worker's BRPOP rightly waits up to 1 s (kombu's polling_interval).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
    "socket_timeout": max(REDIS_SOCKET_TIMEOUT, 5.0),
}
# Django's LOGGING configures the worker too (one format for every process).
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TIMEZONE = "UTC"
# Two queues: the saga lane (relay + saga steps) in its own worker process, so a step
# never waits behind projector or sender work; everything else on the general one.
EVENTS_SAGA_QUEUE = env.str("EVENTS_SAGA_QUEUE", default="saga")
EVENTS_FLOW_QUEUE = env.str("EVENTS_FLOW_QUEUE", default="flow")
CELERY_TASK_ROUTES = ("orderflow.celery.route_task",)

# --- Domain events (see orderflow/events/lane.py) ---------------------------------------------
EVENTS_BATCH_SIZE = env.int("EVENTS_BATCH_SIZE", default=25)
EVENTS_LEASE_SECONDS = env.int("EVENTS_LEASE_SECONDS", default=60)
EVENTS_DRAIN_SECONDS = env.float("EVENTS_DRAIN_SECONDS", default=10.0)
EVENTS_SWEEP_INTERVAL = env.float("EVENTS_SWEEP_INTERVAL", default=1.0)
EVENTS_MAX_ATTEMPTS = env.int("EVENTS_MAX_ATTEMPTS", default=10)
EVENTS_RETRY_BASE_SECONDS = env.float("EVENTS_RETRY_BASE_SECONDS", default=2.0)
EVENTS_RETRY_MAX_SECONDS = env.float("EVENTS_RETRY_MAX_SECONDS", default=3600.0)
EVENTS_RETENTION_DAYS = env.int("EVENTS_RETENTION_DAYS", default=30)

CELERY_BEAT_SCHEDULE = {
    "sweep-events": {
        "task": "orderflow.tasks.events_sweep_task",
        "schedule": EVENTS_SWEEP_INTERVAL,
        "options": {"expires": max(EVENTS_SWEEP_INTERVAL * 5, 5)},
    },
    "purge-delivered-events": {
        "task": "orderflow.tasks.events_purge_task",
        "schedule": 60 * 60.0,
    },
    "purge-expired-idempotency-keys": {
        "task": "orderflow.tasks.idempotency_purge_task",
        "schedule": 15 * 60.0,
    },
}

# --- Auth, sessions, security ----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"

# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT failed logins for one username
# from one address, that pair is refused (429, even with the right password) until
# LOGIN_COOLOFF_MINUTES have passed since its last failure; a success resets the count.
# Per (username, address): an attacker cannot lock a colleague out from elsewhere, and one
# office's NAT does not lock out everyone behind it. The database handler keeps the
# attempts in both run modes, shared by every process and listed in the admin ("Axes");
# the cache handler would lose them with a Redis restart and, in embedded mode, count per
# process. `manage.py axes_reset` (or the admin) lifts a lockout.
AUTHENTICATION_BACKENDS = [
    "orderflow.login_throttle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# no "AXES: BEGIN" banner from every process at start; lockouts are still logged
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "orderflow.client_ip.client_ip"
AXES_COOLOFF_MESSAGE = (
    f"Too many failed logins for this account from your address. Logging in is blocked "
    f"for {AXES_COOLOFF_TIME.total_seconds() / 60:g} minutes after the last attempt; "
    "an administrator can lift the block sooner."
)

#: reverse proxies in front of the app (0: none, clients connect directly). Only behind one
#: is X-Forwarded-Proto believed (a client could otherwise claim HTTPS over plain HTTP),
#: and the client's address read from X-Forwarded-For (see orderflow/client_ip.py).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 60 * 60 * 24 * 30)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG

# --- I18n, static ----------------------------------------------------------------------------
# What a customer reads (the tracking page, e-mails) is in the order's language, pt-BR or
# English (docs/localisation.md); the catalogues are compiled by `make install` and the image.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("pt-br", "Português (Brasil)")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- REST API --------------------------------------------------------------------------------
API_RATE_LIMIT = env.str("API_RATE_LIMIT", default="1000/minute")
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=256 * 1024)
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# Django's own body guard sits just above the API limit, so the API's 413 answers first.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(API_MAX_BODY_BYTES + 1, 2_621_440)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["orders.api.authentication.ShopApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["orders.api.authentication.IsShopClient"],
    "DEFAULT_THROTTLE_CLASSES": ["orders.api.throttling.ShopRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["orderflow.api.renderers.OrjsonRenderer"],
    "DEFAULT_PARSER_CLASSES": ["orderflow.api.parsers.OrjsonParser"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "drf_standardized_errors.handler.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
}
DRF_STANDARDIZED_ERRORS = {
    "EXCEPTION_HANDLER_CLASS": "orderflow.api.problems.ProblemExceptionHandler",
    "EXCEPTION_FORMATTER_CLASS": "orderflow.api.problems.ProblemFormatter",
    "ENABLE_IN_DEBUG_FOR_UNHANDLED_EXCEPTIONS": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "OrderFlow API",
    "DESCRIPTION": (
        "Place and follow orders. Authenticate with `Authorization: Bearer <api key>`; "
        "send an `Idempotency-Key` header on every POST so that retries never duplicate. "
        "Errors are RFC 9457 `application/problem+json`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # the ReDoc page loads the bundle from orderflow.api.docs (the sidecar's, without its CDN logo)
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.choices.OrderStatus",
        "LocaleEnum": "orders.choices.Locale",
        "ShippingKindEnum": "orders.models.price_rules.ShippingKind",
        "DiscountKindEnum": "orders.models.price_rules.DiscountKind",
    },
    # the shared error responses (401, 404, 429, ...) and the problem+json body of every error
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "orderflow.api.schema.add_problem_responses",
        "orderflow.api.schema.add_event_type_enum",
        "orderflow.api.schema.add_links",
    ],
}

# --- Payments (the simulated gateway; see payments/gateway.py) ------------------------------
PAYMENT_LATENCY_MS = env.int("PAYMENT_LATENCY_MS", default=0)
PAYMENT_DECLINE_RATE = env.float("PAYMENT_DECLINE_RATE", default=0.0)
PAYMENT_ERROR_RATE = env.float("PAYMENT_ERROR_RATE", default=0.0)
#: transient gateway errors are retried this many times before the payment fails
PAYMENT_MAX_ATTEMPTS = env.int("PAYMENT_MAX_ATTEMPTS", default=4)
#: test-only gates that hold a simulated gateway call (payments/gateway.py); no environment
#: variable on purpose: only tests/settings.py turns them on
PAYMENT_GATES = False

# --- Notifications: customer e-mail and shop webhooks (see notifications/) -------------------
#: Where e-mail goes. Production: smtp://user:password@host:25, smtp+tls://… (STARTTLS) or
#: smtps://… (deploy/k8s/secret.template.yaml). Unset, full mode writes each message to a
#: file under EMAIL_FILE_PATH — a customer's e-mail never lands in the logs — and embedded
#: mode (make run) keeps it in the local mailbox that staff read on the Outbox page
#: (mailbox://, notifications/mailbox.py). The test runner uses the in-memory outbox.
EMAIL_URL = env.str("EMAIL_URL", default="filemail://" if FULL_MODE else "mailbox://")
LOCAL_MAILBOX = EMAIL_URL.partition(":")[0] == "mailbox"
EMAIL_CONFIG = environ.Env.email_url_config("dummymail://" if LOCAL_MAILBOX else EMAIL_URL)
EMAIL_BACKEND = (
    "notifications.mailbox.MailboxBackend" if LOCAL_MAILBOX else EMAIL_CONFIG["EMAIL_BACKEND"]
)
#: the local mailbox's directory (one .eml file per message) and how many messages it keeps
MAILBOX_PATH = env.str("MAILBOX_PATH", default=str(BASE_DIR / "var" / "mailbox"))
MAILBOX_KEEP = env.int("MAILBOX_KEEP", default=1000)
#: the file outbox of filemail:// (one file per batch of messages sent)
EMAIL_FILE_PATH = EMAIL_CONFIG.get("EMAIL_FILE_PATH") or env.str(
    "EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail")
)
EMAIL_HOST = EMAIL_CONFIG["EMAIL_HOST"] or "localhost"
EMAIL_PORT = EMAIL_CONFIG["EMAIL_PORT"] or 25
EMAIL_HOST_USER = EMAIL_CONFIG["EMAIL_HOST_USER"] or ""
EMAIL_HOST_PASSWORD = EMAIL_CONFIG["EMAIL_HOST_PASSWORD"] or ""
EMAIL_USE_TLS = EMAIL_CONFIG.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = EMAIL_CONFIG.get("EMAIL_USE_SSL", False)
#: seconds an SMTP exchange may hold a worker
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
#: the address e-mails come from; the sender's display name is the shop's name
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="orders@orderflow.localhost")
#: let webhooks reach loopback and private addresses: for development and tests only
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
#: the webhook inbox (POST /dev/webhook-inbox, read at /staff/webhook-inbox/): a stand-in
#: shop that receives webhooks, verifies their signatures and shows them; embedded mode
#: only by default. Registering its own URL (PUBLIC_BASE_URL + /dev/webhook-inbox) is
#: allowed while it is on, loopback or not; it keeps the newest WEBHOOK_INBOX_KEEP.
WEBHOOK_INBOX = env.bool("WEBHOOK_INBOX", default=not FULL_MODE)
WEBHOOK_INBOX_PATH = env.str("WEBHOOK_INBOX_PATH", default=str(BASE_DIR / "var" / "webhook-inbox"))
WEBHOOK_INBOX_KEEP = env.int("WEBHOOK_INBOX_KEEP", default=500)
#: an endpoint whose every attempt failed for this long is disabled and its shop e-mailed
WEBHOOK_DISABLE_AFTER_HOURS = env.float("WEBHOOK_DISABLE_AFTER_HOURS", default=24.0)
#: after a secret rotation, deliveries carry the previous secret's signature this long too
WEBHOOK_SECRET_OVERLAP_HOURS = env.float("WEBHOOK_SECRET_OVERLAP_HOURS", default=24.0)
#: finished webhook deliveries (and their attempt log) are purged after this many days
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=30)
#: webhook endpoints a shop may register
WEBHOOK_MAX_ENDPOINTS_PER_SHOP = env.int("WEBHOOK_MAX_ENDPOINTS_PER_SHOP", default=10)
#: seconds of attempts one shop, and one destination host, may take in a sender's batch;
#: the rest of their deliveries are handed back untried for the next batch
WEBHOOK_SHOP_BATCH_SECONDS = env.float("WEBHOOK_SHOP_BATCH_SECONDS", default=5.0)
WEBHOOK_HOST_BATCH_SECONDS = env.float("WEBHOOK_HOST_BATCH_SECONDS", default=10.0)
#: test and replay requests a shop may make per minute through the API (0: no limit)
WEBHOOK_ACTIONS_PER_MINUTE = env.int("WEBHOOK_ACTIONS_PER_MINUTE", default=10)
NOTIFICATIONS_SWEEP_INTERVAL = env.float("NOTIFICATIONS_SWEEP_INTERVAL", default=2.0)
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"]["WebhookDeliveryStatusEnum"] = (
    "notifications.choices.SendStatus"
)
CELERY_BEAT_SCHEDULE |= {
    "sweep-notifications": {
        "task": "notifications.tasks.notifications_sweep_task",
        "schedule": NOTIFICATIONS_SWEEP_INTERVAL,
        "options": {"expires": max(NOTIFICATIONS_SWEEP_INTERVAL * 5, 5)},
    },
    "purge-webhook-deliveries": {
        "task": "notifications.tasks.webhook_deliveries_purge_task",
        "schedule": 60 * 60.0,
    },
}

# --- Observability: metrics, traces, logs (see docs/operations.md, "Observability") ---------
# django-prometheus times each request around all the other middleware and, in full mode,
# counts queries and cache gets through its wrapped backends (same engines underneath).
MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "orderflow.observability.logging_context.LogContextMiddleware",
    "orders.metrics.OrderIntakeMiddleware",
    *MIDDLEWARE,
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]
if FULL_MODE:
    # django-prometheus's backend, its counting cursor class made once (not per connect)
    DATABASES["default"]["ENGINE"] = "orderflow.observability.metrics.db"
if REDIS_URL:
    CACHES["default"]["BACKEND"] = "orderflow.observability.metrics.cache.RedisCache"
#: when set, /metrics answers only requests carrying ``Authorization: Bearer <token>``; a
#: guessable one (a template's "change-me") would be no protection, so a short one is refused
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured(
        "METRICS_TOKEN must be at least 32 random characters "
        "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')."
    )
#: a Celery worker serves its container's metrics on this port (0: it serves none)
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
WORKER_METRICS_ADDRESS = env.str("WORKER_METRICS_ADDRESS", default="127.0.0.1")
# OpenTelemetry reads its standard OTEL_* variables itself (sampler, headers, OTEL_BSP_*);
# these decide whether tracing runs: off in embedded mode, on in full mode once an OTLP
# endpoint is named, and OTEL_SDK_DISABLED says otherwise either way.
OTEL_EXPORTER_OTLP_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
OTEL_ENABLED = not env.bool(
    "OTEL_SDK_DISABLED", default=not (FULL_MODE and OTEL_EXPORTER_OTLP_ENDPOINT)
)
OTEL_SERVICE_NAME = env.str("OTEL_SERVICE_NAME", default="orderflow")
#: otlp (OTLP over HTTP), console, none (trace ids in the logs, no export); comma-separated
OTEL_TRACES_EXPORTER = env.str("OTEL_TRACES_EXPORTER", default="otlp")
#: json: one JSON object per line, for log collectors; console: lines for people
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if FULL_MODE else "console")
if LOG_FORMAT not in ("json", "console"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or console, not {LOG_FORMAT!r}.")

# --- Tracking, live pages and carriers (see tracking/ and orders/carriers.py) ----------------
#: where customers reach the public tracking page; the API's tracking_url starts with it
#: (empty: a path relative to the API's own host)
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="").rstrip("/")
#: seconds an order's live status snapshot stays in Redis without a change
TRACKING_STATUS_TTL = env.int("TRACKING_STATUS_TTL", default=24 * 3600)
#: seconds between the live sockets' heartbeats, which tell a page that missed a push
TRACKING_HEARTBEAT_SECONDS = env.float("TRACKING_HEARTBEAT_SECONDS", default=10.0)
#: resyncs one live socket may ask for in a minute; the next closes it (code 4429)
TRACKING_RESYNCS_PER_MINUTE = env.int("TRACKING_RESYNCS_PER_MINUTE", default=12)
#: public tracking sockets one client address may hold open at once (refused past it, 4429);
#: behind a proxy, daphne must see the client's address (``--proxy-headers``)
TRACKING_SOCKETS_PER_CLIENT = env.int("TRACKING_SOCKETS_PER_CLIENT", default=20)
#: each carrier's HMAC secret, ``name=secret,other=secret``; the demo carrier in DEBUG only
CARRIER_SECRETS = env.dict(
    "CARRIER_SECRETS", default={"demo-post": "demo-post-secret-for-development"} if DEBUG else {}
)
#: how old (in seconds) a signed carrier event may be, against replays
CARRIER_SIGNATURE_MAX_AGE = env.int("CARRIER_SIGNATURE_MAX_AGE", default=300)
#: days a carrier report's event id is kept, so that the same event again is a duplicate
CARRIER_REPORTS_RETENTION_DAYS = env.int("CARRIER_REPORTS_RETENTION_DAYS", default=30)
CELERY_BEAT_SCHEDULE |= {
    "purge-old-carrier-reports": {
        "task": "orders.tasks.carrier_reports_purge_task",
        "schedule": 60 * 60.0,
    },
}
#: the Fernet key carrier accounts' credentials are encrypted with (32 url-safe base64 bytes:
#: ``python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'``);
#: unset, one derived from SECRET_KEY. Keys still accepted for reading, comma-separated:
#: CARRIER_CREDENTIALS_OLD_KEYS (while accounts are saved again under a new key)
CARRIER_CREDENTIALS_KEY = env.str("CARRIER_CREDENTIALS_KEY", default="")
CARRIER_CREDENTIALS_OLD_KEYS = env.list("CARRIER_CREDENTIALS_OLD_KEYS", default=[])
#: seconds one request to a carrier (through karrio) may take before the poll counts it failed
CARRIER_REQUEST_TIMEOUT = env.float("CARRIER_REQUEST_TIMEOUT", default=20.0)
#: seconds between the beat's polls of carriers (karrio) for parcels on the road
CARRIER_POLL_INTERVAL = env.float("CARRIER_POLL_INTERVAL", default=60.0)
#: tracking numbers one account is asked about in one request
CARRIER_POLL_BATCH_SIZE = env.int("CARRIER_POLL_BATCH_SIZE", default=25)
#: accounts one poll serves (the rest wait for the next tick)
CARRIER_POLL_ACCOUNTS = env.int("CARRIER_POLL_ACCOUNTS", default=20)
#: seconds before a parcel is asked about again: the base after news, doubling with each
#: unchanged answer up to the maximum, jittered by up to a quarter either way
CARRIER_POLL_BASE_SECONDS = env.float("CARRIER_POLL_BASE_SECONDS", default=15 * 60.0)
CARRIER_POLL_MAX_SECONDS = env.float("CARRIER_POLL_MAX_SECONDS", default=6 * 3600.0)
#: days a finished parcel's poll record (delivered, returned, off the road) is kept after its
#: last poll, for support to read in the admin; beat purges older ones hourly
CARRIER_POLL_RETENTION_DAYS = env.int("CARRIER_POLL_RETENTION_DAYS", default=30)
CELERY_BEAT_SCHEDULE |= {
    "poll-carriers": {
        "task": "orders.tasks.carrier_parcels_poll_task",
        "schedule": CARRIER_POLL_INTERVAL,
        "options": {"expires": max(CARRIER_POLL_INTERVAL, 5)},
    },
    "purge-finished-parcel-polls": {
        "task": "orders.tasks.parcel_polls_purge_task",
        "schedule": 60 * 60.0,
    },
}
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] |= {
    "CarrierStatusEnum": "orders.carriers.CARRIER_STATUSES",
    "TrackingMilestoneEnum": "tracking.choices.Milestone",
    "TrackingSourceEnum": "tracking.choices.TrackingSource",
}

# --- Logging ---------------------------------------------------------------------------------
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
#: the server writes each request's one line (runserver's access line in embedded mode), so
#: Django's own warning for a 4xx is not logged again (orderflow/observability/logging_format.py)
REQUEST_LINE_BY_SERVER = env.bool("REQUEST_LINE_BY_SERVER", default=not FULL_MODE)
if not FULL_MODE:
    # make run's terminal keeps the newcomer's summary in sight: the demo simulator's calls
    # are noted here and their access lines dropped (demo/traffic.py)
    MIDDLEWARE.insert(0, "demo.traffic.demo_traffic_middleware")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "correlation": {"()": "orderflow.correlation.CorrelationIdLogFilter"},
        "server_logs_requests": {
            "()": "orderflow.observability.logging_format.ServerLogsRequestsFilter"
        },
        "quiet_demo_traffic": {"()": "demo.traffic.QuietDemoTrafficFilter"},
        "axes_bookkeeping": {"()": "orderflow.observability.logging_format.AxesBookkeepingFilter"},
    },
    "formatters": {
        # both add the correlation, trace and span ids and the order or shop at hand, and
        # scrub secrets from every line (see orderflow/observability/logging_format.py)
        "console": {"()": "orderflow.observability.logging_format.ConsoleFormatter"},
        "json": {"()": "orderflow.observability.logging_format.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["correlation"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's default handlers for these write raw lines past the formatter (and so
        # past its scrubbing, e.g. of tracking tokens in paths): configured here, they lose
        # them and propagate to the root's handler like every other logger.
        "django": {"level": "INFO"},
        "django.request": {"level": "INFO", "filters": ["server_logs_requests"]},
        "django.server": {"level": "INFO", "propagate": True},
        # runserver's access lines (embedded mode), but none for the demo simulator's calls
        "django.channels.server": {"level": "INFO", "filters": ["quiet_demo_traffic"]},
        # runserver's start-up chatter (reloader, HTTP/2 extras, endpoint) before make run's
        # summary; daphne's errors still show
        "django.utils.autoreload": {"level": "INFO" if FULL_MODE else "WARNING"},
        "daphne.server": {"level": "INFO" if FULL_MODE else "WARNING"},
        # eager Celery on memory:// warns "No hostname was supplied" in every process
        "kombu.connection": {"level": "WARNING" if REDIS_URL else "ERROR"},
        "django.db.backends": {"level": "INFO"},
        # a login's line stays; the three that say axes cleared nothing after it go
        "axes.handlers.database": {"level": "INFO", "filters": ["axes_bookkeeping"]},
        # a line per task and per beat tick drowns what matters; failures still log
        "celery.app.trace": {"level": env.str("CELERY_TASK_LOG_LEVEL", default="WARNING")},
        "celery.beat": {"level": env.str("CELERY_TASK_LOG_LEVEL", default="WARNING")},
    },
}
