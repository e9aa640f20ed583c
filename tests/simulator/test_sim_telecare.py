"""The telecare scenario: seeded, a few events per 10 minutes, the first a fall; cancels come
from the device that fell, within the rules' window; leaks dry out; the routine home is seen
moving at every sample but in its still spells."""

from __future__ import annotations

import json
import tomllib
from collections import Counter

from hof.climate import wall_class
from hof.topic import Topic
from simulator.estate import Estate
from simulator.telecare import (
    CANCEL_WITHIN_S,
    ROUTINE_SILENT_S,
    Scenario,
    demo_overrides,
    telecare_homes,
)

START = 1_764_480_000.0  # 2025-11-30T05:20Z


def _run(scenario: Scenario, seconds: float) -> list[tuple[float, str, dict[str, object], str]]:
    out = []
    for now in range(int(START), int(START + seconds), 5):
        for topic, payload, what in scenario.due(now):
            (record,) = json.loads(payload)
            out.append((float(now), topic, record, what))
    return out


def test_a_seeded_run_of_telecare_events() -> None:
    estate = Estate(100, seed=3)
    homes = telecare_homes(estate)
    assert 1 <= len(homes) <= 4
    events = _run(Scenario(estate, 3, START), 4 * 3600)
    again = _run(Scenario(estate, 3, START), 4 * 3600)
    assert events == again, "the same seed gives the same events"
    starts = [e for e in events if e[3] in ("fall", "button", "leak")]
    assert 3 * 24 * 0.5 <= len(starts) <= 3 * 24 * 1.6, "about three per 10 minutes"
    assert starts[0][3] == "fall", "a fall comes first"
    assert starts[0][0] - START <= 400, "and soon"
    kinds = Counter(e[3] for e in events)
    assert kinds["fall"]
    assert kinds["button"]
    assert kinds["leak"]
    assert kinds["fall_cancelled"]
    assert kinds["leak_dry"] <= kinds["leak"]
    ids = {h.id for h in homes}
    for at, topic, record, _what in events:
        where = Topic.parse(topic)
        assert where.home in ids
        assert where.channel.value == "event"
        assert record["bn"] == f"{where.device}/"
        assert abs(float(str(record["bt"])) - at) <= 5
    # Every cancel withdraws a fall of the same pendant, within the rules' confirm window.
    falls = [(at, topic) for at, topic, _, what in events if what == "fall"]
    for at, topic, record, what in events:
        if what == "fall_cancelled":
            assert record["vs"] == "cancelled"
            before = [t for t, where in falls if where == topic and t <= at]
            assert before
            assert at - before[-1] <= CANCEL_WITHIN_S[1] + 5


def test_the_routine_home_moves_until_its_still_spell() -> None:
    estate = Estate(30, seed=5)
    scenario = Scenario(estate, 5, START)
    home = scenario.routine
    assert home is not None
    toml = tomllib.loads(demo_overrides(estate))
    assert toml["homes"][home.id]["inactivity_hours"] * 3600 < ROUTINE_SILENT_S
    motions = []
    for pack in estate.run(START - 3 * 3600, 60.0).packs_until(START + 3600, 36):
        if pack.topic.startswith(f"hof/v1/{home.id}/{home.motion}/"):
            records = json.loads(scenario.adjust(pack.topic, pack.payload))
            base = 0.0
            for r in records:
                base = r.get("bt", base)
                if r["n"] == "motion":
                    motions.append((base + r.get("t", 0), r["vb"]))
    assert motions, "the routine home has a movement sensor"
    assert all(vb for t, vb in motions if t < scenario.silent_from)
    still = [vb for t, vb in motions if scenario.silent_from <= t < scenario.silent_from + 600]
    assert still
    assert not any(still)
    other = Scenario(estate, 5, START)
    assert other.adjust("hof/v1/X/y/reading", b"[1]") == b"[1]", "others pass untouched"


def test_the_demo_gives_each_home_the_wall_class_its_stock_record_would() -> None:
    estate = Estate(30, seed=5)
    toml = tomllib.loads(demo_overrides(estate))
    assert set(toml["homes"]) == {home.id for home in estate.homes}
    for home in estate.homes:
        walls = toml["homes"][home.id]["walls"]
        hidden = float(estate.dwellings.f_rsi[home.index])
        assert walls == wall_class(hidden)
    assert {toml["homes"][h.id]["walls"] for h in estate.homes} == {"poor", "sound", "insulated"}
