"""The consent book: which stream a name is, what a home may keep, and consent messages that
cannot be trusted (a wrong topic, another home's body, unreadable JSON) changing nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from hof.consent import ConsentBook, Stream, consent_payload, consent_topic, stream_of
from hof.senml import Record

AT = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
ENV = frozenset({Stream.ENVIRONMENT})


def record(home: str, name: str) -> Record:
    value: float | bool | str = True if name == "motion" else 1.0
    return Record(home, "d-1", name, 1_764_000_000_000, value)


@pytest.mark.parametrize(
    ("name", "stream"),
    [
        ("temperature", Stream.ENVIRONMENT),
        ("co2", Stream.ENVIRONMENT),
        ("leak", Stream.ENVIRONMENT),
        ("an_unknown_name", Stream.ENVIRONMENT),
        ("motion", Stream.ACTIVITY),
        ("contact", Stream.ACTIVITY),
        ("checkin", Stream.ACTIVITY),
        ("fall", Stream.TELECARE),
        ("button", Stream.TELECARE),
        ("battery", None),
        ("tamper", None),
    ],
)
def test_each_name_has_its_stream(name: str, stream: Stream | None) -> None:
    assert stream_of(name) is stream


def test_a_home_with_no_record_keeps_the_default_and_device_health() -> None:
    book = ConsentBook(ENV)
    kept, refused = book.split([record("H", n) for n in ("temperature", "motion", "battery")])
    assert [r.name for r in kept] == ["temperature", "battery"]
    assert refused == {Stream.ACTIVITY: 1}


def test_a_published_consent_replaces_the_default_for_its_home_only() -> None:
    book = ConsentBook(ENV)
    payload = consent_payload("H", {Stream.ACTIVITY: True, Stream.ENVIRONMENT: False}, AT)
    assert book.learn(consent_topic("H"), payload) == ("H", frozenset({Stream.ACTIVITY}))
    assert book.allows("H", Stream.ACTIVITY)
    assert not book.allows("H", Stream.ENVIRONMENT)
    assert book.allowed("other") == ENV
    # A stream the message does not name keeps the default.
    book.learn(consent_topic("H"), consent_payload("H", {Stream.ACTIVITY: True}, AT))
    assert book.allowed("H") == {Stream.ACTIVITY, Stream.ENVIRONMENT}
    # A cleared retained message: back to the default.
    book.learn(consent_topic("H"), b"")
    assert book.allowed("H") == ENV


def test_an_erased_home_keeps_nothing_but_device_health() -> None:
    book = ConsentBook(ENV)
    book.learn(consent_topic("H"), consent_payload("H", {}, AT, erased=True))
    kept, _ = book.split([record("H", n) for n in ("temperature", "fall", "rssi")])
    assert [r.name for r in kept] == ["rssi"]


@pytest.mark.parametrize(
    ("topic", "payload", "why"),
    [
        ("hof/consent/H", b"{not json", "unreadable"),
        ("hof/consent/H", consent_payload("OTHER", {Stream.ACTIVITY: True}, AT), "OTHER"),
        ("hof/consent/H/x", consent_payload("H", {Stream.ACTIVITY: True}, AT), "not a consent"),
        ("hof/v1/H/d/config", consent_payload("H", {Stream.ACTIVITY: True}, AT), "not a consent"),
        (
            "hof/consent/H",
            b'{"home":"H","streams":{"dreams":true},"at":"2026-11-30T00:00:00Z"}',
            "unreadable",
        ),
    ],
)
def test_a_message_that_cannot_be_trusted_changes_nothing(
    topic: str, payload: bytes, why: str
) -> None:
    book = ConsentBook(ENV)
    with pytest.raises(ValueError, match=why):
        book.learn(topic, payload)
    assert book.homes == {}
