"""`/settings/webhooks/`: the API's endpoint management in the browser (HTMX, works without JavaScript)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from contentgen.errors import ApplicationError
from jobs.models import WebhookEndpoint, WebhookEvent
from jobs.webhooks import selectors, services
from jobs.webhooks.apis import parse_endpoint

TEMPLATE = "jobs/webhooks.html"
RECENT_DELIVERIES = 5


def _context(
    request: HttpRequest,
    *,
    errors: dict[str, list[str]] | None = None,
    values: dict[str, Any] | None = None,
    created: WebhookEndpoint | None = None,
    notice: str = "",
) -> dict[str, Any]:
    endpoints = list(selectors.endpoints_for_user(user=request.user))
    rows = [
        {"endpoint": e, "deliveries": list(selectors.deliveries_for_endpoint(endpoint=e)[:RECENT_DELIVERIES])}
        for e in endpoints
    ]
    return {
        "rows": rows,
        "event_choices": WebhookEvent.choices,
        "errors": errors or {},
        "values": values or {"url": "", "events": [WebhookEvent.JOB_COMPLETED, WebhookEvent.JOB_FAILED]},
        "created": created,
        "notice": notice,
    }


def _answer(request: HttpRequest, context: dict[str, Any], status: int = 200) -> HttpResponse:
    if getattr(request, "htmx", False):
        return render(request, f"{TEMPLATE}#webhooks-panel", context, status=status)
    return render(request, TEMPLATE, context, status=status)


@login_required
def webhooks_page(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, TEMPLATE, _context(request))
    values = {"url": request.POST.get("url", "").strip(), "events": request.POST.getlist("events")}
    valid, errors = parse_endpoint(values)
    if errors:
        return _answer(request, _context(request, errors=errors, values=values), status=400)
    try:
        endpoint = services.endpoint_create(user=request.user, url=valid["url"], events=valid["events"])
    except ApplicationError as exc:  # the address changed between the check and now
        return _answer(request, _context(request, errors={"url": [exc.message]}, values=values), status=400)
    # The secret is shown in this answer only, as the API does; a redirect would lose it.
    return _answer(request, _context(request, created=endpoint))


def _endpoint_or_404(request: HttpRequest, endpoint_id: str) -> WebhookEndpoint:
    endpoint = selectors.endpoint_for_user(user=request.user, endpoint_id=endpoint_id)
    if endpoint is None:
        raise Http404
    return endpoint


def _done(request: HttpRequest, notice: str, status: int = 200) -> HttpResponse:
    if getattr(request, "htmx", False) or status != 200:
        return _answer(request, _context(request, notice=notice), status=status)
    return HttpResponseRedirect(reverse("settings-webhooks"))


@login_required
@require_POST
def webhook_action(request: HttpRequest, endpoint_id: str, action: str) -> HttpResponse:
    endpoint = _endpoint_or_404(request, endpoint_id)
    if action == "test":
        try:
            services.endpoint_test(endpoint=endpoint)
        except ApplicationError as exc:  # over the rate of test sends
            return _done(request, exc.message, status=exc.status)
        notice = f"Test delivery queued for {endpoint.url}."
    elif action in ("enable", "disable"):
        services.endpoint_update(endpoint=endpoint, active=action == "enable")
        notice = f"{endpoint.url} {action}d."
    elif action == "delete":
        services.endpoint_delete(endpoint=endpoint)
        notice = f"{endpoint.url} deleted."
    else:
        raise Http404
    return _done(request, notice)


@login_required
@require_POST
def webhook_redeliver(request: HttpRequest, endpoint_id: str, delivery_id: str) -> HttpResponse:
    endpoint = _endpoint_or_404(request, endpoint_id)
    delivery = selectors.delivery_for_endpoint(endpoint=endpoint, delivery_id=delivery_id)
    if delivery is None:
        raise Http404
    try:
        services.delivery_redeliver(delivery=delivery)
    except ApplicationError as exc:
        return _done(request, exc.message, status=exc.status)
    return _done(request, "Delivery queued again.")
