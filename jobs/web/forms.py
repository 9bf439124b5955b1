"""The HTML forms: their choices, their state on a page, and what they post, turned into the API's shapes
(jobs.core.inputs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.utils.datastructures import MultiValueDict

from jobs.core.inputs import MAX_CSV_BYTES, RESEARCH_SWITCHES, BatchInput, batch_from_csv, batch_from_lines
from jobs.core.services import ResearchDefaults
from jobs.core.validation import DEFAULT_WORDS, JOB_FIELDS
from jobs.models import GenerationJob

BATCH_MODES = (GenerationJob.Mode.TOPIC, GenerationJob.Mode.TRENDS, GenerationJob.Mode.KEYWORDS)


def choices() -> dict[str, Any]:
    return {
        "email_enabled": settings.CONTENTGEN_EMAIL_ENABLED,
        "modes": GenerationJob.Mode.choices,
        "batch_modes": [(m.value, m.label) for m in BATCH_MODES],
        "tones": GenerationJob.Tone.choices,
        "default_words": DEFAULT_WORDS,
    }


def _initial() -> dict[str, str]:
    return {"mode": "topic", "word_count": str(DEFAULT_WORDS), "tone": "professional"}


def empty_job_form(research: ResearchDefaults) -> dict[str, Any]:
    """A blank form; its research boxes start as the defaults a job would get without them."""
    values = _initial()
    values.update({name: "on" for name, on in zip(RESEARCH_SWITCHES, (research.knowledge_base, research.web),
                                                    strict=True) if on})  # fmt: skip
    return {"values": values, "errors": {}}


def job_form(post: Mapping[str, Any]) -> dict[str, Any]:
    return {"values": {name: str(post.get(name, "")) for name in JOB_FIELDS}, "errors": {}}


def empty_batch_form() -> dict[str, Any]:
    return {"values": _initial(), "errors": []}


def batch_form(post: Mapping[str, Any]) -> dict[str, Any]:
    names = ("topics", "mode", "word_count", "tone", "notify_email")
    return {"values": {name: str(post.get(name, "")) for name in names}, "errors": []}


def _defaults(post: Mapping[str, Any]) -> dict[str, Any]:
    return {
        name: str(post.get(name, "")).strip()
        for name in ("mode", "word_count", "tone")
        if str(post.get(name, "")).strip()
    }


def batch_payload(post: Mapping[str, Any], files: MultiValueDict[str, UploadedFile]) -> BatchInput:
    """The batch form's textarea (one topic per line) or its CSV upload, with the form's defaults."""
    defaults = _defaults(post)
    upload = files.get("csv_file")
    if upload is not None and upload.size:
        if upload.size > MAX_CSV_BYTES:
            return BatchInput(errors=["The CSV file is larger than 2 MB."])
        return batch_from_csv(upload.read(), defaults)
    return batch_from_lines(str(post.get("topics", "")), defaults)


def wants_email(post: Mapping[str, Any]) -> bool:
    """The batch form's "email me" box, honoured only where email is configured (CONTENTGEN_EMAIL_URL)."""
    return settings.CONTENTGEN_EMAIL_ENABLED and post.get("notify_email") == "on"
