from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

pytestmark = pytest.mark.django_db

# The schema and its docs page describe the API; they are not part of it.
SELF = {"/api/schema/", "/api/docs/"}


def routes(patterns, prefix: str = "") -> list[str]:
    out = []
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            out += routes(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern):
            out.append("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
    return out


@pytest.fixture
def schema(api):
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def shape(path: str) -> str:
    """Parameter names may differ between a route and its documentation; their places may not."""
    return re.sub(r"\{\w+\}", "{}", path)


def test_every_api_url_in_the_urlconf_is_in_the_schema(schema):
    api_urls = {shape(r) for r in routes(get_resolver().url_patterns) if r.startswith("/api/")} - SELF
    assert "/api/jobs/{}/progress" in api_urls and "/api/webhooks/" in api_urls
    assert api_urls - {shape(p) for p in schema["paths"]} == set()


def test_sse_streams_are_documented_with_their_event_schemas(schema):
    for path, progress, complete in [
        ("/api/jobs/{job_id}/progress", "JobProgressEvent", "JobCompleteEvent"),
        ("/api/bulk-jobs/{bulk_id}/progress", "BulkProgressEvent", "BulkCompleteEvent"),
    ]:
        operation = schema["paths"][path]["get"]
        stream = operation["responses"]["200"]["content"]["text/event-stream"]
        # Each event as its envelope (`event`, `id`, `data` as JSON text), the data schemas named inside.
        envelope = schema["components"]["schemas"][stream["schema"]["$ref"].rsplit("/", 1)[1]]
        named = {
            item["properties"]["event"]["enum"][0]: item["properties"]["data"]["contentSchema"]["$ref"].rsplit("/", 1)[1]
            for item in envelope["oneOf"]
        }
        assert named == {"progress": progress, "complete": complete}
        assert {progress, complete} <= set(schema["components"]["schemas"])
        assert "204" in operation["responses"]  # resumed at or after the final event
        params = {(p["in"], p["name"]) for p in operation["parameters"]}
        assert {("header", "Last-Event-ID"), ("query", "last_event_id")} <= params


def test_every_reference_in_the_schema_resolves(schema):
    text = str(schema)
    names = set(re.findall(r"#/components/schemas/(\w+)", text))
    assert names - set(schema["components"]["schemas"]) == set()


def test_the_description_has_no_raw_angle_brackets_outside_code(schema):
    description = schema["info"]["description"]
    prose = re.sub(r"```.*?```", "", description, flags=re.S)
    prose = re.sub(r"`[^`]*`", "", prose)
    assert "<" not in prose, "HTML-like text outside code is swallowed by the docs page"
    assert "/api/jobs//progress" not in description
    assert "WebSocket" in description and "X-Contentgen-Signature" in description
    assert "WebhookPayload" in schema["components"]["schemas"]
