"""Every environment variable contentgen reads: its default and what it means, grouped as
docs/configuration.md groups them. contentgen/env.py reads each one; `.env.example` is this table
(`python -m contentgen.variables > .env.example` writes it again), and a test holds the three together.
Plain data: importing it starts nothing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Variable:
    name: str
    default: str
    meaning: str
    group: str


def _group(group: str, *rows: tuple[str, str, str]) -> list[Variable]:
    return [Variable(name, default, meaning, group) for name, default, meaning in rows]


# fmt: off
VARIABLES: list[Variable] = [
    *_group(
        "Core",
        ("DJANGO_DEBUG", "0", "1 for development: the embedded servers, a development secret key, debug pages"),
        ("DJANGO_SECRET_KEY", "", "required with DJANGO_DEBUG=0; startup fails without it"),
        ("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1", "host names this site answers, comma separated"),
        ("DJANGO_SECURE", "0", "1 behind HTTPS: SSL redirect, secure cookies, HSTS"),
        ("DJANGO_HSTS_PRELOAD", "0", "1 adds preload to HSTS (with DJANGO_SECURE=1): the domain owner's choice"),
        ("CONTENTGEN_TRUSTED_PROXIES", "", "proxies (addresses, CIDR ranges) whose X-Forwarded-For/-Proto count"),
        ("MONGODB_URI", "", "MongoDB URI (a replica set in production); the database is the URI's path"),
        ("REDIS_URL", "", "Redis URL of the channel layer, queues and limits"),
        ("CONTENTGEN_EMBEDDED", "0", "1 starts the embedded MongoDB and Redis with DJANGO_DEBUG=0 (one machine)"),
        ("CONTENTGEN_VAR_DIR", "var", "where the embedded servers, logs and crewAI keep their files"),
        ("CONTENTGEN_PUBLIC_URL", "http://localhost:8000", "this site's address, for links the CLI prints and emails carry"),
    ),
    *_group(
        "Limits",
        ("CONTENTGEN_RATE_JOBS_PER_MINUTE", "60", "jobs (and sources) a user may start per minute; 0: none"),
        ("CONTENTGEN_RATE_BATCH_ITEMS_PER_HOUR", "2000", "batch items a user may submit per hour; 0: none"),
        ("CONTENTGEN_MAX_STREAMS_PER_USER", "50", "open SSE and WebSocket streams per user; 0: none"),
        ("CONTENTGEN_MAX_STREAMS_PER_PROCESS", "5000", "open streams one web process serves; 0: none"),
        ("CONTENTGEN_MONTHLY_TOKEN_BUDGET", "0", "tokens a user may spend per month; 0: no budget"),
        ("CONTENTGEN_SOURCE_MAX_BYTES", "20971520", "largest knowledge-base file or page, in bytes (20 MiB)"),
        ("CONTENTGEN_KB_MAX_PASSAGES", "50000", "passages a user's knowledge base may hold"),
    ),
    *_group(
        "Models",
        ("CONTENTGEN_LLM", "offline", "offline, local, or a crewAI model string (openai/gpt-4o-mini, ...)"),
        ("CONTENTGEN_LLM_BASE_URL", "", "an OpenAI-compatible server (http://host:port/v1) for openai/<model>"),
        ("CONTENTGEN_LLM_PRICES", "{}", 'JSON prices per million tokens: {"<model>": {"input": 0.15, "output": 0.6}}'),
        ("CONTENTGEN_LOCAL_MODEL_PATH", "", "another GGUF file for CONTENTGEN_LLM=local"),
        ("CONTENTGEN_LOCAL_THREADS", "", "llama.cpp threads for the local model (default: the CPU count)"),
        ("CONTENTGEN_OFFLINE_TOKENS_PER_SECOND", "", "the offline model's pace; 0: no delay"),
        ("CONTENTGEN_OFFLINE_FAIL_STAGE", "", "the offline model fails in this stage (research, writing, seo): demos"),
        ("CONTENTGEN_OFFLINE_STALL_STAGE", "", "the offline model goes quiet in this stage: demos of the stall limit"),
        ("CONTENTGEN_LLM_STALL_SECONDS", "120", "a stage with no model output for this long fails"),
        ("CONTENTGEN_JOB_TIMEOUT_SECONDS", "1800", "a job running longer fails"),
    ),
    *_group(
        "Research",
        ("CONTENTGEN_SEARCH_URL", "", "a SearxNG-compatible search (GET <url>?q=...&format=json); unset: no web"),
        ("CONTENTGEN_FETCH_ALLOW_PRIVATE", "0", "1 lets research fetch loopback and private addresses (tests only)"),
    ),
    *_group(
        "Webhooks",
        ("CONTENTGEN_WEBHOOK_BACKOFF_SECONDS", "10", "base of the retry backoff (doubling, up to 24 h)"),
        ("CONTENTGEN_WEBHOOKS_ALLOW_PRIVATE", "0", "1 allows webhook URLs on loopback and private networks"),
        ("CONTENTGEN_WEBHOOK_MAX_ENDPOINTS", "20", "webhook endpoints a user may register; 0: none"),
        ("CONTENTGEN_RATE_WEBHOOK_SENDS_PER_MINUTE", "100", "test sends and redeliveries a user may queue per minute"),
    ),
    *_group(
        "Email",
        ("CONTENTGEN_EMAIL_URL", "", "smtp+tls://user:password@host:587 or consolemail://; unset: console with DJANGO_DEBUG=1, else none"),
        ("CONTENTGEN_EMAIL_FROM", "contentgen@localhost", "the sender of the email a batch's owner may ask for"),
    ),
    *_group(
        "Operations",
        ("CONTENTGEN_WORKER_CONCURRENCY", "1", "jobs one worker process runs at once (run_worker --concurrency)"),
        ("CONTENTGEN_WORKER_LEASE_SECONDS", "30", "a job whose lease is not renewed in this time is taken over"),
        ("CONTENTGEN_MAX_ATTEMPTS", "3", "attempts before a job whose worker keeps dying is failed"),
        ("CONTENTGEN_WRITE_RETRY_SECONDS", "60", "how long a job's failed writes are retried before it goes back"),
        ("CONTENTGEN_RECONCILE_SECONDS", "300", "how often each worker repairs missing events and counters"),
        ("CONTENTGEN_EVENT_RETENTION_DAYS", "30", "events of jobs finished before then are removed"),
        ("CONTENTGEN_SSE_PING_SECONDS", "15", "keep-alive comment interval on idle streams"),
        ("CONTENTGEN_METRICS_TOKEN", "", "/metrics answers `Authorization: Bearer <token>` (unset: staff only)"),
        ("PROMETHEUS_MULTIPROC_DIR", "", "a directory shared by several web processes on one host, for /metrics"),
    ),
]
# fmt: on

NAMES = frozenset(variable.name for variable in VARIABLES)


def example() -> str:
    """`.env.example`: each variable at its default, with its meaning, by group."""
    lines = [
        "# contentgen's environment variables, each at its default (docs/configuration.md says more).",
        "# Copy this file to .env for your process manager (deploy/), or export what you change.",
    ]
    group = ""
    for variable in VARIABLES:
        if variable.group != group:
            group = variable.group
            lines += ["", f"# {group}"]
        lines += [f"# {variable.meaning}", f"{variable.name}={variable.default}"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(example())
