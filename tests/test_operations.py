from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

pytestmark = pytest.mark.django_db


def test_healthz_answers_ok(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_answers_200_when_mongodb_and_redis_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_readyz_answers_503_with_a_reason_when_redis_is_down(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "Redis is not reachable" in response.json()["reasons"]["redis"]
    assert "mongodb" not in response.json()["reasons"]


def test_metrics_are_prometheus_text_with_job_counts(client, api):
    api.post("/api/jobs/", {"mode": "topic", "topic": "Metrics"}, format="json")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert 'contentgen_jobs{status="queued"} 1' in response.content.decode()


def test_drf_create_token_and_createsuperuser_noinput_work(monkeypatch, capsys):
    monkeypatch.setitem(os.environ, "DJANGO_SUPERUSER_PASSWORD", "a-long-test-password-42")
    call_command("createsuperuser", "--noinput", username="root", email="root@example.com")
    call_command("drf_create_token", "root")
    assert Token.objects.get(user__username="root").key in capsys.readouterr().out


def test_web_processes_never_import_crewai():
    code = (
        "import os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'contentgen.settings';"
        "import contentgen.asgi, jobs.pages, jobs.sse_views, jobs.consumers, jobs.apis, jobs.admin;"
        "print('crewai' in sys.modules)"
    )
    env = {**__import__("os").environ, "DJANGO_DEBUG": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    assert out.stdout.strip() == "False"
