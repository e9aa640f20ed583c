"""The fleet watcher reads any retained status or config a device can publish, and carries on."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard.fleet import Fleet, learn
from hof.errors import ContractError
from hof.mqtt import Delivery


def deliver(topic: str, payload: bytes) -> Delivery:
    return Delivery(topic, payload, 1, True, 1, time.time(), cast(Any, None))


def test_the_crash_loop_status_is_refused_not_raised() -> None:
    """Issue 11, item 2: nested JSON on `status` silently killed the fleet watcher."""
    fleet = Fleet()
    with pytest.raises(ContractError):
        learn(fleet, deliver("hof/v1/H-1/env-1/status", b"[" * 3000 + b"]" * 3000))
    learn(fleet, deliver("hof/v1/H-1/env-1/status", b'{"state":"online","battery":80}'))
    status = fleet.get("H-1", "env-1")
    assert status is not None
    assert (status.state, status.battery) == ("online", 80.0)


@given(
    st.sampled_from(["status", "config", "reading", "x"]),
    st.binary(max_size=300),
)
def test_no_message_raises_anything_but_contract_error(channel: str, payload: bytes) -> None:
    fleet = Fleet()
    try:
        learn(fleet, deliver(f"hof/v1/H-1/env-1/{channel}", payload))
    except ContractError:
        return
    assert fleet.count <= 1
