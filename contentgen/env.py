"""Every environment variable contentgen reads, in one place (docs/contracts.md, "Environment")."""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Iterable

import environ
from django.core.exceptions import ImproperlyConfigured

from contentgen import embedded

env = environ.Env()


def ipaddress_networks(entries: Iterable[str]) -> None:
    for entry in entries:
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError as exc:
            raise ValueError(f"{entry!r} is not an IP address or a CIDR range") from exc


DEBUG: bool = env.bool("DJANGO_DEBUG", default=False)
SECURE: bool = env.bool("DJANGO_SECURE", default=False)
HSTS_PRELOAD: bool = env.bool("DJANGO_HSTS_PRELOAD", default=False)
if not (DEBUG or SECURE):
    # Loud, and in every process: without it the session and CSRF cookies go out over plain HTTP too.
    sys.stderr.write(
        "contentgen: WARNING: DJANGO_SECURE is not set with DJANGO_DEBUG=0: cookies are not Secure, there is "
        "no HTTPS redirect and no HSTS. Serve over HTTPS and set DJANGO_SECURE=1 (docs/security.md).\n"
    )
# Addresses or CIDR ranges of the proxies whose X-Forwarded-For and -Proto count (contentgen.edge).
_proxies: list[str] = env.list("CONTENTGEN_TRUSTED_PROXIES", default=[])
TRUSTED_PROXIES: list[str] = [entry.strip() for entry in _proxies if entry.strip()]
try:
    ipaddress_networks(TRUSTED_PROXIES)
except ValueError as exc:
    raise ImproperlyConfigured(f"contentgen: CONTENTGEN_TRUSTED_PROXIES: {exc}.") from exc
ALLOWED_HOSTS: list[str] = env.list("DJANGO_ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
_DEV_SECRET_KEY = "django-insecure-contentgen-dev-only-key-never-use-in-production"
SECRET_KEY: str = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        sys.exit(
            "contentgen: DJANGO_SECRET_KEY is not set. Set it (for example "
            "`export DJANGO_SECRET_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe(50))')`) "
            "or run with DJANGO_DEBUG=1 for development."
        )
    SECRET_KEY = _DEV_SECRET_KEY

# Embedded MongoDB and Redis are private to the process that starts them: in production a web process and
# a worker would each get their own, and jobs would never run. So they start only when asked for.
EMBEDDED: bool = env.bool("CONTENTGEN_EMBEDDED", default=False)
for _name in ("MONGODB_URI", "REDIS_URL"):
    if not os.environ.get(_name) and not (DEBUG or EMBEDDED):
        raise ImproperlyConfigured(
            f"contentgen: {_name} is not set. With DJANGO_DEBUG=0 no embedded server is started: "
            f"set {_name}, or CONTENTGEN_EMBEDDED=1 to start embedded servers on this machine."
        )
embedded.ensure_environment()
MONGODB_URI: str = env.str("MONGODB_URI")
REDIS_URL: str = env.str("REDIS_URL")

LLM: str = env.str("CONTENTGEN_LLM", default="offline")
LOCAL_MODEL_PATH: str = env.str("CONTENTGEN_LOCAL_MODEL_PATH", default="")
WORKER_LEASE_SECONDS: float = env.float("CONTENTGEN_WORKER_LEASE_SECONDS", default=30.0)
WORKER_CONCURRENCY: int = env.int("CONTENTGEN_WORKER_CONCURRENCY", default=1)
MAX_ATTEMPTS: int = env.int("CONTENTGEN_MAX_ATTEMPTS", default=3)
SSE_PING_SECONDS: float = env.float("CONTENTGEN_SSE_PING_SECONDS", default=15.0)
RATE_JOBS_PER_MINUTE: int = env.int("CONTENTGEN_RATE_JOBS_PER_MINUTE", default=60)
RATE_BATCH_ITEMS_PER_HOUR: int = env.int("CONTENTGEN_RATE_BATCH_ITEMS_PER_HOUR", default=2000)
MAX_STREAMS_PER_USER: int = env.int("CONTENTGEN_MAX_STREAMS_PER_USER", default=50)
MAX_STREAMS_PER_PROCESS: int = env.int("CONTENTGEN_MAX_STREAMS_PER_PROCESS", default=5000)
METRICS_TOKEN: str = env.str("CONTENTGEN_METRICS_TOKEN", default="")
EVENT_RETENTION_DAYS: float = env.float("CONTENTGEN_EVENT_RETENTION_DAYS", default=30.0)
WEBHOOK_BACKOFF_SECONDS: float = env.float("CONTENTGEN_WEBHOOK_BACKOFF_SECONDS", default=10.0)
WEBHOOKS_ALLOW_PRIVATE: bool = env.bool("CONTENTGEN_WEBHOOKS_ALLOW_PRIVATE", default=False)
WEBHOOK_MAX_ENDPOINTS: int = env.int("CONTENTGEN_WEBHOOK_MAX_ENDPOINTS", default=20)
RATE_WEBHOOK_SENDS_PER_MINUTE: int = env.int("CONTENTGEN_RATE_WEBHOOK_SENDS_PER_MINUTE", default=100)
JOB_TIMEOUT_SECONDS: float = env.float("CONTENTGEN_JOB_TIMEOUT_SECONDS", default=1800.0)
LLM_STALL_SECONDS: float = env.float("CONTENTGEN_LLM_STALL_SECONDS", default=120.0)
WRITE_RETRY_SECONDS: float = env.float("CONTENTGEN_WRITE_RETRY_SECONDS", default=60.0)
RECONCILE_SECONDS: float = env.float("CONTENTGEN_RECONCILE_SECONDS", default=300.0)
# Research (docs/contracts.md, "Additions"): a SearxNG-compatible search, the fetch guard's loopback switch
# (tests only), and the knowledge base's limits.
SEARCH_URL: str = env.str("CONTENTGEN_SEARCH_URL", default="")
FETCH_ALLOW_PRIVATE: bool = env.bool("CONTENTGEN_FETCH_ALLOW_PRIVATE", default=False)
SOURCE_MAX_BYTES: int = env.int("CONTENTGEN_SOURCE_MAX_BYTES", default=20 * 1024 * 1024)
KB_MAX_PASSAGES: int = env.int("CONTENTGEN_KB_MAX_PASSAGES", default=50_000)
# What the models cost (docs/contracts.md, "Additions"): prices per million tokens by model, as JSON
# ({"openai/gpt-4o-mini": {"input": 0.15, "output": 0.6}}), and each user's monthly token budget (0: none).
try:
    LLM_PRICES: dict = env.json("CONTENTGEN_LLM_PRICES", default={})
except ValueError as _exc:
    raise ImproperlyConfigured(
        "contentgen: CONTENTGEN_LLM_PRICES is not valid JSON. Give prices per million tokens by model, e.g. "
        '{"openai/gpt-4o-mini": {"input": 0.15, "output": 0.6}}.'
    ) from _exc
MONTHLY_TOKEN_BUDGET: int = env.int("CONTENTGEN_MONTHLY_TOKEN_BUDGET", default=0)

# Read where they are used as well, at call time: by the Django-free pipeline (jobs/pipeline/config.py), the
# embedded servers' launcher and prometheus-client. Read here so that a bad value stops startup.
LLM_BASE_URL: str = env.str("CONTENTGEN_LLM_BASE_URL", default="")
LOCAL_THREADS: str = env.str("CONTENTGEN_LOCAL_THREADS", default="")
OFFLINE_TOKENS_PER_SECOND: str = env.str("CONTENTGEN_OFFLINE_TOKENS_PER_SECOND", default="")
OFFLINE_FAIL_STAGE: str = env.str("CONTENTGEN_OFFLINE_FAIL_STAGE", default="")
OFFLINE_STALL_STAGE: str = env.str("CONTENTGEN_OFFLINE_STALL_STAGE", default="")
VAR_DIR: str = env.str("CONTENTGEN_VAR_DIR", default="")
PROMETHEUS_MULTIPROC_DIR: str = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
PUBLIC_URL: str = env.str("CONTENTGEN_PUBLIC_URL", default="http://localhost:8000")
for _name, _value in (("CONTENTGEN_LOCAL_THREADS", LOCAL_THREADS),
                      ("CONTENTGEN_OFFLINE_TOKENS_PER_SECOND", OFFLINE_TOKENS_PER_SECOND)):  # fmt: skip
    try:
        if _value and float(_value) < 0:
            raise ValueError(_value)
    except ValueError as _exc:
        message = f"contentgen: {_name} must be a number of 0 or more, not {_value!r}."
        raise ImproperlyConfigured(message) from _exc
for _name, _value in (("CONTENTGEN_OFFLINE_FAIL_STAGE", OFFLINE_FAIL_STAGE),
                      ("CONTENTGEN_OFFLINE_STALL_STAGE", OFFLINE_STALL_STAGE)):  # fmt: skip
    if _value and _value.strip().lower() not in ("research", "writing", "seo"):
        raise ImproperlyConfigured(f"contentgen: {_name} must be research, writing or seo, not {_value!r}.")
# Email (docs/contracts.md, "Additions"): a batch's owner may ask for one when the batch finishes. One URL
# names the server, in django-environ's form: smtp+tls://user:password@host:587, smtp+ssl://...:465,
# consolemail:// (printed). Unset: printed in development (DJANGO_DEBUG=1); with DJANGO_DEBUG=0 no email is
# offered, since printing would put addresses in the logs.
EMAIL_URL: str = env.str("CONTENTGEN_EMAIL_URL", default="")
EMAIL_ENABLED: bool = bool(EMAIL_URL) or DEBUG
try:
    EMAIL: dict = environ.Env.email_url_config(EMAIL_URL or ("consolemail://" if DEBUG else "dummymail://"))
except (ValueError, KeyError, ImproperlyConfigured) as _exc:
    raise ImproperlyConfigured(
        "contentgen: CONTENTGEN_EMAIL_URL is not an email URL. Give one such as "
        "smtp+tls://user:password@smtp.example.com:587 or consolemail://."
    ) from _exc
EMAIL_FROM: str = env.str("CONTENTGEN_EMAIL_FROM", default="contentgen@localhost")
