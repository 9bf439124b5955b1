"""REST API for webhooks: `/api/webhooks/`, owner-only, one class per action."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from django.http import Http404
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from contentgen.errors import ApplicationError
from jobs.api.responses import with_errors
from jobs.core.validation import NoControlCharacters
from jobs.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from jobs.webhooks import selectors, services


class EndpointInput(serializers.Serializer):
    url = serializers.URLField(max_length=2000, validators=[NoControlCharacters()])
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=WebhookEvent.choices),
        allow_empty=False,
        min_length=1,
        max_length=10,
    )
    secret = serializers.CharField(
        min_length=16,
        max_length=200,
        required=False,
        allow_blank=False,
        validators=[NoControlCharacters()],
    )
    active = serializers.BooleanField(
        required=False, help_text="Set true to enable a disabled endpoint again."
    )

    def validate_url(self, value: str) -> str:
        if urlsplit(value).scheme not in ("http", "https"):
            raise serializers.ValidationError("Only http and https URLs can receive webhooks.")
        return value


class EndpointOutput(serializers.Serializer):
    id = serializers.CharField(source="pk")
    url = serializers.URLField()
    events = serializers.ListField(child=serializers.CharField())
    active = serializers.BooleanField()
    disabled_reason = serializers.CharField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class EndpointCreatedOutput(EndpointOutput):
    secret = serializers.CharField(help_text="Shown once, in this answer only: store it now.")


class AttemptOutput(serializers.Serializer):
    at = serializers.DateTimeField()
    status_code = serializers.IntegerField(allow_null=True)
    duration_ms = serializers.FloatField()
    error = serializers.CharField(allow_blank=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)


class DeliveryOutput(serializers.Serializer):
    id = serializers.CharField(source="pk")
    endpoint_id = serializers.CharField()
    type = serializers.CharField(source="event_type")
    status = serializers.ChoiceField(choices=WebhookDelivery.Status.choices)
    attempt_count = serializers.IntegerField()
    attempts = AttemptOutput(many=True)
    next_attempt_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    payload = serializers.SerializerMethodField()

    def get_payload(self, delivery: WebhookDelivery) -> dict[str, Any]:
        return dict(json.loads(delivery.body))


@extend_schema_serializer(component_name="DeliveryPage")
class DeliveryPageOutput(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DeliveryOutput(many=True)


class DeliveryPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


def _endpoint_or_404(request: Request, endpoint_id: str) -> WebhookEndpoint:
    endpoint = selectors.endpoint_for_user(user=request.user, endpoint_id=endpoint_id)
    if endpoint is None:
        raise Http404
    return endpoint


def parse_endpoint(data: Any, *, partial: bool = False) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(values, errors): every field's message at once, the address check included."""
    serializer = EndpointInput(data=data, partial=partial)
    valid = serializer.is_valid()
    errors = {} if valid else {k: [str(m) for m in v] for k, v in serializer.errors.items()}
    url = serializer.validated_data.get("url") if valid else None
    if url is None and "url" not in errors and isinstance(data, dict) and data.get("url"):
        url = str(data["url"])
    if url is not None and "url" not in errors:
        try:
            services.check_url(url)
        except ApplicationError as exc:
            errors["url"] = [exc.message]
    return (dict(serializer.validated_data) if valid else {}), errors


def _valid(request: Request, *, partial: bool = False) -> dict[str, Any]:
    values, errors = parse_endpoint(request.data, partial=partial)
    if errors:
        raise ValidationError(errors)
    return values


class WebhookListCreateApi(APIView):
    @extend_schema(responses=with_errors({200: EndpointOutput(many=True)}))
    def get(self, request: Request) -> Response:
        return Response(EndpointOutput(selectors.endpoints_for_user(user=request.user), many=True).data)

    @extend_schema(request=EndpointInput, responses=with_errors({201: EndpointCreatedOutput}, 400))
    def post(self, request: Request) -> Response:
        data = _valid(request)
        endpoint = services.endpoint_create(
            user=request.user, url=data["url"], events=data["events"], secret=data.get("secret")
        )
        return Response(EndpointCreatedOutput(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookDetailApi(APIView):
    @extend_schema(responses=with_errors({200: EndpointOutput}, 404))
    def get(self, request: Request, endpoint_id: str) -> Response:
        return Response(EndpointOutput(_endpoint_or_404(request, endpoint_id)).data)

    @extend_schema(request=EndpointInput, responses=with_errors({200: EndpointOutput}, 400, 404))
    def patch(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint_or_404(request, endpoint_id)
        data = _valid(request, partial=True)
        endpoint = services.endpoint_update(
            endpoint=endpoint,
            url=data.get("url"),
            events=data.get("events"),
            secret=data.get("secret"),
            active=data.get("active"),
        )
        return Response(EndpointOutput(endpoint).data)

    @extend_schema(responses=with_errors({204: None}, 404))
    def delete(self, request: Request, endpoint_id: str) -> Response:
        services.endpoint_delete(endpoint=_endpoint_or_404(request, endpoint_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookTestApi(APIView):
    @extend_schema(request=None, responses=with_errors({202: DeliveryOutput}, 404, 429))
    def post(self, request: Request, endpoint_id: str) -> Response:
        delivery = services.endpoint_test(endpoint=_endpoint_or_404(request, endpoint_id))
        return Response(DeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryListApi(APIView):
    @extend_schema(
        responses=with_errors({200: DeliveryPageOutput}, 404), operation_id="webhooks_deliveries_list"
    )
    def get(self, request: Request, endpoint_id: str) -> Response:
        endpoint = _endpoint_or_404(request, endpoint_id)
        paginator = DeliveryPagination()
        page = paginator.paginate_queryset(
            selectors.deliveries_for_endpoint(endpoint=endpoint), request, view=self
        )
        return paginator.get_paginated_response(DeliveryOutput(page, many=True).data)


def _delivery_or_404(request: Request, endpoint_id: str, delivery_id: str) -> WebhookDelivery:
    endpoint = _endpoint_or_404(request, endpoint_id)
    delivery = selectors.delivery_for_endpoint(endpoint=endpoint, delivery_id=delivery_id)
    if delivery is None:
        raise Http404
    return delivery


class WebhookDeliveryDetailApi(APIView):
    @extend_schema(responses=with_errors({200: DeliveryOutput}, 404))
    def get(self, request: Request, endpoint_id: str, delivery_id: str) -> Response:
        return Response(DeliveryOutput(_delivery_or_404(request, endpoint_id, delivery_id)).data)


class WebhookRedeliverApi(APIView):
    @extend_schema(request=None, responses=with_errors({202: DeliveryOutput}, 404, 409, 429))
    def post(self, request: Request, endpoint_id: str, delivery_id: str) -> Response:
        delivery = services.delivery_redeliver(delivery=_delivery_or_404(request, endpoint_id, delivery_id))
        return Response(DeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)
