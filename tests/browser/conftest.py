"""A real stack for browser tests: daphne and a worker (five slots: a batch of five runs at once) on the pytest
test database, and Chromium.

The processes come from `tests.stack`, like the other integration tests': `live_server_stack.daphne.restart()`
restarts daphne on the same port.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from contentgen.embedded import stop_process
from tests.factories import UserFactory
from tests.stack import ARTIFACTS, ROOT, Daphne, WorkerProcess, start_worker

__all__ = ["ARTIFACTS", "CHROMIUM", "PACE", "ROOT", "Stack"]

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
# The offline model's pace for the browser stack: slow enough that the pages show a job moving.
PACE = "70"


@dataclass
class Stack:
    daphne: Daphne
    worker: WorkerProcess
    username: str
    password: str

    @property
    def url(self) -> str:
        """Stable across `daphne.restart()`: the port is kept."""
        return self.daphne.url


@pytest.fixture(scope="module")
def live_server_stack(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Stack]:
    """daphne and a five-slot worker for one module, stopped with it, so no later test shares them.

    MongoDB has no transactions to roll back, so a user created here is seen by the child processes.
    """
    username = f"browser-{uuid.uuid4().hex[:8]}"
    with django_db_blocker.unblock():
        UserFactory(username=username, password=PASSWORD)
    env = {"CONTENTGEN_OFFLINE_TOKENS_PER_SECOND": PACE}
    daphne = Daphne(env=env)
    worker = start_worker("--concurrency", "5", **env)
    try:
        daphne.start()
        yield Stack(daphne=daphne, worker=worker, username=username, password=PASSWORD)
    finally:
        stop_process(worker.proc, timeout=20)
        daphne.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("chromium not found on PATH (apt-get install -y chromium)")

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
