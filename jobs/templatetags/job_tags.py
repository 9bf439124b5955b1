"""Filters for the live pages: percentages for aria-valuenow, durations, times, safe markdown."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import markdown
from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from markdown.extensions import Extension
from markdown.treeprocessors import Treeprocessor

register = template.Library()

SAFE_SCHEMES = ("http://", "https://", "mailto:", "#", "/")


class _DropUnsafeUrls(Treeprocessor):
    def run(self, root: Any) -> None:
        for element in root.iter():
            for attribute in ("href", "src"):
                url = element.get(attribute)
                if url is not None and not url.strip().lower().startswith(SAFE_SCHEMES):
                    element.set(attribute, "#")


class _EscapeRawHtml(Extension):
    """Raw HTML in the model's markdown is shown as text, and only plain link schemes survive."""

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.preprocessors.deregister("html_block")
        md.inlinePatterns.deregister("html")
        md.treeprocessors.register(_DropUnsafeUrls(md), "drop_unsafe_urls", 0)


def render_markdown(text: str) -> SafeString:
    html = markdown.markdown(text, extensions=["extra", "sane_lists", _EscapeRawHtml()], output_format="html")
    return mark_safe(protect_whitespace(html))


def protect_whitespace(html: str) -> str:
    """Newlines, tabs and runs of spaces as character references: the SSE stream collapses raw whitespace.

    Markdown escapes whitespace inside attribute values, so every raw newline or space run here is text.
    """
    html = html.replace("\r\n", "\n").replace("\n", "&#10;").replace("\t", "&#9;")
    return re.sub(r" {2,}", lambda run: " " + "&#32;" * (len(run.group()) - 1), html)


@register.filter
def pct(value: Any) -> int:
    """0-100 as an integer, for aria-valuenow and bar widths."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0
    return max(0, min(100, int(number)))


@register.filter
def duration(seconds: Any) -> str:
    if seconds is None or seconds == "":
        return ""
    try:
        total = round(float(seconds))
    except (TypeError, ValueError):
        return ""
    hours, rest = divmod(max(0, total), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def parse_iso(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


@register.filter
def utc_clock(value: Any) -> str:
    """The no-JavaScript rendering of a time; live.js replaces it with the reader's local time."""
    parsed = parse_iso(value)
    return parsed.astimezone(dt.UTC).strftime("%H:%M:%S UTC") if parsed else ""


def _seconds_until(value: Any, since: Any) -> float | None:
    moment = parse_iso(value)
    if moment is None:
        return None
    return (moment - (parse_iso(since) or dt.datetime.now(dt.UTC))).total_seconds()


@register.filter
def minutes_left(value: Any, since: Any = None) -> str:
    seconds = _seconds_until(value, since)
    if seconds is None:
        return ""
    return "less than a minute left" if seconds < 60 else f"about {round(seconds / 60)} min left"


@register.filter
def starts_in(value: Any, since: Any = None) -> str:
    """A queued job's forecast start (`estimated_start`, None while no worker runs); live.js ticks it."""
    seconds = _seconds_until(value, since)
    if seconds is None:
        return "waiting for a worker"
    return "starts in under a minute" if seconds < 60 else f"starts in about {round(seconds / 60)} min"


@register.filter
def markdown_html(value: Any) -> SafeString:
    return render_markdown(str(value or ""))


@register.filter
def keep_newlines(value: Any) -> SafeString:
    """Escaped text whose newlines survive the SSE stream, which collapses raw newlines to spaces."""
    return mark_safe(protect_whitespace(str(escape(str(value or "")))))
