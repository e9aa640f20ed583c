"""The topic grammar of CONTRACT.md."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hof.errors import ContractError, Reason
from hof.topic import ID_PATTERN, Channel, Topic, subscription


def test_parse_and_format() -> None:
    topic = Topic.parse("hof/v1/LCC-004512/env-3f2a1c/reading")
    assert topic == Topic("LCC-004512", "env-3f2a1c", Channel.READING)
    assert str(topic) == "hof/v1/LCC-004512/env-3f2a1c/reading"
    assert str(topic.with_channel(Channel.DEADLETTER)) == "hof/v1/LCC-004512/env-3f2a1c/deadletter"


@pytest.mark.parametrize(
    "bad",
    [
        "hof/v1/LCC-1/env-1",
        "hof/v2/LCC-1/env-1/reading",
        "hof/v1/LCC-1/env-1/reading/extra",
        "hof/v1/LCC-1/env-1/telemetry",
        "hof/v1/-LCC/env-1/reading",
        "hof/v1/LCC 1/env-1/reading",
        "hof/v1//env-1/reading",
        "hof/v1/LCC-1/" + "d" * 65 + "/reading",
        "hof/v1/+/env-1/reading",
    ],
)
def test_bad_topics_are_refused_with_reason(bad: str) -> None:
    with pytest.raises(ContractError) as info:
        Topic.parse(bad)
    assert info.value.reason is Reason.BAD_TOPIC


def test_subscriptions() -> None:
    assert subscription(Channel.READING) == "hof/v1/+/+/reading"
    assert subscription(Channel.EVENT, share_group="ingest") == "$share/ingest/hof/v1/+/+/event"


@given(
    st.from_regex(ID_PATTERN, fullmatch=True),
    st.from_regex(ID_PATTERN, fullmatch=True),
    st.sampled_from(list(Channel)),
)
def test_round_trip(home: str, device: str, channel: Channel) -> None:
    topic = Topic(home, device, channel)
    assert Topic.parse(str(topic)) == topic


@given(st.text(max_size=120))
def test_any_text_parses_or_raises_contract_error(text: str) -> None:
    reason = None
    try:
        Topic.parse(text)
    except ContractError as exc:
        reason = exc.reason
    assert reason in (None, Reason.BAD_TOPIC)
