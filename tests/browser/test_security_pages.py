"""Chromium against the real stack: hostile text never runs, and no page breaks its Content-Security-Policy."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM

pytestmark = [
    pytest.mark.slow,
    # Both tests on one xdist node, so its stack (daphne, a worker, Chromium) starts once.
    pytest.mark.xdist_group("browser-security"),
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not found on PATH (apt-get install -y chromium)"),
]

HOSTILE_TOPIC = (
    "![a](/x){onerror=alert(document.domain)} <img src=x onerror=alert(2)> [c](javascript:alert(3)) "
    '<svg onload=alert(4)> <b hx-get="/api/jobs/" hx-trigger="load">x</b>'
)
FINISHED_JS = "() => document.querySelector('#job-result .prose') !== null"
IMAGES_SETTLED_JS = "() => Array.from(document.images).every((img) => img.complete)"


def watch(page: Any) -> dict[str, list[str]]:
    """Every dialog (auto-dismissed) and every console message that reports a CSP violation."""
    seen: dict[str, list[str]] = {"dialogs": [], "csp": []}

    def on_dialog(dialog: Any) -> None:
        seen["dialogs"].append(dialog.message)
        dialog.dismiss()

    def on_console(message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            seen["csp"].append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    return seen


def test_a_finished_hostile_article_fires_no_dialog(page: Any) -> None:
    seen = watch(page)
    page.fill("#f-topic", HOSTILE_TOPIC)
    page.fill("#f-words", "100")
    page.click("#job-form-card button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{24}/$"))
    page.wait_for_function(FINISHED_JS, timeout=120_000)  # the result arrives as a live fragment
    page.wait_for_function(IMAGES_SETTLED_JS)
    page.reload()  # and the finished page's first render
    page.wait_for_load_state("load")
    page.wait_for_function(IMAGES_SETTLED_JS)
    assert page.locator(".page-head h1").inner_text().startswith("![a](/x){onerror=alert(document.domain)}")
    assert page.locator("#job-result .prose").count() == 1
    assert seen["dialogs"] == []
    assert seen["csp"] == []


def test_no_page_breaks_the_content_security_policy(page: Any, browser: Any, live_server_stack: Any) -> None:
    seen = watch(page)
    page.goto("/")
    page.fill("#b-topics", "Window boxes for herbs")
    page.fill("#b-words", "100")
    page.click("#batch-form-card button[type=submit]")
    page.wait_for_url(re.compile(r"/bulk/[0-9a-f]{24}/$"))
    page.wait_for_function(
        "() => document.querySelector('#bulk-summary .big-pct').textContent.trim() === '1 of 1'", timeout=120_000
    )
    page.goto("/")
    page.wait_for_load_state("load")
    page.click("#dashboard-jobs a[href*='/jobs/']")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{24}/$"))
    page.wait_for_function(FINISHED_JS, timeout=60_000)
    for path in ("/admin/", "/api/docs/"):
        page.goto(path)
        page.wait_for_load_state("load")
    page.wait_for_selector(".opblock", timeout=30_000)  # Swagger UI rendered the operations
    assert page.locator(".opblock").count() >= 7

    anonymous = browser.new_context(base_url=live_server_stack.url)
    login = anonymous.new_page()
    login_seen = watch(login)
    login.goto("/accounts/login/")
    login.wait_for_load_state("load")
    anonymous.close()
    assert seen["csp"] == [] and login_seen["csp"] == []
    assert seen["dialogs"] == []
