"""The README runs as written, and the documentation points at what exists.

Without a network: every `make` target, `manage.py` command and benchmark script the guides name exists (the
commands' arguments parse), every environment variable they name is one contentgen reads, every relative link
and anchor resolves, and the README stays a front door (short, no dated narrative). Against a live daphne and
an in-process worker: the README's curl block, its EventSource snippet (in Chromium) and its WebSocket script
follow a job to its end.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.management import get_commands, load_command_class
from django.test import Client

from contentgen.variables import NAMES
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.contentgen.test_configuration import NOT_OURS, TEST_ONLY
from tests.factories import token_for
from tests.stack import Daphne, SseEvent, burst_here, iter_sse, wait_until

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
# The guides a reader follows today; docs/measurements.md is history and may name what has since gone.
GUIDES = [README, ROOT / "CONTRIBUTING.md", ROOT / "SECURITY.md", *sorted((ROOT / "docs").glob("*.md"))]
GUIDES = [path for path in GUIDES if path.name not in ("measurements.md", "story.md")]
DOCUMENTS = [*ROOT.glob("*.md"), *(ROOT / "docs").rglob("*.md"), *(ROOT / "bench" / "results").glob("*.md")]
README_HOST = "127.0.0.1:8000"
VARIABLE = re.compile(
    r"\b((?:CONTENTGEN|DJANGO)_[A-Z0-9_]+|MONGODB_URI|REDIS_URL|PROMETHEUS_MULTIPROC_DIR)\b"
)


def text(path: Path) -> str:
    return path.read_text()


def fenced(source: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", source, re.S)


def code(source: str) -> list[str]:
    """Every fenced block and inline code span, the places where a reader copies commands from."""
    blocks = re.findall(r"```[a-z]*\n(.*?)```", source, re.S)
    prose = re.sub(r"```[a-z]*\n.*?```", "", source, flags=re.S)
    return blocks + re.findall(r"`([^`]+)`", prose)


def readme_block(language: str, marker: str) -> str:
    return next(block for block in fenced(text(README), language) if marker in block)


# Static checks: no server, no network.


def test_the_readme_is_a_front_door_of_at_most_320_lines():
    assert len(text(README).splitlines()) <= 320


def test_the_readme_carries_no_utc_times_dates_or_commit_hashes():
    readme = text(README)
    assert not re.findall(r"\bUTC\b|\b(?:[01]?\d|2[0-3]):[0-5]\d\b(?!\d)|\b20\d\d-\d\d-\d\d\b", readme)
    hashes = [word for word in re.findall(r"\b[0-9a-f]{7,40}\b", readme) if re.search(r"\d", word)]
    assert not [word for word in hashes if re.search(r"[a-f]", word)]


def test_the_performance_figures_are_marked_for_refreshing_from_bench_run():
    readme = text(README)
    assert "<!-- figures: bench/run, median of 3 runs -->" in readme
    assert "](bench/results/REPORT.md)" in readme


def test_every_make_target_the_guides_name_exists():
    makefile = text(ROOT / "Makefile")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    named = {(path.name, target) for path in GUIDES for span in code(text(path))
             for target in re.findall(r"(?:^|[\s;(&|])make ([a-z][a-z-]*)", span, re.M)}  # fmt: skip
    assert {"run", "test", "lint", "bench", "lock"} <= {target for _, target in named}
    assert {(name, target) for name, target in named if target not in targets} == set()


def _manage_lines() -> list[tuple[str, str]]:
    """(guide, arguments after `manage.py`) of every manage.py command in the guides' shell blocks."""
    found = []
    for path in GUIDES:
        for block in fenced(text(path), "bash"):
            for line in block.replace("\\\n", " ").splitlines():
                for command in re.split(r"&&|;", line):
                    match = re.search(r"\bmanage\.py\s+(.*)$", command)
                    if match:
                        found.append((path.name, match.group(1)))
    return found


def test_every_manage_py_command_in_the_guides_parses_as_written():
    commands = get_commands()
    lines = _manage_lines()
    assert any(args.startswith("generate ") for _, args in lines), "the README shows the CLI"
    for guide, rest in lines:
        name, *args = shlex.split(rest, comments=True)
        assert name in commands, f"{guide}: manage.py {name} does not exist"
        parser = load_command_class(commands[name], name).create_parser("manage.py", name)
        try:
            parser.parse_args(args)
        except SystemExit as exc:
            pytest.fail(f"{guide}: `manage.py {rest}` does not parse ({exc})")


def test_every_manage_py_command_the_guides_mention_exists():
    commands = get_commands()
    named = {(path.name, name) for path in GUIDES for span in code(text(path))
             for name in re.findall(r"manage\.py ([a-z_]+)", span)}  # fmt: skip
    assert {(guide, name) for guide, name in named if name not in commands} == set()


def test_every_benchmark_script_the_guides_name_exists_and_takes_its_options():
    named = []
    for path in GUIDES:
        for span in code(text(path)):
            for script, options in re.findall(
                r"(bench/run|bench/[a-z_]+\.py)((?:\s+--[a-z-]+(?:\s+[^\s-][^\s]*)?)*)", span
            ):
                named.append((path.name, script, re.findall(r"--[a-z-]+", options)))
    assert any(script == "bench/run" for _, script, _ in named)
    for guide, script, options in named:
        assert (ROOT / script).exists(), f"{guide}: {script} does not exist"
        source = text(ROOT / ("bench/suite.py" if script == "bench/run" else script))
        source += text(ROOT / "bench" / "standalone.py")  # the shared command line of the standalone scripts
        for option in options:
            assert f'"{option}"' in source, f"{guide}: {script} takes no {option}"


def test_every_environment_variable_the_documents_name_is_one_contentgen_reads():
    named = {(path.name, name) for path in DOCUMENTS for name in VARIABLE.findall(text(path))}
    assert {(doc, name) for doc, name in named if name not in NAMES | NOT_OURS | TEST_ONLY} == set()


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    source = re.sub(r"```.*?```", "", text(path), flags=re.S)
    anchors = set(re.findall(r'<a id="([^"]+)"', source))
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} (.+)$", source, re.M):
        slug = _slug(heading)
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_every_relative_link_in_the_documents_points_at_a_file_and_an_anchor_there():
    broken = []
    for path in DOCUMENTS:
        source = re.sub(r"`[^`]*`", "", re.sub(r"```.*?```", "", text(path), flags=re.S))
        for target in re.findall(r"\]\(([^)\s]+)\)", source):
            if re.match(r"[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            resolved = (path.parent / file).resolve() if file else path
            if not resolved.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in _anchors(resolved):
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such anchor)")
    assert broken == []


# The README's examples against a live daphne, its jobs run by an in-process worker.


@pytest.fixture(scope="module")
def daphne(django_db_setup, django_db_blocker):
    server = Daphne().start()
    yield server
    server.stop()


def _on_our_server(snippet: str, daphne: Daphne) -> str:
    host = daphne.url.removeprefix("http://")
    return snippet.replace(f"http://{README_HOST}", daphne.url).replace(f"ws://{README_HOST}", f"ws://{host}")


def _child_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "PYTHONUNBUFFERED": "1",
            **extra}  # fmt: skip


def _beside_a_worker(
    args: list[str], *, cwd: Path, env: dict[str, str], following: Any
) -> tuple[str, str, Any]:
    """Start `args`; once `following(process)` says it follows its job (and what it read by then), run the queue
    in this process, then wait for `args` to end. Returns its stdout, its stderr and what `following` returned."""
    process = subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        read = following(process)
        burst_here()
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    return out, err, read


def _create_job(daphne: Daphne, token: str) -> str:
    created = httpx.post(f"{daphne.url}/api/jobs/", json={"mode": "topic", "topic": "Rain barrels", "word_count": 200},
                         headers={"Authorization": f"Token {token}"}, timeout=10)  # fmt: skip
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.mark.slow
@pytest.mark.django_db
def test_the_readme_curl_block_creates_a_job_and_follows_it_to_the_end(daphne, user, tmp_path):
    block = re.sub(
        r"^export TOKEN=\S+", f"export TOKEN={token_for(user)}", readme_block("bash", "curl"), flags=re.M
    )
    # Each curl also reports its HTTP status on stderr; the block itself runs as written.
    script = "set -euo pipefail\ncurl() { command curl -w '%{stderr}HTTP %{http_code}\\n' \"$@\"; }\n"
    script += _on_our_server(block, daphne)
    job_file = tmp_path / "job.json"

    def created(shell: subprocess.Popen[str]) -> None:
        wait_until(
            lambda: job_file.exists() and job_file.read_text().endswith("}"), timeout=30, what="job.json"
        )

    out, err, _ = _beside_a_worker(["bash", "-c", script], cwd=tmp_path, env=_child_env(), following=created)
    assert re.findall(r"^HTTP (\d+)$", err, re.M) == ["201", "200"]
    job = json.loads(job_file.read_text())
    assert job["status"] == "queued" and job["mode"] == "topic"
    events = [e for e in iter_sse(out[len(job_file.read_text()) :].splitlines()) if isinstance(e, SseEvent)]
    assert events[0].event == "progress" and events[-1].event == "complete"
    assert events[-1].data["job_id"] == job["id"] and events[-1].data["status"] == "completed"


@pytest.mark.slow
@pytest.mark.django_db
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not found on PATH (apt-get install -y chromium)")
def test_the_readme_event_source_snippet_follows_a_job_in_a_browser(daphne, user):
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only with Chromium

    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value
    job_id = _create_job(daphne, token_for(user))
    snippet = readme_block("js", "EventSource")
    logged: list[str] = []
    listening = threading.Event()
    failure: list[BaseException] = []

    def browse() -> None:  # its own thread: Playwright's sync API runs an event loop where it is called
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(base_url=daphne.url)
                context.add_cookies([{"name": "sessionid", "value": session, "url": daphne.url}])
                page = context.new_page()
                page.on("console", lambda message: logged.append(message.text))
                page.goto("/")
                page.evaluate(f"(jobId) => {{\n{snippet}\n}}", job_id)
                deadline = time.monotonic() + 60
                while not any(line.startswith("done:") for line in logged) and time.monotonic() < deadline:
                    if logged:
                        listening.set()
                    page.wait_for_timeout(100)
                browser.close()
        except BaseException as exc:
            failure.append(exc)
        finally:
            listening.set()

    browser_thread = threading.Thread(target=browse, daemon=True)
    browser_thread.start()
    assert listening.wait(60)
    burst_here()
    browser_thread.join(90)
    assert not failure, failure
    assert logged[0].startswith("0% queued: "), logged
    assert any(" writing: " in line for line in logged), logged
    assert logged[-1] == "done: completed", logged


@pytest.mark.slow
@pytest.mark.django_db
def test_the_readme_websocket_script_follows_a_job_to_its_end(daphne, user, tmp_path):
    token = token_for(user)
    job_id = _create_job(daphne, token)
    (tmp_path / "follow.py").write_text(_on_our_server(readme_block("python", "websockets.connect"), daphne))

    def first_line(follow: subprocess.Popen[str]) -> str:
        assert select.select([follow.stdout], [], [], 60)[0], "the script printed nothing"
        return follow.stdout.readline()  # type: ignore[union-attr]

    env = _child_env(TOKEN=token)
    rest, _, first = _beside_a_worker(
        [sys.executable, "follow.py", job_id], cwd=tmp_path, env=env, following=first_line
    )
    lines = [line.split() for line in (first + rest).splitlines()]
    assert lines[0][1:3] == ["progress", "queued"], lines
    assert lines[-1][1:3] == ["complete", "completed"], lines
    seqs = [int(line[0]) for line in lines]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
