from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from jobs import selectors


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    jobs = selectors.jobs_for_user(user=request.user)[:50]
    return render(request, "progress/dashboard.html", {"jobs": jobs})
