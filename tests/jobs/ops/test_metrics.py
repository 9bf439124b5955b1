from __future__ import annotations

import re
import subprocess
import sys
import uuid

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobs.ops import metrics as job_metrics
from tests.stack import ROOT, child_env, start_worker, wait_until

pytestmark = pytest.mark.django_db


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text).get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_refuse_anonymous_and_plain_users(client, user):
    assert client.get("/metrics").status_code == 401
    client.force_login(user)
    assert client.get("/metrics").status_code == 403


def test_metrics_accept_the_bearer_token(client, settings):
    settings.CONTENTGEN_METRICS_TOKEN = "scrape-me-please"
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me-please")
    assert response.status_code == 200
    assert "contentgen_jobs" in response.content.decode()


def test_web_metrics_count_published_events(client, api, admin_user, monkeypatch):
    monkeypatch.setattr(job_metrics, "_counts_cache", None)
    client.force_login(admin_user)
    before = value(
        client.get("/metrics").content.decode(),
        "contentgen_events_published_total",
        scope="job",
        type="progress",
    )
    api.post(
        "/api/bulk-jobs/", {"items": [{"mode": "topic", "topic": f"T{i}"} for i in range(3)]}, format="json"
    )
    monkeypatch.setattr(job_metrics, "_counts_cache", None)  # job counts are cached for a few seconds
    after = client.get("/metrics").content.decode()
    assert value(after, "contentgen_events_published_total", scope="job", type="progress") == before + 3
    assert value(after, "contentgen_jobs", status="queued") == 3


@pytest.mark.slow
def test_worker_metrics_port_shows_jobs_started_and_finished_during_a_batch(api):
    api.post(
        "/api/bulk-jobs/",
        {"items": [{"mode": "topic", "topic": f"Batch {i}", "word_count": 100} for i in range(3)]},
        format="json",
    )
    # Port 0: the worker binds a free port itself and logs it, so no other process can take it first.
    worker = start_worker("--metrics-port", "0", log=f"worker-metrics-{uuid.uuid4().hex[:8]}")
    try:
        port = int(
            wait_until(
                lambda: re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", worker.log.read_text()),
                timeout=60,
                what="the worker to log its metrics port",
            ).group(1)
        )

        def scrape() -> str:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.HTTPError:
                return ""

        text = wait_until(
            lambda: (
                (t := scrape())
                and value(t, "contentgen_jobs_finished_total", mode="topic", status="completed") >= 3
                and t
            ),
            timeout=90,
            interval=0.5,
            what="the worker's metrics to count 3 completed jobs",
        )
        assert value(text, "contentgen_jobs_started_total", mode="topic") == 3
        assert value(text, "contentgen_events_published_total", scope="job", type="complete") == 3
        assert value(text, "contentgen_stage_duration_seconds_count", mode="topic", stage="writing") == 3
        assert re.search(r"^contentgen_events_published_total\{", text, re.M)
    finally:
        assert worker.terminate() == 0


@pytest.mark.slow
def test_multiprocess_mode_sums_the_web_processes(tmp_path):
    """Several daphne processes on a host share PROMETHEUS_MULTIPROC_DIR; /metrics sums their counters."""
    env = child_env(PROMETHEUS_MULTIPROC_DIR=str(tmp_path))
    setup = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='contentgen.settings'; django.setup();"
    bump = setup + "from contentgen.metrics import EVENTS_PUBLISHED as e; e.labels('job', 'progress').inc(2)"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", bump], cwd=ROOT, env=env, check=True, timeout=60)
    read = setup + "from contentgen.metrics import exposition; print(exposition(extra=False).decode())"
    out = subprocess.run(
        [sys.executable, "-c", read],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=60,
        capture_output=True,
        text=True,
    )
    assert value(out.stdout, "contentgen_events_published_total", scope="job", type="progress") == 4
