"""contentgen's changes to the embedded SecantusDB server (contentgen/secantus_server.py): pure logic."""

from __future__ import annotations

import random

import pytest
from secantus import server, transactions
from secantus.transactions import TransactionRegistry

from contentgen import embedded, secantus_server
from contentgen.secantus_server import OldestFirstRegistry


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def registries(clock: Clock) -> tuple[TransactionRegistry, OldestFirstRegistry]:
    return TransactionRegistry(time_func=clock), OldestFirstRegistry(time_func=clock)


def kept(registry: TransactionRegistry) -> dict[tuple[bytes, int], dict[str, object]]:
    return {key: reply for key, (reply, _at, _identity) in registry._retryable.items()}


@pytest.fixture
def small_limits(monkeypatch):
    monkeypatch.setattr(transactions, "_RETRYABLE_RECORD_MAX", 50)
    monkeypatch.setattr(transactions, "_RETRYABLE_RECORD_LIFETIME_SECONDS", 30.0)


def test_it_keeps_and_drops_the_same_records_as_secantusdbs_own_prune(small_limits):
    clock = Clock()
    stock, ours = registries(clock)
    rng = random.Random(7)
    for step in range(3000):
        # Always forward: of records stored at the same moment, the cap drops the first stored in
        # SecantusDB's prune, and the least recently stored in ours.
        clock.now += rng.choice([0.001, 0.01, 0.5, 2.0, 40.0 if rng.random() < 0.01 else 0.1])
        key = (bytes([rng.randrange(8)]), rng.randrange(400))
        identity = bytes([rng.randrange(2)])
        if rng.random() < 0.3:
            assert stock.retryable_reply(*key, identity) == ours.retryable_reply(*key, identity)
        else:
            reply = {"ok": 1, "n": step}
            stock.record_retryable(*key, identity, reply)
            ours.record_retryable(*key, identity, reply)
        assert kept(ours) == kept(stock), step
    assert 0 < len(kept(ours)) <= 50


def test_a_record_stored_again_is_the_newest(small_limits):
    clock = Clock()
    registry = OldestFirstRegistry(time_func=clock)
    for n in range(50):
        registry.record_retryable(b"s", n, b"i", {"ok": 1, "n": n})
    registry.record_retryable(b"s", 0, b"j", {"ok": 1, "n": "again"})  # the key reused by another write
    registry.record_retryable(b"s", 50, b"i", {"ok": 1, "n": 50})  # over the cap: the oldest goes
    assert (b"s", 0) in kept(registry) and (b"s", 1) not in kept(registry)
    assert registry.retryable_reply(b"s", 0, b"j") == {"ok": 1, "n": "again"}


def test_records_past_their_lifetime_go_while_a_retry_in_time_gets_its_reply(small_limits):
    clock = Clock()
    registry = OldestFirstRegistry(time_func=clock)
    registry.record_retryable(b"s", 1, b"i", {"ok": 1, "n": 1})
    clock.now += 20
    registry.record_retryable(b"s", 2, b"i", {"ok": 1, "n": 2})
    clock.now += 15  # the first is 35 s old, the second 15 s
    assert registry.retryable_reply(b"s", 1, b"i") is None
    assert registry.retryable_reply(b"s", 2, b"i") == {"ok": 1, "n": 2}


def test_the_server_it_replaces_is_the_one_secantusdb_builds():
    # The server module's name for the registry is what main() replaces: a SecantusDB that renamed it
    # would run without the change, so this fails first.
    assert server.TransactionRegistry in (TransactionRegistry, OldestFirstRegistry)
    assert callable(TransactionRegistry._prune_retryable_locked)
    assert "contentgen.secantus_server" in embedded.mongodb_command(1, embedded.VAR_DIR)
    assert secantus_server.TRANSACTION_LIFETIME_SECONDS == 5.0


@pytest.mark.django_db
def test_a_sub_document_in_project_is_a_nested_projection_as_in_find(raw_db):
    """django-mongodb-backend projects a joined model's fields as a sub-document: read as a literal, every
    permission granted to a user read "1.<codename>" and staff were refused the admin."""
    raw_db.nested.insert_one({"_id": 1, "ct": {"app_label": "jobs", "model": "job", "extra": 3}, "codename": "x"})
    spec = {"ct": {"app_label": 1, "model": 1}, "codename": 1}
    assert list(raw_db.nested.aggregate([{"$project": spec}])) == list(raw_db.nested.find({}, spec))
    assert list(raw_db.nested.aggregate([{"$project": spec}])) == [
        {"_id": 1, "ct": {"app_label": "jobs", "model": "job"}, "codename": "x"}
    ]
    computed = {"ct": {"label": "$ct.app_label"}, "total": {"$add": ["$ct.extra", 1]}}
    assert list(raw_db.nested.aggregate([{"$project": computed}])) == [
        {"_id": 1, "ct": {"label": "jobs"}, "total": 4}
    ]
