from __future__ import annotations

import json
import re

import pytest

from jobs.pipeline import JobInput
from jobs.pipeline.offline_text import seo_fields, write_article, write_brief
from jobs.pipeline.scoring import word_count
from jobs.pipeline.seo import analyze


def _job(word_count: int = 800, mode: str = "topic", **changes: object) -> JobInput:
    values: dict[str, object] = {
        "mode": mode,
        "topic": "Composting in small apartments",
        "keywords": [],
        "source_text": "",
        "word_count": word_count,
        "tone": "friendly",
    }
    values.update(changes)
    return JobInput(**values)  # type: ignore[arg-type]


def _sentences(markdown: str) -> list[str]:
    prose = " ".join(line for line in markdown.splitlines() if line and not line.startswith("#"))
    return [s for s in re.split(r"(?<=[.!?])\s+", prose) if s]


@pytest.mark.parametrize("requested", [300, 1000, 2000])
def test_article_length_scales_with_word_count(requested: int) -> None:
    assert abs(word_count(write_article(_job(requested))) - requested) <= 0.15 * requested


@pytest.mark.parametrize("mode", ["topic", "keywords", "spin"])
def test_article_has_no_repeated_sentence(mode: str) -> None:
    source = "Composting indoors is easier than most people think. A sealed bin keeps smells away."
    job = _job(2000, mode, keywords=["bokashi bins", "worm farms"], source_text=source)
    sentences = _sentences(write_article(job))
    assert len(sentences) > 50
    assert len(sentences) == len(set(sentences))


def test_article_structure() -> None:
    article = write_article(_job(1000))
    assert len(re.findall(r"(?m)^# ", article)) == 1
    assert len(re.findall(r"(?m)^## ", article)) >= 3
    first_block = article.split("\n\n")[1]
    assert not first_block.startswith("#") and "composting in small apartments" in first_block.lower()
    assert re.search(r"(?m)^## (Conclusion|Final thoughts|Wrapping up)$", article)


def test_article_is_deterministic_and_varies_with_inputs() -> None:
    assert write_article(_job()) == write_article(_job())
    assert write_article(_job()) != write_article(_job(tone="professional"))


def test_research_brief_by_mode() -> None:
    topic_brief = write_brief(_job())
    keyword_brief = write_brief(_job(mode="keywords", keywords=["bokashi bins", "worm farms"]))
    trends_brief = write_brief(_job(mode="trends"))
    for heading in ("## Audience", "## Angles worth covering", "## Facts to check"):
        assert heading in topic_brief
    assert "## Keyword analysis" in keyword_brief and "| worm farms |" in keyword_brief
    assert "## Keyword analysis" not in topic_brief
    assert word_count(trends_brief) < word_count(topic_brief)


def test_seo_fields_fit_limits_and_score_well() -> None:
    job = _job(1000)
    article = write_article(job)
    fields = seo_fields(job, article)
    assert json.loads(json.dumps(fields)) == fields
    assert len(fields["meta_title"]) <= 60
    assert 70 <= len(fields["meta_description"]) <= 160
    report = analyze(
        content=article,
        meta_title=fields["meta_title"],
        meta_description=fields["meta_description"],
        keyphrase=fields["focus_keyword"],
        target_words=job.word_count,
    )
    assert report.seo_score >= 80
