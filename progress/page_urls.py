from __future__ import annotations

from django.urls import path

from progress import pages

urlpatterns = [
    path("", pages.dashboard, name="dashboard"),
]
