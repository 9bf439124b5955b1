"""The history and analytics pages in Chromium, with stored work spread over several days."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from jobs.core import events as job_events
from jobs.models import GenerationJob, JobError, Progress
from progress import events
from tests.browser.conftest import CHROMIUM, Stack
from tests.factories import a_result

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("browser"),
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not found on PATH (apt-get install -y chromium)"),
]

TOPICS = ("Solar roofs", "Wind at home", "Heat pumps", "Rain gardens", "Solar water heating")


@pytest.fixture(scope="module")
def stored_work(live_server_stack: Stack, django_db_blocker: Any) -> list[str]:
    """Finished articles over five days (one failed), written straight to the database with their final
    event: none is queued, so the stack's worker leaves them alone."""
    ids = []
    with django_db_blocker.unblock():
        # Outside a `db` test this process's connection names the database the stack uses, which no
        # migration ran on: give its event log the unique index every read hints (idempotent).
        events.collection().create_index([("job_id", 1), ("seq", 1)], name=events.INDEX, unique=True)
        user = get_user_model().objects.get(username=live_server_stack.username)
        for day, topic in enumerate(TOPICS):
            stamp = timezone.now() - dt.timedelta(days=day, hours=1)
            failed = topic == "Heat pumps"
            job = GenerationJob.objects.create(
                user=user,
                mode="topic",
                topic=topic,
                status="failed" if failed else "completed",
                progress=Progress(
                    stage="seo" if failed else "completed",
                    percentage=80 if failed else 100,
                    started_at=stamp,
                    completed_at=stamp + dt.timedelta(seconds=30 + day),
                    elapsed_seconds=30 + day,
                ),
                result=None if failed else a_result(meta_title=topic),
                error=JobError(message="The SEO model timed out", stage="seo") if failed else None,
                stage_timings={s: {"seconds": 10.0 + day} for s in ("research", "writing", "seo")},
                created_at=stamp,
                updated_at=stamp,
            )
            job_events.job_emit(job=job, type="complete")
            ids.append(str(job.pk))
    return ids


def test_history_filters_live_in_the_url_and_rows_link_to_the_job(stored_work: list[str], page: Any) -> None:
    page.goto("/history/")
    rows = page.locator("tbody tr[id^=history-]")
    assert rows.count() >= len(TOPICS)
    page.fill("input[name=q]", "solar")
    page.select_option("select[name=status]", "completed")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/history/?*q=solar*")
    assert "status=completed" in page.url
    titles = page.locator("tbody tr[id^=history-] th a:first-child").all_inner_texts()
    assert sorted(titles) == ["Solar roofs", "Solar water heating"]
    page.select_option("select[name=ordering]", "-duration")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**ordering=-duration*")
    assert page.locator("tbody tr[id^=history-] th a:first-child").all_inner_texts() == [
        "Solar water heating",
        "Solar roofs",
    ]
    page.reload()
    assert page.input_value("input[name=q]") == "solar"
    page.click("text=Solar roofs")
    page.wait_for_url(f"**/jobs/{stored_work[0]}/")
    assert page.locator(".page-head h1").inner_text() == "Solar roofs"


def test_analytics_draws_its_charts_with_data(stored_work: list[str], page: Any) -> None:
    page.goto("/analytics/?mode=topic&days=7")
    section = page.locator("#mode-topic")
    assert section.is_visible()
    charts = section.locator("svg.chart")
    assert charts.count() == 2
    for index in range(2):
        box = charts.nth(index).bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 50
    assert section.locator("svg.chart polyline").count() >= 1
    assert section.locator("svg.chart rect").count() >= len(TOPICS)
    assert "The SEO model timed out" in section.inner_text()
    assert "success 80%" in section.inner_text()
