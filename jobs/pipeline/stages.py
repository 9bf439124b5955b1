"""The one registry of stages: their order, labels and share of the overall percentage, per mode.

The pipeline, the tracker, the ETA, the event payloads, the pages and the worker all read it
(docs/architecture.md). It is plain data, so the Django-free pipeline can read it too.
"""

from __future__ import annotations

QUEUED = "queued"
RESEARCH = "research"
WRITING = "writing"
SEO = "seo"
COMPLETED = "completed"

# Every working stage, in the order they run.
STAGE_ORDER: tuple[str, ...] = (RESEARCH, WRITING, SEO)

LABELS: dict[str, str] = {
    QUEUED: "Queued",
    RESEARCH: "Research",
    WRITING: "Writing",
    SEO: "SEO",
    COMPLETED: "Completed",
}

Band = tuple[float, float]
_WITH_RESEARCH: dict[str, Band] = {RESEARCH: (0.0, 33.0), WRITING: (33.0, 66.0), SEO: (66.0, 100.0)}
_REWRITE: dict[str, Band] = {WRITING: (0.0, 50.0), SEO: (50.0, 100.0)}

# Each mode's stages, in order, with the band of the overall percentage each one covers.
BANDS: dict[str, dict[str, Band]] = {
    "topic": _WITH_RESEARCH,
    "keywords": _WITH_RESEARCH,
    "trends": _WITH_RESEARCH,
    "spin": _REWRITE,
}
STAGES_BY_MODE: dict[str, tuple[str, ...]] = {mode: tuple(bands) for mode, bands in BANDS.items()}


def stages_for(mode: str) -> tuple[str, ...]:
    return STAGES_BY_MODE.get(mode, STAGE_ORDER)


def stage_label(stage: str | None) -> str:
    """The stage's name for people ("SEO"); an unknown value is title-cased."""
    return LABELS.get(stage or "", (stage or "").title())


def overall_percentage(mode: str, stage: str, stage_progress: float) -> float:
    """Where `stage_progress` (0-100) inside `stage` puts the whole job."""
    start, end = BANDS.get(mode, _WITH_RESEARCH)[stage]
    return start + (end - start) * max(0.0, min(100.0, stage_progress)) / 100.0
