"""Data types shared by the pipeline and its callers (no crewAI, no Django)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Material:
    """One numbered source of an article: what its [n] citations point to, and the passages quoted from it
    (untrusted text: given to a model as data, never as instructions)."""

    n: int
    title: str
    url: str | None
    source_id: str | None
    passages: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {"n": self.n, "title": self.title, "url": self.url, "source_id": self.source_id}


@dataclass(frozen=True)
class JobInput:
    mode: str
    topic: str
    keywords: list[str]
    source_text: str
    word_count: int
    tone: str
    use_knowledge_base: bool = False
    use_web: bool = False
    source_urls: tuple[str, ...] = ()
    # Gathered by the research stage before its brief is written (jobs.pipeline.research).
    materials: tuple[Material, ...] = ()


@dataclass(frozen=True)
class PipelineEvent:
    kind: str
    stage: str
    stage_progress: float
    message: str
    output: str | None = None
    # The writing stage's draft text streamed since the previous event (merged events concatenate it).
    draft_append: str = ""
    # Tokens the models have streamed so far in this attempt (about one a chunk).
    tokens: int = 0


@dataclass(frozen=True)
class ArticleResult:
    content: str
    meta_title: str
    meta_description: str
    word_count: int
    seo_score: int
    readability_score: float
    sources: list[dict[str, object]] = field(default_factory=list)
    # {"model", "prompt_tokens", "completion_tokens", "stages": {stage: {...}}}: this attempt's tokens.
    usage: dict[str, object] = field(default_factory=dict)


class StageFailed(Exception):
    def __init__(self, stage: str, message: str) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage
        self.message = message


class PipelineCancelled(Exception):
    pass
