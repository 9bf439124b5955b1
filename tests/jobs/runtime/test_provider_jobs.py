"""Jobs on a provider's model (an OpenAI-compatible server on loopback) through the worker: a small model's
broken JSON in the SEO stage costs the job nothing, a server error still fails it (issue 29, point 1)."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.models import GenerationJob
from progress import events
from tests.factories import JobFactory
from tests.llm_stub import Answer, serve
from tests.stack import burst_here

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

ARTICLE = "# Solar panels at home\n\n" + "".join(
    f"## Part {n}\n\nSolar panels for homes need a roof that faces the sun for most of the day. Shade from "
    "trees or chimneys cuts what they make, so check it before you buy.\n\n"
    for n in range(1, 12)
)


def small_model(seo: tuple[int, str]) -> Answer:
    """Writes the brief and the article; answers the SEO editor with ``seo``."""

    def answer(body: dict[str, Any]) -> tuple[int, str]:
        text = " ".join(str(message.get("content")) for message in body["messages"])
        if body.get("response_format") or "SEO Editor" in text:
            return seo
        if "You are an SEO editor" in text:
            return 200, "Sure, here you go."
        return 200, "A brief." if "Content Researcher" in text else ARTICLE

    return answer


def run_on(answer: Answer, settings: Any) -> None:
    # 10 ms a chunk: a model's pace, so that the writing bar has chunks far enough apart to move with.
    server, _ = serve(answer, chunk_seconds=0.01)
    settings.CONTENTGEN_LLM = "openai/smollm2-local"
    try:
        burst_here(
            timeout=120,
            CONTENTGEN_LLM_BASE_URL=f"http://127.0.0.1:{server.server_port}/v1",
            OPENAI_API_KEY="not-needed",
        )
    finally:
        server.shutdown()


def test_broken_json_in_seo_completes_the_job_with_a_derived_meta(user, settings):
    job = JobFactory(user=user, topic="Solar panels for homes")
    run_on(small_model((200, '{"meta_title": "Solar')), settings)
    job = GenerationJob.objects.get(pk=job.pk)
    assert job.status == "completed", job.error and job.error.message
    assert job.result.meta_derived is True
    assert 0 < len(job.result.meta_title) <= 60 and 0 < len(job.result.meta_description) <= 155
    assert job.result.word_count >= 100 and job.result.seo_report
    complete = events.after(job.pk, 0)[-1]["data"]
    assert complete["result"]["meta_derived"] is True
    assert complete["result"]["seo_report"] == job.result.seo_report
    progress = [e["data"]["progress"] for e in events.after(job.pk, 0) if e["type"] == "progress"]
    assert any("derived from the article" in p["message"] for p in progress)
    writing = {p["stage_progress"] for p in progress if p["stage"] == "writing"}
    assert len(writing) >= 5, sorted(writing)
    usage = job.result.usage
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0, usage


def test_a_server_error_in_seo_fails_the_job_naming_the_provider(user, settings):
    job = JobFactory(user=user, topic="Solar panels for homes")
    run_on(small_model((500, "model crashed")), settings)
    job = GenerationJob.objects.get(pk=job.pk)
    assert job.status == "failed"
    assert job.error.stage == "seo"
    assert job.error.message.startswith("The server for 'openai/smollm2-local' answered HTTP 500")
    assert set(job.stage_outputs) >= {"research", "writing"}, "a retry resumes at SEO"
