from __future__ import annotations

import os
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test.testcases import TransactionTestCase
from django.test.utils import override_settings
from rest_framework.test import APIClient

from contentgen.testing import plugin
from jobs.core import eta, forecast
from jobs.models import BulkJob, GenerationJob
from jobs.ops import metrics
from jobs.ops import pages as ops_pages
from tests.factories import UserFactory, token_for
from tests.stack import SHARED_SERVER_ENV, Daphne


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


_previous_test = "none (the first test of this process)"


def pytest_runtest_teardown(item: pytest.Item) -> None:
    global _flush_before_next_db_test, _previous_test
    if not _uses_db(item):
        _flush_before_next_db_test = True
    _previous_test = item.nodeid


@pytest.fixture(autouse=True)
def _start_from_an_empty_database(request: pytest.FixtureRequest) -> None:
    """Every database test starts from an empty database: the first one after a test without the
    database fixtures flushes what that test's processes left (three CI runs found such jobs). A job or
    batch found after that was written once the flush had run: the test named is where to look."""
    global _flush_before_next_db_test
    if not _uses_db(request.node):
        return
    request.getfixturevalue("django_db_setup")
    with request.getfixturevalue("django_db_blocker").unblock():
        if _flush_before_next_db_test:
            _flush(DEFAULT_DB_ALIAS)
            _flush_before_next_db_test = False
        left = [*GenerationJob.objects.values_list("topic", "status"), *BulkJob.objects.values_list("pk")]
    assert not left, f"jobs or batches written after the database was flushed, after {_previous_test}: {left}"


@cache
def _own_redis() -> redis.Redis | None:
    """This worker's Redis database, when the servers are this run's own (never someone else's Redis)."""
    if not plugin.owns_servers():
        return None
    return redis.Redis.from_url(os.environ["REDIS_URL"], socket_timeout=5)


@pytest.fixture(autouse=True)
def _start_from_empty_redis_and_caches() -> None:
    """Every test starts with this worker's Redis database empty (rate-limit windows, login lockouts, claim
    floors, retention marks and heartbeats would carry over from test to test) and with this process's
    caches of stored data empty, as the database is."""
    own = _own_redis()
    if own is not None:
        own.flushdb()
    eta.History.forget()
    forecast._bulk_queued.clear()
    metrics._counts_cache = None
    ops_pages._cache = (0.0, "")


@pytest.fixture(scope="session")
def daphne_server(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Daphne]:
    """One daphne per xdist worker, on the test database, for the tests that need a real ASGI server and
    do not stop or restart it (SHARED_SERVER_ENV). Their tests are in one xdist group, so one
    worker starts it, once (ON_THE_SHARED_SERVER)."""
    server = Daphne(env=SHARED_SERVER_ENV, log="daphne-shared").start()
    yield server
    server.stop()


# What the test database's post_migrate signal made (content types, then permissions). A flush empties
# them, and its own post_migrate signal makes them again one app at a time: 170 ms of each database test's
# teardown on SecantusDB. `_flush` puts back the rows the test database was created with instead, in one
# insert each, with the same ids (so the content types' cache stays right).
MADE_BY_MIGRATE = ("django_content_type", "auth_permission")
_made_by_migrate: dict[str, dict[str, list[dict[str, Any]]]] = {}


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        for alias in connections:
            db = connections[alias].get_database()
            _made_by_migrate[alias] = {name: list(db[name].find()) for name in MADE_BY_MIGRATE}


@cache
def _model_collections(alias: str) -> tuple[str, ...]:
    """What Django's flush empties: every model's collection but capped ones. Read once: the `flush`
    command reads them again, and each collection's options, on every call (half of a database test's time)."""
    connection = connections[alias]
    names = connection.introspection.django_table_names(only_existing=False, include_views=False)
    capped = {c["name"] for c in connection.get_database().list_collections() if c.get("options", {}).get("capped")}
    return tuple(sorted(name for name in names if name not in capped and not name.startswith("system.")))


def _flush(alias: str) -> None:
    made = _made_by_migrate.get(alias)
    if not made or not all(made.values()):  # not seen at the database's creation: Django's own flush
        call_command("flush", interactive=False, verbosity=0, database=alias)
        return
    db = connections[alias].get_database()
    for name in _model_collections(alias):
        if name not in made:
            db[name].delete_many({})
    for name, rows in made.items():  # put back only when a test changed them (a few tests add permissions)
        if db[name].count_documents({}) != len(rows):
            db[name].delete_many({})
            db[name].insert_many([dict(row) for row in rows])


@pytest.fixture(autouse=True, scope="session")
def _flush_putting_back_what_migrate_made():
    """Database tests end with `_flush` (Django's test case flushes the database after each test: MongoDB
    has no transaction to roll back)."""

    def fixture_teardown(self: TransactionTestCase) -> None:
        for alias in self._databases_names(include_mirrors=False):
            _flush(alias)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TransactionTestCase, "_fixture_teardown", fixture_teardown)
        yield


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
