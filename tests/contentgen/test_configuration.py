"""One list of environment variables: what the code reads, what contentgen/env.py reads and checks, what
.env.example and docs/configuration.md tell an operator."""

from __future__ import annotations

import re
from pathlib import Path

from contentgen.variables import NAMES, example

ROOT = Path(__file__).resolve().parents[2]
# Django's and the tools' own variables, which contentgen passes through rather than reads.
NOT_OURS = {"DJANGO_SETTINGS_MODULE", "DJANGO_SUPERUSER_PASSWORD", "DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_EMAIL"}
# Read by the tests alone: the plugin's note that a run started its own servers, and the switches for the
# long runs that CONTRIBUTING.md documents.
TEST_ONLY = {"CONTENTGEN_TEST_OWN_SERVERS", "CONTENTGEN_TEST_LLAMA_JOB", "CONTENTGEN_TEST_SCHEMATHESIS_EXAMPLES"}
NAME_RE = re.compile(r"""["'`]((?:CONTENTGEN|DJANGO)_[A-Z0-9_]+|MONGODB_URI|REDIS_URL|PROMETHEUS_MULTIPROC_DIR)["'`]""")


def _names_in(paths: list[Path]) -> set[str]:
    found: set[str] = set()
    for path in paths:
        found.update(NAME_RE.findall(path.read_text()))
    return found - NOT_OURS - TEST_ONLY


def _code() -> list[Path]:
    return [p for top in ("contentgen", "jobs", "progress") for p in (ROOT / top).rglob("*.py") if "migrations" not in p.parts]


def test_env_example_is_the_table_of_variables():
    assert (ROOT / ".env.example").read_text() == example(), "run: python -m contentgen.variables > .env.example"


def test_every_variable_the_code_names_is_in_the_table():
    assert _names_in(_code()) - NAMES == set()


def test_every_variable_in_the_table_is_read_in_env_py():
    env_py = (ROOT / "contentgen" / "env.py").read_text()
    assert {name for name in NAMES if f'"{name}"' not in env_py} == set()


def test_every_variable_is_in_the_configuration_guide():
    guide = (ROOT / "docs" / "configuration.md").read_text()
    assert {name for name in NAMES if f"`{name}`" not in guide} == set()
