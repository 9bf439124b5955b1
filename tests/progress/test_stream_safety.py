"""Streams under odd input and changing credentials, against a real uvicorn: frames that a client following the
event-stream grammar to the letter can read, and streams that end when their viewer's credentials do."""

from __future__ import annotations

import json

import httpx
import pytest
from django.test import Client

from contentgen.embedded import uvicorn_command
from jobs.core import services
from jobs.models import GenerationJob
from tests import event_stream
from tests.factories import job_fields, token_for
from tests.stack import Daphne, burst_here

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# Unicode line and paragraph separators: lines for str.splitlines(), plain characters for the event-stream
# grammar, and left raw inside JSON strings by orjson.
ODD_TOPIC = "Rain gardens\u2028for small\u2029yards"


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    server = Daphne(command=uvicorn_command, env={"CONTENTGEN_SSE_PING_SECONDS": "1"}).start()
    yield server
    server.stop()


def session_cookie(user) -> dict[str, str]:
    client = Client()
    client.force_login(user)
    return {"Cookie": f"sessionid={client.cookies['sessionid'].value}"}


def whole_stream(url: str, headers: dict[str, str]) -> list[event_stream.Event]:
    """Every event of a finished stream from its first (Last-Event-ID 0), parsed from the raw bytes."""
    response = httpx.get(url, headers={**headers, "Last-Event-ID": "0"}, timeout=30)
    assert response.status_code == 200, response.text
    events, _comments = event_stream.parse(response.content)
    assert events and events[-1].type == "complete", [e.type for e in events]
    return events


def test_unicode_line_separators_in_a_topic_reach_every_stream_intact(server, user):
    job = services.job_submit(user=user, data=job_fields(topic=ODD_TOPIC), charge=False)
    bulk = services.bulk_submit(user=user, data={"items": [job_fields(topic=ODD_TOPIC)]}, charge=False)
    burst_here()
    member = GenerationJob.objects.get(bulk_job=bulk)
    assert member.status == job.__class__.objects.get(pk=job.pk).status == "completed"
    token = {"Authorization": f"Token {token_for(user)}"}
    cookie = session_cookie(user)

    job_events = whole_stream(f"{server.url}/api/jobs/{job.pk}/progress", token)
    datas = [json.loads(event.data) for event in job_events]  # every event parses
    assert ODD_TOPIC in datas[-1]["result"]["content"]

    bulk_events = whole_stream(f"{server.url}/api/bulk-jobs/{bulk.pk}/progress", token)
    titles = {json.loads(event.data).get("job", {}).get("title") for event in bulk_events}
    assert ODD_TOPIC in titles

    for page in (f"/jobs/{job.pk}/live", f"/bulk/{bulk.pk}/live"):
        fragments = "".join(event.data for event in whole_stream(server.url + page, cookie))
        assert ODD_TOPIC in fragments, page
