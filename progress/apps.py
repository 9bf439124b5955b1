from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class ProgressConfig(AppConfig):
    name = "progress"
    verbose_name = "Progress tracking"
    default_auto_field = "django_mongodb_backend.fields.ObjectIdAutoField"

    def ready(self) -> None:
        # The streams' credential cache (progress.auth) forgets what changed, in the process that changed it.
        from django.contrib.auth import get_user_model, user_logged_out  # noqa: PLC0415 - apps are loading
        from django.db.models.signals import post_delete, post_save  # noqa: PLC0415
        from rest_framework.authtoken.models import Token  # noqa: PLC0415

        from progress import auth  # noqa: PLC0415

        def logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
            auth.forget_session(getattr(getattr(request, "session", None), "session_key", None))
            if user is not None:
                auth.forget_user(user.pk)

        def user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
            auth.forget_user(instance.pk)

        def token_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
            auth.forget_token(instance.key)

        user_logged_out.connect(logged_out, weak=False, dispatch_uid="progress-auth-logout")
        post_save.connect(
            user_changed, sender=get_user_model(), weak=False, dispatch_uid="progress-auth-user"
        )
        post_delete.connect(
            user_changed, sender=get_user_model(), weak=False, dispatch_uid="progress-auth-user-del"
        )
        post_save.connect(token_changed, sender=Token, weak=False, dispatch_uid="progress-auth-token")
        post_delete.connect(token_changed, sender=Token, weak=False, dispatch_uid="progress-auth-token-del")
