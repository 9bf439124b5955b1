"""axe-core in the browser tests: the script from npm under a committed lock (`tests/a11y/`), installed by
`npm ci --prefix tests/a11y` (.ci/run and `make test` do it).

It is injected with `page.evaluate(source)`, which the page's Content-Security-Policy does not govern, so the
pages run under their real policy while they are checked (a `<script>` tag would be refused, and
`bypass_csp` would hide a CSP regression).
"""

from __future__ import annotations

import os
from functools import cache
from typing import Any

import pytest

from tests.stack import ROOT

AXE_JS = ROOT / "tests" / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ("wcag2a", "wcag2aa", "wcag21a", "wcag21aa")
BLOCKING = ("serious", "critical")

RUN_JS = """(tags) => axe.run(document, {
  runOnly: {type: 'tag', values: tags},
  resultTypes: ['violations'],
})"""


@cache
def axe_source() -> str:
    """The script; without it a CI run fails (the check must not vanish there) and a local run skips."""
    if not AXE_JS.exists():
        reason = f"axe-core is not installed ({AXE_JS.relative_to(ROOT)}): run `npm ci --prefix tests/a11y`"
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(reason)
        pytest.skip(reason)
    return AXE_JS.read_text(encoding="utf-8")


def violations(page: Any, impacts: tuple[str, ...] = BLOCKING) -> list[dict[str, Any]]:
    """The page's WCAG 2.0/2.1 A and AA violations of these impacts, as axe reports them."""
    source = axe_source()
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(source)
    results = page.evaluate(RUN_JS, list(WCAG_TAGS))
    return [v for v in results["violations"] if v["impact"] in impacts]


def describe(found: list[dict[str, Any]]) -> str:
    """One line per rule and the first elements it names, for an assertion's message."""
    lines = []
    for v in found:
        targets = ", ".join(" ".join(map(str, node["target"])) for node in v["nodes"][:5])
        summary = v["nodes"][0].get("failureSummary", "").replace("\n", " ") if v["nodes"] else ""
        lines.append(f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes): {v['help']} -> {targets} | {summary}")
    return "\n".join(lines)
