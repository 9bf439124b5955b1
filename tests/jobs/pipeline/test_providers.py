"""crewAI's own OpenAI class against OpenAI-compatible servers on loopback.

A tiny stub server covers what a real server should not be made to do (answer 500, refuse json_schema);
llama-cpp-python's server with the local GGUF covers real streaming and cancellation.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from contentgen.embedded import die_with_parent, stop_process
from contentgen.testing.ports import free_port
from jobs.pipeline import JobInput, PipelineCancelled, PipelineEvent, StageFailed, run_pipeline
from jobs.pipeline.local_model import model_path

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


Answer = Callable[[dict[str, Any]], tuple[int, str]]


class _Handler(BaseHTTPRequestHandler):
    answer: Answer
    requests: list[dict[str, Any]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.requests.append(body)
        status, text = self.answer(body)
        if status != 200:
            payload = json.dumps({"error": {"message": text, "type": "server_error"}}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for index in range(0, len(text), 8):
            chunk = {
                "id": "c1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {"index": 0, "delta": {"content": text[index : index + 8]}, "finish_reason": None}
                ],
            }
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture
def stub(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Answer], list[dict[str, Any]]]]:
    servers: list[ThreadingHTTPServer] = []

    def start(answer: Answer) -> list[dict[str, Any]]:
        requests: list[dict[str, Any]] = []
        handler = type("Handler", (_Handler,), {"answer": staticmethod(answer), "requests": requests})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
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


def test_a_server_answering_500_in_seo_fails_the_stage_naming_the_provider(stub: Any) -> None:
    """A real error is not a broken answer: no meta is derived over a provider that is down."""
    stub(lambda body: (500, "model crashed"))
    with pytest.raises(StageFailed) as failure:
        run_pipeline(SPIN, completed={"writing": ARTICLE}, on_event=lambda e: None, llm_name="openai/my-model")
    assert failure.value.stage == "seo"
    assert "'openai/my-model' answered HTTP 500" in failure.value.message


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


def test_json_that_still_does_not_validate_after_a_retry_fails_naming_the_problem(stub: Any) -> None:
    requests = stub(_refuses_json_schema('{"meta_title": "only this"}'))
    with pytest.raises(StageFailed) as failure:
        run_pipeline(SPIN, completed={"writing": ARTICLE}, on_event=lambda e: None, llm_name="openai/m")
    assert failure.value.stage == "seo"
    assert "did not return valid JSON for SeoOutput after a retry" in failure.value.message
    assert [(r.get("response_format") or {}).get("type") for r in requests].count("json_object") >= 2


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

