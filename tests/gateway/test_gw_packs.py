"""Merged packs stay within the contract and parse back to the same records."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.packs import build_packs
from hof.senml import Record, parse_pack
from hof.topic import Topic

T0 = 1_763_841_600_000


def test_one_pack_per_device_topic_within_500_records_and_16_kib() -> None:
    records = [
        Record("H-1", f"env-{d}", name, T0 + i * 1000, 20.123456789 + i % 50, unit)
        for i in range(1200)
        for d in range(2)
        for name, unit in (("temperature", "Cel"), ("humidity", "%RH"))
    ]
    packs = build_packs("reading", list(range(len(records))), records)
    assert sorted(i for p in packs for i in p.ids) == list(range(len(records)))
    for pack in packs:
        assert len(pack.records) <= 500
        assert len(pack.payload) <= 16 * 1024
        topic = Topic.parse(pack.topic)
        assert {r.device for r in pack.records} == {topic.device}
        parsed = parse_pack(topic, pack.payload, received_at=T0 / 1000 + 2000)
        assert parsed == pack.records


def test_the_same_record_twice_is_sent_once_and_both_rows_go() -> None:
    a = Record("H-1", "env-1", "temperature", T0, 20.0, "Cel")
    b = Record("H-1", "env-1", "temperature", T0, 20.0, None)  # same identity, no unit
    packs = build_packs("reading", [1, 2], [a, b])
    assert len(packs) == 1
    assert packs[0].records == [a]
    assert packs[0].ids == [1, 2]


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["env-1", "env-2", "door-1"]),
            st.integers(0, 10**9),
            st.floats(-60, 100, allow_nan=False),
        ),
        min_size=1,
        max_size=1500,
        unique_by=lambda x: (x[0], x[1]),
    )
)
def test_every_record_arrives_once_in_valid_packs(rows: list[tuple[str, int, float]]) -> None:
    records = [Record("H-1", d, "temperature", T0 + t, v, "Cel") for d, t, v in rows]
    packs = build_packs("reading", list(range(len(records))), records)
    out = []
    for pack in packs:
        assert len(pack.payload) <= 16 * 1024
        out += parse_pack(Topic.parse(pack.topic), pack.payload, received_at=T0 / 1000 + 2e6)
    assert sorted(r.key for r in out) == sorted(r.key for r in records)
    assert {r.key: r.value for r in out} == {r.key: r.value for r in records}
