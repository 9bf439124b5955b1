"""Finds what hostile text could have made active in a page: elements, attributes and URLs that run code."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# What an article may hold, decided here and not read from the code under test (contentgen.safe_html):
# inert text markup and links and images that carry nothing but where they point.
PROSE_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "dl", "dt", "em", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "strong", "sub", "sup", "table", "tbody",
        "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
PROSE_ATTRIBUTES = {"a": {"href", "title", "rel"}, "img": {"src", "alt", "title"}, "abbr": {"title"}}
ACTIVE_TAGS = {"script", "svg", "math", "iframe", "frame", "object", "embed", "base", "style", "meta", "link"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "srcdoc", "xlink:href", "poster", "background"}
BAD_SCHEME = re.compile(r"^(javascript|data|vbscript):", re.IGNORECASE)


def bad_url(value: str) -> bool:
    """Read as a browser reads a URL (WHATWG): leading and trailing controls and spaces dropped, tabs and
    newlines anywhere removed, so "java&#9;script:" and " \x01javascript:" are both javascript:."""
    value = re.sub(r"^[\x00-\x20]+|[\x00-\x20]+$", "", re.sub(r"[\t\n\r]", "", value))
    return bool(BAD_SCHEME.match(value))
# What the page's own templates may carry; hostile text must never add to these.
PAGE_SCRIPTS = re.compile(r"^/static/")
PAGE_HX = {
    "hx-post", "hx-swap", "hx-disabled-elt", "hx-get", "hx-target", "hx-headers", "hx-select", "hx-encoding",
}  # fmt: skip


class _Audit(HTMLParser):
    def __init__(self, *, prose_only: bool) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.prose_depth = 0
        self.prose_only = prose_only
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name: value or "" for name, value in attrs}
        in_prose = self.prose_depth > 0
        if tag == "article" and "prose" in names.get("class", "").split() or in_prose and tag not in ("br", "hr", "img"):
            self.prose_depth += 1
        if self.prose_only and not in_prose:
            return
        if in_prose:
            if tag not in PROSE_TAGS:
                self.problems.append(f"<{tag}> inside the article")
            extra = set(names) - PROSE_ATTRIBUTES.get(tag, set())
            if extra:
                self.problems.append(f"<{tag}> inside the article has attributes {sorted(extra)}")
        if tag in ACTIVE_TAGS:
            own_asset = (tag == "script" and PAGE_SCRIPTS.match(names.get("src", ""))) or (
                tag == "link" and PAGE_SCRIPTS.match(names.get("href", ""))
            )
            if not own_asset and not (tag == "meta" and "http-equiv" not in names):
                self.problems.append(f"<{tag} {names}>")
        for name, value in names.items():
            if name.startswith("on"):
                self.problems.append(f"<{tag}> handler {name}={value!r}")
            if (name.startswith("hx-") or name.startswith("data-hx-")) and (
                name not in PAGE_HX or "alert" in value or "evil" in value
            ):
                self.problems.append(f"<{tag}> htmx attribute {name}={value!r}")
            if name in URL_ATTRIBUTES and bad_url(value):
                self.problems.append(f"<{tag}> {name}={value!r}")
            if name == "style" and re.search(r"expression|javascript|url\(", value, re.IGNORECASE):
                self.problems.append(f"<{tag}> style={value!r}")

    def handle_endtag(self, tag: str) -> None:
        if self.prose_depth and tag not in ("br", "hr", "img"):
            self.prose_depth -= 1


def active_content(html: str, *, prose_only: bool = False) -> list[str]:
    """Everything in `html` that could run script or act as the user; [] for a safe page."""
    audit = _Audit(prose_only=prose_only)
    audit.feed(html)
    audit.close()
    return audit.problems
