"""Stream caps, resume rules and bounded replay, against a real daphne, Redis and the event log."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import websockets
from bson import ObjectId

from contentgen import ratelimit
from jobs.core import services
from progress import events, stream_limits, streams
from progress.hub import get_hub
from progress.streams import parse_last_event_id
from tests.factories import JobFactory, token_for
from tests.stack import ON_THE_SHARED_SERVER, SHARED_SERVER_ENV, Daphne, burst_here, read_stream, run_async

pytestmark = [pytest.mark.django_db]

PER_USER = int(SHARED_SERVER_ENV["CONTENTGEN_MAX_STREAMS_PER_USER"])


@pytest.fixture
def daphne(daphne_server: Daphne) -> Daphne:
    return daphne_server


@pytest.fixture
def auth(user) -> dict[str, str]:
    return {"Authorization": f"Token {token_for(user)}"}


def new_job(user):
    return JobFactory(user=user, topic="Rain gardens", word_count=100)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("7", 7),
        (" 12 ", 12),
        ("0", 0),
        ("9" * 18, int("9" * 18)),
        ("9" * 19, None),
        ("\u00b2", None),  # superscript two: str.isdigit() says yes
        ("\u0663", None),  # Arabic-Indic three
        ("-1", None),
        ("1e3", None),
        ("0x10", None),
    ],
)
def test_last_event_id_is_ascii_digits_of_at_most_18(raw: str, expected: int | None) -> None:
    value, error = parse_last_event_id(raw, None)
    assert value == expected
    assert (error is None) == (expected is not None)


@pytest.mark.slow
@ON_THE_SHARED_SERVER
@pytest.mark.parametrize("value", ["%C2%B2", "9" * 19, "18446744073709551616"])
def test_a_bad_last_event_id_answers_400_never_500(daphne, user, auth, value):
    job = new_job(user)
    response = httpx.get(f"{daphne.url}/api/jobs/{job.pk}/progress?last_event_id={value}", headers=auth, timeout=10)
    assert response.status_code == 400
    assert "at most 18 digits" in response.json()["last_event_id"][0]


@pytest.mark.slow
@ON_THE_SHARED_SERVER
def test_an_id_beyond_the_log_is_caught_up_at_its_last_event(daphne, user, auth):
    job = new_job(user)
    comments: list[str] = []
    got = read_stream(
        f"{daphne.url}/api/jobs/{job.pk}/progress",
        headers={**auth, "Last-Event-ID": "9" * 18},
        comments=comments,
        stop=lambda got: bool(comments) or bool(got),
        timeout=20,
    )
    assert got == [] and comments == [": ping"]  # nothing replayed, the stream is live and pinging
    services.job_cancel(job=job)  # now the log ends with `complete`: the same resume ends at once
    response = httpx.get(f"{daphne.url}/api/jobs/{job.pk}/progress", headers={**auth, "Last-Event-ID": "9" * 18}, timeout=10)
    assert response.status_code == 204


@pytest.mark.slow
@ON_THE_SHARED_SERVER
def test_resuming_a_finished_job_at_its_complete_event_ends_at_once(daphne, user, auth):
    job = new_job(user)
    burst_here(timeout=90)
    final = events.latest(job.pk)
    assert final["type"] == "complete"
    for headers, query in (({"Last-Event-ID": str(final["seq"])}, ""), ({}, f"?last_event_id={final['seq'] + 5}")):
        # No stream at all (a 204 has no body to wait on), and EventSource does not reconnect after it.
        response = httpx.get(f"{daphne.url}/api/jobs/{job.pk}/progress{query}", headers={**auth, **headers}, timeout=30)
        assert response.status_code == 204

    async def websocket_closes() -> int | None:
        url = daphne.url.replace("http", "ws") + f"/ws/jobs/{job.pk}/?last_event_id={final['seq']}"
        async with websockets.connect(url, additional_headers=auth, open_timeout=10) as ws:
            with pytest.raises(websockets.ConnectionClosedOK):
                await asyncio.wait_for(ws.recv(), timeout=10)
            return ws.close_code

    assert run_async(websocket_closes()) == 1000


@pytest.mark.slow
@ON_THE_SHARED_SERVER
def test_streams_per_user_are_capped_across_sse_and_websocket(daphne, user, other_user, auth):
    job = new_job(user)
    url = f"{daphne.url}/api/jobs/{job.pk}/progress"
    ws_url = daphne.url.replace("http", "ws") + f"/ws/jobs/{job.pk}/"

    async def scenario() -> dict[str, object]:
        async with httpx.AsyncClient(timeout=10) as client, websockets.connect(
            ws_url, additional_headers=auth, open_timeout=10
        ) as first_ws:
            assert (await asyncio.wait_for(first_ws.recv(), timeout=10))
            opened = []
            for _ in range(PER_USER - 1):
                request = client.build_request("GET", url, headers=auth)
                response = await client.send(request, stream=True)
                assert response.status_code == 200
                opened.append(response)
            over = await client.get(url, headers=auth)
            async with websockets.connect(ws_url, additional_headers=auth, open_timeout=10) as ws:
                with pytest.raises(websockets.ConnectionClosedError) as closed:
                    await asyncio.wait_for(ws.recv(), timeout=10)
            other = await client.send(
                client.build_request(
                    "GET", f"{daphne.url}/api/jobs/{new_job_id}/progress",
                    headers=other_auth,
                ),
                stream=True,
            )
            await other.aclose()
            for response in opened:
                await response.aclose()
            result = {"sse": over.status_code, "retry": over.headers.get("Retry-After"),
                      "detail": over.json()["detail"], "ws": closed.value.rcvd.code, "other": other.status_code}
        # The slots come back when streams close: a new stream opens again.
        async with httpx.AsyncClient(timeout=10) as client:
            deadline = time.monotonic() + 30
            while True:
                request = client.build_request("GET", url, headers=auth)
                response = await client.send(request, stream=True)
                await response.aclose()
                if response.status_code == 200 or time.monotonic() > deadline:
                    result["after_close"] = response.status_code
                    break
                await asyncio.sleep(0.2)
        return result

    new_job_id = new_job(other_user).pk
    other_auth = {"Authorization": f"Token {token_for(other_user)}"}
    result = run_async(scenario())
    assert result["sse"] == 429 and result["retry"] is not None
    assert f"{PER_USER} progress streams open" in result["detail"]
    assert result["ws"] == 4429
    assert result["other"] == 200  # another user's cap is their own
    assert result["after_close"] == 200


def test_replay_reads_the_log_in_bounded_chunks(user, monkeypatch):
    job = new_job(user)
    for n in range(2, 2 * streams.REPLAY_CHUNK + 40):
        events.append(stream_id=job.pk, scope="job", type="progress", data={"n": n}, after=n - 1)
    limits: list[int] = []
    real_after = events.after

    def spy(stream_id, seq, *, limit=0):
        limits.append(limit)
        return real_after(stream_id, seq, limit=limit)

    monkeypatch.setattr(events, "after", spy)

    async def replay() -> list[int]:
        seqs = []
        async for item in streams.follow(stream_id=job.pk, group=f"job_{job.pk}", last_event_id=0, ping_interval=0.2):
            if item.type == "ping":
                break
            seqs.append(item.seq)
        return seqs

    seqs = run_async(replay())
    assert seqs == list(range(1, 2 * streams.REPLAY_CHUNK + 40))
    assert limits and all(0 < limit <= streams.REPLAY_CHUNK for limit in limits)


def test_a_process_with_its_cap_of_streams_refuses_one_more_until_one_closes(user, settings):
    settings.CONTENTGEN_MAX_STREAMS_PER_PROCESS = 2
    settings.CONTENTGEN_MAX_STREAMS_PER_USER = 0  # no per-user cap: only the process's own is tested

    async def scenario() -> tuple[str, bool]:
        hub = get_hub()
        open_streams = [await hub.subscribe(f"job_{ObjectId()}") for _ in range(2 - hub.viewers())]
        try:
            with pytest.raises(stream_limits.TooManyStreams) as refused:
                await stream_limits.acquire(user)
            await hub.unsubscribe(open_streams.pop())
            slot = await stream_limits.acquire(user)  # one closed: room again
            return refused.value.message, slot is not None
        finally:
            for subscription in open_streams:
                await hub.unsubscribe(subscription)

    message, acquired = run_async(scenario())
    assert message == "This server has too many open progress streams. Try again shortly."
    assert acquired


class Clock:
    """time.time for the stream slots in Redis (contentgen.ratelimit), moved by hand."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0

    def time(self) -> float:
        return self.now


def test_a_slot_whose_process_died_is_freed_when_its_refreshes_stop(user, settings, monkeypatch):
    """A stream refreshes its slot while open (stream_limits.held); a process killed with its streams open
    neither refreshes nor releases them, and they must not count against the user for ever."""
    settings.CONTENTGEN_MAX_STREAMS_PER_USER = 1
    clock = Clock()
    monkeypatch.setattr(ratelimit, "time", clock)
    ttl = stream_limits.SLOT_TTL
    alive = run_async(stream_limits.acquire(user))
    clock.now += 0.9 * ttl
    ratelimit.refresh_slot(alive.user_key, alive.slot, ttl=ttl)  # still open: refreshed
    clock.now += 0.9 * ttl  # past the first time to live, within the refreshed one
    with pytest.raises(stream_limits.TooManyStreams):
        run_async(stream_limits.acquire(user))
    # Its process dies now: no refresh, no release. Held until the refreshed time to live runs out.
    clock.now += 0.05 * ttl
    with pytest.raises(stream_limits.TooManyStreams):
        run_async(stream_limits.acquire(user))
    clock.now += 0.1 * ttl
    assert run_async(stream_limits.acquire(user)) is not None
