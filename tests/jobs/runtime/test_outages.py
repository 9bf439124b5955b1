"""A worker process rides out MongoDB and Redis outages: its own embedded servers, stopped and started
again on the same data and port while it runs a job."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient

from contentgen import embedded
from tests.stack import ROOT, WorkerProcess, child_env, free_port, start_worker, wait_until

pytestmark = pytest.mark.slow

CREATE = """
from django.contrib.auth import get_user_model
from jobs.core import services
from jobs.core.validation import parse_job
user, _ = get_user_model().objects.get_or_create(username="outage")
spec, _ = parse_job({"mode": "topic", "topic": "Storm drains", "word_count": 500})
print(services.job_create(user=user, spec=spec).pk)
"""


@pytest.fixture
def servers() -> Iterator[embedded.Services]:
    services = embedded.start(ephemeral=True, pick_port=free_port)
    try:
        env = child_env(MONGODB_URI=services.mongodb_uri, REDIS_URL=services.redis_url)
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=90)
        yield services
    finally:
        services.stop()


def create_job(services: embedded.Services) -> ObjectId:
    env = child_env(MONGODB_URI=services.mongodb_uri, REDIS_URL=services.redis_url)
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", CREATE],
        cwd=ROOT, env=env, check=True, timeout=60, capture_output=True, text=True,
    )  # fmt: skip
    return ObjectId(out.stdout.strip().splitlines()[-1])


def outage_worker(servers: embedded.Services) -> WorkerProcess:
    return start_worker(
        log=f"worker-outage-{uuid.uuid4().hex[:8]}",
        MONGODB_URI=servers.mongodb_uri,
        REDIS_URL=servers.redis_url,
        CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="200",
        CONTENTGEN_WRITE_RETRY_SECONDS="3",
        CONTENTGEN_WORKER_LEASE_SECONDS="6",
    )


def reader(servers: embedded.Services) -> tuple[Any, Any]:
    db = MongoClient(servers.mongodb_uri, serverSelectionTimeoutMS=20000).get_database("contentgen")

    def job(pk: ObjectId) -> dict[str, Any]:
        return db.generation_jobs.find_one({"_id": pk}) or {}

    return db, job


def assert_completed_once(db: Any, pk: ObjectId) -> list[str]:
    log = list(db.progress_events.find({"job_id": pk}).sort("seq", 1))
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    assert [e["type"] for e in log].count("complete") == 1 and log[-1]["data"]["status"] == "completed"
    return [e["data"]["progress"]["message"] for e in log]


def run_through_outage(
    servers: embedded.Services,
    server: str,
    started: Callable[[dict[str, Any]], bool],
    felt: Callable[[WorkerProcess, ObjectId, dict[str, Any]], bool],
) -> ObjectId:
    """A job running on a worker while `server` is down until the worker has `felt` the outage (given the
    worker, the job's id and its document when the outage began): the worker lives, the job completes."""
    db, job = reader(servers)
    worker = outage_worker(servers)
    try:
        pk = create_job(servers)
        wait_until(lambda: started(job(pk)), timeout=60, interval=0.02, what="the job to run")
        before = job(pk)
        servers.halt(server)
        wait_until(lambda: felt(worker, pk, before), timeout=90, interval=0.1, what=f"the worker to feel {server} gone")
        assert worker.proc.poll() is None, f"the worker died while {server} was down"
        servers.resume(server)
        wait_until(lambda: job(pk).get("status") == "completed", timeout=60, interval=0.2, what="completion")
    finally:
        code = worker.terminate(timeout=60)
    assert code == 0
    return pk


def logged(worker: WorkerProcess, text: str) -> bool:
    return text in worker.log.read_text(errors="replace")


def test_the_worker_outlives_a_mongodb_outage_and_hands_its_job_back_uncharged(servers):
    # Down until the attempt has outlasted server selection (5 s) and the write budget (3 s) and the
    # worker is handing the job back, which it can write only once the database is back.
    pk = run_through_outage(
        servers,
        "mongodb",
        lambda job: job.get("progress", {}).get("stage") == "writing",
        lambda worker, pk, _: logged(worker, f"job {pk}: hand-back: store unreachable"),
    )
    db, job = reader(servers)
    messages = assert_completed_once(db, pk)
    assert "The database was unreachable; back in the queue" in messages
    assert job(pk)["attempts"] == 1, "the hand-back for the outage was charged"


def test_a_redis_outage_neither_stops_the_worker_nor_disturbs_its_job(servers):
    db, job = reader(servers)

    def felt(worker: WorkerProcess, pk: ObjectId, before: dict[str, Any]) -> bool:
        """Its events could not be pushed, and the job went on meanwhile."""
        moved = job(pk).get("progress", {}).get("percentage", 0) > before.get("progress", {}).get("percentage", 0)
        return logged(worker, "pushing") and logged(worker, "failed") and moved

    pk = run_through_outage(servers, "redis", lambda job: job.get("status") == "processing", felt)
    messages = assert_completed_once(db, pk)
    assert not any("unreachable" in m for m in messages)
    assert job(pk)["attempts"] == 1


APPEND = """
from bson import ObjectId
from contentgen import mongo
from progress import events
stream, seq = ObjectId(), 0
print(stream, flush=True)

def append():
    return events.append(stream_id=stream, scope="job", type="progress", data={"n": seq}, after=seq)

while True:
    try:
        # Every other event inside a transaction, as the terminal moves and claims write theirs.
        seq = mongo.atomic(append) if seq % 2 else append()
    except Exception as exc:
        print("stopped", type(exc).__name__, flush=True)
        break
    print(seq, flush=True)
"""


@pytest.fixture
def bare_servers() -> Iterator[embedded.Services]:
    """The embedded servers without migrations: an event log needs no collection made beforehand."""
    services = embedded.start(ephemeral=True, pick_port=free_port)
    try:
        yield services
    finally:
        services.stop()


def test_acknowledged_events_survive_a_kill_9_of_mongodb(bare_servers):
    # Without journaled writes the embedded server lost the last 5-44 of 300 acknowledged events when killed
    # (with j:true alone, still those written in transactions: its commits ignore j, hence
    # --sync-on-commit): an event pushed to viewers vanished, and its seq went to a different event later.
    servers = bare_servers
    # Timeouts in the URI keep the settings' journaled writes; the writer gives up 1 s after the kill.
    uri = f"{servers.mongodb_uri}?serverSelectionTimeoutMS=1000"
    env = child_env(MONGODB_URI=uri, REDIS_URL=servers.redis_url)
    writer = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-v0", "-c", APPEND],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert writer.stdout is not None
        stream = ObjectId(writer.stdout.readline().strip())
        acked: list[int] = []
        while len(acked) < 300:  # bounded by the test's timeout: the writer prints one line per event
            line = writer.stdout.readline()
            assert line and not line.startswith("stopped"), f"the writer stopped early: {line!r}"
            acked.append(int(line))
        servers.halt("mongodb")  # SIGKILL while the writer appends as fast as it can
        for line in writer.stdout:
            if line.startswith("stopped"):
                break
            acked.append(int(line))
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait(timeout=10)
    servers.resume("mongodb")
    db, _job = reader(servers)
    stored = {e["seq"] for e in db.progress_events.find({"job_id": stream}, {"seq": 1})}
    lost = sorted(set(acked) - stored)
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged events were lost: {lost[:20]}"
