"""Estimated completion from per-stage history, not from elapsed / percentage.

Stages run at very different speeds (research and SEO are a few fixed steps, writing grows with the
word count), so the seed's linear formula is wrong for most of a job's life. Each stage gets an
expected duration from recent finished jobs of the same mode: a recency-weighted median, with
writing scaled per word. While a stage runs, its expected duration is blended with the rate observed
inside it, trusting the observation more as the stage progresses. Before any history, the seed's
figures (topic 2-4 min, trends 1-2 min, ...) are the prior.
"""

from __future__ import annotations

import datetime as dt
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

HISTORY_SIZE = 20
HISTORY_TTL = 15.0
RECENCY_DECAY = 0.85
SCALED_STAGES = frozenset({"writing"})
REFERENCE_WORDS = 1000

# Seconds for a 1,000-word article: the midpoints of the seed's notes, split across stages.
PRIORS: dict[str, dict[str, float]] = {
    "topic": {"research": 55.0, "writing": 95.0, "seo": 30.0},
    "keywords": {"research": 70.0, "writing": 95.0, "seo": 30.0},
    "trends": {"research": 20.0, "writing": 55.0, "seo": 15.0},
    "spin": {"writing": 65.0, "seo": 25.0},
}
PRIOR_SPREAD = 0.35
STAGE_ORDER = ("research", "writing", "seo")


def stages_for(mode: str) -> tuple[str, ...]:
    return ("writing", "seo") if mode == "spin" else STAGE_ORDER


def weighted_median(values: Sequence[float], weights: Sequence[float]) -> float:
    pairs = sorted(zip(values, weights, strict=True))
    half = sum(weights) / 2.0
    running = 0.0
    for value, weight in pairs:
        running += weight
        if running >= half:
            return value
    return pairs[-1][0]


@dataclass(frozen=True)
class StageModel:
    """Expected seconds for a stage at REFERENCE_WORDS, and a relative spread for the range."""

    seconds: float
    spread: float

    def expected(self, stage: str, word_count: int) -> float:
        if stage in SCALED_STAGES:
            return self.seconds * word_count / REFERENCE_WORDS
        return self.seconds


def fit_stage(samples: Sequence[tuple[float, int]], stage: str, prior: float) -> StageModel:
    """samples: (seconds, word_count), newest first."""
    if not samples:
        return StageModel(prior, PRIOR_SPREAD)
    normalised = [
        seconds * REFERENCE_WORDS / max(words, 1) if stage in SCALED_STAGES else seconds
        for seconds, words in samples
    ]
    weights = [RECENCY_DECAY**i for i in range(len(normalised))]
    centre = weighted_median(normalised, weights)
    if len(normalised) == 1:
        # One run says more than the prior about this machine and model, but not much about noise.
        return StageModel(centre, 0.25)
    deviations = [abs(value - centre) for value in normalised]
    spread = max(0.05, min(0.6, 1.4826 * statistics.median(deviations) / max(centre, 1e-6)))
    return StageModel(centre, spread)


class History:
    """Recent finished jobs' stage durations per mode, cached per process for a few seconds."""

    _lock = threading.Lock()
    _cache: dict[str, tuple[float, dict[str, list[tuple[float, int]]]]] = {}  # noqa: RUF012

    @classmethod
    def samples(cls, mode: str) -> dict[str, list[tuple[float, int]]]:
        with cls._lock:
            cached = cls._cache.get(mode)
            if cached and time.monotonic() - cached[0] < HISTORY_TTL:
                return cached[1]
        samples = cls._load(mode)
        with cls._lock:
            cls._cache[mode] = (time.monotonic(), samples)
        return samples

    @classmethod
    def forget(cls) -> None:
        with cls._lock:
            cls._cache.clear()

    @staticmethod
    def _load(mode: str) -> dict[str, list[tuple[float, int]]]:
        from jobs.models import GenerationJob

        recent = (
            GenerationJob.objects.filter(mode=mode, status=GenerationJob.Status.COMPLETED)
            .order_by("-updated_at")
            .only("word_count", "stage_timings")[:HISTORY_SIZE]
        )
        out: dict[str, list[tuple[float, int]]] = {stage: [] for stage in STAGE_ORDER}
        for job in recent:
            for stage, timing in (job.stage_timings or {}).items():
                seconds = timing.get("seconds") if isinstance(timing, dict) else None
                if stage in out and isinstance(seconds, int | float) and seconds > 0:
                    out[stage].append((float(seconds), job.word_count))
        return out


@dataclass
class Estimator:
    mode: str
    word_count: int
    models: dict[str, StageModel]
    _last_remaining: float | None = None

    @classmethod
    def from_samples(
        cls, mode: str, word_count: int, samples: dict[str, list[tuple[float, int]]]
    ) -> Estimator:
        priors = PRIORS.get(mode, PRIORS["topic"])
        models = {
            stage: fit_stage(samples.get(stage, []), stage, priors.get(stage, 30.0))
            for stage in stages_for(mode)
        }
        return cls(mode=mode, word_count=word_count, models=models)

    @classmethod
    def for_job(cls, job: Any) -> Estimator:
        return cls.from_samples(job.mode, job.word_count, History.samples(job.mode))

    def stage_expected(self, stage: str) -> float:
        return self.models[stage].expected(stage, self.word_count)

    def total_expected(self) -> float:
        return sum(self.stage_expected(stage) for stage in stages_for(self.mode))

    def remaining(
        self, *, stage: str, stage_progress: float, stage_elapsed: float
    ) -> tuple[float, float, float]:
        """(expected, low, high) seconds left."""
        order = stages_for(self.mode)
        if stage not in order:
            total = self.total_expected()
            spread = max(m.spread for m in self.models.values())
            return total, total * (1 - spread), total * (1 + spread)
        expected = self.stage_expected(stage)
        fraction = max(0.0, min(1.0, stage_progress / 100.0))
        if fraction > 0.02 and stage_elapsed > 0:
            observed = stage_elapsed / fraction
            stage_total = (1 - fraction) * expected + fraction * observed
        else:
            stage_total = max(expected, stage_elapsed)
        current_left = max(0.0, stage_total - stage_elapsed)
        later = order[order.index(stage) + 1 :]
        later_left = sum(self.stage_expected(s) for s in later)
        left = current_left + later_left
        spread_seconds = current_left * self.models[stage].spread * (1 - fraction) + sum(
            self.stage_expected(s) * self.models[s].spread for s in later
        )
        return left, max(0.0, left - spread_seconds), left + spread_seconds

    def running(
        self, *, stage: str, stage_progress: float, stage_elapsed: float, at: dt.datetime
    ) -> tuple[dt.datetime, dt.datetime, dt.datetime] | None:
        left, low, high = self.remaining(
            stage=stage, stage_progress=stage_progress, stage_elapsed=stage_elapsed
        )
        return (
            at + dt.timedelta(seconds=left),
            at + dt.timedelta(seconds=low),
            at + dt.timedelta(seconds=high),
        )


def estimate_bulk_completion(*, bulk: Any, in_flight: Sequence[Any]) -> dt.datetime | None:
    """The batch ends when its in-flight jobs end and its queued ones have run, at the parallelism it gets now."""
    from jobs.models import GenerationJob

    now = dt.datetime.now(dt.UTC)
    queued = list(
        GenerationJob.objects.filter(bulk_job=bulk, status=GenerationJob.Status.QUEUED).only("mode", "word_count")
    )
    if not queued and not in_flight:
        return None
    flight_left = [
        max(0.0, (job.progress.estimated_completion - now).total_seconds())
        for job in in_flight
        if job.progress.estimated_completion
    ]
    parallelism = max(1, len(in_flight))
    queued_seconds = sum(Estimator.for_job(job).total_expected() for job in queued)
    lanes = sorted(flight_left + [0.0] * (parallelism - len(flight_left)))[:parallelism]
    left = max(lanes + [0.0]) if not queued else (sum(lanes) + queued_seconds) / parallelism
    return now + dt.timedelta(seconds=left)
