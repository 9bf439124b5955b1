from __future__ import annotations

from django.contrib.admin import AdminSite


class ContentgenAdminSite(AdminSite):
    site_header = "contentgen administration"
    site_title = "contentgen admin"
    index_title = "Jobs, batches and users"
