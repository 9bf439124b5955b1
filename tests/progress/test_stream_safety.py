"""Streams under odd input and changing credentials, against a real uvicorn: frames that a client following the
event-stream grammar to the letter can read, and streams that end when their viewer's credentials do."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import httpx
import pytest
import websockets
from django.test import Client
from rest_framework.authtoken.models import Token

from jobs.core import services
from jobs.models import GenerationJob
from tests import event_stream
from tests.factories import job_fields, token_for
from tests.stack import Daphne, burst_here, run_async, uvicorn_on

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

# Unicode line and paragraph separators: lines for str.splitlines(), plain characters for the event-stream
# grammar, and left raw inside JSON strings by orjson.
ODD_TOPIC = "Rain gardens\u2028for small\u2029yards"


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    server = Daphne(command=uvicorn_on, env={"CONTENTGEN_SSE_PING_SECONDS": "1"}).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def default_server(django_db_setup, django_db_blocker):
    """With the default ping interval (CONTENTGEN_SSE_PING_SECONDS=15), which the 30 s promises rest on."""
    server = Daphne(command=uvicorn_on).start()
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
    # The topic rides in the stage messages (the SEO stage may rewrite the article's own heading).
    assert any(ODD_TOPIC in json.dumps(data, ensure_ascii=False) for data in datas)

    bulk_events = whole_stream(f"{server.url}/api/bulk-jobs/{bulk.pk}/progress", token)
    titles = {json.loads(event.data).get("job", {}).get("title") for event in bulk_events}
    assert ODD_TOPIC in titles

    for page in (f"/jobs/{job.pk}/live", f"/bulk/{bulk.pk}/live"):
        fragments = "".join(event.data for event in whole_stream(server.url + page, cookie))
        assert ODD_TOPIC in fragments, page


# 6. Streams end with their viewer's credentials ------------------------------------------------------------


class OpenStream(threading.Thread):
    """Reads a stream until the server ends it; `ended_at` is when (time.monotonic()), `first` is set once
    something (an event or a ping) came."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.url, self.headers = url, headers
        self.first = threading.Event()
        self.status: int | None = None
        self.ended_at: float | None = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            with httpx.stream("GET", self.url, headers=self.headers, timeout=httpx.Timeout(60)) as response:
                self.status = response.status_code
                for _chunk in response.iter_bytes():
                    self.first.set()
            self.ended_at = time.monotonic()
        except BaseException as exc:
            self.error = exc
        finally:
            self.first.set()

    def ended_within(self, seconds: float) -> float:
        """How long after now the stream ended; AssertionError if it is still open after `seconds`."""
        since = time.monotonic()
        self.join(seconds)
        assert not self.is_alive(), f"{self.url} still open {seconds:.0f} s later"
        assert self.error is None, self.error
        assert self.ended_at is not None
        return self.ended_at - since


def open_stream(url: str, headers: dict[str, str]) -> OpenStream:
    stream = OpenStream(url, headers)
    assert stream.first.wait(20) and stream.status == 200, (stream.status, stream.error)
    return stream


def test_the_dashboard_stream_ends_within_30_s_of_logout(default_server, user):
    client = Client()
    client.force_login(user)
    stream = open_stream(f"{default_server.url}/live", {"Cookie": f"sessionid={client.cookies['sessionid'].value}"})
    client.logout()
    took = stream.ended_within(30)
    print(f"/live ended {took:.2f} s after logout")


def test_the_ops_stream_ends_within_30_s_of_losing_staff(default_server, admin_user):
    client = Client()
    client.force_login(admin_user)
    stream = open_stream(f"{default_server.url}/ops/live", {"Cookie": f"sessionid={client.cookies['sessionid'].value}"})
    admin_user.is_staff = False
    admin_user.save()
    took = stream.ended_within(30)
    print(f"/ops/live ended {took:.2f} s after is_staff=False")


def test_a_job_stream_ends_when_its_token_is_deleted(server, user):
    job = services.job_submit(user=user, data=job_fields(), charge=False)
    token = Token.objects.get_or_create(user=user)[0]
    stream = open_stream(f"{server.url}/api/jobs/{job.pk}/progress", {"Authorization": f"Token {token.key}"})
    token.delete()
    stream.ended_within(30)


def test_a_job_stream_ends_when_its_user_is_deactivated(server, user):
    job = services.job_submit(user=user, data=job_fields(), charge=False)
    stream = open_stream(f"{server.url}/jobs/{job.pk}/live", session_cookie(user))
    user.is_active = False
    user.save()
    stream.ended_within(30)


def test_a_websocket_closes_with_4401_when_its_token_is_deleted(server, user):
    job = services.job_submit(user=user, data=job_fields(), charge=False)
    token = Token.objects.get_or_create(user=user)[0]
    url = server.url.replace("http", "ws") + f"/ws/jobs/{job.pk}/"

    async def follow() -> int | None:
        async with websockets.connect(url, subprotocols=["token", token.key], open_timeout=10) as ws:
            await asyncio.wait_for(ws.recv(), timeout=10)
            await asyncio.to_thread(token.delete)
            try:
                while True:
                    await asyncio.wait_for(ws.recv(), timeout=30)
            except websockets.ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None

    assert run_async(follow(), timeout=60) == 4401
