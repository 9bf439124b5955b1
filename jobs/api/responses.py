"""The error answers the API documents, shared by every API module (jobs, exports, analytics, webhooks)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import serializers


@extend_schema_serializer(component_name="Detail")
class DetailSerializer(serializers.Serializer):
    detail = serializers.CharField()


_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Bad input: messages per field."),
    401: OpenApiResponse(DetailSerializer, description="No or an unknown token."),
    403: OpenApiResponse(DetailSerializer, description="A session request without its CSRF token."),
    404: OpenApiResponse(DetailSerializer, description="No such object among yours (another user's too)."),
    409: OpenApiResponse(DetailSerializer, description="Not possible in the object's current state."),
    413: OpenApiResponse(DetailSerializer, description="The request body is too large."),
    429: OpenApiResponse(DetailSerializer, description="Over a rate limit: see `Retry-After`."),
}


def with_errors(ok: dict[int, Any], *codes: int) -> dict[int, Any]:
    """The success answer plus the documented error answers `codes` (and 401/403, which every call has)."""
    return {**ok, **{code: _ERRORS[code] for code in sorted({401, 403, *codes})}}
