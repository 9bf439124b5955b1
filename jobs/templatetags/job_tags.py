"""Filters for the live pages: percentages for aria-valuenow, durations, times, safe markdown."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django import template
from django.utils.safestring import SafeString

from contentgen.safe_html import escaped_text, render_markdown

register = template.Library()


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


# The one copy of the countdown wording: these filters render it first, and live.js, which ticks it
# every second, reads it from <body data-time-wording> (the `time_wording` tag in base.html).
TIME_WORDING: dict[str, dict[str, str]] = {
    "left": {"soon": "less than a minute left", "later": "about {n} min left", "none": ""},
    # Spoken by a screen reader (a bar's aria-valuetext), where "min" would be read as a word.
    "spoken_left": {"soon": "less than a minute left", "later": "about {n} minutes left", "none": ""},
    "starts": {
        "soon": "starts in under a minute",
        "later": "starts in about {n} min",
        "none": "waiting for a worker",
    },
}


def _countdown(kind: str, value: Any, since: Any) -> str:
    wording = TIME_WORDING[kind]
    moment = parse_iso(value)
    if moment is None:
        return wording["none"]
    seconds = (moment - (parse_iso(since) or dt.datetime.now(dt.UTC))).total_seconds()
    return wording["soon"] if seconds < 60 else wording["later"].format(n=round(seconds / 60))


@register.simple_tag
def time_wording() -> str:
    return json.dumps(TIME_WORDING, separators=(",", ":"))


@register.filter
def minutes_left(value: Any, since: Any = None) -> str:
    return _countdown("left", value, since)


@register.filter
def starts_in(value: Any, since: Any = None) -> str:
    """A queued job's forecast start (`estimated_start`, None while no worker runs)."""
    return _countdown("starts", value, since)


@register.filter
def markdown_html(value: Any) -> SafeString:
    return render_markdown(value)


@register.filter
def keep_newlines(value: Any) -> SafeString:
    """Escaped text whose newlines survive the SSE stream, which collapses raw newlines to spaces."""
    return escaped_text(value)


def _spoken(label: str) -> str:
    """A label inside a sentence: "writing", but "SEO" stays an acronym."""
    return label if label.isupper() else label.lower()


@register.filter
def job_bar_words(j: dict[str, Any]) -> str:
    """What the job's overall bar says after its percentage (aria-valuetext): "writing, about 2 minutes
    left". Rendered with every event, so it is as fresh as the bar."""
    if j["terminal"]:
        return _spoken(j["status_label"])
    if j["status"] == "queued":
        return f"queued, {starts_in(j['estimated_start'], j['timestamp'])}"
    left = _countdown("spoken_left", j["eta"], j["timestamp"]) if j["eta"] else ""
    return ", ".join(part for part in (_spoken(j["stage_label"]), left) if part)


@register.filter
def spoken(label: Any) -> str:
    return _spoken(str(label or ""))
