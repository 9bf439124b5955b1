from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from jobs.core.batches import bulk_snapshot
from jobs.core.events import complete_event, job_summary, progress_event
from jobs.core.leases import job_claim
from jobs.models import BulkJob, GenerationJob, JobError, Result, Stage
from jobs.runtime.tracker import ProgressTracker
from jobs.web.fragments import draft_text, live_fragments
from tests.factories import BulkFactory, JobFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def logged_in(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


@pytest.fixture
def job(user: Any) -> GenerationJob:
    return JobFactory(user=user, word_count=1000)


@pytest.fixture
def bulk(user: Any) -> BulkJob:
    return BulkFactory(user=user, size=3, word_count=1000)


def running(job: GenerationJob, *, percentage: float = 45.0) -> GenerationJob:
    job.status = GenerationJob.Status.PROCESSING
    job.progress.stage = Stage.WRITING
    job.progress.percentage = percentage
    job.progress.stage_progress = 35.0
    job.progress.message = "Writing: 350 of 1000 words"
    job.stage_timings = {"research": {"completed_at": "2026-01-01T00:00:10+00:00", "seconds": 9.5}}
    return job


def completed(job: GenerationJob, content: str = "# Title\n\nBody text.") -> GenerationJob:
    job.status = GenerationJob.Status.COMPLETED
    job.progress.stage = Stage.COMPLETED
    job.progress.percentage = 100.0
    job.progress.message = "Article ready"
    job.result = Result(
        content=content,
        meta_title="Composting at home",
        meta_description="How to compost in a small flat.",
        word_count=812,
        seo_score=87,
        readability_score=64.2,
    )
    return job


def first_progressbar(html: str) -> str:
    match = re.search(r"<[^>]*role=\"progressbar\"[^>]*>", html)
    assert match, "no progressbar"
    return match.group(0)


def ids(html: str) -> list[str]:
    return re.findall(r"<(?:\w+)[^>]*\sid=\"([^\"]+)\"", html)


@pytest.mark.parametrize("path", ["/", "/jobs/{job}/", "/bulk/{bulk}/"])
def test_pages_require_login(client: Client, job: GenerationJob, bulk: BulkJob, path: str) -> None:
    response = client.get(path.format(job=job.pk, bulk=bulk.pk))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_new_job_requires_login(client: Client) -> None:
    response = client.post("/jobs/new", {"mode": "topic", "topic": "x"})
    assert response.status_code == 302
    assert not GenerationJob.objects.exists()


@pytest.mark.parametrize("path", ["/jobs/{id}/", "/bulk/{id}/"])
def test_another_users_job_or_batch_is_404(client: Client, other_user: Any, path: str) -> None:
    theirs_job = JobFactory(user=other_user, topic="Theirs")
    theirs_bulk = BulkFactory(user=other_user, size=1, topic="Theirs")

    client.force_login(UserFactory())
    target = theirs_job.pk if path.startswith("/jobs") else theirs_bulk.pk
    assert client.get(path.format(id=target)).status_code == 404


@pytest.mark.parametrize("path", ["/jobs/not-an-id/", "/bulk/123/", "/jobs/5f0000000000000000000001/", "/bulk/5f0000000000000000000002/"])
def test_malformed_or_missing_ids_are_404(logged_in: Client, path: str) -> None:
    assert logged_in.get(path).status_code == 404


def test_dashboard_lists_my_jobs_and_batches_with_live_bars(logged_in: Client, job: GenerationJob, bulk: BulkJob) -> None:
    html = logged_in.get("/").content.decode()
    assert f'id="job-{job.pk}"' in html
    assert f'id="bulk-{bulk.pk}"' in html
    assert 'data-live-src="/live"' in html
    assert 'id="dashboard-jobs"' in html and 'id="dashboard-batches"' in html
    for name in ("mode", "topic", "keywords", "source_text", "word_count", "tone"):
        assert f'name="{name}"' in html


def test_form_creates_a_job_and_redirects_to_it(logged_in: Client, user: Any) -> None:
    response = logged_in.post(
        "/jobs/new",
        {"mode": "keywords", "keywords": "worm bin, bokashi\nbalcony compost", "word_count": "800", "tone": "casual"},
    )
    job = GenerationJob.objects.get(user=user)
    assert response.status_code == 302
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert job.mode == "keywords"
    assert job.keywords == ["worm bin", "bokashi", "balcony compost"]
    assert job.word_count == 800
    assert job.tone == "casual"


def test_form_with_htmx_answers_hx_redirect(logged_in: Client, user: Any) -> None:
    response = logged_in.post("/jobs/new", {"mode": "topic", "topic": "Bees"}, HTTP_HX_REQUEST="true")
    job = GenerationJob.objects.get(user=user)
    assert response["HX-Redirect"] == f"/jobs/{job.pk}/"


def test_form_errors_are_shown_per_field_and_nothing_is_stored(logged_in: Client) -> None:
    response = logged_in.post("/jobs/new", {"mode": "topic", "topic": "x" * 301, "word_count": "50", "tone": "angry"})
    html = response.content.decode()
    assert response.status_code == 400
    assert 'id="err-topic"' in html and "topic must be at most 300 characters." in html
    assert 'id="err-word_count"' in html and "word_count must be between 100 and 5000." in html
    assert 'id="err-tone"' in html and "tone must be one of" in html
    assert 'value="50"' in html, "the form keeps what was typed"
    assert not GenerationJob.objects.exists()


def test_form_errors_with_htmx_rerender_only_the_form(logged_in: Client) -> None:
    response = logged_in.post("/jobs/new", {"mode": "spin"}, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 400
    assert html.lstrip().startswith('<section id="job-form-card"')
    assert "source_text is required for spin mode" in html
    assert not GenerationJob.objects.exists()


def test_batch_textarea_creates_one_job_per_line(logged_in: Client, user: Any) -> None:
    response = logged_in.post(
        "/bulk/new", {"topics": "Bees\n\nWasps\nAnts\n", "mode": "topic", "word_count": "600", "tone": "friendly"}
    )
    bulk = BulkJob.objects.get(user=user)
    assert response.status_code == 302
    assert response["Location"] == f"/bulk/{bulk.pk}/"
    jobs = list(GenerationJob.objects.filter(bulk_job=bulk).order_by("created_at"))
    assert sorted(j.topic for j in jobs) == ["Ants", "Bees", "Wasps"]
    assert {(j.word_count, j.tone) for j in jobs} == {(600, "friendly")}


def test_batch_csv_upload_creates_the_rows(logged_in: Client, user: Any) -> None:
    csv_file = SimpleUploadedFile(
        "batch.csv",
        b"mode,topic,keywords,word_count,tone\ntopic,Bees,,700,casual\nkeywords,,worm bin;bokashi|compost,,\n",
        content_type="text/csv",
    )
    response = logged_in.post("/bulk/new", {"csv_file": csv_file, "mode": "topic", "word_count": "900"})
    assert response.status_code == 302
    jobs = {j.mode: j for j in GenerationJob.objects.filter(user=user)}
    assert (jobs["topic"].topic, jobs["topic"].word_count, jobs["topic"].tone) == ("Bees", 700, "casual")
    assert jobs["keywords"].keywords == ["worm bin", "bokashi", "compost"]
    assert jobs["keywords"].word_count == 900


def test_batch_csv_with_a_bad_row_names_the_row_and_stores_nothing(logged_in: Client) -> None:
    csv_file = SimpleUploadedFile(
        "batch.csv", b"mode,topic,word_count\ntopic,Bees,700\ntopic,,700\ntopic,Ants,99\n", content_type="text/csv"
    )
    response = logged_in.post("/bulk/new", {"csv_file": csv_file})
    html = response.content.decode()
    assert response.status_code == 400
    assert "Row 3: topic: topic is required for topic mode." in html
    assert "Row 4: word_count: word_count must be between 100 and 5000." in html
    assert not GenerationJob.objects.exists() and not BulkJob.objects.exists()


def test_batch_csv_with_unknown_columns_is_refused(logged_in: Client) -> None:
    csv_file = SimpleUploadedFile("b.csv", b"title\nBees\n", content_type="text/csv")
    response = logged_in.post("/bulk/new", {"csv_file": csv_file})
    assert response.status_code == 400
    assert "Unknown CSV column(s): title" in response.content.decode()


def test_empty_batch_is_refused(logged_in: Client) -> None:
    response = logged_in.post("/bulk/new", {"topics": "  \n"})
    assert response.status_code == 400
    assert not BulkJob.objects.exists()


def test_job_page_first_progressbar_is_the_overall_bar(logged_in: Client, job: GenerationJob) -> None:
    running(job, percentage=45.6).save()
    html = logged_in.get(f"/jobs/{job.pk}/").content.decode()
    bar = first_progressbar(html)
    assert 'aria-label="Overall progress"' in bar
    assert 'aria-valuenow="45"' in bar
    assert 'aria-valuemin="0"' in bar and 'aria-valuemax="100"' in bar
    assert f'data-live-src="/jobs/{job.pk}/live?last_event_id=1"' in html
    assert "<title>45% · Writing · contentgen</title>" in html


def test_job_page_shows_every_stage_and_the_events(logged_in: Client, job: GenerationJob) -> None:
    running(job).save()
    html = logged_in.get(f"/jobs/{job.pk}/").content.decode()
    for label in ("Research stage", "Writing stage", "SEO stage"):
        assert f'aria-label="{label}"' in html
    assert 'id="job-events"' in html
    assert "Queued for generation" in html


def test_completed_job_page_renders_the_article_escaping_raw_html(logged_in: Client, job: GenerationJob) -> None:
    completed(job, "# Hello\n\n<script>alert(1)</script> and [x](javascript:alert(1))").save()
    html = logged_in.get(f"/jobs/{job.pk}/").content.decode()
    assert "<h1>Hello</h1>" in html
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "href=\"javascript:" not in html
    assert "Composting at home" in html
    assert '<span class="score-value">87<small>/100</small></span><span class="score-label">SEO score</span>' in html
    assert "data-live-src" not in html


def test_failed_job_page_shows_the_alert(logged_in: Client, job: GenerationJob) -> None:
    job.status = GenerationJob.Status.FAILED
    job.progress.stage = Stage.WRITING
    job.error = JobError(message="OPENAI_API_KEY is not set", stage="writing")
    job.save()
    html = logged_in.get(f"/jobs/{job.pk}/").content.decode()
    # The page's one live region says it (live.js, from data-announce); the alert is no second region.
    assert 'data-announce="Generation failed in the Writing stage. OPENAI_API_KEY is not set"' in html
    assert 'role="alert"' not in html
    assert "Generation failed in the Writing stage" in html
    assert "OPENAI_API_KEY is not set" in html
    assert f'hx-post="/api/jobs/{job.pk}/retry/"' in html


def test_bulk_page_shows_counts_rows_and_stage_cells(logged_in: Client, bulk: BulkJob) -> None:
    html = logged_in.get(f"/bulk/{bulk.pk}/").content.decode()
    assert "0 of 3" in html
    assert "<title>0 of 3 · contentgen</title>" in html
    for job in GenerationJob.objects.filter(bulk_job=bulk):
        assert f'id="job-{job.pk}"' in html
        assert f'href="/jobs/{job.pk}/"' in html
        for stage in ("research", "writing", "seo"):
            assert f'id="job-{job.pk}-{stage}"' in html
    assert 'aria-label="Batch progress"' in first_progressbar(html)


def test_live_job_progress_fragment(job: GenerationJob) -> None:
    html = live_fragments(view="job", event="progress", data=progress_event(running(job, percentage=42.0)))
    assert {"job-progress", "job-status", "job-actions", "job-stages"} <= set(ids(html))
    assert 'aria-valuenow="42"' in first_progressbar(html)
    assert 'data-title="42% · Writing · contentgen"' in html
    assert 'data-live-append="job-events"' in html
    assert "job-result" not in ids(html)


def test_live_job_complete_fragment_renders_the_result_from_the_event(job: GenerationJob) -> None:
    data = complete_event(completed(job, "## Part\n\n```\ncode\n    indented\n```\n\n<b>raw</b>"))
    html = live_fragments(view="job", event="complete", data=data)
    assert "job-result" in ids(html)
    assert 'aria-valuenow="100"' in first_progressbar(html)
    assert "<h2>Part</h2>" in html
    assert "&lt;b&gt;raw&lt;/b&gt;" in html and "<b>raw</b>" not in html
    collapsed = " ".join(html.split())
    assert "code&#10; &#32;&#32;&#32;indented" in collapsed, "code blocks survive the stream's whitespace collapse"


def test_live_fragments_do_not_touch_the_database(job: GenerationJob, django_assert_num_queries: Any) -> None:
    data = complete_event(completed(running(job)))
    with django_assert_num_queries(0):
        live_fragments(view="job", event="complete", data=data)
        live_fragments(view="dashboard", event="progress", data=data)


def test_live_bulk_fragment(bulk: BulkJob) -> None:
    member = GenerationJob.objects.filter(bulk_job=bulk).first()
    assert member is not None

    data = {**bulk_snapshot(bulk), "job": job_summary(running(member)), "percentage": 15.0}
    html = live_fragments(view="bulk", event="progress", data=data)
    found = set(ids(html))
    assert {"bulk-summary", f"job-{member.pk}", f"job-{member.pk}-writing", f"job-{member.pk}-overall"} <= found
    assert 'aria-valuenow="15"' in first_progressbar(html)
    assert 'data-title="0 of 3 · contentgen"' in html


def test_live_bulk_fragment_lists_a_failure(bulk: BulkJob) -> None:
    member = GenerationJob.objects.filter(bulk_job=bulk).first()
    assert member is not None
    member.status = GenerationJob.Status.FAILED
    member.error = JobError(message="model timed out", stage="seo")

    html = live_fragments(view="bulk", event="progress", data={**bulk_snapshot(bulk), "job": job_summary(member)})
    assert f'id="failure-{member.pk}"' in html and 'data-live-append="bulk-failures"' in html
    assert "model timed out" in html


def test_live_dashboard_fragments_for_a_job_and_a_batch(job: GenerationJob, bulk: BulkJob) -> None:
    html = live_fragments(view="dashboard", event="progress", data=progress_event(running(job, percentage=70.0)))
    assert ids(html)[0] == f"job-{job.pk}"
    assert 'data-live-prepend="dashboard-jobs"' in html
    assert 'aria-valuenow="70"' in first_progressbar(html)
    assert "data-live-keep" in html, "the event has no title: the row keeps the page's"

    html = live_fragments(view="dashboard", event="progress", data=bulk_snapshot(bulk))
    assert ids(html)[0] == f"bulk-{bulk.pk}"
    assert 'data-live-prepend="dashboard-batches"' in html
    assert "0 of 3 completed" in html


def queued_event(job: GenerationJob, *, starts_in: float | None, finishes_in: float | None) -> dict[str, Any]:
    """A queued job's event with the queue forecast, `starts_in` / `finishes_in` seconds after the event."""
    data = progress_event(job)
    stamp = dt.datetime(2026, 11, 29, 10, 0, 0, tzinfo=dt.UTC)
    data["timestamp"] = stamp.isoformat()
    for name, offset in (("estimated_start", starts_in), ("estimated_completion", finishes_in)):
        at = None if offset is None else stamp + dt.timedelta(seconds=offset)
        data["progress"][name] = at.isoformat() if at else None
    return data


def test_live_fragments_for_a_queued_job_show_when_it_starts(job: GenerationJob) -> None:
    data = queued_event(job, starts_in=300, finishes_in=1500)
    start, eta = data["progress"]["estimated_start"], data["progress"]["estimated_completion"]
    assert data["status"] == "queued"

    html = live_fragments(view="job", event="progress", data=data)
    assert f'data-starts-in="{start}"' in html, "live.js recomputes the countdown from the forecast"
    assert "Starts in about 5 min" in html
    assert f'<time data-local-time datetime="{start}">10:05:00 UTC</time>' in html
    assert f'<time data-local-time datetime="{eta}">10:25:00 UTC</time>' in html, "the finish ETA as well"
    assert f'data-eta-left="{eta}"' in html

    html = live_fragments(view="dashboard", event="progress", data=data)
    assert f'data-starts-in="{start}"' in html and "starts in about 5 min" in html
    assert f'ready by <time data-local-time datetime="{eta}">10:25:00 UTC</time>' in html


def test_live_fragments_for_a_queued_job_soon_or_without_a_worker(job: GenerationJob) -> None:
    soon = live_fragments(view="job", event="progress", data=queued_event(job, starts_in=20, finishes_in=600))
    assert "Starts in under a minute" in soon
    waiting = queued_event(job, starts_in=None, finishes_in=None)
    for view, text in (("job", "Waiting for a worker"), ("dashboard", "waiting for a worker")):
        html = live_fragments(view=view, event="progress", data=waiting)
        assert 'data-starts-in=""' in html and text in html
        assert "ready by" not in html


def test_no_start_forecast_once_a_job_runs(job: GenerationJob) -> None:
    data = progress_event(running(job))
    for view in ("job", "dashboard"):
        assert "data-starts-in" not in live_fragments(view=view, event="progress", data=data)


def test_dashboard_first_render_shows_the_queue_forecast(logged_in: Client, job: GenerationJob) -> None:
    # Whole milliseconds, as MongoDB keeps them: the page's attribute is the stored time, to the microsecond.
    starts = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10, seconds=20)).replace(microsecond=123000)
    job.progress.estimated_start = starts
    job.progress.estimated_completion = starts + dt.timedelta(minutes=20)
    job.save()
    for path in ("/", f"/jobs/{job.pk}/"):
        html = logged_in.get(path).content.decode()
        assert re.search(r"[Ss]tarts in about 10 min", html), path
        assert f'data-starts-in="{starts.isoformat(timespec="microseconds")}"' in html, path


def _draft_event(offset: int, text: str) -> dict[str, Any]:
    return {"type": "progress", "data": {"draft": {"offset": offset, "text": text}}}


def test_the_draft_is_rebuilt_from_the_log_and_restarts_with_a_new_attempt() -> None:
    first = [_draft_event(0, "# Old\n\nGone"), {"type": "progress", "data": {}}, _draft_event(11, " too")]
    assert draft_text(first) == "# Old\n\nGone too"
    again = [*first, _draft_event(0, "# New\n\n"), _draft_event(7, "Body"), _draft_event(7, "Body")]
    assert draft_text(again) == "# New\n\nBody"


def test_a_draft_chunk_appends_to_the_draft_and_offset_zero_replaces_it(job: GenerationJob) -> None:
    data = {**progress_event(running(job)), "draft": {"offset": 40, "text": "<b>bold</b>\nnext"}}
    html = live_fragments(view="job", event="progress", data=data)
    assert 'id="draft-40" data-live-append="job-draft"' in html
    assert "&lt;b&gt;bold&lt;/b&gt;&#10;next" in html
    restart = live_fragments(view="job", event="progress", data={**data, "draft": {"offset": 0, "text": "# T"}})
    assert '<div id="job-draft"' in restart and 'id="draft-0"' in restart
    assert "draft-" not in live_fragments(view="job", event="progress", data=progress_event(running(job)))


def test_a_running_job_page_shows_the_draft_so_far_and_a_completed_one_hides_it(
    logged_in: Client, job: GenerationJob
) -> None:
    claimed = job_claim(worker_id="w")
    assert claimed and claimed[0].pk == job.pk
    tracker = ProgressTracker(claimed[0], worker_id="w", last_seq=1)
    tracker.stage_started("writing", "Writing")
    tracker.stage_progress("writing", 10.0, "Writing", "# Composting\n\nWorms ")
    tracker._flush(force=True)
    tracker.stage_progress("writing", 20.0, "Writing", "eat <scraps>.")
    tracker._flush(force=True)
    html = logged_in.get(f"/jobs/{job.pk}/").content.decode()
    assert "# Composting&#10;&#10;Worms eat &lt;scraps&gt;." in html
    completed(job).save()
    html = logged_in.get(f"/jobs/{job.pk}/").content.decode()
    assert re.search(r'<section id="job-draft-card"[^>]*hidden', html)


def test_the_overall_bar_says_its_stage_and_time_left(job: GenerationJob) -> None:
    job = running(job, percentage=45.0)
    data = progress_event(job)
    stamp = dt.datetime.fromisoformat(data["timestamp"])
    data["progress"]["estimated_completion"] = (stamp + dt.timedelta(minutes=2)).isoformat()
    html = live_fragments(view="job", event="progress", data=data)
    assert 'aria-valuetext="45%, writing, about 2 minutes left"' in first_progressbar(html)
    assert 'aria-valuetext="35%, running"' in html, "a stage's bar says its state"


def test_the_job_page_announces_stages_and_endings_not_percentages(job: GenerationJob) -> None:
    first = live_fragments(view="job", event="progress", data=progress_event(running(job, percentage=40.0)))
    later = live_fragments(view="job", event="progress", data=progress_event(running(job, percentage=55.0)))
    assert 'data-announce="Writing stage started."' in first
    assert 'data-announce="Writing stage started."' in later, "the same stage says the same, so once"
    done = live_fragments(view="job", event="complete", data=complete_event(completed(job)))
    assert 'data-announce="Your article is ready."' in done
    assert 'aria-valuetext="100%, completed"' in first_progressbar(done)
    assert 'role="status"' not in first, "the page's one live region is #live-announcer, outside the fragments"


def test_a_batch_announces_its_end_and_its_failures(bulk: BulkJob) -> None:
    data = {**bulk_snapshot(bulk), "counts": {"completed": 1, "failed": 1, "queued": 1}, "finished": 2}
    html = live_fragments(view="bulk", event="progress", data=data)
    assert 'data-announce="1 article of this batch failed."' in html
    assert 'aria-valuetext="0%, 2 of 3 finished"' in first_progressbar(html)
    data = {**data, "counts": {"completed": 2, "failed": 1}, "finished": 3, "status": "completed"}
    html = live_fragments(view="bulk", event="complete", data=data)
    assert 'data-announce="Batch finished: 2 of 3 completed, 1 failed."' in html


def test_every_page_has_one_live_region_and_a_way_past_the_header(logged_in: Client, job: GenerationJob) -> None:
    html = logged_in.get(f"/jobs/{job.pk}/").content.decode()
    assert html.count('id="live-announcer"') == 1
    assert 'role="status" aria-live="polite"' in html.split('id="live-announcer"')[1].split(">")[0]
    assert '<a class="skip-link" href="#main">' in html and '<main id="main"' in html


REPORT = [
    {
        "id": "keyphrase_in_introduction",
        "group": "seo",
        "status": "good",
        "score": 9,
        "message": "Intro fine.",
    },
    {
        "id": "keyphrase_density",
        "group": "seo",
        "status": "problem",
        "score": 0,
        "message": "Cut it to 6 uses.",
    },
    {"id": "text_length", "group": "seo", "status": "ok", "score": 6, "message": "Add about 90 words."},
    {
        "id": "sentence_length",
        "group": "readability",
        "status": "good",
        "score": 9,
        "message": "Short enough.",
    },
]


def test_a_completed_job_page_lists_the_seo_report_in_two_groups_problems_first(
    logged_in: Client, job: GenerationJob
) -> None:
    done = completed(job)
    assert done.result is not None
    done.result.seo_report = REPORT
    done.save()
    html = " ".join(logged_in.get(f"/jobs/{job.pk}/").content.decode().split())
    seo, readability = re.findall(r"<details class=\"seo-group\"( open)?>.*?</details>", html)
    assert seo == " open" and readability == "", "a group with a problem opens; the other stays closed"
    seo_html = html[html.index('<span class="seo-group-name">SEO</span>') :]
    order = [seo_html.index(text) for text in ("Cut it to 6 uses.", "Add about 90 words.", "Intro fine.")]
    assert order == sorted(order)
    assert (
        '<span class="seo-status">Problem</span><span class="seo-text"><strong>Keyphrase density.</strong>'
        in html
    )
    assert (
        '<span class="seo-status">Improve</span>' in html and '<span class="seo-status">Good</span>' in html
    )
    assert "1 problem · 1 to improve · 1 good" in html


def test_the_live_complete_fragment_carries_the_seo_report_and_a_derived_meta(job: GenerationJob) -> None:
    done = completed(job)
    assert done.result is not None
    done.result.seo_report = REPORT
    done.result.meta_derived = True
    html = live_fragments(view="job", event="complete", data=complete_event(done))
    assert 'id="seo-report"' in html and "Cut it to 6 uses." in html
    assert "derived from the article" in html


def test_a_hostile_verdict_message_reaches_the_page_escaped(logged_in: Client, job: GenerationJob) -> None:
    done = completed(job)
    assert done.result is not None
    done.result.seo_report = [
        {"id": "<b>x</b>", "group": "seo", "status": "problem", "score": 0, "message": "<img src=x onerror=alert(1)>"}
    ]
    done.save()
    html = logged_in.get(f"/jobs/{job.pk}/").content.decode()
    assert "<img src=x" not in html and "<b>x</b>" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
