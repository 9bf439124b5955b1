"""The one way untrusted text (topics, keywords, CSV rows, LLM output) becomes HTML: Markdown, then nh3.

Markdown runs with an explicit extension list. `extra` is not used because its `attr_list` lets text set any
attribute (`{: onerror=... hx-post=...}`). Raw HTML in the text is shown as text, and nh3 (ammonia) then keeps
only the tags, attributes and URL schemes listed here, whatever Markdown produced.

No image is loaded: a Markdown image becomes its alt text, and `img` is not an allowed tag. Generated or spun
text could otherwise load a remote image, a tracking pixel that tells a third party when the owner reads the
article and from where (the pages' CSP allows images from this site and data: URLs only; docs/security.md).
"""

from __future__ import annotations

import re
from typing import Any
from xml.etree.ElementTree import Element

import markdown
import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

EXTENSIONS = ("tables", "fenced_code", "sane_lists")
ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "dl", "dt", "em", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "strong", "sub", "sup", "table", "tbody",
        "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}}
URL_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "noopener nofollow"


class _ImagesAsText(Treeprocessor):
    def run(self, root: Element) -> None:
        for image in list(root.iter("img")):
            alt = image.get("alt", "")
            image.attrib.clear()
            image.tag, image.text = "span", alt


class _RawHtmlAsText(Extension):
    """HTML typed into the text stays visible as text rather than being parsed and then stripped; an image
    shows as its alt text."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:  # noqa: N802
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_ImagesAsText(md), "images_as_text", 0)


def clean_html(html: str) -> str:
    """Allowed tags and attributes only; links only to http(s), mailto or relative URLs."""
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


def markdown_html(text: Any) -> str:
    """Untrusted Markdown as sanitised HTML (for pages and exported files alike)."""
    html = markdown.markdown(
        str(text or ""), extensions=[*EXTENSIONS, _RawHtmlAsText()], output_format="html"
    )
    return clean_html(html)


def render_markdown(text: Any) -> SafeString:
    return mark_safe(protect_whitespace(markdown_html(text)))  # markdown_html has just sanitised it


def escaped_text(text: Any) -> SafeString:
    """Plain text, HTML-escaped, whose newlines survive the SSE stream."""
    return mark_safe(protect_whitespace(str(escape(str(text or "")))))  # escaped just above
