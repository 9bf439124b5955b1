"""`schemathesis run <base>/api/schema/ --checks all`, authenticated, against uvicorn and a worker (so streams end):
no server error, and no response or event that breaks the schema (no ST1xx finding). Input-side findings that
depend on this machine (a webhook URL whose host does not resolve here, or resolves to a private address;
an item that leaves a field to a batch's `defaults` in a way the schema cannot state) may remain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import token_for
from tests.stack import ARTIFACTS, Daphne, child_env, start_worker, uvicorn_on

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# Cases per operation for the fuzzing phases: 3 keeps `make test` under a minute; the full run is
# CONTENTGEN_TEST_SCHEMATHESIS_EXAMPLES=15. The coverage phase (every boundary of every field, about 1,400 cases
# whatever the count, over 2 minutes) runs in `make test-long`.
EXAMPLES = os.environ.get("CONTENTGEN_TEST_SCHEMATHESIS_EXAMPLES", "3")
PHASES = [
    pytest.param("examples,fuzzing,stateful", id="fuzzing"),
    pytest.param("coverage", id="coverage", marks=pytest.mark.long),
]
# Response-side checks: what the server sends must be what the schema says.
RESPONSE_CODES = ("ST1",)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("phases", PHASES)
def test_schemathesis_finds_no_server_error_and_no_response_outside_the_schema(user, tmp_path: Path, phases: str):
    limits = {
        "CONTENTGEN_RATE_JOBS_PER_MINUTE": "0",
        "CONTENTGEN_RATE_BATCH_ITEMS_PER_HOUR": "0",
        "CONTENTGEN_RATE_WEBHOOK_SENDS_PER_MINUTE": "0",
        "CONTENTGEN_WEBHOOK_MAX_ENDPOINTS": "0",
        "CONTENTGEN_MAX_STREAMS_PER_USER": "0",
    }
    server = Daphne(command=uvicorn_on, env=limits).start()
    worker = start_worker(log="schemathesis-worker", **limits)
    report = tmp_path / "report.json"
    try:
        result = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"), "run", f"{server.url}/api/schema/",
                "--checks", "all", "-H", f"Authorization: Token {token_for(user)}",
                "--generation-with-security-parameters", "false", "--request-timeout", "30",
                "--max-examples", EXAMPLES, "--phases", phases, "--seed", "27", "--workers", "2", "--no-color",
                "--report", "json", "--report-json-path", str(report),
            ],
            cwd=tmp_path, env=child_env(), capture_output=True, text=True, timeout=840,  # its cache stays there
        )  # fmt: skip
    finally:
        worker.terminate()
        server.stop()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"schemathesis-{phases.split(',')[-1]}.txt").write_text(result.stdout + result.stderr)
    findings = _findings(json.loads(report.read_text())) if report.exists() else []
    print(result.stdout[-3000:])
    server_errors = [f for f in findings if f["code"].startswith("ST0") or "server error" in f["title"].lower()]
    outside = [f for f in findings if f["code"].startswith(RESPONSE_CODES)]
    assert not server_errors and not outside, json.dumps(server_errors + outside, indent=1)[:6000]


def _findings(report: dict) -> list[dict]:
    found: list[dict] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "code" in node and "title" in node:
                found.append({"code": str(node["code"]), "title": str(node["title"]), "where": node.get("operation")})
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(report)
    return found
