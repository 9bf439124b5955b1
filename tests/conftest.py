from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test.utils import override_settings
from rest_framework.test import APIClient

from tests.factories import UserFactory, token_for


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The `slow` tests (real processes, tens of seconds each) first, in their order: `make test` runs on
    several xdist workers, and one of them started last would leave the others idle at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


DB_FIXTURES = frozenset({"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback"})
# Set after a test without the database fixtures: pytest-django flushes the database only after a test that
# has them (MongoDB has no transactions to roll back), and the slow tests write to it from other processes
# (daphne and workers on the test database, the browser tests' module stacks) with no flush after them.
_flush_before_next_db_test = False


def _uses_db(item: pytest.Item) -> bool:
    return item.get_closest_marker("django_db") is not None or bool(DB_FIXTURES & set(item.fixturenames))


def pytest_runtest_teardown(item: pytest.Item) -> None:
    global _flush_before_next_db_test
    if not _uses_db(item):
        _flush_before_next_db_test = True


@pytest.fixture(autouse=True)
def _start_from_an_empty_database(request: pytest.FixtureRequest) -> None:
    """Every database test starts from an empty database: the first one after a test without the
    database fixtures flushes what that test's processes left (three CI runs found such jobs)."""
    global _flush_before_next_db_test
    if not (_flush_before_next_db_test and _uses_db(request.node)):
        return
    request.getfixturevalue("django_db_setup")
    with request.getfixturevalue("django_db_blocker").unblock():
        call_command("flush", interactive=False, verbosity=0)
    _flush_before_next_db_test = False


@pytest.fixture(autouse=True, scope="session")
def _quick_password_hashes():
    """Users' passwords hashed at a thousandth of the default cost (contentgen.testing.hashers)."""
    quick = "contentgen.testing.hashers.QuickPBKDF2PasswordHasher"
    with override_settings(PASSWORD_HASHERS=[quick, *settings.PASSWORD_HASHERS]):
        yield


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
