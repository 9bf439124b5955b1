"""The chaos run's cluster (bench/chaos.py): its plan, the embedded services, 2 daphne and 3 workers
started through the project's own commands, the load made through the REST API and the SSE clients that
follow it, reconnecting with Last-Event-ID."""

from __future__ import annotations

import asyncio
import os
import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from contentgen import embedded
from contentgen.embedded import daphne_command, die_with_parent, stop_process

ROOT = Path(__file__).resolve().parent.parent
LOG_DIR = ROOT / "var" / "log"


@dataclass
class Plan:
    jobs: int
    batches: tuple[int, ...]
    clients: int
    kills: int
    daphne_restarts: int
    redis_stops: tuple[float, ...]
    mongo_stops: tuple[float, ...]
    sigterms: int
    span: float
    mongo_at: tuple[float, ...]
    redis_at: tuple[float, ...]
    lease: float
    kill_spacing: float
    tokens_per_second: str
    word_counts: tuple[int, int]


FULL = Plan(
    jobs=50, batches=(10, 10), clients=50, kills=20, daphne_restarts=3, sigterms=1,
    redis_stops=(10, 10), redis_at=(0.2, 0.55), mongo_stops=(10, 75), mongo_at=(0.3, 0.7),
    span=300, lease=10, kill_spacing=6, tokens_per_second="60", word_counts=(250, 400),
)  # fmt: skip
SHORT = Plan(
    jobs=8, batches=(2,), clients=10, kills=5, daphne_restarts=1, sigterms=0,
    redis_stops=(5,), redis_at=(0.3,), mongo_stops=(8,), mongo_at=(0.75,),
    span=40, lease=6, kill_spacing=3, tokens_per_second="50", word_counts=(150, 220),
)  # fmt: skip


class Cluster:
    def __init__(self, plan: Plan, seed: int) -> None:
        self.plan = plan
        self.services = embedded.start(ephemeral=True)
        self.env = {
            **os.environ,
            "MONGODB_URI": self.services.mongodb_uri,
            "REDIS_URL": self.services.redis_url,
            "DJANGO_DEBUG": "1",
            "DJANGO_SETTINGS_MODULE": "contentgen.settings",
            "PYTHONUNBUFFERED": "1",
            "CONTENTGEN_WORKER_LEASE_SECONDS": str(plan.lease),
            "CONTENTGEN_MAX_ATTEMPTS": "10",
            "CONTENTGEN_OFFLINE_TOKENS_PER_SECOND": plan.tokens_per_second,
            "CONTENTGEN_RECONCILE_SECONDS": "30",
        }
        self.env.pop("CONTENTGEN_OFFLINE_FAIL_STAGE", None)
        self.ports = [embedded.free_port(), embedded.free_port()]
        self.daphnes: dict[int, subprocess.Popen[bytes]] = {}
        self.workers: list[subprocess.Popen[bytes]] = []
        self.rng = random.Random(seed)
        self.lock = threading.Lock()

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        with (LOG_DIR / f"chaos-{log}.log").open("ab") as out:
            return subprocess.Popen(
                args,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
            )

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True,
            timeout=120, check=True,
        )  # fmt: skip
        return done.stdout

    def start_daphne(self, port: int, *, wait: bool = True) -> None:
        # From the main thread: the children die with the thread that started them (PR_SET_PDEATHSIG).
        self.daphnes[port] = self._spawn(daphne_command(port), f"daphne-{port}")
        if wait:
            self.wait_daphne(port)

    def wait_daphne(self, port: int) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"daphne on {port} did not start; see var/log/chaos-daphne-{port}.log")

    def start_worker(self, index: int) -> None:
        proc = self._spawn(
            [sys.executable, "manage.py", "run_worker", "--concurrency", "2"], f"worker-{index}"
        )
        with self.lock:
            if index < len(self.workers):
                self.workers[index] = proc
            else:
                self.workers.append(proc)

    def start(self) -> str:
        self.manage("migrate", "-v0")
        self.manage("shell", "-c", "from django.contrib.auth import get_user_model; "
                    "get_user_model().objects.create_user('chaos', password='chaos-pass-123')")  # fmt: skip
        token = re.search(r"Generated token (\w+)", self.manage("drf_create_token", "chaos"))
        assert token, "drf_create_token printed no token"
        for port in self.ports:
            self.start_daphne(port, wait=False)
        for port in self.ports:
            self.wait_daphne(port)
        for index in range(3):
            self.start_worker(index)
        return token.group(1)

    def stop(self) -> None:
        for proc in [*self.workers, *self.daphnes.values()]:
            stop_process(proc, timeout=20)
        self.services.stop()


# Load and clients ------------------------------------------------------------------------------------

MODES = ("topic", "keywords", "trends", "spin")
SPIN_SOURCE = "Rain barrels save water. They need a screen against mosquitoes. Empty them before frost."


def job_input(rng: random.Random, plan: Plan, n: int) -> dict[str, Any]:
    mode = MODES[n % len(MODES)]
    item: dict[str, Any] = {"mode": mode, "word_count": rng.randint(*plan.word_counts)}
    if mode == "keywords":
        item["keywords"] = [f"chaos keyword {n}", "resilience"]
    elif mode == "spin":
        item["source_text"] = SPIN_SOURCE
    else:
        item["topic"] = f"Chaos topic {n}"
    return item


def create_load(cluster: Cluster, token: str) -> list[tuple[str, str]]:
    """Returns the streams to follow: ("jobs" | "bulk-jobs", id)."""
    headers = {"Authorization": f"Token {token}"}
    streams: list[tuple[str, str]] = []
    with httpx.Client(timeout=30, headers=headers) as http:
        for n in range(cluster.plan.jobs):
            base = f"http://127.0.0.1:{cluster.ports[n % 2]}"
            response = http.post(f"{base}/api/jobs/", json=job_input(cluster.rng, cluster.plan, n))
            response.raise_for_status()
            streams.append(("jobs", response.json()["id"]))
        for b, size in enumerate(cluster.plan.batches):
            items = [job_input(cluster.rng, cluster.plan, 1000 + b * 100 + i) for i in range(size)]
            response = http.post(
                f"http://127.0.0.1:{cluster.ports[b % 2]}/api/bulk-jobs/", json={"items": items}
            )
            response.raise_for_status()
            streams.append(("bulk-jobs", response.json()["id"]))
    jobs = [s for s in streams if s[0] == "jobs"][: cluster.plan.clients - len(cluster.plan.batches)]
    return jobs + [s for s in streams if s[0] == "bulk-jobs"]


@dataclass
class Follower:
    kind: str
    id: str
    seqs: list[int] = field(default_factory=list)
    done: bool = False
    reconnects: int = 0


async def follow(follower: Follower, ports: list[int], token: str, stop: threading.Event) -> None:
    headers = {"Authorization": f"Token {token}"}
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=40)) as http:
        while not follower.done and not stop.is_set():
            port = random.choice(ports)
            last = follower.seqs[-1] if follower.seqs else 0
            url = f"http://127.0.0.1:{port}/api/{follower.kind}/{follower.id}/progress"
            try:
                async with http.stream(
                    "GET", url, headers={**headers, "Last-Event-ID": str(last)}
                ) as response:
                    if response.status_code == 200:
                        await _read(response, follower)
            except (httpx.HTTPError, OSError):
                pass
            if not follower.done:
                follower.reconnects += 1
                await asyncio.sleep(random.uniform(0.2, 1.0))


async def _read(response: httpx.Response, follower: Follower) -> None:
    event_id, event = None, ""
    async for line in response.aiter_lines():
        if line.startswith("id:"):
            event_id = int(line[3:].strip())
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line == "" and event_id is not None:
            follower.seqs.append(event_id)
            if event == "complete":
                follower.done = True
                return
            event_id, event = None, ""


def run_clients(followers: list[Follower], ports: list[int], token: str, stop: threading.Event) -> None:
    async def main() -> None:
        await asyncio.gather(*(follow(f, ports, token, stop) for f in followers))

    asyncio.run(main())
