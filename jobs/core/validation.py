"""Input rules for a job and a batch, shared by the REST API and the HTML forms."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.validators import RegexValidator
from rest_framework import serializers

from jobs.models import GenerationJob

MAX_TOPIC = 300
MAX_KEYWORDS = 20
MAX_KEYWORD = 100
MAX_SOURCE_TEXT = 50_000
MIN_WORDS, MAX_WORDS, DEFAULT_WORDS = 100, 5000, 1000
MAX_BATCH = 500
MAX_SOURCE_URLS = 5
MAX_URL = 2000
JOB_FIELDS = (
    "mode", "topic", "keywords", "source_text", "word_count", "tone",
    "use_knowledge_base", "use_web", "source_urls",
)  # fmt: skip


# Control characters refused in every text a user sends: C0 but tab and LF, DEL and C1. Stored, an ESC
# sequence could rewrite an operator's terminal and a CR overwrite a row of `manage.py jobs ls`. Multi-line
# fields take CR as well, as a browser's textarea sends CR LF. One class string serves Python and the schema.
TEXT_CONTROLS = r"\u0000-\u0008\u000b-\u001f\u007f-\u009f"
TEXTAREA_CONTROLS = r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f"


def no_controls_pattern(*, multiline: bool = False) -> str:
    return f"^[^{TEXTAREA_CONTROLS if multiline else TEXT_CONTROLS}]*$"


class NoControlCharacters(RegexValidator):
    """Refuses a control character, naming the field and the character; a RegexValidator, so the schema
    (drf-spectacular) shows the rule as the field's pattern."""

    requires_context = True

    def __init__(self, *, multiline: bool = False) -> None:
        super().__init__(no_controls_pattern(multiline=multiline))
        self.found = re.compile(f"[{TEXTAREA_CONTROLS if multiline else TEXT_CONTROLS}]")

    def __call__(self, value: Any, serializer_field: Any = None) -> None:
        match = self.found.search(str(value))
        if match is None:
            return
        name = getattr(serializer_field, "field_name", "") or getattr(
            getattr(serializer_field, "parent", None), "field_name", ""
        )
        raise serializers.ValidationError(
            f"{name or 'This field'} contains a control character (U+{ord(match.group()):04X}), which is not "
            "allowed; tab and newline are."
        )


class StrictCharField(serializers.CharField):
    """A string and nothing else: no numbers coerced, no objects or operators smuggled in, no control
    characters (`multiline`: CR allowed too)."""

    default_error_messages = {"invalid": "Must be a string."}

    def __init__(self, *, multiline: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validators.append(NoControlCharacters(multiline=multiline))

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    default_error_messages = {"invalid": "Must be a whole number."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int | str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """true or false (a form's "on"/"off" and "1"/"0" too); never a number or an object."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if isinstance(data, int) and not isinstance(data, bool):
            self.fail("invalid")
        return bool(super().to_internal_value(data))


# An http(s) address with a host, by RFC 3986's grammar in ASCII: what research can read, and what the API's
# schema states (`format: uri` and this pattern), so that the two never disagree.
_U = r"(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})"
WEB_URL = (
    rf"^[Hh][Tt][Tt][Pp][Ss]?://{_U}+(?::[0-9]{{1,5}})?(?:/(?:{_U}|[:@])*)*"
    rf"(?:\?(?:{_U}|[:@/?])*)?(?:#(?:{_U}|[:@/?])*)?$"
)


class WebUrlField(StrictCharField):
    """An http or https address (WEB_URL): the only kind research reads."""

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not re.fullmatch(WEB_URL, value):
            raise serializers.ValidationError(
                "Each source URL must be an http or https address in ASCII (a host name in punycode)."
            )
        return value


class StrictChoiceField(serializers.ChoiceField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid_choice", input=type(data).__name__)
        return str(super().to_internal_value(data))


class JobInputSerializer(serializers.Serializer):
    mode = StrictChoiceField(
        choices=GenerationJob.Mode.choices,
        error_messages={"invalid_choice": "mode must be one of topic, keywords, trends, spin."},
    )
    topic = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=MAX_TOPIC,
        trim_whitespace=True,
        error_messages={"max_length": f"topic must be at most {MAX_TOPIC} characters."},
    )
    keywords = serializers.ListField(
        child=StrictCharField(
            max_length=MAX_KEYWORD,
            error_messages={
                "max_length": f"Each keyword must be at most {MAX_KEYWORD} characters.",
                "blank": "Keywords cannot be blank.",
            },
        ),
        required=False,
        max_length=MAX_KEYWORDS,
        error_messages={
            "max_length": f"keywords holds at most {MAX_KEYWORDS} entries.",
            "not_a_list": "keywords must be a list of strings.",
        },
    )
    source_text = StrictCharField(
        multiline=True,
        required=False,
        allow_blank=True,
        max_length=MAX_SOURCE_TEXT,
        error_messages={"max_length": f"source_text must be at most {MAX_SOURCE_TEXT:,} characters."},
    )
    word_count = StrictIntegerField(
        required=False,
        default=DEFAULT_WORDS,
        min_value=MIN_WORDS,
        max_value=MAX_WORDS,
        error_messages={
            "min_value": f"word_count must be between {MIN_WORDS} and {MAX_WORDS}.",
            "max_value": f"word_count must be between {MIN_WORDS} and {MAX_WORDS}.",
        },
    )
    tone = StrictChoiceField(
        choices=GenerationJob.Tone.choices,
        required=False,
        default=GenerationJob.Tone.PROFESSIONAL,
        error_messages={
            "invalid_choice": "tone must be one of " + ", ".join(GenerationJob.Tone.values) + "."
        },
    )
    use_knowledge_base = StrictBooleanField(
        required=False, allow_null=True, help_text="Default: true when you have ready sources."
    )
    use_web = StrictBooleanField(
        required=False, allow_null=True, help_text="Default: true when a web search is configured."
    )
    source_urls = serializers.ListField(
        child=WebUrlField(max_length=MAX_URL),
        required=False,
        max_length=MAX_SOURCE_URLS,
        help_text="Pages to read for this article alone.",
        error_messages={
            "max_length": f"source_urls holds at most {MAX_SOURCE_URLS} addresses.",
            "not_a_list": "source_urls must be a list of http or https addresses.",
        },
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        mode = attrs["mode"]
        errors: dict[str, str] = {}
        attrs["keywords"] = [k.strip() for k in attrs.get("keywords", [])]
        if mode in (GenerationJob.Mode.TOPIC, GenerationJob.Mode.TRENDS) and not attrs.get("topic"):
            errors["topic"] = f"topic is required for {mode} mode."
        if mode == GenerationJob.Mode.KEYWORDS and not attrs["keywords"]:
            errors["keywords"] = "keywords mode needs 1 to 20 keywords."
        if mode == GenerationJob.Mode.SPIN and not attrs.get("source_text", "").strip():
            errors["source_text"] = "source_text is required for spin mode: paste the text to rewrite."
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class JobDefaultsSerializer(JobInputSerializer):
    """A batch's `defaults`: any job fields, each valid on its own (the items decide the rest)."""

    mode = StrictChoiceField(
        choices=GenerationJob.Mode.choices,
        required=False,
        error_messages={"invalid_choice": "mode must be one of topic, keywords, trends, spin."},
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return attrs


class BulkInputSerializer(serializers.Serializer):
    items = serializers.ListField(
        child=serializers.DictField(
            error_messages={"not_a_dict": "Each item must be an object of job fields."}
        ),
        min_length=1,
        max_length=MAX_BATCH,
        allow_empty=False,
        error_messages={
            "min_length": f"items must hold 1 to {MAX_BATCH} jobs.",
            "max_length": f"items must hold 1 to {MAX_BATCH} jobs.",
            "empty": f"items must hold 1 to {MAX_BATCH} jobs.",
            "not_a_list": "items must be a list of job objects.",
        },
    )
    defaults = serializers.DictField(required=False)


@dataclass(frozen=True)
class JobSpec:
    mode: str
    topic: str = ""
    keywords: list[str] = field(default_factory=list)
    source_text: str = ""
    word_count: int = DEFAULT_WORDS
    tone: str = GenerationJob.Tone.PROFESSIONAL
    # None: the default (jobs.core.services decides it when the job is created).
    use_knowledge_base: bool | None = None
    use_web: bool | None = None
    source_urls: list[str] = field(default_factory=list)


def _spec(attrs: Mapping[str, Any]) -> JobSpec:
    return JobSpec(**{name: attrs[name] for name in JOB_FIELDS if name in attrs})


def unknown_fields(data: Mapping[str, Any], known: tuple[str, ...]) -> str:
    """A message naming the fields `data` has beyond `known` (a typo is refused, not silently ignored)."""
    extra = sorted(str(name) for name in set(data) - set(known))
    return f"Unknown field(s): {', '.join(extra)}. Use {', '.join(known)}." if extra else ""


def parse_job(data: Any) -> tuple[JobSpec | None, dict[str, Any]]:
    """(spec, {}) when valid, else (None, {field: [messages]})."""
    if not isinstance(data, Mapping):
        return None, {"non_field_errors": ["Expected a JSON object of job fields."]}
    unknown = unknown_fields(data, JOB_FIELDS)
    if unknown:
        return None, {"non_field_errors": [unknown]}
    serializer = JobInputSerializer(data=dict(data))
    if serializer.is_valid():
        return _spec(serializer.validated_data), {}
    return None, dict(serializer.errors)


def parse_batch(data: Any) -> tuple[list[JobSpec], dict[str, Any]]:
    """Every item valid, or no spec at all and the errors keyed by item index."""
    if not isinstance(data, Mapping):
        return [], {"non_field_errors": ["Expected a JSON object with `items`."]}
    unknown = unknown_fields(data, ("items", "defaults"))
    if unknown:
        return [], {"non_field_errors": [unknown]}
    outer = BulkInputSerializer(data=dict(data))
    if not outer.is_valid():
        return [], dict(outer.errors)
    defaults = outer.validated_data.get("defaults") or {}
    unknown = unknown_fields(defaults, JOB_FIELDS)
    if unknown:
        return [], {"defaults": [unknown]}
    checked = JobDefaultsSerializer(data=dict(defaults))
    if not checked.is_valid():
        return [], {"defaults": dict(checked.errors)}
    specs: list[JobSpec] = []
    item_errors: dict[str, Any] = {}
    for index, item in enumerate(outer.validated_data["items"]):
        spec, errors = parse_job({**defaults, **item})
        if spec is None:
            item_errors[str(index)] = errors
        else:
            specs.append(spec)
    if item_errors:
        return [], {"items": item_errors}
    return specs, {}
