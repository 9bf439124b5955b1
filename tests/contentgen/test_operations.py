from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token

import contentgen
from jobs.models import GenerationJob
from jobs.ops import metrics
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.json() == {"status": "ok", "version": contentgen.__version__}
    assert response["X-Contentgen-Version"] == contentgen.__version__


def test_readyz_answers_200_when_mongodb_and_redis_answer(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


def test_readyz_answers_503_with_a_stable_code_and_no_exception_text(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "reasons": {"redis": "unreachable"}}
    assert b"127.0.0.1" not in response.content and b"Error" not in response.content


@pytest.fixture
def fresh_counts(monkeypatch):
    monkeypatch.setattr(metrics, "_counts_cache", None)


def test_metrics_are_prometheus_text_with_job_counts_for_staff(client, api, fresh_counts):
    api.post("/api/jobs/", {"mode": "topic", "topic": "Metrics"}, format="json")
    client.force_login(UserFactory(is_staff=True))
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert 'contentgen_jobs{status="queued"} 1.0' in response.content.decode()


def test_metrics_need_the_bearer_token_or_a_staff_session(client, user, settings, fresh_counts):
    settings.CONTENTGEN_METRICS_TOKEN = "s3cret-metrics-token"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token").status_code == 200
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"] == "Bearer"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    client.force_login(user)
    assert client.get("/metrics").status_code == 403


def test_without_a_token_configured_metrics_are_staff_only(client, user, settings, fresh_counts):
    settings.CONTENTGEN_METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401  # no empty token
    client.force_login(user)
    assert client.get("/metrics").status_code == 403
    client.force_login(UserFactory(is_staff=True))
    staff = client.get("/metrics")
    assert staff.status_code == 200 and "contentgen_jobs" in staff.content.decode()


def test_metrics_count_jobs_per_status_and_reuse_the_counts_briefly(client, settings, fresh_counts, monkeypatch):
    """One count per status (each served by the job_queue index); a second scrape within COUNTS_TTL reads none."""
    settings.CONTENTGEN_METRICS_TOKEN = "t"
    counted: list[str] = []
    real_count = metrics._count
    monkeypatch.setattr(metrics, "_count", lambda status: counted.append(status) or real_count(status))
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").status_code == 200
    assert sorted(counted) == sorted(GenerationJob.Status.values)
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").status_code == 200
    assert len(counted) == len(GenerationJob.Status.values)


def test_drf_create_token_and_createsuperuser_noinput_work(monkeypatch, capsys):
    monkeypatch.setitem(os.environ, "DJANGO_SUPERUSER_PASSWORD", "a-long-test-password-42")
    call_command("createsuperuser", "--noinput", username="root", email="root@example.com")
    call_command("drf_create_token", "root")
    assert Token.objects.get(user__username="root").key in capsys.readouterr().out


def test_web_processes_never_import_crewai():
    code = (
        "import os, sys; os.environ['DJANGO_SETTINGS_MODULE'] = 'contentgen.settings';"
        "import contentgen.asgi, jobs.web.pages, jobs.live.views, jobs.live.consumers, jobs.api.views, jobs.admin;"
        "print('crewai' in sys.modules)"
    )
    env = {**__import__("os").environ, "DJANGO_DEBUG": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    assert out.stdout.strip() == "False"
