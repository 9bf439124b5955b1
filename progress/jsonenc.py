"""JSON for event payloads on the wire: orjson, measured against json by the benchmark suite (bench/).

Both give compact JSON (no spaces); orjson writes non-ASCII text as UTF-8 where json escapes it, and
both are valid JSON for the same data.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def dumps_orjson(value: Any) -> str:
    return orjson.dumps(value).decode()


dumps = dumps_orjson
