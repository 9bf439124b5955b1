from __future__ import annotations

import json
import time
from dataclasses import asdict

import httpx
import pytest

from contentgen.redisconn import client as redis_client
from jobs.core import workers
from tests.stack import Daphne, iter_sse, start_worker

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_beats():
    redis_client().delete(workers.REGISTRY_KEY)
    yield
    redis_client().delete(workers.REGISTRY_KEY)


def test_ops_is_for_staff_only(client, user):
    assert client.get("/ops/").status_code == 302
    client.force_login(user)
    assert client.get("/ops/").status_code == 302
    assert client.get("/ops/live").status_code == 403


def test_ops_shows_live_and_lost_workers_and_the_queue(client, admin_user, api):
    api.post("/api/jobs/", {"mode": "topic", "topic": "Waiting"}, format="json")
    live = workers.new_beat(worker_id="host-a:1:live", concurrency=2, lease_seconds=30)
    workers.beat(live, jobs=[])
    lost = workers.new_beat(worker_id="host-b:2:gone", concurrency=1, lease_seconds=30)
    workers.beat(lost, jobs=[])
    lost.last_beat -= 31
    redis_client().hset(workers.REGISTRY_KEY, lost.worker_id, json.dumps(asdict(lost)))
    client.force_login(admin_user)
    page = client.get("/ops/").content.decode()
    assert 'data-worker-id="host-a:1:live" data-state="live"' in page
    assert 'data-worker-id="host-b:2:gone" data-state="lost"' in page
    assert '<dd class="big-pct" id="ops-queue-depth">1</dd>' in page
    assert '<dd class="big-pct" id="ops-live-workers">1</dd>' in page


def test_the_admin_index_shows_the_workers(client, admin_user):
    workers.beat(workers.new_beat(worker_id="host-a:1:admin", concurrency=1, lease_seconds=30), jobs=[])
    client.force_login(admin_user)
    page = client.get("/admin/").content.decode()
    assert 'data-worker-id="host-a:1:admin"' in page and 'data-live-src="/ops/live"' in page


@pytest.mark.slow
def test_ops_live_stream_shows_a_killed_worker_lost_within_its_lease(client, admin_user, api):
    lease = 4.0
    client.force_login(admin_user)
    cookie = client.cookies["sessionid"].value
    server = Daphne().start()
    worker = start_worker(
        CONTENTGEN_WORKER_LEASE_SECONDS=str(lease), CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="40"
    )
    try:
        api.post("/api/jobs/", {"mode": "topic", "topic": "Held by a doomed worker"}, format="json")
        killed_at = None
        with httpx.stream(
            "GET", f"{server.url}/ops/live", cookies={"sessionid": cookie}, timeout=httpx.Timeout(60)
        ) as response:
            assert response.status_code == 200
            for item in iter_sse(response.iter_lines()):
                if isinstance(item, str):
                    continue
                html = item.data
                if killed_at is None and 'data-state="live"' in html and "Running" in html:
                    worker.kill()
                    killed_at = time.monotonic()
                elif killed_at is not None and 'data-state="lost"' in html:
                    assert "Waiting for takeover" in html
                    shown_after = time.monotonic() - killed_at
                    break
                assert time.monotonic() - (killed_at or time.monotonic()) < 30
        print(f"worker shown lost {shown_after:.1f} s after kill -9 (lease {lease:.0f} s)")
        # Lost once a whole lease passes without a beat; the page refreshes every second on top.
        assert shown_after <= lease + 2.0
    finally:
        if worker.proc.poll() is None:
            worker.kill()
        server.stop()
