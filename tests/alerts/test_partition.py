"""Rendezvous partitioning of homes between rules-engine workers, and what a handover keeps."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from alerts.handover import Recent, Takeover, home_of
from alerts.partition import Partition, owner
from hof.mqtt import Delivery

HOMES = [f"H-{i:05d}" for i in range(4000)]
MEMBERS = frozenset({"alerts-1", "alerts-2", "alerts-3", "alerts-4"})


def test_every_home_has_exactly_one_owner_in_every_members_view() -> None:
    views = [Partition(m, MEMBERS) for m in sorted(MEMBERS)]
    for home in HOMES:
        assert sum(v.owns(home) for v in views) == 1


def test_the_homes_are_shared_about_evenly() -> None:
    shares = Counter(owner(MEMBERS, h) for h in HOMES)
    assert set(shares) == MEMBERS
    assert all(800 <= n <= 1200 for n in shares.values()), shares


def test_a_member_leaving_moves_only_its_own_homes() -> None:
    before = {h: owner(MEMBERS, h) for h in HOMES}
    after = {h: owner(MEMBERS - {"alerts-3"}, h) for h in HOMES}
    moved = {h for h in HOMES if before[h] != after[h]}
    assert moved == {h for h in HOMES if before[h] == "alerts-3"}


def test_a_worker_alone_owns_every_home() -> None:
    alone = Partition.alone("alerts-1")
    assert all(alone.owns(h) for h in HOMES[:100])
    with pytest.raises(ValueError, match="not among the members"):
        Partition("alerts-9", MEMBERS)


def _delivery(topic: str, at: float) -> Delivery:
    return Delivery(topic, b"[]", 1, False, 1, at, None)  # type: ignore[arg-type]


def test_recent_keeps_only_its_window_and_bound() -> None:
    now = time.time()
    recent = Recent(window_s=10.0, limit=3)
    recent.add("A", _delivery("hof/v1/A/d/event", now - 20))
    recent.add("B", _delivery("hof/v1/B/d/event", now - 1))
    assert [d.topic for d in recent.take(lambda h: True)] == ["hof/v1/B/d/event"]
    for i in range(5):
        recent.add("C", _delivery(f"hof/v1/C/d{i}/event", now))
    assert len(recent) == 3
    assert recent.take(lambda h: h == "B") == []


def test_home_of_a_topic_and_holding_for_a_takeover() -> None:
    assert home_of("hof/v1/H-1/env-1/reading") == "H-1"
    assert home_of("hof/v1/H-1") is None
    takeover = Takeover(lambda h: h == "H-1")
    takeover.hold(_delivery("hof/v1/H-1/env-1/reading", time.time()))
    assert len(takeover.held) == 1
    assert takeover.dropped == 0
