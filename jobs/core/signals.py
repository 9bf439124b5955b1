"""Lifecycle signals sent by jobs.core.services, so webhooks and metrics hang off the state changes without
the services importing them (the webhook payload needs the API's serializers, which import services)."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger("jobs.signals")

# job=GenerationJob, taken_over=bool: a worker won the claim.
job_claimed = Signal()
# job=GenerationJob, back in the queue: its worker stopped renewing the lease (the lease watch requeued it).
job_abandoned = Signal()
# job=GenerationJob in its terminal status (completed, failed or cancelled), stored.
job_finished = Signal()
# bulk=BulkJob: every job in the batch has ended.
bulk_finished = Signal()


def emit(signal: Signal, **kwargs: Any) -> None:
    """Sent once the state change is committed (at once outside a transaction), so a transaction that is
    retried never sends it twice. A receiver's failure is logged and never undoes the stored change."""
    transaction.on_commit(lambda: _send(signal, **kwargs))


def _send(signal: Signal, **kwargs: Any) -> None:
    for receiver, result in signal.send_robust(sender=None, **kwargs):
        if isinstance(result, Exception):
            logger.error("signal receiver %r failed", receiver, exc_info=result)
