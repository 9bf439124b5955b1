"""How fast the built-in models write: the offline model's configured pace, the local model's measured one.

The ETA starts from these before any job has finished (no crewAI, no Django, no llama.cpp import).
"""

from __future__ import annotations

from . import config
from .contracts import JobInput
from .offline_text import subject_for
from .stages import STAGES_BY_MODE

DEFAULT_TOKENS_PER_SECOND = 70.0
TOKENS_PER_SECOND_ENV = config.OFFLINE_TOKENS_PER_SECOND
# The SEO editor re-emits the finished article; copying is much faster than composing.
SEO_COPY_SPEEDUP = 4.0
FAIL_STAGE_ENV = config.OFFLINE_FAIL_STAGE
# crewAI's own time per stage around the model (agent setup, prompt building, output conversion), on top
# of the model's pacing (docs/measurements.md).
CREW_STAGE_SECONDS = 3.0
# SmolLM2-135M Q4_1 with n_threads=2 on this 2-core machine (bench/local_model.py), used until the
# worker has measured its own pace.
LOCAL_TOKENS_PER_SECOND = 95.0
LOCAL_TOKENS_PER_WORD = 1.4
# Outline tokens, meta tokens, and per-generation prompt processing, in tokens of output time.
LOCAL_STAGE_TOKENS = {"research": 60.0, "seo": 110.0}
LOCAL_SECTION_OVERHEAD_TOKENS = 12.0
LOCAL_SECTIONS_PER_1000_WORDS = 8


def tokens_per_second() -> float:
    raw = config.get(TOKENS_PER_SECOND_ENV)
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_TOKENS_PER_SECOND
    except ValueError:
        return DEFAULT_TOKENS_PER_SECOND


def steps(job: JobInput, stage: str) -> tuple[float, list[str]]:
    """Seconds per step at the default pace, and the step notes streamed as the model's thoughts."""
    topic = subject_for(job).topic
    keyword = subject_for(job).keyword
    if stage == "research":
        if job.mode == "trends":
            return 0.7, [
                f"Researching '{topic}': scanning what is trending this week",
                f"Researching '{topic}': picking the freshest angle",
                f"Researching '{topic}': noting facts to check",
            ]
        notes = [
            f"Researching '{topic}': scanning top-ranking articles",
            f"Researching '{topic}': identifying the audience",
            f"Researching '{topic}': collecting angles",
            f"Researching '{topic}': listing common questions",
            f"Researching '{topic}': noting facts to check",
            f"Researching '{topic}': outlining the brief",
        ]
        if job.mode == "keywords":
            notes.insert(
                4, f"Researching '{topic}': analysing search intent for {len(job.keywords) or 1} keywords"
            )
        return 0.9, notes
    if stage == "writing":
        return 0.6, [f"Outlining ~{job.word_count} words on '{topic}'"]
    return 0.6, [
        f"Checking keyword placement for '{keyword}'",
        "Checking heading structure",
        "Measuring keyword density and readability",
        "Drafting the meta title and description",
    ]


def offline_stage_seconds(mode: str, word_count: int) -> dict[str, float]:
    # A pace of 0 (no delay, for tests) would predict instant jobs; the default pace is the better guess
    # until the first job's history replaces it.
    scale = DEFAULT_TOKENS_PER_SECOND / (tokens_per_second() or DEFAULT_TOKENS_PER_SECOND)
    probe = JobInput(
        mode=mode, topic="a topic", keywords=["a topic"], source_text="", word_count=word_count, tone=""
    )
    seconds: dict[str, float] = {}
    for stage in STAGES_BY_MODE[mode]:
        step_seconds, notes = steps(probe, stage)
        answer_tokens = {"research": 200.0, "writing": float(word_count)}.get(
            stage, (word_count + 60) / SEO_COPY_SPEEDUP
        )
        paced = (step_seconds * len(notes) + answer_tokens / DEFAULT_TOKENS_PER_SECOND) * scale
        seconds[stage] = paced + CREW_STAGE_SECONDS
    return seconds


def local_stage_seconds(
    mode: str, word_count: int, tokens_per_second: float | None = None
) -> dict[str, float]:
    rate = tokens_per_second or LOCAL_TOKENS_PER_SECOND
    sections = max(4, round(LOCAL_SECTIONS_PER_1000_WORDS * word_count / 1000))
    writing = word_count * LOCAL_TOKENS_PER_WORD + sections * LOCAL_SECTION_OVERHEAD_TOKENS
    tokens = {
        "research": LOCAL_STAGE_TOKENS["research"],
        "writing": writing,
        "seo": LOCAL_STAGE_TOKENS["seo"],
    }
    return {stage: tokens[stage] / rate + CREW_STAGE_SECONDS for stage in STAGES_BY_MODE[mode]}
