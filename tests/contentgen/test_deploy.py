"""The deployment files run as written: the Procfile's commands start contentgen in production mode
(DJANGO_DEBUG=0, real servers on loopback) and an article runs through it; the systemd units start the same
commands and stop gracefully; nginx with deploy/nginx/contentgen-locations.conf passes the streams live."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from contentgen.embedded import die_with_parent, free_port
from tests.factories import UserFactory, token_for
from tests.stack import ARTIFACTS, ROOT, child_env, read_stream, wait_until

# Production processes, nginx and systemd-style stops: about 100 s, so `make test-long` (CI) runs them.
pytestmark = [pytest.mark.slow, pytest.mark.long, pytest.mark.django_db, pytest.mark.xdist_group("deploy")]

DEPLOY = ROOT / "deploy"
VENV_BIN = Path(sys.executable).parent


def procfile() -> dict[str, str]:
    entries = {}
    for line in (DEPLOY / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def unit_exec(name: str) -> str:
    """A systemd unit's ExecStart, with the install's paths made this checkout's."""
    text = (DEPLOY / name).read_text()
    command = re.search(r"^ExecStart=(.+)$", text, re.M).group(1)  # type: ignore[union-attr]
    return command.replace("/opt/contentgen/.venv/bin/", f"{VENV_BIN}/")


@dataclass
class Running:
    procs: list[subprocess.Popen[bytes]]
    url: str

    def stop(self) -> list[int | None]:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(timeout=60))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(None)
        return codes


def production_env(port: int, **extra: str) -> dict[str, str]:
    return child_env(
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
        PORT=str(port),
        PATH=f"{VENV_BIN}:{os.environ.get('PATH', '')}",
        CONTENTGEN_WORKER_CONCURRENCY="1",
        CONTENTGEN_OFFLINE_TOKENS_PER_SECOND="400",  # paced: a stream's events come one by one
        **extra,
    )


def start(command: str, env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        ["sh", "-c", f"exec {command}"], cwd=ROOT, env=env, preexec_fn=die_with_parent,
        stdout=(ARTIFACTS / f"{log}.log").open("ab"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def serving(url: str, procs: list[subprocess.Popen[bytes]]) -> None:
    def up() -> bool:
        for proc in procs:
            assert proc.poll() is None, f"{proc.args} exited with {proc.returncode}; see test-artifacts/"
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(up, timeout=90, interval=0.2, what=f"{url}/healthz")


@pytest.fixture
def procfile_stack() -> Iterator[Running]:
    port = free_port()
    env = production_env(port)
    commands = procfile()
    release = subprocess.run(["sh", "-c", commands["release"]], cwd=ROOT, env=env, capture_output=True, timeout=300)
    assert release.returncode == 0, release.stdout[-2000:] + release.stderr[-2000:]
    procs = [start(commands["web"], env, "procfile-web"), start(commands["worker"], env, "procfile-worker")]
    running = Running(procs, f"http://127.0.0.1:{port}")
    try:
        serving(running.url, procs)
        yield running
    finally:
        running.stop()


def test_an_article_runs_through_the_procfiles_processes_in_production_mode(procfile_stack):
    headers = {"Authorization": f"Token {token_for(UserFactory())}"}
    health = httpx.get(f"{procfile_stack.url}/healthz", timeout=5).json()
    assert health["status"] == "ok" and health["version"]
    created = httpx.post(f"{procfile_stack.url}/api/jobs/", json={"mode": "topic", "topic": "Deploying on a VM",
                         "word_count": 200}, headers=headers, timeout=10)  # fmt: skip
    assert created.status_code == 201, created.text
    events = read_stream(f"{procfile_stack.url}/api/jobs/{created.json()['id']}/progress", headers=headers, timeout=120)
    assert events[-1].event == "complete" and events[-1].data["status"] == "completed"
    assert events[-1].data["result"]["word_count"] > 100
    # One process is a complete web server: the collected static files come from it too.
    assert httpx.get(f"{procfile_stack.url}/static/css/app.css", timeout=5).status_code == 200
    assert procfile_stack.stop()[1] == 0, "the worker did not stop gracefully on SIGTERM"


def test_the_systemd_units_start_the_same_processes_and_stop_on_sigterm():
    port = free_port()
    env = production_env(port)
    web = unit_exec("contentgen-web.service").replace("${PORT}", str(port))
    worker = unit_exec("contentgen-worker@.service")
    assert "run_worker" in worker and "uvicorn contentgen.asgi:application" in web
    running = Running([start(web, env, "unit-web"), start(worker, env, "unit-worker")], f"http://127.0.0.1:{port}")
    try:
        serving(running.url, running.procs)
        wait_until(lambda: httpx.get(f"{running.url}/readyz", timeout=2).status_code == 200, timeout=30,
                   what="/readyz")  # fmt: skip
    finally:
        codes = running.stop()
    # uvicorn shuts down gracefully, then re-raises the signal it caught; systemd counts a death by SIGTERM
    # as a clean stop (systemd.exec(5), "SuccessExitStatus").
    assert codes[0] in (0, -signal.SIGTERM) and codes[1] == 0, f"web and worker exit codes after SIGTERM: {codes}"
    assert "Finished server process" in (ARTIFACTS / "unit-web.log").read_text().splitlines()[-1]
    if shutil.which("systemd-analyze"):
        checked = subprocess.run(["systemd-analyze", "verify", *(str(p) for p in DEPLOY.glob("*.service"))],
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
        assert "Unknown" not in checked.stderr and "Invalid" not in checked.stderr, checked.stderr


NGINX = shutil.which("nginx")


@pytest.mark.skipif(NGINX is None and not os.environ.get("CI"), reason="nginx is not installed (apt-get install nginx)")
def test_nginx_with_the_shipped_locations_passes_the_streams_live(procfile_stack, tmp_path):
    assert NGINX, "CI installs nginx (.ci/run): the shipped proxy configuration must be run"
    port = free_port()
    upstream = procfile_stack.url.removeprefix("http://")
    (tmp_path / "nginx.conf").write_text(f"""
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream contentgen {{ server {upstream}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{port};
        include {DEPLOY}/nginx/contentgen-locations.conf;
    }}
}}
""")
    proxy = subprocess.Popen([NGINX, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
                             preexec_fn=die_with_parent)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        serving(url, [proxy])
        headers = {"Authorization": f"Token {token_for(UserFactory())}"}
        # A paced job: its events must arrive while it runs, one by one, not all at its end.
        created = httpx.post(f"{url}/api/jobs/", json={"mode": "topic", "topic": "Proxies and streams",
                             "word_count": 300}, headers=headers, timeout=10).json()  # fmt: skip
        arrivals: list[float] = []

        def note(events: list) -> bool:
            arrivals.append(time.monotonic())
            return events[-1].event == "complete"

        events = read_stream(f"{url}/api/jobs/{created['id']}/progress", headers=headers, stop=note, timeout=120)
        assert events[-1].data["status"] == "completed"
        assert arrivals[-1] - arrivals[0] > 1.0, "every event arrived at once: the proxy buffered the stream"
    finally:
        proxy.send_signal(signal.SIGQUIT)
        proxy.wait(timeout=10)
