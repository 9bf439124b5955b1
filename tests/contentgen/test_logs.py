from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest

from contentgen import logs
from tests.stack import ROOT, child_env

pytestmark = pytest.mark.django_db


def test_json_lines_carry_bound_fields_and_extras():
    record = logging.makeLogRecord(
        {"name": "x", "levelname": "INFO", "msg": "hello %s", "args": ("you",), "status": 201}
    )
    with logs.bind(job_id="j1", attempt=2):
        logs.ContextFilter().filter(record)
    line = json.loads(logs.JsonFormatter().format(record))
    assert line["message"] == "hello you" and line["job_id"] == "j1" and line["attempt"] == 2
    assert line["status"] == 201 and line["level"] == "info"


def test_a_terminal_gets_readable_lines(monkeypatch):
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True, raising=False)
    assert isinstance(logs.formatter(), logs.ConsoleFormatter)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    assert isinstance(logs.formatter(), logs.JsonFormatter)


@pytest.fixture
def request_lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.ContextFilter())
    handler.setFormatter(logs.JsonFormatter())
    logger = logging.getLogger()
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_requests_get_an_id_in_the_response_and_in_every_line_they_log(api, request_lines):
    response = api.post(
        "/api/jobs/", {"mode": "topic", "topic": "Logged"}, format="json", HTTP_X_REQUEST_ID="req-42"
    )
    assert response["X-Request-ID"] == "req-42"
    lines = request_lines()
    queued = next(line for line in lines if line["message"].endswith("queued (topic)"))
    assert queued["request_id"] == "req-42" and queued["job_id"] == response.json()["id"]
    request = next(line for line in lines if line["logger"] == "contentgen.request")
    assert request["request_id"] == "req-42" and request["status"] == 201 and request["path"] == "/api/jobs/"
    assert (
        api.get("/api/jobs/", HTTP_X_REQUEST_ID="bad id with spaces")["X-Request-ID"] != "bad id with spaces"
    )


@pytest.mark.slow
def test_a_workers_job_lines_carry_the_job_user_worker_and_attempt(api):
    job = api.post(
        "/api/jobs/", {"mode": "topic", "topic": "Followed", "word_count": 100}, format="json"
    ).json()
    out = subprocess.run(
        [sys.executable, "manage.py", "run_worker", "--burst"],
        cwd=ROOT, env=child_env(), capture_output=True, text=True, timeout=90, check=True,
    )  # fmt: skip
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    about = [line for line in lines if line.get("job_id") == job["id"]]
    assert about, out.stdout[-3000:] + out.stderr[-3000:]
    assert {line["message"] for line in about} >= {f"job {job['id']} claimed", f"job {job['id']} completed"}
    for line in about:
        assert line["user_id"] == job["userId"] and line["attempt"] == 1 and line["worker_id"]
        assert "bulk_job_id" not in line or line["bulk_job_id"] is None
