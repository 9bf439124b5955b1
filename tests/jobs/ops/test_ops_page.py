from __future__ import annotations

import json
import time
from dataclasses import asdict

import httpx
import pytest

from contentgen.redisconn import client as redis_client
from jobs.core import workers
from tests.stack import ON_THE_SHARED_SERVER, iter_sse, start_worker

pytestmark = pytest.mark.django_db


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
@ON_THE_SHARED_SERVER
def test_ops_live_stream_shows_a_killed_worker_lost_and_its_job_waiting_for_takeover(
    client, admin_user, api, daphne_server
):
    lease = 4.0
    client.force_login(admin_user)
    cookie = client.cookies["sessionid"].value
    worker = start_worker(
        CONTENTGEN_WORKER_LEASE_SECONDS=str(lease), CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="40"
    )
    seen: list[str] = []
    try:
        api.post("/api/jobs/", {"mode": "topic", "topic": "Held by a doomed worker"}, format="json")
        deadline = time.monotonic() + 90  # the page refreshes every second: no read ever times out
        with httpx.stream(
            "GET", f"{daphne_server.url}/ops/live", cookies={"sessionid": cookie}, timeout=httpx.Timeout(30)
        ) as response:
            assert response.status_code == 200
            for item in iter_sse(response.iter_lines()):
                assert time.monotonic() < deadline, f"still waiting after 90 s: {seen}"
                if isinstance(item, str):
                    continue
                html = item.data
                if not seen and 'data-state="live"' in html and "Running" in html:
                    worker.kill()
                    seen.append("live and running, then killed")
                elif seen and 'data-state="lost"' in html:
                    seen.append(html)
                    break
    finally:
        if worker.proc.poll() is None:
            worker.kill()
    assert len(seen) == 2, "the worker was never shown live and running, then lost"
    assert "Waiting for takeover" in seen[1]
