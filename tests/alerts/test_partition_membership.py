"""A pool's member list as one worker sees it: heartbeats, last wills, stale and hung members."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from alerts.membership import Membership, member_topic
from hof.settings import MqttSettings


def _beat(member: str, at: float) -> tuple[str, bytes]:
    return member_topic("alerts", member), json.dumps({"member": member, "at": at}).encode()


async def _membership(timeout_s: float = 5.0) -> tuple[Membership, list[frozenset[str]]]:
    changes: list[frozenset[str]] = []
    made = Membership(
        MqttSettings(),
        pool="alerts",
        member="w0",
        heartbeat_s=0.05,
        timeout_s=timeout_s,
        on_change=lambda before, after: changes.append(after),
    )
    return made, changes


async def test_a_heartbeat_joins_and_a_last_will_leaves() -> None:
    members, changes = await _membership()
    assert members.members == {"w0"}
    members.heard(*_beat("w1", time.time()))
    assert members.members == {"w0", "w1"}
    members.heard(member_topic("alerts", "w1"), b"")  # its will: the broker cleared it
    assert members.members == {"w0"}
    assert changes == [frozenset({"w0", "w1"}), frozenset({"w0"})]


async def test_a_stale_retained_heartbeat_is_not_a_member() -> None:
    """A broker restart loses wills: the retained heartbeat of a worker long dead remains."""
    members, changes = await _membership(timeout_s=5.0)
    members.heard(*_beat("w1", time.time() - 60))
    assert members.members == {"w0"}
    assert changes == []


async def test_a_member_that_hangs_is_dropped_after_the_timeout() -> None:
    members, changes = await _membership(timeout_s=0.3)
    members.heard(*_beat("w1", time.time()))
    assert members.members == {"w0", "w1"}
    expiry = asyncio.create_task(members._expire())
    await asyncio.sleep(0.6)
    expiry.cancel()
    assert members.members == {"w0"}
    assert changes[-1] == frozenset({"w0"})


async def test_our_own_topic_and_unreadable_heartbeats_change_nothing() -> None:
    members, changes = await _membership()
    members.heard(member_topic("alerts", "w0"), b"")
    members.heard(member_topic("alerts", "w2"), b"not json")
    assert members.members == {"w0"}
    assert changes == []


async def test_a_pool_or_member_that_cannot_be_a_topic_level_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be a topic level"):
        Membership(MqttSettings(), pool="a/#", member="w0", heartbeat_s=1, timeout_s=5)
