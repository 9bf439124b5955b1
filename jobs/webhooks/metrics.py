"""The webhooks' counter on /metrics (every process that delivers counts its own attempts)."""

from __future__ import annotations

from prometheus_client import Counter

WEBHOOK_DELIVERIES = Counter(
    "contentgen_webhook_deliveries",
    "Webhook delivery attempts by outcome (succeeded, retrying, failed, refused, skipped).",
    ["outcome"],
)
