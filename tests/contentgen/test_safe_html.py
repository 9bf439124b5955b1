from __future__ import annotations

import markdown
import pytest

from contentgen.safe_html import render_markdown
from tests.hostile import HOSTILE
from tests.html_audit import active_content


def prose(html: str) -> str:
    return f'<article class="prose">{html}</article>'


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_markdown_renders_inert(text: str) -> None:
    html = str(render_markdown(f"# Title\n\nBefore {text} after.\n\n{text}\n"))
    assert active_content(prose(html)) == []
    assert "Before" in html and "after." in html


def test_the_audit_catches_what_markdown_extra_let_through() -> None:
    """The old renderer (`extra`, then mark_safe) produced <img onerror>; the audit must see it."""
    html = markdown.markdown(HOSTILE["attr_list_img"], extensions=["extra"])
    assert any("onerror" in problem for problem in active_content(prose(html)))


def test_links_keep_safe_urls_with_rel_noopener_nofollow() -> None:
    html = str(render_markdown("[a](https://example.com/x) [b](/jobs/) [c](mailto:a@example.com)"))
    assert 'href="https://example.com/x" rel="noopener nofollow"' in html
    assert 'href="/jobs/" rel="noopener nofollow"' in html
    assert 'href="mailto:a@example.com"' in html


def test_tables_and_fenced_code_still_render() -> None:
    html = str(render_markdown("| a | b |\n|---|---|\n| 1 | 2 |\n\n```\n<b>x</b>\n```\n"))
    assert "<table>" in html and "<td>1</td>" in html
    assert "<pre><code>&lt;b&gt;x&lt;/b&gt;" in html


@pytest.mark.parametrize(
    "text",
    [
        "![pixel](https://tracker.example/p.gif?reader=1)",
        "![pixel](http://tracker.example/p.gif)",
        "![pixel](//tracker.example/p.gif)",
        '![pixel][ref]\n\n[ref]: https://tracker.example/p.gif "t"',
    ],
)
def test_generated_text_loads_no_remote_image(text: str) -> None:
    html = str(render_markdown(f"Before\n\n{text}\n\nafter"))
    assert "tracker.example" not in html
    assert "Before" in html and "after" in html


def test_the_pages_policy_allows_images_from_this_site_and_data_urls_only(client) -> None:
    policy = client.get("/accounts/login/").headers["Content-Security-Policy"]
    directive = next(part.strip() for part in policy.split(";") if part.strip().startswith("img-src"))
    assert directive == "img-src 'self' data:"
