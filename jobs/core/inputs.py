"""Input as text (form fields, a textarea of topics, a CSV file) turned into the API's shapes, and the
validation errors turned back into sentences: shared by the HTML forms and the CLI. jobs.core.validation
decides what is valid."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jobs.core.validation import MAX_BATCH
from jobs.models import GenerationJob

CSV_COLUMNS = (
    "mode", "topic", "keywords", "word_count", "tone", "use_knowledge_base", "use_web", "source_urls"
)  # fmt: skip
RESEARCH_SWITCHES = ("use_knowledge_base", "use_web")
MAX_CSV_BYTES = 2 * 1024 * 1024


def split_list(raw: str, separators: str) -> list[str]:
    return [part.strip() for part in re.split(f"[{re.escape(separators)}]", raw) if part.strip()]


def job_payload(post: Mapping[str, Any]) -> dict[str, Any]:
    """Text fields as the API's JSON: keywords split on commas and newlines, blanks left to the defaults."""
    payload: dict[str, Any] = {"mode": str(post.get("mode", ""))}
    topic = str(post.get("topic", "")).strip()
    if topic:
        payload["topic"] = topic
    keywords = split_list(str(post.get("keywords", "")), ",\n")
    if keywords:
        payload["keywords"] = keywords
    source_text = str(post.get("source_text", ""))
    if source_text.strip():
        payload["source_text"] = source_text
    for name in ("word_count", "tone"):
        value = str(post.get(name, "")).strip()
        if value:
            payload[name] = value
    # The page's form sends its checkboxes with a marker: an unchecked box is false there, not "the default".
    for name in RESEARCH_SWITCHES:
        value = str(post.get(name, "")).strip()
        if post.get("research_form"):
            payload[name] = bool(value)
        elif value:
            payload[name] = value
    urls = split_list(str(post.get("source_urls", "")), " \n")
    if urls:
        payload["source_urls"] = urls
    return payload


def field_errors(errors: Mapping[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, messages in errors.items():
        if isinstance(messages, Mapping):  # per-keyword errors: {index: [message]}
            flat = [str(m) for sub in messages.values() for m in (sub if isinstance(sub, list) else [sub])]
        else:
            flat = [str(m) for m in (messages if isinstance(messages, list) else [messages])]
        out[name] = flat
    return out


@dataclass
class BatchInput:
    payload: dict[str, Any] = field(default_factory=dict)
    row_labels: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _line_item(mode: str, line: str) -> dict[str, Any]:
    if mode == GenerationJob.Mode.KEYWORDS:
        return {"keywords": split_list(line, ",;|")}
    return {"topic": line}


def batch_from_lines(text: str, defaults: dict[str, Any]) -> BatchInput:
    """`{"items": [...], "defaults": {...}}` from one topic (or keyword list) per line; line N is "Row N"."""
    items: list[dict[str, Any]] = []
    labels: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            items.append(_line_item(defaults.get("mode", ""), line.strip()))
            labels.append(f"Row {number}")
    if not items:
        return BatchInput(errors=["Enter at least one topic (one per line) or upload a CSV file."])
    return BatchInput(payload={"items": items, "defaults": defaults}, row_labels=labels)


def batch_from_csv(data: bytes, defaults: dict[str, Any]) -> BatchInput:
    """The same from a CSV file, whose header is row 1, as a spreadsheet counts."""
    if len(data) > MAX_CSV_BYTES:
        return BatchInput(errors=["The CSV file is larger than 2 MB."])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return BatchInput(errors=["The CSV file must be UTF-8 text."])
    try:
        return _csv_rows(csv.DictReader(io.StringIO(text)), defaults)
    except csv.Error as exc:
        # The csv module's own limit is a field of 128 KiB (csv.field_size_limit()).
        if "field larger than field limit" in str(exc):
            limit = csv.field_size_limit() // 1024
            return BatchInput(errors=[f"A field in the CSV file is larger than {limit} KiB."])
        return BatchInput(errors=[f"The CSV file cannot be read: {exc}."])


def _csv_rows(reader: csv.DictReader[str], defaults: dict[str, Any]) -> BatchInput:
    header = [(name or "").strip().lower() for name in (reader.fieldnames or [])]
    if not header:
        columns = ",".join(CSV_COLUMNS)
        return BatchInput(errors=[f"The CSV file is empty: it needs a header row ({columns})."])
    unknown = sorted({name for name in header if name not in CSV_COLUMNS})
    if unknown:
        return BatchInput(
            errors=[f"Unknown CSV column(s): {', '.join(unknown)}. Use {', '.join(CSV_COLUMNS)}."]
        )
    reader.fieldnames = header
    items: list[dict[str, Any]] = []
    labels: list[str] = []
    for row in reader:
        cells = {name: (value or "").strip() for name, value in row.items() if name in CSV_COLUMNS}
        if not any(cells.values()):
            continue
        if len(items) == MAX_BATCH:
            message = f"The CSV file has more than {MAX_BATCH} articles: split it into smaller batches."
            return BatchInput(errors=[message])
        lists = ("keywords", "source_urls")
        item: dict[str, Any] = {name: value for name, value in cells.items() if value and name not in lists}
        if cells.get("keywords"):
            item["keywords"] = split_list(cells["keywords"], ";|")
        if cells.get("source_urls"):
            item["source_urls"] = split_list(cells["source_urls"], " ;|")
        items.append(item)
        labels.append(f"Row {reader.line_num}")
    if not items:
        return BatchInput(errors=["The CSV file has a header but no articles."])
    return BatchInput(payload={"items": items, "defaults": defaults}, row_labels=labels)


def batch_errors(errors: Mapping[str, Any], row_labels: list[str]) -> list[str]:
    """parse_batch's errors as sentences: "Row 3: topic: topic is required for topic mode."."""
    messages: list[str] = []
    items = errors.get("items")
    if isinstance(items, Mapping):
        for index in sorted(items, key=int):
            label = row_labels[int(index)] if int(index) < len(row_labels) else f"Row {int(index) + 1}"
            for name, field_messages in field_errors(items[index]).items():
                prefix = "" if name == "non_field_errors" else f"{name}: "
                messages.extend(f"{label}: {prefix}{message}" for message in field_messages)
    elif items:
        messages.extend(field_errors({"items": items})["items"])
    for name, field_messages in field_errors({k: v for k, v in errors.items() if k != "items"}).items():
        prefix = "" if name == "non_field_errors" else f"{name}: "
        messages.extend(prefix + message for message in field_messages)
    return messages
