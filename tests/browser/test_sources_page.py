"""In Chromium, against daphne and a real worker: a source added on /sources/ indexes live, and an article on
its subject cites the fact it alone holds."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.conftest import CHROMIUM
from tests.browser.test_live_pages import FINISHED_JS, shot

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("browser-sources"),
    pytest.mark.skipif(CHROMIUM is None, reason="chromium not found on PATH (apt-get install -y chromium)"),
]

FACT = "The Quillon 9 kiln holds 1,240 degrees Celsius for nine hours on one bag of charcoal."
TEXT = f"# Quillon 9 kiln notes\n\n{FACT} Its door gasket lasts about forty firings before it needs replacing.\n"

# Every distinct (badge, bar value) the source's row shows, recorded as the live stream changes it.
RECORD_ROW_JS = """(id) => {
  const snap = () => {
    const row = document.getElementById(id);
    if (!row) return null;
    return [row.querySelector('.badge').textContent.trim(),
            Number(row.querySelector('[role="progressbar"]').getAttribute('aria-valuenow'))];
  };
  const trace = window.__rowTrace = [snap()];
  new MutationObserver(() => {
    const s = snap();
    if (JSON.stringify(s) !== JSON.stringify(trace[trace.length - 1])) trace.push(s);
  }).observe(document.body, {childList: true, subtree: true, attributes: true, characterData: true});
}"""


def test_a_pasted_source_indexes_live_and_an_article_cites_it(page: Any) -> None:
    page.goto("/sources/")
    page.fill("#s-text-title", "Quillon kiln notes")
    page.fill("#s-text", TEXT)
    page.click("form:has(#s-text) button[type=submit]")
    page.wait_for_selector("#sources-list > li[id^=source-]")
    row_id = page.locator("#sources-list > li").first.get_attribute("id")
    assert row_id and row_id.startswith("source-")
    page.evaluate(RECORD_ROW_JS, row_id)
    page.wait_for_function(
        "(id) => document.querySelector('#' + id + ' .badge').textContent.trim() === 'Ready'", arg=row_id,
        timeout=60_000,
    )  # fmt: skip
    trace = page.evaluate("window.__rowTrace")
    assert trace[-1] == ["Ready", 100], trace
    assert "passage" in page.locator(f"#{row_id} .list-sub").inner_text()
    shot(page, "sources-page")

    page.goto("/")
    page.fill("#f-topic", "Quillon 9 kiln firing temperatures")
    page.fill("#f-words", "300")
    assert page.is_checked("input[name=use_knowledge_base]"), "a user with ready sources uses them by default"
    page.click("#job-form-card button[type=submit]")
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{24}/$"))
    page.wait_for_function(FINISHED_JS, timeout=120_000)
    article = page.locator("#job-result .prose").inner_text()
    assert f"{FACT} [1]" in article
    assert "Sources" in article and "Quillon kiln notes" in article
    assert page.locator("#job-result .prose script").count() == 0
