"""The batch form's "email me" box: one email to the owner when the batch finishes, through Django's
email backend (locmem here, through pytest-django's `mailoutbox`)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jobs.core import services
from jobs.models import BulkJob

pytestmark = pytest.mark.django_db

TOPICS = {"topics": "Bees\nWasps\n", "mode": "topic", "word_count": "600", "tone": "friendly"}


@pytest.fixture
def email_on(settings: Any) -> Any:
    settings.CONTENTGEN_EMAIL_ENABLED = True
    settings.CONTENTGEN_PUBLIC_URL = "https://contentgen.example.com"
    return settings


@pytest.fixture
def logged_in(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def start_batch(client: Client, **extra: str) -> BulkJob:
    response = client.post("/bulk/new", {**TOPICS, **extra})
    assert response.status_code == 302, response.content
    return BulkJob.objects.get(pk=response["Location"].split("/")[2])


def test_a_finished_batch_emails_its_owner_who_asked(email_on: Any, logged_in: Client, user: Any, mailoutbox: list) -> None:
    bulk = start_batch(logged_in, notify_email="on")
    assert bulk.notify_email is True
    assert mailoutbox == []

    services.bulk_cancel(bulk=bulk)  # every article ends: the batch finishes

    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == [user.email]
    assert mail.subject == "Your batch of 2 articles finished: 0 completed"
    assert f"https://contentgen.example.com/bulk/{bulk.pk}/" in mail.body
    assert f"https://contentgen.example.com/bulk/{bulk.pk}/articles.zip" in mail.body
    assert "cancelled: 2" in mail.body


def test_a_batch_without_the_box_sends_nothing(email_on: Any, logged_in: Client, mailoutbox: list) -> None:
    bulk = start_batch(logged_in)
    assert bulk.notify_email is False
    services.bulk_cancel(bulk=bulk)
    assert mailoutbox == []


def test_an_owner_without_an_address_is_not_offered_email(email_on: Any, logged_in: Client, user: Any) -> None:
    user.email = ""
    user.save()
    assert 'name="notify_email"' not in logged_in.get("/").content.decode()
    assert start_batch(logged_in, notify_email="on").notify_email is False


def test_without_email_configured_the_form_offers_none(settings: Any, logged_in: Client) -> None:
    settings.CONTENTGEN_EMAIL_ENABLED = False
    assert 'name="notify_email"' not in logged_in.get("/").content.decode()
    assert start_batch(logged_in, notify_email="on").notify_email is False


def test_the_form_offers_email_to_an_owner_with_an_address(email_on: Any, logged_in: Client, user: Any) -> None:
    page = logged_in.get("/").content.decode()
    assert 'name="notify_email"' in page and user.email in page
