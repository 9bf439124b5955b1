"""The in-process fan-out against the real Redis: one subscription per group, bounded buffers, outages."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
from pathlib import Path

import httpx
import pytest
import redis
from bson import ObjectId
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections

from contentgen.embedded import binary, die_with_parent
from progress import events
from progress.hub import BUFFER, Pushed, get_hub
from progress.publish import publish
from progress.streams import follow
from tests.factories import JobFactory, token_for
from tests.stack import Daphne, StreamReader, run_async, start_worker, wait_until


def numsub(channel: str) -> int:
    client = redis.Redis.from_url(settings.REDIS_URL)
    return int(dict(client.pubsub_numsub(channel))[channel.encode()])


def test_one_redis_subscription_per_group_however_many_viewers():
    async def scenario() -> tuple[int, int, list[int], int]:
        hub = get_hub()
        layer = get_channel_layer()
        group = f"job_fanout_{ObjectId()}"  # pub/sub is server-wide: a channel no other test uses
        channel = layer._get_group_channel_name(group)
        viewers = [await hub.subscribe(group) for _ in range(200)]
        subscribed = await asyncio.to_thread(numsub, channel)
        await layer.group_send(group, {"type": "progress.event", "seq": 1})
        received = [len([await asyncio.wait_for(v.queue.get(), timeout=5)]) for v in viewers]
        feeds = len(hub.feeds)
        for viewer in viewers:
            await hub.unsubscribe(viewer)
        after = await asyncio.to_thread(numsub, channel)
        return subscribed, feeds, received, after

    subscribed, feeds, received, after = run_async(scenario())
    assert subscribed == 1 and feeds == 1
    assert received == [1] * 200
    assert after == 0


def test_a_slow_viewer_is_cut_off_at_its_buffer_and_told_to_catch_up():
    async def scenario() -> tuple[int, bool, bool, int]:
        hub = get_hub()
        slow = await hub.subscribe(f"job_slow_{ObjectId()}")
        for seq in range(BUFFER + 50):
            slow.offer({"seq": seq})
        size = slow.queue.qsize()
        overflowed = slow.take_overflow()
        again = slow.take_overflow()
        left = slow.queue.qsize()
        await hub.unsubscribe(slow)
        return size, overflowed, again, left

    size, overflowed, again, left = run_async(scenario())
    assert size == BUFFER
    assert overflowed and not again
    assert left == 0


@pytest.mark.django_db
def test_a_viewer_whose_buffer_overflowed_catches_up_from_the_log_without_a_gap():
    stream_id = ObjectId()
    group = f"overflow_{stream_id}"
    last = BUFFER + 40

    def emit(seqs: range) -> None:
        for seq in seqs:
            publish(stream_id=stream_id, scope="job", type="progress", data={"n": seq}, groups=[group])
        close_old_connections()

    async def scenario() -> tuple[list[int], bool]:
        await asyncio.to_thread(emit, range(1, 2))
        stream = follow(stream_id=stream_id, group=group, last_event_id=None, ping_interval=30)
        seqs = [(await asyncio.wait_for(anext(stream), timeout=10)).seq]
        # The viewer stops reading (it is parked at its first event) while the rest arrive.
        viewer = next(iter(get_hub().feeds[group].subscribers))
        await asyncio.to_thread(emit, range(2, last + 1))
        for _ in range(200):
            if viewer.overflowed:
                break
            await asyncio.sleep(0.05)
        overflowed = viewer.overflowed
        while seqs[-1] < last:
            seqs.append((await asyncio.wait_for(anext(stream), timeout=10)).seq)
        await stream.aclose()
        return seqs, overflowed

    seqs, overflowed = run_async(scenario())
    assert overflowed, "the buffer never overflowed: the test did not exercise the catch-up"
    assert seqs == list(range(1, last + 1))


METRICS_TOKEN = "hub-test-metrics-token"


def degraded(server: Daphne) -> int:
    """The daphne process's own view: 1 while its hub finds Redis unreachable."""
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    text = httpx.get(f"{server.url}/metrics", headers=headers, timeout=5).text
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith("contentgen_streams_degraded ")))


@pytest.mark.django_db
@pytest.mark.slow
def test_a_stream_reads_the_log_while_redis_is_down_and_goes_live_again_when_it_returns(user):
    # Its own Redis on a Unix socket: restarted on the same path, which no other process can take meanwhile.
    path = Path(os.environ["CONTENTGEN_VAR_DIR"]) / f"hub-{ObjectId()}.sock"
    redis_args = [
        binary("redis-server"), "--port", "0", "--unixsocket", str(path), "--unixsocketperm", "700",
        "--save", "", "--appendonly", "no",
    ]  # fmt: skip
    url = f"unix://{path}?db=0"

    def answers() -> bool:
        try:
            return bool(redis.Redis.from_url(url).ping())
        except redis.ConnectionError:
            return False

    def start_redis() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(redis_args, stdout=subprocess.DEVNULL, preexec_fn=die_with_parent)
        wait_until(answers, timeout=10, what="the test's own Redis")
        return proc

    own_redis = start_redis()
    server = Daphne(
        env={"REDIS_URL": url, "CONTENTGEN_SSE_PING_SECONDS": "1", "CONTENTGEN_METRICS_TOKEN": METRICS_TOKEN}
    )
    try:
        server.start()
        job = JobFactory(user=user, topic="Outages", word_count=400)
        auth = {"Authorization": f"Token {token_for(user)}"}
        reader = StreamReader(f"{server.url}/api/jobs/{job.pk}/progress", headers=auth, timeout=100)
        worker = start_worker("--burst", REDIS_URL=url, CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="50")
        wait_until(lambda: len(reader.events) >= 3, timeout=40, what="live events on the stream")
        assert degraded(server) == 0

        own_redis.kill()
        own_redis.wait(timeout=10)
        wait_until(lambda: degraded(server) == 1, timeout=20, what="daphne to notice the outage")
        during = len(reader.events)
        wait_until(lambda: len(reader.events) > during, timeout=20, what="events read from the log in the outage")

        own_redis = start_redis()
        wait_until(lambda: degraded(server) == 0, timeout=20, what="daphne to see Redis back")
        assert worker.wait(timeout=60) == 0
        got = reader.result(timeout=20)
        stored = [e["seq"] for e in events.after(job.pk, 0)]
        assert [e.id for e in got] == stored[stored.index(got[0].id):]
        assert got[-1].event == "complete"
    finally:
        server.stop()
        if own_redis.poll() is None:
            own_redis.kill()


def test_a_pushed_events_creation_time_is_parsed_once_for_all_its_viewers():
    stamp = "2026-11-29T10:00:00.123456+00:00"
    message = Pushed({"stream_id": "x", "seq": 1, "event": "progress", "data": {"timestamp": stamp}})
    assert message.created() == dt.datetime.fromisoformat(stamp).timestamp()
    message["data"]["timestamp"] = "2030-01-01T00:00:00+00:00"
    assert message.created() == dt.datetime.fromisoformat(stamp).timestamp()  # the first parse stands
    assert Pushed({"data": {}}).created() is None
    assert Pushed({"data": {"timestamp": "not a time"}}).created() is None
    assert Pushed({"data": {"timestamp": "2026-11-29T10:00:00"}}).created() is None  # no zone: not counted
