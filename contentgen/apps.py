from __future__ import annotations

from axes.apps import AppConfig as AxesConfig
from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.contrib.auth.apps import AuthConfig
from django.contrib.contenttypes.apps import ContentTypesConfig

OBJECT_ID = "django_mongodb_backend.fields.ObjectIdAutoField"


class MongoAdminConfig(AdminConfig):
    default_auto_field = OBJECT_ID
    default_site = "contentgen.admin.ContentgenAdminSite"


class MongoAuthConfig(AuthConfig):
    default_auto_field = OBJECT_ID


class MongoContentTypesConfig(ContentTypesConfig):
    default_auto_field = OBJECT_ID


class MongoAxesConfig(AxesConfig):
    default_auto_field = OBJECT_ID


class ContentgenConfig(AppConfig):
    """The project itself, as an app without models: its system checks."""

    name = "contentgen"
    verbose_name = "contentgen"

    def ready(self) -> None:
        from contentgen import checks  # noqa: F401, PLC0415 - registers the checks once the apps are loaded
