from __future__ import annotations

from typing import Any, cast

from django.db import connection
from pymongo.collection import Collection
from pymongo.database import Database


def collection(name: str) -> Collection[dict[str, Any]]:
    """A raw pymongo collection on Django's connection, for single-document conditional writes."""
    return cast(Collection[dict[str, Any]], cast(Any, connection).get_collection(name))


def database() -> Database[dict[str, Any]]:
    """The project's database on Django's connection."""
    return cast(Database[dict[str, Any]], cast(Any, connection).database)
