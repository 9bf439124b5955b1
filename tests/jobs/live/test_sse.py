"""SSE and WebSocket streams against a real daphne and real Redis, the worker in this process."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from bson import ObjectId

from jobs.models import GenerationJob
from progress import events
from tests.factories import JobFactory, token_for
from tests.stack import (
    ON_THE_SHARED_SERVER,
    Daphne,
    EventGate,
    StreamReader,
    WorkerThread,
    burst_here,
    read_stream,
    run_async,
    wait_until,
    ws_outcome,
)

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def daphne(daphne_server: Daphne) -> Daphne:
    return daphne_server


@pytest.fixture
def auth(user) -> dict[str, str]:
    return {"Authorization": f"Token {token_for(user)}"}


def ids(evs) -> list[int]:
    return [e.id for e in evs]


@ON_THE_SHARED_SERVER
def test_a_queued_job_stream_starts_with_its_current_state(daphne, user, auth):
    job = JobFactory(user=user, topic="Rain gardens", word_count=200)
    evs = read_stream(f"{daphne.url}/api/jobs/{job.pk}/progress", headers=auth, stop=lambda got: len(got) >= 1, timeout=20)
    assert evs[0].id == 1 and evs[0].event == "progress"
    assert evs[0].data["status"] == "queued" and evs[0].data["job_id"] == str(job.pk)
    assert evs[0].data["timestamp"].endswith("+00:00") and "." in evs[0].data["timestamp"]


@ON_THE_SHARED_SERVER
def test_a_live_job_streams_every_event_in_order_and_ends_after_complete(daphne, user, auth):
    job = JobFactory(user=user, topic="Rain gardens", word_count=200)
    reader = StreamReader(f"{daphne.url}/api/jobs/{job.pk}/progress", headers=auth, timeout=90)
    wait_until(lambda: reader.events, timeout=30, what="the stream's first event, before the job starts")
    burst_here(timeout=90, CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="400")
    got = reader.result(timeout=30)
    assert ids(got) == list(range(1, len(got) + 1))
    assert got[-1].event == "complete" and got[-1].data["status"] == "completed"
    assert ids(got) == [e["seq"] for e in events.after(job.pk, 0)]
    stages = [e.data["progress"]["stage"] for e in got if e.event == "progress"]
    assert "research" in stages and "writing" in stages and "seo" in stages


@ON_THE_SHARED_SERVER
def test_a_finished_job_stream_sends_complete_and_ends(daphne, user, auth):
    job = JobFactory(user=user, topic="Rain gardens", word_count=200)
    burst_here(timeout=90)
    last = events.latest(job.pk)
    evs = read_stream(f"{daphne.url}/api/jobs/{job.pk}/progress", headers=auth, timeout=20)
    assert [(e.id, e.event) for e in evs] == [(last["seq"], "complete")]


@ON_THE_SHARED_SERVER
@pytest.mark.parametrize("how", ["header", "query"])
def test_reconnecting_with_last_event_id_replays_without_gap_or_duplicate(daphne, user, auth, how):
    job = JobFactory(user=user, topic="Rain gardens", word_count=200)
    worker = WorkerThread(burst=True, CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="300").start()
    url = f"{daphne.url}/api/jobs/{job.pk}/progress"
    first = read_stream(url, headers=auth, stop=lambda got: any(e.data.get("progress", {}).get("stage") == "writing" for e in got), timeout=60)
    resume = first[-1].id
    if how == "header":
        rest = read_stream(url, headers={**auth, "Last-Event-ID": str(resume)}, timeout=90)
    else:
        rest = read_stream(f"{url}?last_event_id={resume}", headers=auth, timeout=90)
    worker.wait(timeout=90)
    combined = ids(first) + ids(rest)
    assert combined[len(first) - 1 :] == list(range(resume, resume + len(rest) + 1))
    assert ids(rest)[0] == resume + 1
    assert rest[-1].event == "complete"
    assert len(set(combined)) == len(combined)


def test_a_stream_resumes_across_a_daphne_restart_while_its_job_runs(user, auth, monkeypatch):
    gate = EventGate(monkeypatch, at=5)
    server = Daphne(log="daphne-restart")
    try:
        server.start()
        job = JobFactory(user=user, topic="Rain gardens", word_count=200)
        url = f"{server.url}/api/jobs/{job.pk}/progress"
        worker = WorkerThread(burst=True).start()
        try:
            since_0 = {**auth, "Last-Event-ID": "0"}
            first = read_stream(url, headers=since_0, stop=lambda got: len(got) >= 4, timeout=60)
            gate.wait()
            running = GenerationJob.objects.get(pk=job.pk)
            assert running.status == "processing" and events.last_seq(job.pk) == 4
            server.restart()
            resumed = StreamReader(url, headers={**auth, "Last-Event-ID": str(first[-1].id)}, timeout=90)
        finally:
            gate.release()
            worker.wait(timeout=90)
        rest = resumed.result(timeout=60)
    finally:
        server.stop()
    assert ids(first) == [1, 2, 3, 4]
    assert ids(rest) == list(range(5, 5 + len(rest)))  # every event the job sent after the restart
    assert rest[-1].event == "complete"


@ON_THE_SHARED_SERVER
def test_idle_streams_send_ping_comments(daphne, user, auth):
    job = JobFactory(user=user, topic="Rain gardens", word_count=200)
    comments: list[str] = []
    read_stream(f"{daphne.url}/api/jobs/{job.pk}/progress", headers=auth, comments=comments,
                stop=lambda got: len(comments) >= 2, timeout=20)
    assert comments[:2] == [": ping", ": ping"]


@ON_THE_SHARED_SERVER
def test_stream_access_matrix(daphne, user, other_user, auth):
    job = JobFactory(user=user, topic="Rain gardens", word_count=200)
    url = f"{daphne.url}/api/jobs/{job.pk}/progress"
    other = {"Authorization": f"Token {token_for(other_user)}"}
    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Token nope"}, timeout=10).status_code == 401
    foreign = httpx.get(url, headers=other, timeout=10)
    missing = httpx.get(f"{daphne.url}/api/jobs/{ObjectId()}/progress", headers=other, timeout=10)
    malformed = httpx.get(f"{daphne.url}/api/jobs/xyz/progress", headers=other, timeout=10)
    assert foreign.status_code == missing.status_code == malformed.status_code == 404
    assert foreign.json() == missing.json() == malformed.json()
    assert httpx.get(url, headers={**auth, "Last-Event-ID": "abc"}, timeout=10).status_code == 400


@ON_THE_SHARED_SERVER
def test_bulk_stream_reports_x_of_y_and_completes(daphne, user, auth, api):
    bulk_id = api.post("/api/bulk-jobs/", {"items": [{"mode": "trends", "topic": f"T{i}", "word_count": 100} for i in range(3)]}, format="json").json()["id"]
    reader = StreamReader(f"{daphne.url}/api/bulk-jobs/{bulk_id}/progress", headers=auth, timeout=90)
    burst_here(timeout=90)
    got = reader.result(timeout=30)
    assert ids(got) == list(range(got[0].id, got[0].id + len(got)))
    assert got[-1].event == "complete"
    assert got[-1].data["counts"]["completed"] == 3 and got[-1].data["total"] == 3
    assert got[-1].data["percentage"] == 100
    finished = [e.data["finished"] for e in got]
    assert finished == sorted(finished)


@ON_THE_SHARED_SERVER
def test_websocket_sends_the_same_data_with_type_and_seq(daphne, user, auth):
    job = JobFactory(user=user, topic="Rain gardens", word_count=200)

    async def listen() -> list[dict]:
        url = daphne.url.replace("http", "ws") + f"/ws/jobs/{job.pk}/?last_event_id=0"
        received: list[dict] = []
        async with websockets.connect(url, additional_headers={**auth, "Origin": daphne.url}, open_timeout=10) as ws:
            async with asyncio.timeout(90):
                async for raw in ws:
                    received.append(json.loads(raw))
        return received

    worker = WorkerThread(burst=True, CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="400").start()
    received = run_async(listen())
    worker.wait(timeout=90)
    assert [m["seq"] for m in received] == list(range(1, len(received) + 1))
    assert received[-1]["type"] == "complete" and received[-1]["status"] == "completed"
    stored = events.after(job.pk, 0)
    assert [{k: v for k, v in m.items() if k not in ("type", "seq")} for m in received] == [e["data"] for e in stored]


@ON_THE_SHARED_SERVER
def test_websocket_refuses_other_users_and_anonymous(daphne, user, other_user):
    job = JobFactory(user=user, topic="Rain gardens", word_count=200)
    url = daphne.url.replace("http", "ws") + f"/ws/jobs/{job.pk}/"

    origin = {"Origin": daphne.url}
    # Refused at the handshake (HTTP 403); another user's job is refused like a missing one.
    assert ws_outcome(url, origin) == 403
    assert ws_outcome(url, {**origin, "Authorization": f"Token {token_for(other_user)}"}) == 403


@ON_THE_SHARED_SERVER
def test_websocket_checks_a_browsers_origin_and_lets_token_clients_without_one_in(daphne, user, auth):
    job = JobFactory(user=user, topic="Rain gardens", word_count=200)
    url = daphne.url.replace("http", "ws") + f"/ws/jobs/{job.pk}/"

    async def first(headers: dict[str, str]) -> dict | int:
        try:
            async with websockets.connect(url, additional_headers=headers, open_timeout=10) as ws:
                return json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        except websockets.InvalidStatus as exc:
            return exc.response.status_code

    assert run_async(first(auth))["seq"] == 1
    assert run_async(first({**auth, "Origin": "https://evil.example"})) == 403


@ON_THE_SHARED_SERVER
def test_websocket_takes_a_token_as_subprotocol_never_from_the_url(daphne, user):
    job = JobFactory(user=user, topic="Rain gardens", word_count=200)
    key = token_for(user)
    url = daphne.url.replace("http", "ws") + f"/ws/jobs/{job.pk}/"

    async def by_subprotocol() -> tuple[str | None, int]:
        async with websockets.connect(url, subprotocols=["token", key], open_timeout=10) as ws:
            first = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
            return ws.subprotocol, first["seq"]

    async def by_query() -> int | None:
        try:
            async with websockets.connect(f"{url}?token={key}", open_timeout=10) as ws:
                await asyncio.wait_for(ws.recv(), timeout=10)
        except websockets.InvalidStatus as exc:
            return exc.response.status_code
        return None

    assert run_async(by_subprotocol()) == ("token", 1)
    assert run_async(by_query()) == 403
