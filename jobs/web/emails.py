"""The email a batch's owner asks for with the batch form's box: sent when the batch finishes, through
Django's email backend (CONTENTGEN_EMAIL_URL: SMTP, or the console in development)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.dispatch import receiver
from django.template.loader import render_to_string
from django.urls import reverse

from jobs.core import signals
from jobs.models import BulkJob

logger = logging.getLogger("jobs.emails")


def _link(name: str, pk: Any) -> str:
    return f"{settings.CONTENTGEN_PUBLIC_URL.rstrip('/')}{reverse(name, args=[str(pk)])}"


@receiver(signals.bulk_finished)
def bulk_finished(*, bulk: BulkJob, **kwargs: Any) -> None:
    """One email per ending: a batch that a retry reopens sends another when it ends again."""
    if not bulk.notify_email:
        return
    fresh = BulkJob.objects.select_related("user").get(pk=bulk.pk)
    address = fresh.user.email
    if not address:
        return
    context = {
        "bulk": fresh,
        "page": _link("bulk-detail", fresh.pk),
        "zip": _link("bulk-zip", fresh.pk),
    }
    subject = " ".join(render_to_string("jobs/email/bulk_finished_subject.txt", context).split())
    body = render_to_string("jobs/email/bulk_finished.txt", context)
    send_mail(subject, body, None, [address])
    logger.info("batch %s: finished email sent", fresh.pk)
