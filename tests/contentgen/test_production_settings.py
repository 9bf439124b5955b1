"""Production settings, as a deployment runs them: DJANGO_DEBUG=0, DJANGO_SECURE=1, real server URLs."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys

import pytest

from contentgen.settings import mongodb_client_options
from tests.stack import ROOT, child_mongodb_uri

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

HEADERS_SCRIPT = """
import json
from django.test import Client
client = Client(HTTP_X_FORWARDED_PROTO="https")
out = {}
for name, path in (("page", "/accounts/login/"), ("api", "/api/jobs/"), ("docs", "/api/docs/")):
    response = client.get(path)
    out[name] = {"status": response.status_code, "headers": dict(response.headers)}
print("HEADERS" + json.dumps(out))
"""


def production_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CONTENTGEN_"))}
    env.update(
        {
            "DJANGO_DEBUG": "0",
            "DJANGO_SECURE": "1",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "testserver,contentgen.example",
            "MONGODB_URI": child_mongodb_uri(),
            "REDIS_URL": os.environ["REDIS_URL"],
            "DJANGO_SETTINGS_MODULE": "contentgen.settings",
        }
    )
    env.update(extra)
    return {k: v for k, v in env.items() if v != ""}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=110
    )


def test_check_deploy_is_clean_at_warning_level():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize("missing", ["MONGODB_URI", "REDIS_URL"])
def test_a_missing_server_url_stops_startup_naming_it(missing):
    result = manage("check", env=production_env(**{missing: ""}))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"contentgen: {missing} is not set" in result.stderr
    assert "CONTENTGEN_EMBEDDED=1" in result.stderr


def test_a_missing_secret_key_stops_startup_naming_it():
    result = manage("check", env=production_env(DJANGO_SECRET_KEY=""))
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr


def test_pages_and_api_answers_carry_the_security_headers():
    # The test client's requests come from 127.0.0.1: that proxy's X-Forwarded-Proto counts.
    env = production_env(CONTENTGEN_TRUSTED_PROXIES="127.0.0.1")
    collected = manage("collectstatic", "--noinput", env=env)
    assert collected.returncode == 0, collected.stderr
    result = manage("shell", "-c", HEADERS_SCRIPT, env=env)
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout.split("HEADERS", 1)[1])
    assert answers["page"]["status"] == 200 and answers["api"]["status"] in (401, 403)
    for name in ("page", "api"):
        headers = answers[name]["headers"]
        policy = headers["Content-Security-Policy"]
        for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'",
                          "frame-ancestors 'none'", "object-src 'none'", "base-uri 'none'"):
            assert directive in policy, (name, policy)
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Strict-Transport-Security"].startswith("max-age=31536000")
    docs = answers["docs"]["headers"]["Content-Security-Policy"]
    assert "script-src 'self';" in docs + ";" and "unsafe-eval" not in docs


def test_production_without_django_secure_warns_at_startup_and_in_check_deploy():
    env = production_env(DJANGO_SECURE="")
    started = manage("check", env=env)
    assert started.returncode == 0, started.stderr
    assert "DJANGO_SECURE is not set" in started.stderr
    deploy = manage("check", "--deploy", env=env)
    assert "contentgen.W001" in deploy.stdout + deploy.stderr
    assert "DJANGO_SECURE" in deploy.stdout + deploy.stderr


def hsts(env: dict[str, str]) -> str:
    script = (
        "from django.test import Client; "
        "print('HSTS' + Client(HTTP_X_FORWARDED_PROTO='https').get('/healthz').headers['Strict-Transport-Security'])"
    )
    result = manage("shell", "-c", script, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.split("HSTS", 1)[1].strip()


def test_hsts_preload_is_opt_in():
    trusted = {"CONTENTGEN_TRUSTED_PROXIES": "127.0.0.1"}
    assert "preload" not in hsts(production_env(**trusted))
    assert hsts(production_env(DJANGO_HSTS_PRELOAD="1", **trusted)).endswith("; preload")


def test_a_forwarded_proto_counts_only_from_a_trusted_proxy():
    script = "from django.test import Client; print('STATUS', Client(HTTP_X_FORWARDED_PROTO='https').get('/healthz').status_code)"
    for trusted, status in (("", "301"), ("127.0.0.1", "200"), ("10.0.0.0/8", "301")):
        result = manage("shell", "-c", script, env=production_env(CONTENTGEN_TRUSTED_PROXIES=trusted))
        assert result.returncode == 0, result.stderr
        assert result.stdout.split("STATUS", 1)[1].strip() == status, (trusted, result.stdout)


@pytest.mark.parametrize(
    ("query", "journal", "timeout"),
    [
        ("", True, 20000),
        ("?socketTimeoutMS=500", True, None),
        ("?journal=false", None, 20000),
        ("?w=majority", None, 20000),
        ("?W=1", None, 20000),
    ],
)
def test_writes_are_journaled_unless_the_uri_names_its_write_concern(query, journal, timeout):
    options = mongodb_client_options(f"mongodb://127.0.0.1:27017/contentgen{query}")
    assert options.get("journal") is journal
    assert options.get("socketTimeoutMS") == timeout
