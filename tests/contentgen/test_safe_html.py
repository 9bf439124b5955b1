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


def test_tables_and_fenced_code_still_render_with_nothing_but_inert_markup() -> None:
    text = "| a | b |\n|:--|--:|\n| 1 | 2 |\n\n```python\n<b>x</b>\n```\n\n![i](/i.png \"t\") *[x]: y\n"
    html = str(render_markdown(text))
    assert "<table>" in html and ">1</td>" in html
    assert "<pre><code>&lt;b&gt;x&lt;/b&gt;" in html
    assert active_content(prose(html)) == []  # alignment styles and code classes are dropped


# Schemes a browser still reads as javascript: or data: (it drops tabs and newlines in a URL and decodes
# entities first), and links whose URL comes from a reference definition rather than the link itself.
HIDDEN_SCHEMES = {
    "reference": "[click][evil]\n\n[evil]: javascript:alert(1)",
    "reference_titled": '[click]\n\n[click]: JaVaScRiPt:alert(1) "Safe"',
    "reference_image": "![x][pic]\n\n[pic]: javascript:alert(1)",
    "reference_data": "[click][d]\n\n[d]: data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "reference_entity": "[click][e]\n\n[e]: &#106;avascript:alert(1)",
    "tab": "[click](java\tscript:alert(1))",
    "tab_entity": "[click](java&#9;script:alert(1))",
    "newline_entity": "[click](java&#x0A;script:alert(1))",
    "colon_entity": "[click](javascript&colon;alert(1))",
    "leading_control": "[click](&#1;javascript:alert(1))",
    "hex_entities": "[click](&#x6A;&#x61;&#x76;&#x61;script:alert(1))",
}


@pytest.mark.parametrize("text", HIDDEN_SCHEMES.values(), ids=HIDDEN_SCHEMES.keys())
def test_schemes_hidden_by_references_tabs_or_entities_render_inert(text: str) -> None:
    html = str(render_markdown(f"Before.\n\n{text}\n\nAfter."))
    assert active_content(prose(html)) == []
    assert "Before." in html and "After." in html


def test_the_audit_reads_urls_as_a_browser_does() -> None:
    for href in ("java\tscript:alert(1)", " \x01JavaScript:alert(1)", "java&#x0A;script:x", "data:text/html,x"):
        assert active_content(prose(f'<p><a href="{href}">x</a></p>')), href
    assert active_content(prose('<p><a href="/jobs/" rel="noopener nofollow">x</a></p>')) == []


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
