"""The in-process fan-out against the real Redis: one subscription per group, bounded buffers, outages."""

from __future__ import annotations

import asyncio
import subprocess
import threading

import pytest
import redis
from channels.layers import get_channel_layer
from django.conf import settings

from contentgen.embedded import _binary, _die_with_parent
from jobs import services
from jobs.validation import parse_job
from progress import events
from progress.hub import BUFFER, get_hub
from tests.factories import token_for
from tests.stack import Daphne, free_port, read_stream, run_async, start_worker, wait_until


def numsub(channel: str) -> int:
    client = redis.Redis.from_url(settings.REDIS_URL)
    return int(dict(client.pubsub_numsub(channel))[channel.encode()])


def test_one_redis_subscription_per_group_however_many_viewers():
    async def scenario() -> tuple[int, int, list[int], int]:
        hub = get_hub()
        layer = get_channel_layer()
        group = "job_fanout_test"
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
        slow = await hub.subscribe("job_slow_test")
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
@pytest.mark.slow
def test_streams_survive_a_redis_outage_by_reading_the_log(user):
    port = free_port()
    redis_args = [_binary("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    url = f"redis://127.0.0.1:{port}/0"

    def answers() -> bool:
        try:
            return bool(redis.Redis.from_url(url).ping())
        except redis.ConnectionError:
            return False

    own_redis = subprocess.Popen(redis_args, stdout=subprocess.DEVNULL, preexec_fn=_die_with_parent)
    server = Daphne(env={"REDIS_URL": url, "CONTENTGEN_SSE_PING_SECONDS": "1"})
    try:
        wait_until(answers, timeout=10, what="the test's own Redis")
        server.start()
        spec, _ = parse_job({"mode": "topic", "topic": "Outages", "word_count": 400})
        job = services.job_create(user=user, spec=spec)
        worker = start_worker("--burst", REDIS_URL=url, CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="150")
        got: list = []
        auth = {"Authorization": f"Token {token_for(user)}"}
        reader = threading.Thread(target=lambda: got.extend(read_stream(f"{server.url}/api/jobs/{job.pk}/progress", headers=auth, timeout=120)))
        reader.start()
        wait_until(lambda: len(got) >= 2 or events.last_seq(job.pk) >= 4, timeout=60, what="the stream to start")
        own_redis.kill()
        own_redis.wait(timeout=10)
        assert worker.wait(timeout=120) == 0
        reader.join(timeout=60)
        assert not reader.is_alive()
        stored = [e["seq"] for e in events.after(job.pk, 0)]
        assert [e.id for e in got] == stored[stored.index(got[0].id):]
        assert got[-1].event == "complete"
    finally:
        server.stop()
        if own_redis.poll() is None:
            own_redis.kill()
