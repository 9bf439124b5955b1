from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token

CREDENTIALS = settings.BASE_DIR / "var" / "demo-login.txt"


class Command(BaseCommand):
    help = "Make sure the demo user exists (staff, random password kept in var/) and print its login."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", default="demo")

    def handle(self, *args: Any, username: str, **options: Any) -> None:
        User: Any = get_user_model()
        user = User.objects.filter(username=username).first()
        password = CREDENTIALS.read_text().strip() if CREDENTIALS.exists() else ""
        if user is None or not password or not user.check_password(password):
            password = secrets.token_urlsafe(12)
            if user is None:
                user = User.objects.create_superuser(username, f"{username}@example.com", password)
            else:
                user.set_password(password)
                user.save(update_fields=["password"])
            CREDENTIALS.parent.mkdir(parents=True, exist_ok=True)
            CREDENTIALS.write_text(password + "\n")
            CREDENTIALS.chmod(0o600)
        token = Token.objects.get_or_create(user=user)[0].key
        self.stdout.write(f"Demo login: {username} / {password}")
        self.stdout.write(f"API token:  {token}   (Authorization: Token {token})")
