"""crewAI's own OpenAI class against OpenAI-compatible servers on loopback.

A tiny stub server covers what a real server should not be made to do (answer 500, refuse json_schema);
llama-cpp-python's server with the local GGUF covers real streaming and cancellation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from contentgen.embedded import die_with_parent, stop_process
from contentgen.testing.ports import free_port
from jobs.core import services
from jobs.models import GenerationJob
from jobs.pipeline import JobInput, PipelineCancelled, PipelineEvent, StageFailed, run_pipeline
from jobs.pipeline.local_model import model_path
from progress import events as progress_events
from tests.jobs.runtime.support import spec
from tests.llm_stub import Answer, serve
from tests.stack import burst_here

ARTICLE = (
    "# Solar at home\n\nSolar panels for homes cut bills and need a sunny roof.\n\n## Costs\n\nPrices fell."
    "\n\n## Installers\n\nAsk two installers for quotes.\n"
)
SPIN = JobInput(
    mode="spin", topic="", keywords=[], source_text="Solar panels cut bills.", word_count=300, tone="friendly"
)
SEO_JSON = {
    "meta_title": "Solar panels for homes: what they cost",
    "meta_description": "Solar panels for homes cut bills when the roof gets sun. Here is what they cost, "
    "how long they take to pay back and how to pick an installer.",
    "focus_keyword": "solar panels for homes",
    "content": ARTICLE,
}


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Answer], list[dict[str, Any]]]]:
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer, chunk_seconds: float = 0.0) -> list[dict[str, Any]]:
        server, requests = serve(answer, chunk_seconds)
        servers.append(server)
        monkeypatch.setenv("CONTENTGEN_LLM_BASE_URL", f"http://127.0.0.1:{server.server_port}/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "any")
        return requests

    yield start
    for server in servers:
        server.shutdown()


def test_a_server_answering_500_fails_the_first_stage_with_a_clear_message(stub: Any) -> None:
    stub(lambda body: (500, "model crashed"))
    with pytest.raises(StageFailed) as failure:
        run_pipeline(SPIN, completed={}, on_event=lambda e: None, llm_name="openai/any-name-at-all")
    assert failure.value.stage == "writing"
    assert "answered HTTP 500" in failure.value.message and "model crashed" in failure.value.message


def _refuses_json_schema(seo_answer: str) -> Answer:
    def answer(body: dict[str, Any]) -> tuple[int, str]:
        kind = (body.get("response_format") or {}).get("type")
        if kind == "json_schema":
            return 500, "response_format: Input should be 'text' or 'json_object'"
        return 200, seo_answer

    return answer


def test_refused_json_schema_falls_back_to_json_in_the_prompt_validated_by_the_same_model(stub: Any) -> None:
    requests = stub(_refuses_json_schema("Here it is: " + json.dumps(SEO_JSON)))
    result = run_pipeline(
        SPIN, completed={"writing": ARTICLE}, on_event=lambda e: None, llm_name="openai/my-local-model"
    )
    assert result.meta_title == SEO_JSON["meta_title"]
    assert result.content.startswith("# Solar at home")
    formats = [(r.get("response_format") or {}).get("type") for r in requests]
    assert formats[0] == "json_schema" and "json_object" in formats[1:]
    assert requests[0]["model"] == "my-local-model"
    assert "JSON schema" in requests[formats.index("json_object")]["messages"][-1]["content"]


def test_json_that_still_does_not_validate_after_a_retry_derives_the_meta_and_completes(stub: Any) -> None:
    requests = stub(_refuses_json_schema('{"meta_title": "only this"}'))
    events: list[PipelineEvent] = []
    result = run_pipeline(SPIN, completed={"writing": ARTICLE}, on_event=events.append, llm_name="openai/m")
    assert result.meta_derived is True
    assert result.meta_title == "Solar at home"
    assert result.meta_description.startswith("Solar panels for homes cut bills and need a sunny roof.")
    assert [(r.get("response_format") or {}).get("type") for r in requests].count("json_object") == 2
    assert any("derived from the article" in e.message for e in events if e.kind == "stage_step")
    last = [e for e in events if e.kind != "usage"][-1]
    assert "derived from the article" in last.message and last.kind == "stage_completed"


def test_a_model_that_breaks_the_schema_gets_one_retry_with_the_stricter_prompt(stub: Any) -> None:
    def answer(body: dict[str, Any]) -> tuple[int, str]:
        kind = (body.get("response_format") or {}).get("type")
        return 200, '{"meta_title": "Sol' if kind == "json_schema" else json.dumps(SEO_JSON)

    requests = stub(answer)
    result = run_pipeline(SPIN, completed={"writing": ARTICLE}, on_event=lambda e: None, llm_name="openai/m")
    formats = [(r.get("response_format") or {}).get("type") for r in requests]
    assert formats[:2] == ["json_schema", "json_object"] and formats.count("json_object") == 1
    assert "Your previous answer was not valid" in requests[1]["messages"][-1]["content"]
    assert result.meta_derived is False
    assert result.meta_description == SEO_JSON["meta_description"]


TOPIC = JobInput(
    mode="topic", topic="Solar panels for homes", keywords=[], source_text="", word_count=300, tone="friendly"
)
BRIEF = "# Research brief\n\n## Audience\n\nHome owners with a sunny roof.\n"
LONG_ARTICLE = ARTICLE + "".join(
    f"\n## Part {n}\n\nSolar panels for homes need a roof that faces the sun for most of the day. "
    "Shade from trees or chimneys cuts what they make, so check it before you buy.\n"
    for n in range(1, 9)
)


def _small_model(seo: tuple[int, str]) -> Answer:
    """A small self-hosted model: it writes the brief and the article, but answers the SEO editor with
    ``seo`` (broken JSON, or an error) and cannot follow an editing instruction."""

    def answer(body: dict[str, Any]) -> tuple[int, str]:
        text = " ".join(str(message.get("content")) for message in body["messages"])
        if body.get("response_format") or "SEO Editor" in text:
            if (body.get("response_format") or {}).get("type") == "json_schema" and seo[0] == 200:
                return 500, "response_format: Input should be 'text' or 'json_object'"
            return seo
        if "You are an SEO editor" in text:
            return 200, "Sure! Here is a better version of your text."
        return 200, BRIEF if "Content Researcher" in text else LONG_ARTICLE

    return answer


def test_a_topic_job_whose_seo_answer_is_broken_json_completes_with_its_article(stub: Any) -> None:
    stub(_small_model((200, '{"meta_title": "Solar panels, "meta_description": ')), chunk_seconds=0.005)
    events: list[PipelineEvent] = []
    result = run_pipeline(TOPIC, completed={}, on_event=events.append, llm_name="openai/smollm2-local")
    writing = [e.stage_progress for e in events if e.kind == "stage_progress" and e.stage == "writing"]
    assert len(set(writing)) >= 5
    assert result.word_count >= 100 and result.content.startswith("# ")
    assert result.meta_derived is True and result.meta_title and result.meta_description
    assert [e.stage for e in events if e.kind == "stage_completed"] == ["research", "writing", "seo"]
    assert {verdict["id"] for verdict in result.seo_report} >= {"keyphrase_in_meta_title", "text_length"}


def test_a_server_answering_500_in_seo_fails_the_job_naming_the_provider(stub: Any) -> None:
    stub(_small_model((500, "model crashed")))
    with pytest.raises(StageFailed) as failure:
        run_pipeline(TOPIC, completed={}, on_event=lambda e: None, llm_name="openai/smollm2-local")
    assert failure.value.stage == "seo"
    assert failure.value.message.startswith("The server for 'openai/smollm2-local' answered HTTP 500")


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    pytest.importorskip("llama_cpp.server", reason="the `local` extra is not installed")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model_path()), "--host", "127.0.0.1"]
        + ["--port", str(port), "--n_ctx", "4096", "--model_alias", "smollm2", "--n_threads", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=die_with_parent,
    )
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "llama_cpp.server exited"
            assert time.monotonic() < deadline, "llama_cpp.server did not start in 60 s"
            time.sleep(0.2)
        yield url
    finally:
        stop_process(proc)


@pytest.mark.local_llm
def test_the_openai_class_streams_progress_and_cancel_stops_the_stream(
    llama_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONTENTGEN_LLM_BASE_URL", llama_server)
    monkeypatch.setenv("OPENAI_API_KEY", "ignored")
    events: list[PipelineEvent] = []
    before = set(threading.enumerate())

    def should_cancel() -> bool:
        writing = [e for e in events if e.kind == "stage_progress" and e.stage == "writing"]
        return len(writing) >= 8

    with pytest.raises(PipelineCancelled):
        run_pipeline(
            SPIN, completed={}, on_event=events.append, should_cancel=should_cancel, llm_name="openai/smollm2"
        )
    progress = [e.stage_progress for e in events if e.kind == "stage_progress" and e.stage == "writing"]
    assert len(set(progress)) >= 5 and progress == sorted(progress) and progress[-1] < 100
    assert "".join(e.draft_append for e in events).strip()
    crew = [t for t in threading.enumerate() if t.name == "contentgen-crew" and t not in before]
    for thread in crew:  # the stream stops at its next chunk: far sooner than its 300 words
        thread.join(10)
    assert not [t for t in crew if t.is_alive()], "the cancelled stream kept the crew thread running"


@pytest.mark.local_llm
@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.django_db
@pytest.mark.skipif(
    os.environ.get("CONTENTGEN_TEST_LLAMA_JOB") != "1",
    reason="a whole article on one llama.cpp thread takes minutes: CONTENTGEN_TEST_LLAMA_JOB=1 runs it",
)
def test_a_topic_job_on_llama_cpp_completes_with_meta_and_usage(
    llama_server: str, user: Any, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The path a new user takes with a self-hosted model (issue 29): a small model's broken JSON in SEO
    costs the job nothing, the article it wrote is kept, and its tokens are counted."""
    settings.CONTENTGEN_LLM = "openai/smollm2"
    monkeypatch.setenv("CONTENTGEN_LLM_BASE_URL", llama_server)
    monkeypatch.setenv("OPENAI_API_KEY", "ignored")
    job = services.job_create(user=user, spec=spec(topic="How to start composting on a small balcony", word_count=150))
    burst_here(timeout=900)
    stored = GenerationJob.objects.get(pk=job.pk)
    assert stored.status == "completed", stored.error
    assert stored.result.word_count >= 100 and stored.result.meta_title and stored.result.meta_description
    assert len(stored.result.meta_title) <= 60 and len(stored.result.meta_description) <= 160
    writing = {
        e["data"]["progress"]["stage_progress"]
        for e in progress_events.after(job.pk, 0)
        if (e["data"].get("progress") or {}).get("stage") == "writing"
    }
    assert len(writing) >= 5, sorted(writing)
    usage = stored.result.usage
    assert usage["model"] and usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
