"""contentgen settings. Values come from the environment through contentgen.env only."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from csp.constants import NONE, SELF
from pymongo.uri_parser import parse_uri

import contentgen
from contentgen import env, logs

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env.DEBUG
MONGODB_URI = env.MONGODB_URI
REDIS_URL = env.REDIS_URL
SECRET_KEY = env.SECRET_KEY
ALLOWED_HOSTS = env.ALLOWED_HOSTS

INSTALLED_APPS = [
    "daphne",
    "contentgen.apps.MongoAdminConfig",
    "contentgen.apps.MongoAuthConfig",
    "contentgen.apps.MongoContentTypesConfig",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_mongodb_backend",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "contentgen.apps.MongoAxesConfig",
    "contentgen.apps.ContentgenConfig",
    "jobs",
    "progress",
]

MIDDLEWARE = [
    "contentgen.middleware.UntrustedForwardedHeadersMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "contentgen.middleware.RequestSizeLimitMiddleware",
    "contentgen.requestlog.RequestLogMiddleware",
    "contentgen.middleware.AsyncWhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "contentgen.urls"
ASGI_APPLICATION = "contentgen.asgi.application"
WSGI_APPLICATION = "contentgen.wsgi.application"

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

# pymongo's defaults are 30 s of server selection and no socket timeout at all: one stuck socket
# could hang a job thread, and SIGTERM with it. Failing within seconds hands the decision to the
# callers' retry (contentgen.resilience: write retry, worker backoff). 20 s is far above the slowest
# legitimate operation (a 500-job batch aggregation on the embedded server). Options in the URI win.
MONGODB_TIMEOUTS = {"serverSelectionTimeoutMS": 5000, "connectTimeoutMS": 5000, "socketTimeoutMS": 20000}
# Writes are acknowledged once they are in the server's journal (`j: true`). With pymongo's default
# (`w: 1`, no `j`) a server killed with SIGKILL loses acknowledged writes of its last milliseconds, and an
# event log that loses an event already pushed to its viewers gives its seq to a different event later,
# which those viewers then never see (tests/jobs/runtime/test_outages.py). A URI that names its own write
# concern (`w=` or `journal=`) keeps it.
MONGODB_WRITE_CONCERN = {"journal": True}


def mongodb_client_options(uri: str) -> dict[str, object]:
    """The MongoClient options the URI does not set itself: timeouts, and journaled writes unless the URI
    names its own write concern."""
    named = {name.lower() for name in parse_uri(uri)["options"]}
    options: dict[str, object] = {k: v for k, v in MONGODB_TIMEOUTS.items() if k.lower() not in named}
    if not named & {"w", "journal"}:
        options.update(MONGODB_WRITE_CONCERN)
    return options


DATABASES = {
    "default": {
        "ENGINE": "django_mongodb_backend",
        "HOST": env.MONGODB_URI,
        "NAME": parse_uri(env.MONGODB_URI)["database"] or "contentgen",
        # Persistent: a MongoClient is a pool with monitor threads, far too costly to open per request.
        "CONN_MAX_AGE": None,
        "OPTIONS": mongodb_client_options(env.MONGODB_URI),
    },
}
DEFAULT_AUTO_FIELD = "django_mongodb_backend.fields.ObjectIdAutoField"
MIGRATION_MODULES = {
    "admin": "contentgen.mongo_migrations.admin",
    "auth": "contentgen.mongo_migrations.auth",
    "contenttypes": "contentgen.mongo_migrations.contenttypes",
    "axes": "contentgen.mongo_migrations.axes",
}

# Redis (the channel layer's server) as the cache: login throttling counts there, shared by every process.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env.REDIS_URL}}

# Login throttling (django-axes): 5 failures for a username, from any addresses, lock it for 15 minutes.
# Counted per (username, address), a client that changes its address (many hosts, or forwarded headers
# believed from anyone) could guess forever. The price: anyone can keep a known username locked; the lock
# lifts by itself, and staff can lift it (`manage.py axes_reset_username NAME`). docs/security.md.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username"]
# django-axes warns when the address is not part of the lock (axes.W006: a client could rotate it). Here the
# lock is on the username alone, which rotating addresses, agents or cookies does not get round.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
# The client's address as contentgen.edge.TrustedProxies settled it: forwarded headers are gone by then
# unless a trusted proxy sent them, and ipware must not read them again.
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

CHANNEL_LAYERS = {
    "default": {
        # The pub/sub layer: a far lower tail than RedisChannelLayer at 1,000 streams (docs/measurements.md).
        # Connections are per process, not per stream, because the hub (progress.hub) subscribes once per
        # group.
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [env.REDIS_URL]},
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON in and out only: the fields are strict JSON types, and no browsable HTML API to secure.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 20,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "contentgen.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "contentgen API",
    # The full description, the SSE streams and the event schemas are added by jobs.api.openapi.add_streams.
    "DESCRIPTION": "SEO article jobs and batches, their live progress (`/api/jobs/{job_id}/progress`).",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "jobs.api.schema.refine",
        "jobs.api.openapi.add_streams",
    ],
    "VERSION": contentgen.__version__,
    "ENUM_NAME_OVERRIDES": {
        "SeoCheckIdEnum": "jobs.api.serializers.SEO_CHECK_CHOICES",
        "SeoCheckGroupEnum": "jobs.api.serializers.SEO_GROUP_CHOICES",
        "SeoCheckStatusEnum": "jobs.api.serializers.SEO_STATUS_CHOICES",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_INCLUDE_SCHEMA": False,
}

# Request sizes, consistent with the largest valid request: a 500-item batch with every field at its maximum
# (source_text 50,000 characters, topic 300, 20 keywords of 100) is about 26.3 MB of ASCII JSON; a bigger body
# answers 413 (contentgen.middleware). CSV uploads (2 MB at most, checked with a message) stay in memory.
DATA_UPLOAD_MAX_MEMORY_SIZE = 32 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024 + 64 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
DATA_UPLOAD_MAX_NUMBER_FILES = 1

CONTENTGEN_LLM = env.LLM
CONTENTGEN_LOCAL_MODEL_PATH = env.LOCAL_MODEL_PATH
CONTENTGEN_WORKER_LEASE_SECONDS = env.WORKER_LEASE_SECONDS
CONTENTGEN_WORKER_CONCURRENCY = env.WORKER_CONCURRENCY
CONTENTGEN_MAX_ATTEMPTS = env.MAX_ATTEMPTS
CONTENTGEN_SSE_PING_SECONDS = env.SSE_PING_SECONDS
CONTENTGEN_RATE_JOBS_PER_MINUTE = env.RATE_JOBS_PER_MINUTE
CONTENTGEN_RATE_BATCH_ITEMS_PER_HOUR = env.RATE_BATCH_ITEMS_PER_HOUR
CONTENTGEN_MAX_STREAMS_PER_USER = env.MAX_STREAMS_PER_USER
# Streams one web process serves at most: a process-wide guard of its memory, counted in the process itself
# because it protects that process, whatever the others hold.
CONTENTGEN_MAX_STREAMS_PER_PROCESS = env.MAX_STREAMS_PER_PROCESS
CONTENTGEN_METRICS_TOKEN = env.METRICS_TOKEN

# Scripts and styles from this origin only: no inline script, no eval, no inline style (bars use classes).
# Hostile text that slipped past the sanitiser still could not run. /api/docs/ widens style-src for itself.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        # No remote image: a tracking pixel in generated text would tell a third party who reads what.
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENTGEN_EVENT_RETENTION_DAYS = env.EVENT_RETENTION_DAYS
CONTENTGEN_WEBHOOK_BACKOFF_SECONDS = env.WEBHOOK_BACKOFF_SECONDS
CONTENTGEN_WEBHOOKS_ALLOW_PRIVATE = env.WEBHOOKS_ALLOW_PRIVATE
CONTENTGEN_WEBHOOK_MAX_ENDPOINTS = env.WEBHOOK_MAX_ENDPOINTS
CONTENTGEN_RATE_WEBHOOK_SENDS_PER_MINUTE = env.RATE_WEBHOOK_SENDS_PER_MINUTE
CONTENTGEN_JOB_TIMEOUT_SECONDS = env.JOB_TIMEOUT_SECONDS
CONTENTGEN_LLM_STALL_SECONDS = env.LLM_STALL_SECONDS
CONTENTGEN_WRITE_RETRY_SECONDS = env.WRITE_RETRY_SECONDS
CONTENTGEN_RECONCILE_SECONDS = env.RECONCILE_SECONDS
CONTENTGEN_SEARCH_URL = env.SEARCH_URL
CONTENTGEN_FETCH_ALLOW_PRIVATE = env.FETCH_ALLOW_PRIVATE
CONTENTGEN_SOURCE_MAX_BYTES = env.SOURCE_MAX_BYTES
CONTENTGEN_KB_MAX_PASSAGES = env.KB_MAX_PASSAGES
CONTENTGEN_LLM_PRICES = env.LLM_PRICES
CONTENTGEN_PUBLIC_URL = env.PUBLIC_URL
CONTENTGEN_MONTHLY_TOKEN_BUDGET = env.MONTHLY_TOKEN_BUDGET

CONTENTGEN_TRUSTED_PROXIES = env.TRUSTED_PROXIES
if env.TRUSTED_PROXIES:
    # Believed only from those proxies: contentgen.edge removes the header from every other connection.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Email through Django's backend, from CONTENTGEN_EMAIL_URL (contentgen/env.py): SMTP, or the console in
# development. A slow server holds the worker that finished the batch for at most EMAIL_TIMEOUT.
EMAIL_BACKEND = env.EMAIL["EMAIL_BACKEND"]
EMAIL_HOST = env.EMAIL.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = env.EMAIL.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = env.EMAIL.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = env.EMAIL.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = bool(env.EMAIL.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(env.EMAIL.get("EMAIL_USE_SSL"))
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = env.EMAIL_FROM
CONTENTGEN_EMAIL_ENABLED = env.EMAIL_ENABLED

if env.SECURE:
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 31_536_000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading commits the domain and every subdomain to HTTPS in browsers' lists, for months after it is
    # withdrawn: the owner's decision (DJANGO_HSTS_PRELOAD=1), not a default. Django's deploy check asks for
    # it (security.W021), so that one warning is silenced unless it is taken.
    SECURE_HSTS_PRELOAD = env.HSTS_PRELOAD
    if not env.HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS.append("security.W021")

LOGGING = logs.LOGGING
