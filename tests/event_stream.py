"""An event-stream parser that follows the WHATWG HTML standard's grammar to the letter (9.2.6, "Interpreting
an event stream"), unlike `tests.stack.iter_sse`, which reads lines as httpx splits them.

Lines end only at CR LF, LF or CR; a U+2028 or U+0085 inside a line is data like any other character.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LINE_END = re.compile(r"\r\n|\n|\r")


@dataclass
class Event:
    type: str
    data: str
    last_event_id: str


def parse(raw: bytes) -> tuple[list[Event], list[str]]:
    """(events, comments) of a whole stream. Decoding is UTF-8 with replacement, a leading BOM dropped; an
    event not yet ended by a blank line when the stream ends is discarded, as the standard says."""
    text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    lines = LINE_END.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the text after the last line end: an incomplete line, discarded at the end
    events: list[Event] = []
    comments: list[str] = []
    data, event_type, last_id = "", "", ""
    for line in lines:
        if line == "":
            if data:
                events.append(Event(event_type or "message", data.removesuffix("\n"), last_id))
            data, event_type = "", ""
            continue
        if line.startswith(":"):
            comments.append(line[1:])
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data += value + "\n"
        elif name == "event":
            event_type = value
        elif name == "id" and "\0" not in value:
            last_id = value
    return events, comments
