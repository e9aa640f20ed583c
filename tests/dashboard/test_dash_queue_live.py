"""The live hub on its own: who each change is for, and a slow subscriber resyncs."""

from __future__ import annotations

import asyncio

from dashboard.access import Principal, Role
from dashboard.live import SUBSCRIBER_QUEUE, Change, Hub


def _who(role: Role, *patches: str) -> Principal:
    return Principal(1, "x@example.org", "X", role, patches, "api")


def _change(patch: str | None, category: str = "fall", audience: str = "responder") -> Change:
    return Change(1, "H1", patch, "raised", category, audience, "emergency", "open")


def test_changes_reach_only_those_who_may_see_them() -> None:
    north, south = _who(Role.RESPONDER, "North"), _who(Role.RESPONDER, "South")
    officer, admin = _who(Role.HOUSING_OFFICER, "North"), _who(Role.ADMIN, "*")
    fall = _change("North")
    assert fall.visible_to(north)
    assert not fall.visible_to(south)
    assert not fall.visible_to(officer)  # a fall is health data
    assert fall.visible_to(admin)
    damp = _change("North", "damp_mould", "housing_officer")
    assert damp.visible_to(officer)
    assert not damp.visible_to(north)  # not the responder's audience
    unregistered = _change(None)
    assert not unregistered.visible_to(north)
    assert unregistered.visible_to(admin)
    assert not fall.visible_to(_who(Role.RESPONDER))  # no patch, nothing


def test_a_slow_subscriber_gets_a_resync_instead_of_a_backlog() -> None:
    async def run() -> None:
        hub = Hub()
        slow, quick = hub.subscribe(), hub.subscribe()
        for _ in range(SUBSCRIBER_QUEUE + 5):
            hub.publish(_change("North"))
            while not quick.empty():
                quick.get_nowait()
        # The overflow threw the backlog away: a resync marker, then only what came after.
        assert slow.qsize() <= 5
        assert slow.get_nowait() is None
        assert all(slow.get_nowait() is not None for _ in range(slow.qsize()))
        assert quick.empty()
        hub.unsubscribe(slow)
        hub.publish(_change("North"))
        assert slow.empty()

    asyncio.run(run())
