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
    TEXT_CONTROLS,
    TEXTAREA_CONTROLS,
    WEB_URL,
    no_controls_pattern,
)
from jobs.models import GenerationJob

# Control characters are refused in every text field (jobs.core.validation), so the schema says so.
PLAIN_TEXT = no_controls_pattern()
TEXTAREA = no_controls_pattern(multiline=True)


def _non_blank(controls: str) -> str:
    return rf"^[^{controls}]*[^{controls}\s][^{controls}]*$"


NON_BLANK = _non_blank(TEXT_CONTROLS)
NON_BLANK_TEXTAREA = _non_blank(TEXTAREA_CONTROLS)
MODES_NEEDING: dict[str, list[str]] = {
    "topic": [GenerationJob.Mode.TOPIC.value, GenerationJob.Mode.TRENDS.value],
    "keywords": [GenerationJob.Mode.KEYWORDS.value],
    "source_text": [GenerationJob.Mode.SPIN.value],
}


def _fields() -> dict[str, Any]:
    return {
        "topic": {"type": "string", "maxLength": MAX_TOPIC, "pattern": PLAIN_TEXT},
        "keywords": {
            "type": "array",
            "maxItems": MAX_KEYWORDS,
            "items": {"type": "string", "minLength": 1, "maxLength": MAX_KEYWORD, "pattern": NON_BLANK},
        },
        "source_text": {"type": "string", "maxLength": MAX_SOURCE_TEXT, "pattern": TEXTAREA},
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
        pattern = NON_BLANK_TEXTAREA if field == "source_text" else NON_BLANK
        properties[field] = {**properties[field], "minLength": 1, "pattern": pattern}
    required = ["mode", field]
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def job_input() -> dict[str, Any]:
    return {
        "description": "topic and trends modes need `topic`, keywords `keywords`, spin `source_text`.",
        "oneOf": [_mode_shape(field, modes) for field, modes in MODES_NEEDING.items()],
    }


def bulk_input() -> dict[str, Any]:
    """Items are whole jobs, or, when the defaults give the mode, partial jobs (no mode of their own) that the
    defaults complete. What the mode needs besides (a topic, keywords, the text to spin) may come from either
    side, which these shapes do not say: the server checks every item merged with the defaults and names what
    is missing. (One shape per mode said it, at twice the fuzzing time of the whole API.)"""
    fields = {"mode": {"type": "string", "enum": list(GenerationJob.Mode.values)}, **_fields()}
    defaults = {
        "type": "object",
        "description": "Fields merged into every item (an item's own value wins).",
        "properties": {name: fields[name] for name in JOB_FIELDS if name in fields},
        "additionalProperties": False,
    }
    partial = {
        "type": "object",
        "description": "A job without its mode: the batch's defaults give that and what else it leaves out.",
        "properties": {name: fields[name] for name in JOB_FIELDS if name in fields and name != "mode"},
        "additionalProperties": False,
    }

    def shape(item: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "items": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH, "items": item},
                "defaults": defaults,
            },
            "required": ["items", "defaults"] if defaults.get("required") else ["items"],
            "additionalProperties": False,
        }

    return {
        "description": "A batch: `items` (1-500 jobs) and `defaults` merged into every item.",
        "anyOf": [
            shape({"$ref": "#/components/schemas/JobInput"}, defaults),
            shape(partial, {**defaults, "required": ["mode"]}),
        ],
    }


_BLANK = {"type": "string", "maxLength": 0}


def _one_string(field: dict[str, Any]) -> dict[str, Any]:
    """drf-spectacular writes a blank-allowing field with a pattern as ``oneOf: [the string, a blank]``; the
    pattern already takes "", so the string alone says the same."""
    options = field.get("oneOf")
    if isinstance(options, list) and len(options) == 2 and options[1] == _BLANK:
        return {key: value for key, value in field.items() if key != "oneOf"} | options[0]
    return field


def seo_analyze_input(generated: dict[str, Any]) -> dict[str, Any]:
    """The generated shape (its patterns come from the fields' control-character validators), each string
    as one schema, and what the serializer enforces beyond it: no unknown field."""
    properties = {name: _one_string(field) for name, field in generated.get("properties", {}).items()}
    synonyms = properties.get("synonyms")
    if synonyms and "items" in synonyms:
        properties["synonyms"] = {**synonyms, "items": _one_string(synonyms["items"])}
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
