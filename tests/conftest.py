from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import UserFactory, token_for


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The `slow` tests (real processes, tens of seconds each) first, in their order: `make test` runs on
    several xdist workers, and one of them started last would leave the others idle at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def api(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    return client


@pytest.fixture
def other_api(other_user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_for(other_user)}")
    return client


@pytest.fixture
def raw_db(db):
    """The test database through plain pymongo, to read documents as they are stored."""
    return connection.get_database()
