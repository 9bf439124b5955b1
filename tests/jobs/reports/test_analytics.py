"""Analytics: figures per mode from stored jobs and their progress history; staff see everyone."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework.test import APIClient

from jobs.core import events
from jobs.models import GenerationJob, JobError
from jobs.reports import charts
from tests.factories import JobFactory, a_result

pytestmark = pytest.mark.django_db


def ran(
    job: GenerationJob, *, seconds: float, eta_off: float, status: str = "completed", error: str = ""
) -> None:
    """A job that ran `seconds`, whose estimates were `eta_off` seconds late at every step."""
    start = timezone.now() - dt.timedelta(hours=1)
    end = start + dt.timedelta(seconds=seconds)
    job.status = "processing"
    job.progress.started_at = start
    for pct in (10, 30, 55, 80):
        job.progress.percentage = pct
        job.progress.estimated_completion = end + dt.timedelta(seconds=eta_off)
        events.job_emit(job=job)
    job.progress.completed_at, job.progress.percentage = end, 100
    GenerationJob.objects.filter(pk=job.pk).update(
        status=status,
        result=a_result() if status == "completed" else None,
        error=JobError(message=error, stage="seo") if error else None,
        progress=job.progress,
        stage_timings={
            "research": {"seconds": seconds * 0.3},
            "writing": {"seconds": seconds * 0.5},
            "seo": {"seconds": seconds * 0.2},
        },
    )


@pytest.fixture
def work(user, other_user):
    ran(JobFactory(user=user), seconds=100, eta_off=10)
    ran(JobFactory(user=user), seconds=200, eta_off=40)
    ran(JobFactory(user=user), seconds=50, eta_off=0, status="failed", error="OPENAI_API_KEY is not set")
    ran(JobFactory(user=other_user), seconds=80, eta_off=0, status="failed", error="someone else's secret")


def topic(body: dict) -> dict:
    (entry,) = [m for m in body["modes"] if m["mode"] == "topic"]
    return entry


def test_the_api_gives_rates_errors_stage_durations_and_eta_accuracy_for_my_jobs(api, work):
    response = api.get("/api/analytics/?days=7")
    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "mine"
    entry = topic(body)
    assert entry["jobs"] == 3 and entry["counts"]["completed"] == 2
    assert entry["success_rate"] == round(2 / 3, 3) and entry["failure_rate"] == round(1 / 3, 3)
    assert entry["top_errors"] == [{"stage": "seo", "message": "OPENAI_API_KEY is not set", "count": 1}]
    (day,) = entry["days"]
    assert day["completed"] == 2 and day["failed"] == 1
    assert day["stages"]["writing"]["median"] == 50.0
    assert day["stages"]["research"]["p90"] == pytest.approx(54.0)
    # 10 s late on 100 s and 40 s late on 200 s: errors 0.10 and 0.20, median 0.15.
    assert entry["eta_accuracy"] == {
        "jobs": 2,
        "median_error_at_25": 0.15,
        "median_error_at_50": 0.15,
        "median_error_at_75": 0.15,
    }


def test_staff_see_everyones_jobs(work, db):
    staff = get_user_model().objects.create_user("ops", password="pw-for-tests-only", is_staff=True)
    client = APIClient()
    client.force_authenticate(staff)
    entry = topic(client.get("/api/analytics/").json())
    assert entry["jobs"] == 4
    assert {e["message"] for e in entry["top_errors"]} == {
        "OPENAI_API_KEY is not set",
        "someone else's secret",
    }


def test_bad_parameters_answer_400(api):
    response = api.get("/api/analytics/?days=12&mode=poem")
    assert response.status_code == 400 and set(response.json()) == {"days", "mode"}


def test_the_page_draws_svg_charts_and_never_shows_others_work(client, user, work):
    client.force_login(user)
    page = client.get("/analytics/?mode=topic").content.decode()
    assert page.count("<svg") == 2 and "<circle" in page and "<rect" in page
    assert "OPENAI_API_KEY is not set" in page and "someone else" not in page
    assert "67%" in page


def test_each_chart_has_its_figures_as_a_table(client, user, work):
    client.force_login(user)
    page = client.get("/analytics/?mode=topic").content.decode()
    assert page.count('<figure class="chart-figure">') == 2
    assert page.count('<details class="chart-data">') == 2
    assert "<summary>topic: articles per day (table)</summary>" in page
    table = page.split("<summary>topic: articles per day (table)</summary>")[1].split("</table>")[0]
    assert '<th scope="col">completed</th><th scope="col">failed</th>' in table
    assert re.search(r'<tr><th scope="row">\d{4}-\d{2}-\d{2}</th><td>2</td><td>1</td></tr>', table), table


def test_a_chart_table_marks_a_missing_value():
    html = str(charts.data_table("t", ["2026-01-01", "2026-01-02"], {"median": [1.25, None]}))
    assert '<tr><th scope="row">2026-01-01</th><td>1.2</td></tr>' in html
    assert '<tr><th scope="row">2026-01-02</th><td>–</td></tr>' in html
