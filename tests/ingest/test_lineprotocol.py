"""The storage layout: one point per device and instant, typed fields, escaped tags."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hof.influx import InfluxClient
from hof.senml import Record
from hof.settings import Settings
from ingest.lineprotocol import encode_pack, encode_records, escape_key, escape_measurement


def test_records_of_one_instant_share_a_point() -> None:
    records = [
        Record("LCC-1", "env-1", "temperature", 1000, 18.0, "Cel"),
        Record("LCC-1", "env-1", "humidity", 1000, 71.5, "%RH"),
        Record("LCC-1", "env-1", "temperature", 2000, 18.5, "Cel"),
    ]
    assert encode_records("reading", records, {("LCC-1", "env-1"): "living room"}) == [
        r"reading,device=env-1,home=LCC-1,room=living\ room temperature=18.0,humidity=71.5 1000",
        r"reading,device=env-1,home=LCC-1,room=living\ room temperature=18.5 2000",
    ]


def test_field_types_and_escaping() -> None:
    records = [
        Record("H", "d", "leak", 5, True),
        Record("H", "d", "fall", 5, "detected"),
        Record("H", "d", "odd name,x=1", 5, 'say "hi" \\'),
        Record("H", "d", "count", 5, 3.0),
    ]
    (line,) = encode_records("event", records, {})
    assert line == (
        'event,device=d,home=H leak=true,fall="detected",'
        r'odd\ name\,x\=1="say \"hi\" \\",count=3.0 5'
    )


SPECIALS = [",", " ", "=", '"']


def _placed(c: str) -> list[str]:
    """The character at the start, in the middle, at the end, doubled and alone."""
    return [f"{c}x", f"x{c}y", f"x{c}", f"x{c}{c}y", c]


@pytest.fixture
async def influx(settings: Settings) -> AsyncIterator[InfluxClient]:
    """A database of its own on the session's InfluxDB (odd names must not reach other tests)."""
    database = f"lp_{uuid.uuid4().hex[:8]}"
    mine = settings.influx.model_copy(update={"database": database})
    async with InfluxClient(settings.influx) as admin:
        await admin.query(f'CREATE DATABASE "{database}"')
    async with InfluxClient(mine) as client:
        yield client
    async with InfluxClient(settings.influx) as admin:
        await admin.query(f'DROP DATABASE "{database}"')


async def test_every_special_character_in_every_position_reads_back(
    influx: InfluxClient,
) -> None:
    """Issue 11, item 4: what is written is what InfluxDB reads, whatever the text."""
    texts = [t for c in SPECIALS for t in _placed(c)]
    values = [*texts, "back\\slash", "\\", 'both \\"', "end\\"]
    records = [Record(f"H{i}", f"d{i}", f"n{i}", 1000 + i, v) for i, v in enumerate(values)]
    records += [Record(f"H{i}", t, t, 5000 + i, float(i)) for i, t in enumerate(texts)]
    rooms = {(f"H{i}", f"d{i}"): t for i, t in enumerate(texts)}
    await influx.write(encode_records("reading", records, rooms), precision="ms")

    series = await influx.query('SELECT * FROM "reading" GROUP BY *')
    got: dict[int, tuple[dict[str, str], dict[str, Any]]] = {}
    for s in series:
        for row in s["values"]:
            fields = {k: v for k, v in zip(s["columns"][1:], row[1:], strict=True) if v is not None}
            got[row[0]] = ({k: v for k, v in s["tags"].items() if v}, fields)
    for i, value in enumerate(values):
        tags = {"home": f"H{i}", "device": f"d{i}"} | ({"room": texts[i]} if i < len(texts) else {})
        assert got[1000 + i] == (tags, {f"n{i}": value})
    for i, text in enumerate(texts):
        assert got[5000 + i] == ({"home": f"H{i}", "device": text}, {text: float(i)})

    odd = escape_measurement("a,b c")
    await influx.write([f"{odd},home=H x=1.0 1"], precision="ms")
    assert (await influx.query('SELECT x FROM "a,b c"'))[0]["values"] == [[1, 1.0]]


@pytest.mark.parametrize("bad", ["\n", "\r", "\x00", "\\", "\x7f"])
@pytest.mark.parametrize("place", ["start", "middle", "end"])
def test_what_has_no_escape_is_refused(bad: str, place: str) -> None:
    """A line break ends a point (what follows would be a point of the sender's making); a
    backslash in a tag or key reads differently in InfluxDB 1.x and 2.x."""
    text = {"start": f"{bad}x", "middle": f"x{bad}y", "end": f"x{bad}"}[place]
    record = Record("H", "d", "n", 1, 1.0)
    with pytest.raises(ValueError, match="cannot be written"):
        encode_records("reading", [record], {("H", "d"): text})
    with pytest.raises(ValueError, match="cannot be written"):
        encode_records("reading", [Record("H", "d", text, 1, 1.0)], {})
    with pytest.raises(ValueError, match="cannot be written"):
        encode_records("reading", [Record("H", text, "n", 1, 1.0)], {})
    if bad != "\\":  # a backslash in a string value is escaped, not refused
        with pytest.raises(ValueError, match="cannot be written"):
            encode_records("reading", [Record("H", "d", "n", 1, text)], {})


def test_the_injection_of_issue_11_is_refused() -> None:
    room = "bedroom temperature=1.0 1\nevil,home=LCC-2 temperature=99.0"
    with pytest.raises(ValueError, match="cannot be written"):
        encode_records(
            "reading", [Record("LCC-1", "env-1", "co2", 1, 500.0)], {("LCC-1", "env-1"): room}
        )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["temperature", "humidity", "odd name", "leak", "note"]),
            st.integers(0, 5),
            st.floats(allow_nan=False, allow_infinity=False)
            | st.booleans()
            | st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x7E), max_size=8),
        ),
        max_size=30,
    )
)
def test_a_packs_lines_are_its_records_lines(items: list[tuple[str, int, Any]]) -> None:
    """encode_pack, the quick way for one device, writes what encode_records writes, numbers
    as repr has them (whether or not seen before), every field at its instant."""
    expected: dict[int, list[str]] = {}
    for name, t, value in items:
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, float):
            text = repr(value + 0.0)  # the parser's numbers are v + bv: never -0.0
        else:
            text = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        expected.setdefault(t, []).append(f"{escape_key(name)}={text}")
    want = [f"reading,device=d,home=H {','.join(f)} {t}" for t, f in expected.items()]
    numbers = [
        Record("H", "d", name, t, value + 0.0 if type(value) is float else value)
        for name, t, value in items
    ]
    for _ in range(2):  # once to learn the numbers, once from what was learnt
        assert encode_pack("reading", "H", "d", numbers, {}) == want
        assert encode_records("reading", numbers, {}) == want
