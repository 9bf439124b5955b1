from __future__ import annotations

from typing import Any, cast

from django.db import connection
from pymongo.collection import Collection


def collection(name: str) -> Collection[dict[str, Any]]:
    """A raw pymongo collection on Django's connection, for single-document conditional writes."""
    return cast(Collection[dict[str, Any]], cast(Any, connection).get_collection(name))
