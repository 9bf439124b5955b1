"""OpenAPI refinements (a drf-spectacular postprocessing hook): the job input as validation enforces it.

A serializer cannot say "topic is required in topic mode" or "not blank after trimming", so the generated
JobInput accepted bodies the API then refused. Here each mode is its own shape (oneOf on `mode`), strings
that are trimmed must hold a non-space character, and a batch's items are JobInput objects.
"""

from __future__ import annotations

from typing import Any

from jobs.core.validation import (
    JOB_FIELDS,
    MAX_BATCH,
    MAX_KEYWORD,
    MAX_KEYWORDS,
    MAX_SOURCE_TEXT,
    MAX_SOURCE_URLS,
    MAX_TOPIC,
    MAX_URL,
    MAX_WORDS,
    MIN_WORDS,
    WEB_URL,
)
from jobs.models import GenerationJob

# DRF refuses a NUL character in any string ("Null characters are not allowed."), so the schema says so.
NO_NUL = r"^[^\u0000]*$"
NON_BLANK = r"^[^\u0000]*[^\u0000\s][^\u0000]*$"
MODES_NEEDING: dict[str, list[str]] = {
    "topic": [GenerationJob.Mode.TOPIC.value, GenerationJob.Mode.TRENDS.value],
    "keywords": [GenerationJob.Mode.KEYWORDS.value],
    "source_text": [GenerationJob.Mode.SPIN.value],
}


def _fields() -> dict[str, Any]:
    return {
        "topic": {"type": "string", "maxLength": MAX_TOPIC, "pattern": NO_NUL},
        "keywords": {
            "type": "array",
            "maxItems": MAX_KEYWORDS,
            "items": {"type": "string", "minLength": 1, "maxLength": MAX_KEYWORD, "pattern": NON_BLANK},
        },
        "source_text": {"type": "string", "maxLength": MAX_SOURCE_TEXT, "pattern": NO_NUL},
        "word_count": {"type": "integer", "minimum": MIN_WORDS, "maximum": MAX_WORDS, "default": 1000},
        "tone": {"type": "string", "enum": list(GenerationJob.Tone.values), "default": "professional"},
        "use_knowledge_base": {
            "type": "boolean",
            "nullable": True,
            "description": "Research from your knowledge base. Default: true when you have ready sources.",
        },
        "use_web": {
            "type": "boolean",
            "nullable": True,
            "description": "Research on the web. Default: true when a web search is configured.",
        },
        "source_urls": {
            "type": "array",
            "maxItems": MAX_SOURCE_URLS,
            "description": "Pages to read for this article alone.",
            "items": {"type": "string", "format": "uri", "maxLength": MAX_URL, "pattern": WEB_URL},
        },
    }


def _mode_shape(field: str, modes: list[str]) -> dict[str, Any]:
    properties = {"mode": {"type": "string", "enum": [str(mode) for mode in modes]}, **_fields()}
    if field == "keywords":
        properties["keywords"] = {**properties["keywords"], "minItems": 1}
    else:
        properties[field] = {**properties[field], "minLength": 1, "pattern": NON_BLANK}
    required = ["mode", field]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def job_input() -> dict[str, Any]:
    return {
        "description": "topic and trends modes need `topic`, keywords `keywords`, spin `source_text`.",
        "oneOf": [_mode_shape(field, modes) for field, modes in MODES_NEEDING.items()],
    }


def bulk_input() -> dict[str, Any]:
    defaults = {"mode": {"type": "string", "enum": list(GenerationJob.Mode.values)}, **_fields()}
    return {
        "type": "object",
        "properties": {
            "items": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BATCH,
                "items": {"$ref": "#/components/schemas/JobInput"},
            },
            "defaults": {
                "type": "object",
                "description": "Fields merged into every item (an item's own value wins).",
                "properties": {name: defaults[name] for name in JOB_FIELDS if name in defaults},
                "additionalProperties": False,
            },
        },
        "required": ["items"],
        "additionalProperties": False,
    }


def seo_analyze_input(generated: dict[str, Any]) -> dict[str, Any]:
    """The generated shape, with what DRF enforces beyond it: no NUL in a string, no unknown field."""
    properties = dict(generated.get("properties", {}))
    for name, field in properties.items():
        if field.get("type") == "string":
            properties[name] = {**field, "pattern": NO_NUL}
        elif field.get("type") == "array":
            properties[name] = {**field, "items": {**field.get("items", {}), "pattern": NO_NUL}}
    return {**generated, "properties": properties, "additionalProperties": False}


def refine(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["JobInput"] = job_input()
    schemas["BulkInput"] = bulk_input()
    if "SeoAnalyzeInput" in schemas:
        schemas["SeoAnalyzeInput"] = seo_analyze_input(schemas["SeoAnalyzeInput"])
    # A source is one of three bodies, each required; no body at all is refused.
    adding = result.get("paths", {}).get("/api/sources/", {}).get("post", {})
    if "requestBody" in adding:
        adding["requestBody"]["required"] = True
    return result
