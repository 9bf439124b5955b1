"""The lean ASGI stream path under uvicorn (test_sse.py runs the same contracts under daphne): stream caps,
resume rules, the pages' session-only streams, the Host check, and what opening a stream costs the database."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time

import httpx
import pytest
import websockets
from django.test import Client
from rest_framework.authtoken.models import Token

from jobs.core import events as job_events
from jobs.core import services
from jobs.core.validation import parse_job
from progress import events
from progress.auth import AUTH_TTL
from tests.factories import token_for
from tests.stack import (
    Daphne,
    StreamReader,
    burst_here,
    iter_sse,
    read_stream,
    run_async,
    uvicorn_on,
    wait_until,
    ws_outcome,
)

# One module of one xdist worker: its server starts once.
pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.xdist_group("uvicorn")]
METRICS_TOKEN = "lean-path-test"


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    server = Daphne(
        command=uvicorn_on,
        env={
            "CONTENTGEN_SSE_PING_SECONDS": "1",
            "CONTENTGEN_MAX_STREAMS_PER_USER": "2",
            "CONTENTGEN_METRICS_TOKEN": METRICS_TOKEN,
        },
    ).start()
    yield server
    server.stop()


@pytest.fixture
def auth(user) -> dict[str, str]:
    return {"Authorization": f"Token {token_for(user)}"}


def new_job(user):
    spec, errors = parse_job({"mode": "topic", "topic": "Lean streams", "word_count": 200})
    assert not errors
    return services.job_create(user=user, spec=spec)


def test_a_stream_starts_with_the_current_state_under_uvicorn(server, user, auth):
    job = new_job(user)
    evs = read_stream(f"{server.url}/api/jobs/{job.pk}/progress", headers=auth, stop=lambda got: len(got) >= 1, timeout=20)
    assert (evs[0].id, evs[0].event, evs[0].data["status"]) == (1, "progress", "queued")


def test_a_stream_over_the_users_cap_answers_429_with_retry_after(server, user, auth):
    job = new_job(user)
    url = f"{server.url}/api/jobs/{job.pk}/progress"
    with (
        httpx.Client(timeout=20) as one,
        httpx.Client(timeout=20) as two,
        one.stream("GET", url, headers=auth) as first,
        two.stream("GET", url, headers=auth) as second,
    ):
        assert first.status_code == second.status_code == 200
        refused = httpx.get(url, headers=auth, timeout=20)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"].isdigit()
    assert "streams open" in refused.json()["detail"]


def test_resuming_at_the_final_event_answers_204_and_just_before_it_sends_only_the_end(server, user, auth):
    job = new_job(user)
    burst_here()
    last = events.latest(job.pk)["seq"]
    url = f"{server.url}/api/jobs/{job.pk}/progress"
    assert httpx.get(url, headers={**auth, "Last-Event-ID": str(last)}, timeout=20).status_code == 204
    rest = read_stream(url, headers={**auth, "Last-Event-ID": str(last - 1)}, timeout=20)
    assert [(e.id, e.event) for e in rest] == [(last, "complete")]


def test_an_id_beyond_the_end_resumes_caught_up_at_the_last_event(server, user, auth):
    job = new_job(user)
    comments: list[str] = []
    emitted: list[int] = []

    def stop(got) -> bool:
        if comments and not emitted:  # caught up and idle: now the job moves on
            emitted.append(job_events.job_emit(job=job, after=1))
        return len(got) >= 1

    got = read_stream(f"{server.url}/api/jobs/{job.pk}/progress", headers={**auth, "Last-Event-ID": "999999"},
                      comments=comments, stop=stop, timeout=20)  # fmt: skip
    assert comments[0] == ": ping"
    assert [e.id for e in got] == emitted == [2]


@pytest.mark.parametrize("value", ["-1", "1e3", "１２", "9" * 19])
def test_a_malformed_last_event_id_answers_400(server, user, auth, value):
    job = new_job(user)
    response = httpx.get(f"{server.url}/api/jobs/{job.pk}/progress?last_event_id={value}", headers=auth, timeout=20)
    assert response.status_code == 400 and "last_event_id" in response.json()


def test_the_pages_live_stream_takes_the_session_and_refuses_a_token(server, user, auth):
    job = new_job(user)
    browser = Client()
    browser.force_login(user)
    cookie = {"Cookie": f"sessionid={browser.cookies['sessionid'].value}"}
    url = f"{server.url}/jobs/{job.pk}/live"
    evs = read_stream(url, headers=cookie, stop=lambda got: len(got) >= 1, timeout=20)
    assert evs[0].id == 1 and 'role="progressbar"' in evs[0].data
    refused = httpx.get(url, headers=auth, timeout=20)
    assert refused.status_code == 401 and refused.json() == {"detail": "Authentication credentials were not provided."}


def test_another_users_missing_and_malformed_ids_answer_the_same_404(server, user, other_user, auth):
    job = new_job(user)
    other = {"Authorization": f"Token {token_for(other_user)}"}
    answers = [
        httpx.get(f"{server.url}/api/jobs/{job_id}/progress", headers=other, timeout=20)
        for job_id in (job.pk, "6b0be0000000000000000000", "xyz")
    ]
    assert {r.status_code for r in answers} == {404}
    assert len({r.content for r in answers}) == 1


def test_a_host_outside_allowed_hosts_is_refused(server, user, auth):
    job = new_job(user)
    response = httpx.get(f"{server.url}/api/jobs/{job.pk}/progress", headers={**auth, "Host": "evil.example"}, timeout=20)
    assert response.status_code == 400


def _db_reads(server) -> int:
    body = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=20).text
    return sum(int(n) for name, n in re.findall(r'^contentgen_mongodb_commands_total\{command="(\w+)"\} (\d+)$', body, re.M)
               if name in ("find", "aggregate", "count", "getMore"))  # fmt: skip


def test_opening_a_stream_reads_the_database_at_most_twice(server, user, auth):
    jobs = [new_job(user) for _ in range(5)]
    read_stream(f"{server.url}/api/jobs/{jobs[0].pk}/progress", headers=auth, stop=lambda got: len(got) >= 1, timeout=20)
    before = _db_reads(server)
    for job in jobs[1:]:
        read_stream(f"{server.url}/api/jobs/{job.pk}/progress", headers=auth, stop=lambda got: len(got) >= 1, timeout=20)
    after = _db_reads(server)
    assert after - before - 1 <= 2 * 4  # the scrape itself makes one aggregate


def _status(url: str, headers: dict[str, str]) -> int:
    """The answer's status, without reading a stream's body."""
    with httpx.stream("GET", url, headers=headers, timeout=20) as response:
        return response.status_code


def test_a_deleted_token_is_refused_by_the_server_that_cached_it(server, user):
    job = new_job(user)
    headers = {"Authorization": f"Token {token_for(user)}"}
    url = f"{server.url}/api/jobs/{job.pk}/progress"
    assert read_stream(url, headers=headers, stop=lambda got: len(got) >= 1, timeout=20)[0].id == 1
    cached = time.monotonic()  # the server holds the token's user from now for AUTH_TTL
    Token.objects.filter(user=user).delete()  # announced to every web process's hub through Redis
    # Refused a second before the cached entry would have run out by itself: the announcement did it.
    left = AUTH_TTL - 1 - (time.monotonic() - cached)
    wait_until(lambda: _status(url, headers) == 401, timeout=left, what="the server to forget the deleted token")


def test_the_websocket_works_under_uvicorn_with_the_token_subprotocol(server, user):
    job = new_job(user)
    url = server.url.replace("http", "ws") + f"/ws/jobs/{job.pk}/"
    protocols = ["token", token_for(user)]

    async def first() -> dict:
        async with websockets.connect(url, subprotocols=protocols, open_timeout=10) as ws:
            return json.loads(await asyncio.wait_for(ws.recv(), timeout=10))

    message = run_async(first())
    assert (message["seq"], message["type"], message["status"]) == (1, "progress", "queued")


def _metric(server, sample: str) -> float:
    body = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=20).text
    found = re.search(rf"^{re.escape(sample)} ([0-9.e+-]+)$", body, re.M)
    return float(found.group(1)) if found else 0.0


def _answered_like_django(headers) -> None:
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin" and headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_the_lean_path_answers_with_djangos_headers_counts_its_streams_and_passes_the_draft_on(server, user, auth):
    job = new_job(user)
    url = f"{server.url}/api/jobs/{job.pk}/progress"
    refused = httpx.get(url, headers={"X-Request-ID": "lean-42"}, timeout=20)
    assert refused.status_code == 401 and refused.headers["X-Request-ID"] == "lean-42"
    _answered_like_django(refused.headers)
    gauge = 'contentgen_streams_open{transport="sse"}'
    idle, delays = _metric(server, gauge), _metric(server, "contentgen_event_send_delay_seconds_count")
    draft = {"offset": 0, "text": "The first words of the article."}
    got = []
    with httpx.Client(timeout=20) as client, client.stream("GET", url, headers=auth) as response:
        assert response.status_code == 200 and response.headers["X-Request-ID"]
        _answered_like_django(response.headers)
        for item in iter_sse(response.iter_lines()):
            if isinstance(item, str):
                continue
            got.append(item)
            if len(got) == 1:
                assert _metric(server, gauge) == idle + 1
                job_events.job_emit(job=job, after=1, extra={"draft": draft})
            else:
                break
    assert [(e.id, e.event, e.data.get("draft")) for e in got] == [(1, "progress", None), (2, "progress", draft)]
    wait_until(lambda: _metric(server, gauge) == idle, timeout=10, what="the closed stream to be counted out")
    assert _metric(server, "contentgen_event_send_delay_seconds_count") >= delays + 1  # the pushed event


def test_websocket_refusals_are_a_403_at_the_handshake_and_a_finished_job_closes_normally(server, user, other_user):
    job = new_job(user)
    url = server.url.replace("http", "ws") + f"/ws/jobs/{job.pk}/"

    mine = {"Authorization": f"Token {token_for(user)}"}
    assert ws_outcome(url) == 403
    assert ws_outcome(url, {"Authorization": f"Token {token_for(other_user)}"}) == 403
    assert ws_outcome(url + "?last_event_id=x", mine) == 403
    burst_here()
    last = events.latest(job.pk)["seq"]
    assert ws_outcome(url + f"?last_event_id={last}", mine) == 1000  # nothing after the end: a normal close


def test_uvicorn_stops_within_its_grace_period_while_a_stream_is_open(user, auth):
    """uvicorn waits for open responses before it exits, and a live stream never ends by itself: without a
    grace period, SIGTERM (systemd's stop, `make run`'s Ctrl-C) left it serving until SIGKILL."""
    own = Daphne(command=uvicorn_on, log="uvicorn-grace").start()
    assert own.proc is not None
    try:
        job = new_job(user)
        reader = StreamReader(f"{own.url}/api/jobs/{job.pk}/progress", headers=auth, timeout=120)
        wait_until(lambda: len(reader.events) >= 1, timeout=20, what="the stream's first event")
        own.proc.send_signal(signal.SIGTERM)
        # Without a grace period it would wait for the stream, which never ends: it would not stop at all.
        try:
            own.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("uvicorn did not stop on SIGTERM while a stream was open")
        reader.join(timeout=30)
    finally:
        own.stop()
    assert not reader.is_alive(), "the stream stayed open after its server stopped"
