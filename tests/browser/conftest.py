"""A real stack for browser tests: daphne and two workers on the pytest test database, and Chromium."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import settings
from pymongo.uri_parser import parse_uri

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "correct-horse-battery"
READY_TIMEOUT = 60.0


@dataclass
class Stack:
    url: str
    username: str
    password: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _test_mongodb_uri() -> str:
    """The test database (created by django_db_setup) on the same server, for the child processes."""
    nodes = ",".join(f"{host}:{port}" for host, port in parse_uri(settings.DATABASES["default"]["HOST"])["nodelist"])
    return f"mongodb://{nodes}/{settings.DATABASES['default']['NAME']}"


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("CONTENTGEN_OFFLINE_FAIL_STAGE", None)
    env.update(
        {
            "MONGODB_URI": _test_mongodb_uri(),
            "REDIS_URL": os.environ["REDIS_URL"],
            "DJANGO_DEBUG": "1",
            "CONTENTGEN_OFFLINE_TOKENS_PER_SECOND": "40",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _spawn(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / f"browser-{name}.log").open("ab")
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def _wait_ready(url: str, daphne: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if daphne.poll() is not None:
            raise RuntimeError(f"daphne exited with {daphne.returncode}; see test-artifacts/browser-daphne.log")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"daphne did not answer /healthz within {READY_TIMEOUT:.0f} s")


@pytest.fixture(scope="session")
def live_server_stack(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Stack]:
    """MongoDB has no transactions to roll back, so a user created here is seen by the child processes."""
    from tests.factories import UserFactory

    username = f"browser-{uuid.uuid4().hex[:8]}"
    with django_db_blocker.unblock():
        UserFactory(username=username, password=PASSWORD)
    env = _child_env()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    daphne = _spawn("daphne", ["-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "contentgen.asgi:application"], env)
    worker = _spawn("worker", ["manage.py", "run_worker", "--concurrency", "2"], env)
    try:
        _wait_ready(url, daphne)
        yield Stack(url=url, username=username, password=PASSWORD)
    finally:
        _stop(worker)
        _stop(daphne)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("chromium not found on PATH (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(live_server_stack: Stack, browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server_stack.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto("/accounts/login/")
    page.fill("input[name=username]", live_server_stack.username)
    page.fill("input[name=password]", live_server_stack.password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server_stack.url}/")
    try:
        yield page
    finally:
        context.close()
