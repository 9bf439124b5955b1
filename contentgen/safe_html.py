"""The one way untrusted text (topics, keywords, CSV rows, LLM output) becomes HTML: Markdown, then nh3.

Markdown runs with an explicit extension list. `extra` is not used because its `attr_list` lets text set any
attribute (`{: onerror=... hx-post=...}`). Raw HTML in the text is shown as text, and nh3 (ammonia) then keeps
only the tags, attributes and URL schemes listed here, whatever Markdown produced.
"""

from __future__ import annotations

import re
from typing import Any

import markdown
import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown.extensions import Extension

EXTENSIONS = ("tables", "fenced_code", "sane_lists")
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "dl", "dt", "em", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "strong", "sub", "sup", "table", "tbody",
        "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "abbr": {"title"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener nofollow"


class _RawHtmlAsText(Extension):
    """HTML typed into the text stays visible as text rather than being parsed and then stripped."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")


def clean_html(html: str) -> str:
    """Allowed tags and attributes only; links and images only to http(s), mailto or relative URLs."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(URL_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


def protect_whitespace(html: str) -> str:
    """Newlines, tabs and runs of spaces as character references: the SSE stream collapses raw whitespace.

    nh3 serialises attribute values with entities, so every raw newline or space run here is text.
    """
    html = html.replace("\r\n", "\n").replace("\n", "&#10;").replace("\t", "&#9;")
    return re.sub(r" {2,}", lambda run: " " + "&#32;" * (len(run.group()) - 1), html)


def render_markdown(text: Any) -> SafeString:
    html = markdown.markdown(
        str(text or ""), extensions=[*EXTENSIONS, _RawHtmlAsText()], output_format="html"
    )
    return mark_safe(protect_whitespace(clean_html(html)))  # clean_html has just sanitised it


def escaped_text(text: Any) -> SafeString:
    """Plain text, HTML-escaped, whose newlines survive the SSE stream."""
    return mark_safe(protect_whitespace(str(escape(str(text or "")))))  # escaped just above
