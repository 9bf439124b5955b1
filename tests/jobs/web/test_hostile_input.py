"""Hostile topics, keywords and source text, through the real pipeline (offline model, crewAI, worker),
rendered by every page path: nothing in them may become markup that runs or acts."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.utils.html import escape

from jobs.core.events import complete_event, job_summary
from jobs.models import GenerationJob
from jobs.web.fragments import live_fragments
from tests.hostile import HOSTILE
from tests.html_audit import active_content
from tests.stack import burst_here

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _inputs() -> dict[str, dict[str, Any]]:
    inputs: dict[str, dict[str, Any]] = {
        f"topic:{name}": {"mode": "topic", "topic": f"Gardens {text}"} for name, text in HOSTILE.items()
    }
    inputs["keywords"] = {"mode": "keywords", "keywords": [text[:100] for text in HOSTILE.values()]}
    inputs["spin"] = {
        "mode": "spin",
        "source_text": "\n\n".join(f"Solar panels help. {text} Roofs matter." for text in HOSTILE.values()),
    }
    return inputs


@pytest.fixture
def finished(user: Any, api: Any) -> dict[str, GenerationJob]:
    """Every hostile input as a job created through the API and run to completion by a real worker."""
    ids = {}
    for name, body in _inputs().items():
        response = api.post("/api/jobs/", {**body, "word_count": 150}, format="json")
        assert response.status_code == 201, (name, response.json())
        ids[name] = response.json()["id"]
    burst_here(timeout=110)
    jobs = {name: GenerationJob.objects.get(pk=job_id) for name, job_id in ids.items()}
    assert {job.status for job in jobs.values()} == {GenerationJob.Status.COMPLETED}
    return jobs


def test_hostile_text_renders_inert_on_every_page_path(user: Any, finished: dict[str, GenerationJob]) -> None:
    """Job page, its live fragment, the dashboard and its live rows, and a prompt-injected article."""
    client = Client()
    client.force_login(user)
    problems: dict[str, list[str]] = {}
    for name, job in finished.items():
        page = client.get(f"/jobs/{job.pk}/").content.decode()
        assert str(escape(job.title)) in page, f"{name}: the hostile text should reach the page, as text"
        assert "data-live-src" not in page, f"{name}: a finished job's page opens no stream"
        fragment = live_fragments(view="job", event="complete", data=complete_event(job))
        row = live_fragments(view="dashboard", event="progress", data=job_summary(job))
        found = active_content(page) + active_content(f"<div>{fragment}{row}</div>")
        if found:
            problems[name] = found
        download = client.get(f"/jobs/{job.pk}/article.md")
        assert download.status_code == 200
        assert download["Content-Type"] == "text/markdown; charset=utf-8"
        assert download["Content-Disposition"].startswith("attachment;")
        assert download["X-Content-Type-Options"] == "nosniff"
        assert download.content.decode().endswith(job.result.content.rstrip("\n") + "\n")  # after the front matter
    dashboard = client.get("/").content.decode()
    assert "alert(" in dashboard
    problems["dashboard"] = active_content(dashboard)

    job = finished["spin"]
    job.result.content = "# Title\n\n" + "\n\n".join(HOSTILE.values())
    job.save(update_fields=["result"])
    injected = client.get(f"/jobs/{job.pk}/").content.decode()
    assert "onerror=alert(document.domain)" in injected
    problems["prompt-injected article"] = active_content(injected)
    assert {name: found for name, found in problems.items() if found} == {}
