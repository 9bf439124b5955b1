"""JSON for event payloads on the wire: orjson when installed (the suite measures it against json).

Both give compact JSON (no spaces); orjson writes non-ASCII text as UTF-8 where json escapes it, and
both are valid JSON for the same data.
"""

from __future__ import annotations

import json
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; the fallback keeps json working
    orjson = None


def dumps_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def dumps_orjson(value: Any) -> str:
    return str(orjson.dumps(value).decode())


dumps = dumps_orjson if orjson is not None else dumps_json
