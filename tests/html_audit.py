"""Finds what hostile text could have made active in a page: elements, attributes and URLs that run code."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from contentgen.safe_html import ALLOWED_ATTRIBUTES, ALLOWED_TAGS

ACTIVE_TAGS = {"script", "svg", "math", "iframe", "frame", "object", "embed", "base", "style", "meta", "link"}
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "srcdoc", "xlink:href", "poster", "background"}
BAD_URL = re.compile(r"^\s*(javascript|data|vbscript):", re.IGNORECASE)
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
            if tag not in ALLOWED_TAGS:
                self.problems.append(f"<{tag}> inside the article")
            allowed = ALLOWED_ATTRIBUTES.get(tag, set()) | ({"rel"} if tag == "a" else set())
            extra = set(names) - allowed
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
            if name in URL_ATTRIBUTES and BAD_URL.match(value):
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
