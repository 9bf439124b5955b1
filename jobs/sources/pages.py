"""`/sources/`: the knowledge base in the browser: its sources with their ingestion live, and the forms that
add (upload, web page, pasted text) and delete them. Works without JavaScript; HTMX swaps the panel."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from contentgen.errors import ApplicationError, InvalidInput, RateLimited
from jobs.core import events
from jobs.core.inputs import field_errors
from jobs.models import Source
from jobs.sources import selectors, services
from jobs.web.fragments import SOURCES_TEMPLATE, source_context

SHOWN = 200
KINDS = ("file", "url", "text")


def row(source: Source) -> dict[str, Any]:
    done = source.is_terminal
    data = events.source_event(source, stage=source.status, percentage=100.0 if done else 0.0, message="")
    return source_context(data)


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    sources = list(selectors.sources_for_user(user=request.user)[:SHOWN])
    return {
        "rows": [row(source) for source in sources],
        "errors": {},
        "values": {"kind": "file"},
        "max_mib": int(settings.CONTENTGEN_SOURCE_MAX_BYTES) // (1024 * 1024),
        **extra,
    }


def _add(request: HttpRequest, kind: str) -> Source:
    post = request.POST
    if kind == "file":
        upload = request.FILES.get("file")
        if upload is None:
            raise InvalidInput({"file": ["Choose a file to upload."]})
        services.check_size(upload.size or 0, "file")
        data = upload.read()
        payload = services.Upload(name=upload.name or "", content_type=upload.content_type or "", data=data)
        return services.source_add_file(user=request.user, upload=payload, title=post.get("title"))
    if kind == "url":
        return services.source_add_url(user=request.user, url=post.get("url"), title=post.get("title"))
    return services.source_add_text(user=request.user, title=post.get("title"), text=post.get("text"))


@login_required
def sources_page(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return render(request, SOURCES_TEMPLATE, _context(request))
    kind = request.POST.get("kind", "")
    values = {"kind": kind if kind in KINDS else "file", "url": request.POST.get("url", ""),
              "title": request.POST.get("title", ""), "text": request.POST.get("text", "")}  # fmt: skip
    status, errors = 400, {}
    try:
        if kind not in KINDS:
            raise InvalidInput({"kind": ["Choose what to add: a file, a web page or pasted text."]})
        _add(request, kind)
    except InvalidInput as exc:
        errors = field_errors(exc.errors)
    except RateLimited as exc:
        status, errors = 429, {"non_field_errors": [exc.message]}
    except ApplicationError as exc:
        status, errors = exc.status, {"non_field_errors": [exc.message]}
    else:
        if not getattr(request, "htmx", False):
            return HttpResponseRedirect(reverse("sources"))
        errors, values, status = {}, {"kind": kind}, 200
    context = _context(request, errors=errors, values=values)
    template = f"{SOURCES_TEMPLATE}#sources-panel" if getattr(request, "htmx", False) else SOURCES_TEMPLATE
    return render(request, template, context, status=status)


@login_required
@require_POST
def source_delete(request: HttpRequest, source_id: str) -> HttpResponse:
    source = selectors.source_for_user(user=request.user, source_id=source_id)
    if source is None:
        raise Http404("No such source.")
    services.source_delete(source=source)
    return HttpResponseRedirect(reverse("sources"))
