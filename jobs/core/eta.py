"""Estimated completion from per-stage history, not from elapsed / percentage.

Stages run at very different speeds (research is a few fixed steps, writing grows with the word count,
SEO is a few steps plus a pass over the article), so the story's linear formula (docs/story.md) is wrong
for most of a job's life. For each stage of a mode this fits `seconds = a + b * words` on recent
finished jobs: Theil-Sen (the median of pairwise slopes) when the history has varied lengths, a weighted
median otherwise, newer runs weighing more. While a stage runs, its expected duration is blended with
the rate observed inside it, trusting the observation more as the stage progresses.

Before there is history, the story's figures are the prior (topic 2-4 min, keywords 2.5-4 min,
trends and spin 1-2 min). A mode never seen borrows the history of the others, scaled.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings

from jobs.models import GenerationJob
from jobs.pipeline import local_model, pace
from jobs.pipeline.stages import STAGE_ORDER, stages_for
from progress.ttlcache import Recent

HISTORY_SIZE = 30
HISTORY_TTL = 10.0
RECENCY_DECAY = 0.93
REFERENCE_WORDS = 1000

# Seconds at 1,000 words: the midpoints of the story's figures (docs/story.md), split across the stages.
PRIORS: dict[str, dict[str, float]] = {
    "topic": {"research": 60.0, "writing": 90.0, "seo": 30.0},
    "keywords": {"research": 80.0, "writing": 90.0, "seo": 25.0},
    "trends": {"research": 20.0, "writing": 55.0, "seo": 15.0},
    "spin": {"writing": 65.0, "seo": 25.0},
}
# Share of a stage's prior that grows with the word count.
PRIOR_WORD_SHARE = {"research": 0.0, "writing": 0.9, "seo": 0.4}
PRIOR_SPREAD = 0.35
# How far the rate observed inside a stage may override history, at the end of the stage. A stage's
# progress is counted in words, which need not be linear in time (a model thinks, then answers).
OBSERVED_WEIGHT = 0.25
MIN_SPREAD, MAX_SPREAD = 0.05, 0.6

Sample = tuple[float, int]  # (seconds, word_count), newest first


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
    """seconds = fixed + per_word * words, with a relative spread for the range."""

    fixed: float
    per_word: float
    spread: float

    def expected(self, words: int) -> float:
        return max(0.0, self.fixed + self.per_word * words)

    @classmethod
    def prior(cls, stage: str, seconds_at_reference: float) -> StageModel:
        share = PRIOR_WORD_SHARE.get(stage, 0.0)
        return cls(
            seconds_at_reference * (1 - share), seconds_at_reference * share / REFERENCE_WORDS, PRIOR_SPREAD
        )


def fit_stage(samples: Sequence[Sample], prior: StageModel) -> StageModel:
    if not samples:
        return prior
    weights = [RECENCY_DECAY**i for i in range(len(samples))]
    seconds = [s for s, _ in samples]
    words = [max(1, w) for _, w in samples]
    pairs = list(zip(seconds, words, strict=True))
    slopes = [
        (seconds[j] - seconds[i]) / (words[j] - words[i])
        for i in range(len(samples))
        for j in range(i + 1, len(samples))
        if abs(words[j] - words[i]) >= 50
    ]
    if len(slopes) >= 3:
        per_word = max(0.0, statistics.median(slopes))
        fixed = max(0.0, weighted_median([s - per_word * w for s, w in pairs], weights))
        model = StageModel(fixed, per_word, PRIOR_SPREAD)
    else:
        # Too little variety in length to see the slope: keep the prior's shape, rescaled to the data.
        scale = weighted_median([s / max(prior.expected(w), 1e-3) for s, w in pairs], weights)
        model = StageModel(prior.fixed * scale, prior.per_word * scale, PRIOR_SPREAD)
    if len(samples) == 1:
        return replace(model, spread=0.25)
    ratios = [s / max(model.expected(w), 1e-3) for s, w in pairs]
    spread = 1.4826 * statistics.median(abs(r - 1.0) for r in ratios)
    return replace(model, spread=min(MAX_SPREAD, max(MIN_SPREAD, spread)))


class History:
    """Recent finished jobs of a mode: stage durations and overheads, cached per process for a few seconds."""

    _cache: Recent[str, tuple[dict[str, list[Sample]], list[float]]] = Recent(ttl=HISTORY_TTL)

    @classmethod
    def get(cls, mode: str) -> tuple[dict[str, list[Sample]], list[float]]:
        return cls._cache.get(mode, lambda: cls._load(mode))

    @classmethod
    def samples(cls, mode: str) -> dict[str, list[Sample]]:
        return cls.get(mode)[0]

    @classmethod
    def forget(cls) -> None:
        cls._cache.clear()

    @staticmethod
    def _load(mode: str) -> tuple[dict[str, list[Sample]], list[float]]:
        recent = list(
            GenerationJob.objects.filter(mode=mode, status=GenerationJob.Status.COMPLETED)
            .order_by("-updated_at")
            .only("word_count", "stage_timings", "progress", "attempts")[:HISTORY_SIZE]
        )
        overheads = []
        for job in recent:
            started, completed = job.progress.started_at, job.progress.completed_at
            stages = [
                t.get("seconds") or 0.0 for t in (job.stage_timings or {}).values() if isinstance(t, dict)
            ]
            if started and completed and stages and job.attempts <= 1:
                overheads.append((completed - started).total_seconds() - sum(stages))
        return samples_from_timings((job.stage_timings, job.word_count) for job in recent), overheads


def samples_from_timings(rows: Any) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = {stage: [] for stage in STAGE_ORDER}
    for timings, words in rows:
        for stage, timing in (timings or {}).items():
            seconds = timing.get("seconds") if isinstance(timing, dict) else None
            if stage in out and isinstance(seconds, int | float) and seconds > 0:
                out[stage].append((float(seconds), int(words)))
    return out


# mode -> (the History samples it was fitted on, the stage models, the overhead)
_FITTED: dict[str, tuple[dict[str, list[Sample]], dict[str, StageModel], float]] = {}


@dataclass
class Estimator:
    mode: str
    word_count: int
    models: dict[str, StageModel]
    overhead: float = 0.0

    @classmethod
    def from_samples(
        cls,
        mode: str,
        word_count: int,
        samples: dict[str, list[Sample]],
        overheads: Sequence[float] = (),
        priors: dict[str, float] | None = None,
    ) -> Estimator:
        """`overheads`: per finished job, its run time outside the stages (claim, hand-offs, scoring).
        `priors`: seconds per stage at 1,000 words before any history (the seed's figures by default)."""
        priors = priors or PRIORS.get(mode, PRIORS["topic"])
        models = {
            stage: fit_stage(samples.get(stage, []), StageModel.prior(stage, priors.get(stage, 30.0)))
            for stage in stages_for(mode)
        }
        overhead = max(0.0, statistics.median(overheads)) if overheads else 0.0
        return cls(mode=mode, word_count=word_count, models=models, overhead=overhead)

    @classmethod
    def for_job(cls, job: Any) -> Estimator:
        """Fitting is per mode, not per job: it is redone only when the mode's cached history changes,
        since a batch event or a queue forecast asks for hundreds of jobs at once."""
        samples, overheads = History.get(job.mode)
        fitted = _FITTED.get(job.mode)
        if fitted is None or fitted[0] is not samples:
            history = samples if any(samples.values()) else _borrowed(job.mode)
            template = cls.from_samples(
                job.mode, 0, history, overheads=overheads, priors=model_priors(job.mode)
            )
            fitted = _FITTED[job.mode] = (samples, template.models, template.overhead)
        return cls(mode=job.mode, word_count=job.word_count, models=fitted[1], overhead=fitted[2])

    def stage_expected(self, stage: str) -> float:
        return self.models[stage].expected(self.word_count)

    def total_expected(self) -> float:
        return sum(self.stage_expected(stage) for stage in stages_for(self.mode))

    def remaining(
        self, *, stage: str, stage_progress: float, stage_elapsed: float, done: Sequence[str] = ()
    ) -> tuple[float, float, float]:
        """(expected, low, high) seconds left. `done`: stages finished in an earlier attempt."""
        order = [s for s in stages_for(self.mode) if s not in done or s == stage]
        if stage not in order:
            total = sum(self.stage_expected(s) for s in order) + self.overhead
            spread = sum(self.stage_expected(s) * self.models[s].spread for s in order)
            return total, max(0.0, total - spread), total + spread
        expected = self.stage_expected(stage)
        fraction = max(0.0, min(1.0, stage_progress / 100.0))
        if fraction >= 0.05 and stage_elapsed > 0.2:
            observed = stage_elapsed / fraction
            trust = OBSERVED_WEIGHT * fraction
            stage_total = (1 - trust) * expected + trust * observed
        else:
            stage_total = expected
        stage_total = max(stage_total, stage_elapsed)
        current_left = stage_total - stage_elapsed
        later = order[order.index(stage) + 1 :]
        overhead_left = self.overhead * (len(later) + 1) / len(order)
        left = current_left + sum(self.stage_expected(s) for s in later) + overhead_left
        spread = current_left * self.models[stage].spread * (1 - fraction) + sum(
            self.stage_expected(s) * self.models[s].spread for s in later
        )
        return left, max(0.0, left - spread), left + spread


def model_priors(mode: str) -> dict[str, float]:
    """Seconds per stage at 1,000 words for the model in use: the offline model's configured pace, the
    local model's measured tokens/s (a figure measured here until this process has run it), and the
    seed's figures for providers, whose pace nothing here can know."""
    if settings.CONTENTGEN_LLM == "offline":
        return pace.offline_stage_seconds(mode, REFERENCE_WORDS)
    if settings.CONTENTGEN_LLM == "local":
        return pace.local_stage_seconds(mode, REFERENCE_WORDS, local_model.RUNTIME.tokens_per_second())
    return PRIORS.get(mode, PRIORS["topic"])


def _borrowed(mode: str) -> dict[str, list[Sample]]:
    """A mode with no history of its own: the others' stages, rescaled by the ratio of their priors."""
    borrowed: dict[str, list[Sample]] = {stage: [] for stage in STAGE_ORDER}
    for other in PRIORS:
        if other == mode:
            continue
        for stage, samples in History.samples(other).items():
            if stage not in PRIORS.get(mode, {}) or stage not in PRIORS[other]:
                continue
            ratio = PRIORS[mode][stage] / PRIORS[other][stage]
            borrowed[stage].extend((seconds * ratio, words) for seconds, words in samples)
    return borrowed


@dataclass
class Smoother:
    """Keeps a published ETA steady: small changes are absorbed, and in steady conditions it moves
    later at most once per stage. It always moves when the ETA it shows has already passed."""

    tolerance: float = 0.08
    minimum_seconds: float = 0.5
    shown: dt.datetime | None = None
    low: dt.datetime | None = None
    high: dt.datetime | None = None
    raised_in: set[str] = field(default_factory=set)

    def update(
        self, *, stage: str, at: dt.datetime, eta: dt.datetime, low: dt.datetime, high: dt.datetime
    ) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
        if self.shown is None or self.shown <= at:
            return self._take(eta, low, high)
        left = (self.shown - at).total_seconds()
        change = (eta - self.shown).total_seconds()
        band = max(self.minimum_seconds, self.tolerance * left)
        if change < -band:
            return self._take(eta, low, high)
        if change > band and stage not in self.raised_in:
            self.raised_in.add(stage)
            return self._take(eta, low, high)
        if change > max(band * 4, 0.5 * left):
            return self._take(eta, low, high)
        assert self.low is not None and self.high is not None
        return self.shown, min(self.low, self.shown), max(self.high, self.shown)

    def _take(
        self, eta: dt.datetime, low: dt.datetime, high: dt.datetime
    ) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
        self.shown, self.low, self.high = eta, low, high
        return eta, low, high


class JobEta:
    """What the tracker asks while a job runs: estimator plus smoother."""

    def __init__(self, job: Any) -> None:
        self.estimator = Estimator.for_job(job)
        self.smoother = Smoother()
        self.done = tuple((job.stage_outputs or {}).keys())

    def running(
        self, *, stage: str, stage_progress: float, stage_elapsed: float, at: dt.datetime
    ) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
        left, low, high = self.estimator.remaining(
            stage=stage, stage_progress=stage_progress, stage_elapsed=stage_elapsed, done=self.done
        )
        seconds = dt.timedelta(seconds=1)
        return self.smoother.update(
            stage=stage, at=at, eta=at + left * seconds, low=at + low * seconds, high=at + high * seconds
        )
