"""REST API of the knowledge base: `/api/sources/`, owner-only, one class per URL.

A source is added from a multipart `file` (and an optional `title`), a JSON `{"url"}`, or a JSON
`{"title", "text"}`; the answer is 201 with the queued source, whose progress streams on
`/api/sources/<id>/progress`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contentgen.errors import InvalidInput
from jobs.api.responses import with_errors
from jobs.core.validation import TEXTAREA_CONTROLS, WEB_URL, unknown_fields
from jobs.models import Source
from jobs.sources import selectors, services

ADD_FIELDS = ("file", "title", "url", "text")


class SourceOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="pk")
    title = serializers.CharField()
    kind = serializers.ChoiceField(choices=Source.Kind.choices)
    status = serializers.ChoiceField(choices=Source.Status.choices)
    passages = serializers.IntegerField()
    error = serializers.CharField(allow_null=True, help_text="Why ingestion failed; null otherwise.")
    url = serializers.CharField(allow_null=True)
    filename = serializers.CharField(allow_null=True)
    size_bytes = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        for name in ("error", "url", "filename"):
            data[name] = data[name] or None
        return data


# A title holds no control character but tab and line breaks, and a required one a visible character;
# pasted text holds no NUL.
_CONTROL = TEXTAREA_CONTROLS
NO_CONTROL = rf"^[^{_CONTROL}]*$"
NON_BLANK_TITLE = rf"^[^{_CONTROL}]*[^\s{_CONTROL}][^{_CONTROL}]*$"
_TITLE = {"type": "string", "maxLength": 200, "pattern": NO_CONTROL}
SOURCE_INPUT = {
    "multipart/form-data": {
        "type": "object", "required": ["file"], "additionalProperties": False,
        "properties": {"file": {"type": "string", "format": "binary"}, "title": _TITLE},
    },
    "application/json": {
        "oneOf": [
            {"type": "object", "required": ["url"], "additionalProperties": False,
             "properties": {"url": {"type": "string", "format": "uri", "maxLength": 2000, "pattern": WEB_URL},
                            "title": _TITLE}},
            {"type": "object", "required": ["title", "text"], "additionalProperties": False,
             "properties": {"title": {**_TITLE, "pattern": NON_BLANK_TITLE},
                            "text": {"type": "string", "pattern": r"^[^\u0000]*\S[^\u0000]*$"}}},
        ]
    },
}  # fmt: skip


def _owned(request: Request, source_id: str) -> Source:
    source = selectors.source_for_user(user=request.user, source_id=source_id)
    if source is None:
        raise Http404
    return source


def add(request: Request) -> Source:
    """The source the request describes; unknown fields and mixed kinds are refused with a message."""
    data: Any = request.data
    if not isinstance(data, Mapping):
        message = "Expected a JSON object, or a multipart form with a `file`."
        raise InvalidInput({"non_field_errors": [message]})
    unknown = unknown_fields(data, ADD_FIELDS)
    if unknown:
        raise InvalidInput({"non_field_errors": [unknown]})
    wrong = sorted(k for k in ("title", "url", "text") if k in data and not isinstance(data[k], str))
    if "file" in data and request.content_type.startswith("application/json"):
        wrong.append("file")
    if wrong:
        raise InvalidInput({name: [f"{name} must be a string (a file: multipart)."] for name in wrong})
    # A form may repeat a field; which copy would count is a guess, so a repeated field is refused.
    getlist = getattr(data, "getlist", None)
    repeated = [name for name in ADD_FIELDS if getlist and len(getlist(name)) > 1]
    if getlist and len(request.FILES.getlist("file")) > 1:
        repeated.append("file")
    if repeated:
        raise InvalidInput({name: [f"Send one {name}, not several."] for name in sorted(set(repeated))})
    upload = request.FILES.get("file")
    given = [name for name in ("file", "url", "text") if name in data or (name == "file" and upload)]
    if len(given) != 1:
        message = "Send exactly one of: a multipart `file`, a `url`, or a `title` and `text`."
        raise InvalidInput({"non_field_errors": [message]})
    if upload is not None:
        services.check_size(upload.size or 0, "file")  # before reading it
        name, content_type = upload.name or "", upload.content_type or ""
        payload = services.Upload(name=name, content_type=content_type, data=upload.read())
        return services.source_add_file(user=request.user, upload=payload, title=data.get("title"))
    if "file" in data:
        # A multipart part without a file name arrives as a field: its text is the file.
        if not isinstance(data["file"], str) or request.content_type.startswith("application/json"):
            raise InvalidInput({"file": ["Send the file as multipart/form-data."]})
        services.check_size(len(data["file"].encode()), "file")
        payload = services.Upload(name="", content_type="text/plain", data=data["file"].encode())
        return services.source_add_file(user=request.user, upload=payload, title=data.get("title"))
    if "url" in data:
        return services.source_add_url(user=request.user, url=data.get("url"), title=data.get("title"))
    return services.source_add_text(user=request.user, title=data.get("title"), text=data.get("text"))


class SourceListCreateApi(APIView):
    """`/api/sources/`: GET lists the user's sources, newest first; POST adds one."""

    parser_classes = (JSONParser, MultiPartParser, FormParser)

    class Pagination(PageNumberPagination):
        page_size = 20
        page_size_query_param = "page_size"
        max_page_size = 100

    class PageOutputSerializer(serializers.Serializer):
        count = serializers.IntegerField()
        next = serializers.URLField(allow_null=True)
        previous = serializers.URLField(allow_null=True)
        results = SourceOutputSerializer(many=True)

    OutputSerializer = SourceOutputSerializer

    @extend_schema(responses=with_errors({200: PageOutputSerializer}, 404), operation_id="sources_list")
    def get(self, request: Request) -> Response:
        paginator = self.Pagination()
        page = paginator.paginate_queryset(selectors.sources_for_user(user=request.user), request, view=self)
        assert paginator.page is not None
        body = {"count": paginator.page.paginator.count, "next": paginator.get_next_link(),
                "previous": paginator.get_previous_link(), "results": page}  # fmt: skip
        return Response(self.PageOutputSerializer(body).data)

    @extend_schema(request=SOURCE_INPUT, responses=with_errors({201: OutputSerializer}, 400, 413, 429))
    def post(self, request: Request) -> Response:
        return Response(self.OutputSerializer(add(request)).data, status=status.HTTP_201_CREATED)


class SourceDetailApi(APIView):
    OutputSerializer = SourceOutputSerializer

    @extend_schema(responses=with_errors({200: OutputSerializer}, 404))
    def get(self, request: Request, source_id: str) -> Response:
        return Response(self.OutputSerializer(_owned(request, source_id)).data)

    @extend_schema(responses=with_errors({204: None}, 404))
    def delete(self, request: Request, source_id: str) -> Response:
        services.source_delete(source=_owned(request, source_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
