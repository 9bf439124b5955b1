from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model


@pytest.fixture
def staff_client(client):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-for-tests-only")
    client.force_login(admin)
    return client
