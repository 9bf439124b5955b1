"""The ETA estimator on synthetic histories (pure logic), and one integration test of a queued job's ETA."""

from __future__ import annotations

import datetime as dt

import pytest
from bson import ObjectId

from jobs.core import forecast
from jobs.core.eta import PRIORS, Estimator, History, Smoother, StageModel, fit_stage
from jobs.core.forecast import forecast_lanes
from jobs.models import GenerationJob, Progress
from progress import ttlcache
from tests.factories import BulkFactory
from tests.stack import EventGate, worker_here

T0 = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)


def history(**stages: list[tuple[float, int]]) -> dict[str, list[tuple[float, int]]]:
    return {"research": [], "writing": [], "seo": [], **stages}


def test_without_history_the_seeds_priors_apply():
    estimator = Estimator.from_samples("topic", 1000, history())
    assert estimator.total_expected() == pytest.approx(sum(PRIORS["topic"].values()))
    assert 120 <= estimator.total_expected() <= 240  # the story (docs/story.md): topic takes 2-4 minutes
    spin = Estimator.from_samples("spin", 1000, history())
    assert "research" not in spin.models and 60 <= spin.total_expected() <= 120


def test_one_run_replaces_the_prior():
    estimator = Estimator.from_samples(
        "topic", 1000, history(research=[(8.0, 1000)], writing=[(16.0, 1000)], seo=[(6.0, 1000)])
    )
    assert estimator.stage_expected("research") == pytest.approx(8.0)
    assert estimator.stage_expected("writing") == pytest.approx(16.0)
    assert estimator.total_expected() == pytest.approx(30.0)


def test_an_outlier_does_not_drag_the_estimate():
    runs = [(10.0 + 0.1 * i, 1000) for i in range(9)] + [(100.0, 1000)]
    model = fit_stage(runs, StageModel.prior("research", 60.0))
    assert 9.5 <= model.expected(1000) <= 11.0


def test_recent_runs_weigh_more():
    newest_first = [(20.0, 1000)] * 6 + [(10.0, 1000)] * 5
    assert fit_stage(newest_first, StageModel.prior("research", 60.0)).expected(1000) == pytest.approx(20.0)


def test_writing_scales_with_word_count():
    runs = [(2.0 + 0.01 * words, words) for words in (300, 500, 800, 1200, 1500)]
    model = fit_stage(runs, StageModel.prior("writing", 90.0))
    assert model.expected(1000) == pytest.approx(12.0, rel=0.02)
    assert model.expected(3000) == pytest.approx(32.0, rel=0.02)


def test_research_does_not_scale_with_word_count():
    runs = [(8.0, words) for words in (300, 800, 1500, 2000)]
    assert fit_stage(runs, StageModel.prior("research", 60.0)).expected(5000) == pytest.approx(8.0)


def test_the_same_length_history_keeps_the_priors_shape():
    runs = [(12.0, 1000)] * 4
    model = fit_stage(runs, StageModel.prior("writing", 90.0))
    assert model.expected(1000) == pytest.approx(12.0)
    assert model.expected(2000) > 20.0


def test_a_mode_never_seen_falls_back_to_its_own_priors_in_the_estimator():
    estimator = Estimator.from_samples("trends", 500, history(writing=[]))
    # trends' priors at 1,000 words (20, 55, 15 s), at 500 words: research does not scale, 90 % of writing
    # and 40 % of SEO do.
    expected = {"research": 20.0, "writing": 5.5 + 49.5 / 2, "seo": 9.0 + 6.0 / 2}
    assert {stage: estimator.stage_expected(stage) for stage in expected} == pytest.approx(expected)
    assert estimator.total_expected() == pytest.approx(sum(expected.values()))


def test_remaining_time_blends_expectation_with_the_observed_rate():
    estimator = Estimator.from_samples(
        "topic", 1000, history(research=[(10.0, 1000)], writing=[(20.0, 1000)], seo=[(5.0, 1000)])
    )
    at_start, _, _ = estimator.remaining(stage="research", stage_progress=0, stage_elapsed=0)
    assert at_start == pytest.approx(35.0)
    # Research runs twice as slow as history: halfway after 10 s. History alone says 25 s are left,
    # the observed rate alone says 35 s: the estimate lies between.
    slow, low, high = estimator.remaining(stage="research", stage_progress=50, stage_elapsed=10.0)
    assert 25.0 < slow < 35.0
    assert low <= slow <= high


def test_resumed_jobs_skip_the_stages_already_done():
    estimator = Estimator.from_samples(
        "topic", 1000, history(research=[(10.0, 1000)], writing=[(20.0, 1000)], seo=[(5.0, 1000)])
    )
    left, _, _ = estimator.remaining(stage="queued", stage_progress=0, stage_elapsed=0, done=("research",))
    assert left == pytest.approx(25.0)


def test_the_smoother_absorbs_jitter_and_raises_at_most_once_per_stage():
    smoother = Smoother()
    second = dt.timedelta(seconds=1)
    shown = [
        smoother.update(stage="writing", at=T0, eta=T0 + 100 * second, low=T0, high=T0 + 200 * second)[0]
    ]
    for jitter in (3, -2, 4, 1):
        shown.append(
            smoother.update(
                stage="writing",
                at=T0 + 10 * second,
                eta=T0 + (100 + jitter) * second,
                low=T0,
                high=T0 + 200 * second,
            )[0]
        )
    assert set(shown) == {T0 + 100 * second}
    raised = smoother.update(
        stage="writing", at=T0 + 20 * second, eta=T0 + 130 * second, low=T0, high=T0 + 200 * second
    )[0]
    assert raised == T0 + 130 * second
    again = smoother.update(
        stage="writing", at=T0 + 30 * second, eta=T0 + 145 * second, low=T0, high=T0 + 200 * second
    )[0]
    assert again == T0 + 130 * second
    next_stage = smoother.update(
        stage="seo", at=T0 + 40 * second, eta=T0 + 160 * second, low=T0, high=T0 + 200 * second
    )[0]
    assert next_stage == T0 + 160 * second


def test_the_smoother_never_shows_a_time_already_past():
    smoother = Smoother()
    second = dt.timedelta(seconds=1)
    smoother.update(stage="writing", at=T0, eta=T0 + 10 * second, low=T0, high=T0)
    smoother.update(stage="writing", at=T0 + second, eta=T0 + 30 * second, low=T0, high=T0)
    late = smoother.update(stage="writing", at=T0 + 31 * second, eta=T0 + 40 * second, low=T0, high=T0)[0]
    assert late == T0 + 40 * second


def test_queue_lanes_hand_each_job_to_the_slot_free_first():
    # Two slots, busy 10 s and 20 s; three jobs ahead of 5 s each; then ours of 8 s.
    ((start, end),) = forecast_lanes(lanes=[10.0, 20.0], ahead=[5.0, 5.0, 5.0], own=[8.0])
    assert (start, end) == (20.0, 28.0)
    assert forecast_lanes(lanes=[0.0], ahead=[], own=[4.0, 4.0]) == [(0.0, 4.0), (4.0, 8.0)]


@pytest.mark.django_db
@pytest.mark.slow
def test_a_queued_job_eta_covers_its_wait(api, monkeypatch):
    # The running job is held before its fifth event while the others are queued: its estimate stands still.
    gate = EventGate(monkeypatch, at=5)
    first = api.post(
        "/api/jobs/", {"mode": "topic", "topic": "First", "word_count": 1000}, format="json"
    ).json()
    with worker_here(CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="20"):
        try:
            gate.wait()
            running = GenerationJob.objects.get(pk=ObjectId(first["id"]))
            assert running.status == "processing" and running.progress.estimated_completion
            second = api.post(
                "/api/jobs/", {"mode": "topic", "topic": "Second", "word_count": 1000}, format="json"
            ).json()
            third = api.post(
                "/api/jobs/", {"mode": "topic", "topic": "Third", "word_count": 1000}, format="json"
            ).json()
        finally:
            gate.release()
    spans = [
        (dt.datetime.fromisoformat(body["progress"]["estimated_start"]),
         dt.datetime.fromisoformat(body["progress"]["estimated_completion"]))
        for body in (second, third)
    ]  # fmt: skip
    (start2, eta2), (start3, eta3) = spans
    # One worker slot: the second starts when the first ends, the third when the second ends.
    ms = dt.timedelta(milliseconds=2)  # MongoDB keeps milliseconds
    assert start2 == pytest.approx(running.progress.estimated_completion, abs=ms)
    assert start3 == pytest.approx(eta2, abs=ms)
    assert eta3 - start3 == pytest.approx(eta2 - start2, abs=ms) and eta3 - start3 > dt.timedelta(seconds=30)


@pytest.mark.django_db
def test_a_mode_never_seen_borrows_the_other_modes_history_scaled_by_priors(user):
    for _ in range(3):
        GenerationJob.objects.create(
            user=user,
            mode="topic",
            topic="t",
            word_count=1000,
            status="completed",
            progress=Progress(),
            stage_timings={
                "research": {"seconds": 6.0},
                "writing": {"seconds": 9.0},
                "seo": {"seconds": 3.0},
            },
        )
    History.forget()
    try:
        trends = GenerationJob(user=user, mode="trends", topic="x", word_count=1000, progress=Progress())
        estimator = Estimator.for_job(trends)
    finally:
        History.forget()  # the history read here is gone with this test's database
    ratio = PRIORS["trends"]["research"] / PRIORS["topic"]["research"]
    assert estimator.stage_expected("research") == pytest.approx(6.0 * ratio)
    assert estimator.total_expected() < sum(PRIORS["trends"].values())


class Clock:
    """time.monotonic for the caches (progress.ttlcache), moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_a_batchs_queued_members_are_read_once_per_second_not_once_per_event(user, monkeypatch):
    reads: list[object] = []
    read = forecast._queued_durations
    monkeypatch.setattr(forecast, "_queued_durations", lambda pk: reads.append(pk) or read(pk))
    clock = Clock()
    monkeypatch.setattr(ttlcache, "time", clock)
    bulk = BulkFactory(user=user, size=3)  # its first event reads the queued members
    assert reads == [bulk.pk]
    estimates = []
    for _ in range(5):
        clock.now += 0.19
        estimates.append(forecast.estimate_bulk_completion(bulk=bulk, in_flight=[]))
    assert all(e is not None for e in estimates)
    assert reads == [bulk.pk], "a batch event within the second read the queued members again"
    assert len(read(bulk.pk)) == 3
    clock.now += 0.1  # 1.05 s after the first read: past its time to live, read again
    forecast.estimate_bulk_completion(bulk=bulk, in_flight=[])
    assert reads == [bulk.pk, bulk.pk]
