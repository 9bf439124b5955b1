"""Data types shared by the pipeline and its callers (no crewAI, no Django)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JobInput:
    mode: str
    topic: str
    keywords: list[str]
    source_text: str
    word_count: int
    tone: str


@dataclass(frozen=True)
class PipelineEvent:
    kind: str
    stage: str
    stage_progress: float
    message: str
    output: str | None = None


@dataclass(frozen=True)
class ArticleResult:
    content: str
    meta_title: str
    meta_description: str
    word_count: int
    seo_score: int
    readability_score: float


class StageFailed(Exception):
    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage
        self.message = message


class PipelineCancelled(Exception):
    pass
