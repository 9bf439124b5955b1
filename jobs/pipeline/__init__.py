"""Article pipeline: a crewAI crew (research, writing, SEO) behind a small, Django-free API.

Importing this package does not import crewAI; ``run_pipeline`` does, on first use.
"""

from __future__ import annotations

from .contracts import (
    ArticleResult,
    JobInput,
    PipelineCancelled,
    PipelineEvent,
    StageFailed,
)
from .runner import run_pipeline
from .stages import STAGES_BY_MODE

__all__ = [
    "STAGES_BY_MODE",
    "ArticleResult",
    "JobInput",
    "PipelineCancelled",
    "PipelineEvent",
    "StageFailed",
    "run_pipeline",
]
