"""History: the API's filters and the /history/ page, and nobody else's work in either."""

from __future__ import annotations

import datetime as dt

import pytest
from bson import ObjectId

from jobs.core import events
from jobs.models import GenerationJob, Progress
from tests.factories import a_result

pytestmark = pytest.mark.django_db

DAY = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def add(
    api, *, topic="", keywords=(), mode="topic", tone="professional", status="completed", day=0, seconds=30.0
):
    body = {"mode": mode, "tone": tone, "word_count": 300}
    if topic:
        body["topic"] = topic
    if keywords:
        body["keywords"] = list(keywords)
    pk = ObjectId(api.post("/api/jobs/", body, format="json").json()["id"])
    stamp = DAY + dt.timedelta(days=day)
    GenerationJob.objects.filter(pk=pk).update(
        status=status,
        created_at=stamp,
        progress=Progress(stage="completed", percentage=100, started_at=stamp, elapsed_seconds=seconds),
        result=a_result(),
    )
    return str(pk)


@pytest.fixture
def history(api, other_api):
    ids = {
        "solar": add(api, topic="Solar roofs", day=0, seconds=40),
        "wind": add(api, topic="Wind at home", tone="casual", status="failed", day=2, seconds=10),
        "kw": add(api, keywords=["heat pump", "insulation"], mode="keywords", day=4, seconds=70),
    }
    ids["other"] = add(other_api, topic="Solar farms", day=1)
    return ids


def listed(api, query: str) -> list[str]:
    response = api.get(f"/api/jobs/?{query}")
    assert response.status_code == 200, response.json()
    return [job["id"] for job in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ["kw", "wind", "solar"]),
        ("status=failed", ["wind"]),
        ("mode=keywords", ["kw"]),
        ("tone=casual", ["wind"]),
        ("created_after=2026-11-22", ["kw", "wind"]),
        ("created_before=2026-11-22", ["wind", "solar"]),
        ("created_after=2026-11-21&created_before=2026-11-23", ["wind"]),
        ("created_after=2026-11-22T12:00:01Z", ["kw"]),
        ("q=solar", ["solar"]),
        ("q=heat pump", ["kw"]),
        ("q=HOME", ["wind"]),
        ("ordering=created_at", ["solar", "wind", "kw"]),
        ("ordering=-duration", ["kw", "solar", "wind"]),
        ("ordering=duration&status=completed", ["solar", "kw"]),
        ("created_after=&created_before=&q=", ["kw", "wind", "solar"]),
        ("created_after=%20&q=%20%20&status=failed", ["wind"]),
    ],
    ids=lambda value: value if isinstance(value, str) else "-".join(value),
)
def test_the_job_list_filters(api, history, query, expected):
    assert listed(api, query) == [history[name] for name in expected]


def test_bad_filters_answer_400_with_a_message_per_field(api, history):
    response = api.get("/api/jobs/?status=lost&mode=poem&created_after=yesterday&ordering=size&tone=grim")
    assert response.status_code == 400
    body = response.json()
    assert set(body) >= {"status", "mode", "created_after", "ordering", "tone"}
    assert "ordering must be one of" in body["ordering"][0]
    # No schema can require created_before after created_after: an empty range simply matches nothing.
    assert listed(api, "created_after=2026-11-25&created_before=2026-11-21") == []
    assert listed(api, "created_after=2026-11-22&created_before=2026-11-22T00:00:00Z") == []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("created_after=0001-01-01T00:00:00%2B05:00", ["kw", "wind", "solar"]),
        ("created_before=9999-12-31", ["kw", "wind", "solar"]),
        ("created_after=9999-12-31T23:59:59-23:59", []),
    ],
    ids=["before-the-first-moment", "the-last-day", "after-the-last-moment"],
)
def test_dates_at_the_ends_of_the_calendar_are_clamped(api, history, query, expected):
    assert listed(api, query) == [history[name] for name in expected]


def test_a_well_formed_but_impossible_date_answers_400(api, history):
    response = api.get("/api/jobs/?created_after=2026-02-30&created_before=2026-13-01")
    assert response.status_code == 400
    assert set(response.json()) == {"created_after", "created_before"}


@pytest.mark.parametrize("name", ["status", "mode", "tone", "ordering", "bulk_job", "page"])
def test_a_blank_choice_batch_or_page_answers_400(api, history, name):
    # The schema gives these an enum, a pattern or a type a blank does not meet; free text may be blank.
    response = api.get(f"/api/jobs/?{name}=&q=")
    assert response.status_code == 400
    assert set(response.json()) == {name}


def test_the_history_page_filters_through_the_url_and_shows_only_my_work(client, user, history):
    client.force_login(user)
    page = client.get("/history/").content.decode()
    assert all(f'id="history-{history[k]}"' in page for k in ("solar", "wind", "kw"))
    assert history["other"] not in page and "Solar farms" not in page
    page = client.get("/history/?q=solar").content.decode()
    assert f'id="history-{history["solar"]}"' in page and history["wind"] not in page
    page = client.get("/history/?mode=keywords&ordering=-duration").content.decode()
    assert f'id="history-{history["kw"]}"' in page and history["solar"] not in page
    assert '<option value="keywords" selected>' in page


def test_the_history_page_shows_duration_attempts_and_scores(client, user, history):
    client.force_login(user)
    page = client.get("/history/?q=solar").content.decode()
    row = page[page.index(f'id="history-{history["solar"]}"') :].split("</tr>")[0]
    assert f'href="/jobs/{history["solar"]}/"' in row
    for cell in ("40s", ">0<", ">310<", ">70<", ">60<"):
        assert cell in row.replace(" ", ""), (cell, row)


def test_the_history_page_paginates_keeping_the_filters(client, user, api):
    for day in range(27):
        add(api, topic=f"Garden {day}", mode="trends", day=day % 5)
    client.force_login(user)
    page = client.get("/history/?mode=trends").content.decode()
    assert "Page 1 of 2" in page and 'href="?mode=trends&amp;page=2"' in page
    second = client.get("/history/?mode=trends&page=2").content.decode()
    assert second.count('id="history-') == 2


def test_a_bad_filter_on_the_page_is_reported_and_the_rest_still_apply(client, user, history):
    client.force_login(user)
    response = client.get("/history/?created_after=soon&mode=keywords")
    assert response.status_code == 400
    page = response.content.decode()
    assert "created_after must be a date" in page
    assert f'id="history-{history["kw"]}"' in page and history["solar"] not in page


def test_the_job_timeline_marks_events_within_a_stage_as_minor(client, user, api):
    pk = ObjectId(api.post("/api/jobs/", {"mode": "topic", "topic": "Ponds"}, format="json").json()["id"])
    job = GenerationJob.objects.get(pk=pk)
    for stage, message in [
        ("research", "Researching"),
        ("research", "Reading sources"),
        ("writing", "Drafting"),
    ]:
        job.status = "processing"
        job.progress.stage, job.progress.message = stage, message
        events.job_emit(job=job)
    client.force_login(user)
    page = client.get(f"/jobs/{pk}/").content.decode()
    classes = {
        message: page[: page.index(f"<span>{message}</span>")].rsplit("<li ", 1)[1]
        for message in ("Researching", "Reading sources", "Drafting")
    }
    assert "event-minor" in classes["Reading sources"]
    assert "event-minor" not in classes["Researching"] and "event-minor" not in classes["Drafting"]
    assert 'id="show-all-events"' in page
