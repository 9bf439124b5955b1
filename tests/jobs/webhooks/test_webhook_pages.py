from __future__ import annotations

import pytest

from jobs.models import WebhookDelivery, WebhookEndpoint
from tests.html_audit import active_content

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def allow_private(settings):
    settings.CONTENTGEN_WEBHOOKS_ALLOW_PRIVATE = True


def test_the_page_adds_an_endpoint_and_shows_its_secret_once(client, user, allow_private):
    client.force_login(user)
    response = client.post(
        "/settings/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["job.completed"]}, **HTMX
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get(user=user)
    html = response.content.decode()
    assert html.strip().startswith('<div id="webhooks"') and endpoint.secret in html
    assert endpoint.secret not in client.get("/settings/webhooks/").content.decode()


def test_the_page_shows_errors_per_field_and_stores_nothing(client, user):
    client.force_login(user)
    response = client.post("/settings/webhooks/", {"url": "http://10.0.0.1/x", "events": []}, **HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert 'id="err-url"' in html and 'id="err-events"' in html
    assert not WebhookEndpoint.objects.exists()


def test_test_disable_and_delete_buttons(client, user, allow_private):
    client.force_login(user)
    client.post("/settings/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["job.failed"]})
    endpoint = WebhookEndpoint.objects.get()
    assert client.post(f"/settings/webhooks/{endpoint.pk}/test", **HTMX).status_code == 200
    assert WebhookDelivery.objects.filter(endpoint=endpoint, event_type="webhook.test").count() == 1
    assert "webhook.test" in client.get("/settings/webhooks/").content.decode()
    client.post(f"/settings/webhooks/{endpoint.pk}/disable")
    endpoint.refresh_from_db()
    assert endpoint.active is False
    assert client.post(f"/settings/webhooks/{endpoint.pk}/delete").status_code == 302
    assert not WebhookEndpoint.objects.exists()


def test_another_users_endpoint_answers_404_on_the_page(client, user, other_user, allow_private):
    client.force_login(user)
    client.post("/settings/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["job.failed"]})
    endpoint = WebhookEndpoint.objects.get()
    client.force_login(other_user)
    assert client.post(f"/settings/webhooks/{endpoint.pk}/delete").status_code == 404
    assert endpoint.url not in client.get("/settings/webhooks/").content.decode()
    assert WebhookEndpoint.objects.exists()


def test_the_page_has_no_inline_script_or_handler(client, user, allow_private):
    client.force_login(user)
    client.post("/settings/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["job.failed"]})
    html = client.get("/settings/webhooks/").content.decode()
    assert "http://127.0.0.1:9/hook" in html  # the page with an endpoint and its buttons
    # Any <script> without a src of our own (with or without a nonce), any on* handler.
    assert active_content(html) == []
