"""The storage layout: one point per device and instant, typed fields, escaped tags."""

from __future__ import annotations

from hof.senml import Record
from ingest.lineprotocol import encode_records


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
