"""bench/cases: the same homes, cases and truths whatever the number of workers, each of which
simulates and judges only its own share of the estate."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from hofsupport import load_file

from alerts.findings import Action, Finding
from alerts.rules.environment import DAMP
from hof.alertstore.vocabulary import Severity
from hof.climate import WALL_F_RSI

_MAIN = Path(__file__).resolve().parents[2] / "bench" / "cases" / "__main__.py"
START = 1_767_225_600.0  # 2026-01-01T00:00Z


@functools.cache
def _bench() -> ModuleType:
    return load_file("bench_cases_main", _MAIN)


def _run(bench: ModuleType, homes: int, days: int, workers: int) -> tuple[Any, ...]:
    np.seterr(all="ignore")
    parts = [
        bench.simulate(bench.Job(homes, days, 1800.0, 7, START, i, workers)) for i in range(workers)
    ]
    cases: dict[Any, Any] = {}
    for part in parts:
        assert not cases.keys() & part[0].keys()  # no home judged twice
        cases.update(part[0])
    truths = bench.merge_truths([part[3] for part in parts])
    return cases, sum(part[1] for part in parts), truths


def test_one_two_or_three_workers_find_the_same() -> None:
    bench = _bench()
    homes, days = 8, 3
    one, calls, truths = _run(bench, homes, days, 1)
    assert calls == homes * 4 * days * 48
    assert one, "the estate's damp and cold homes raise cases within three January days"
    for workers in (2, 3):
        cases, n, merged = _run(bench, homes, days, workers)
        assert n == calls
        assert cases == one
        assert np.array_equal(merged.homes, np.arange(homes))
        for name in ("cold_in_use", "damp_surface", "damp_mould"):
            assert getattr(merged, name) == getattr(truths, name), name
        assert np.array_equal(merged.surface_rh, truths.surface_rh)
        assert np.array_equal(merged.mould_max, truths.mould_max)


def test_each_worker_has_homes_of_every_archetype() -> None:
    bench = _bench()
    d = bench.draw_dwellings(1000, seed=7, mix={kind: 1.0 for kind in bench.Archetype})
    shares = [bench.share(1000, i, 2) for i in range(2)]
    assert sorted(np.concatenate(shares).tolist()) == list(range(1000))
    for mine in shares:
        counts = np.bincount(d.archetype[mine], minlength=len(bench.Archetype))
        assert counts.min() > 100


def test_each_home_has_its_wall_class_from_the_stock_record() -> None:
    """`--walls record` sets each home's fRsi, through the per-home settings, to its wall
    class's (the nearest of poor, sound, insulated); `--walls unknown` leaves the estate's."""
    bench = _bench()
    from simulator.dwelling import Archetype, draw_dwellings

    estate = draw_dwellings(40, seed=7, mix={kind: 1.0 for kind in Archetype})
    homes = list(range(40))
    record = bench.thresholds_of(estate, homes, "record")
    classes = set(WALL_F_RSI.values())
    for h, th in zip(homes, record, strict=True):
        hidden = float(estate.f_rsi[h])
        assert th.f_rsi in classes
        assert all(abs(th.f_rsi - hidden) <= abs(f - hidden) + 1e-12 for f in classes)
    assert {th.f_rsi for th in record} == classes, "the estate has walls of every class"
    assert {th.f_rsi for th in bench.thresholds_of(estate, homes, "unknown")} == {0.75}


def test_explain_says_why_damp_and_cold_were_acted_on_and_what_was_missed(
    capsys: Any,
) -> None:
    bench = _bench()
    homes, days = 8, 8  # a damp case is acted on once a week of its wall's month is known
    cases, _, truths = _run(bench, homes, days, 1)
    d = bench.draw_dwellings(homes, seed=7, mix={kind: 1.0 for kind in bench.Archetype})
    # Every case taken as against the truth, so that both rules are explained.
    truths = bench.Truths(truths.homes, set(), set(), set(), truths.surface_rh, truths.mould_max)
    acted = {name for (_, name, _), found in cases.items() if any(c.acted_on for c in found)}
    assert {"damp_mould", "excess_cold"} <= acted
    bench._explain(cases, d, truths, 1)
    out = capsys.readouterr().out
    damp = [line for line in out.splitlines() if line.startswith("  damp_mould ")]
    assert damp, out
    # Acted on: significant or worse (a wall wet on 7 nights of 8 is severe before its month
    # of 7 complete days is known).
    acted_words = ("significant", "severe", "emergency")
    assert all("fRsi" in line and any(w in line for w in acted_words) for line in damp), damp
    assert "damp_mould: the truth's rooms never acted on: 0" in out
    assert "excess_cold: the truth's rooms never acted on:" in out


def test_a_summer_damp_case_is_told_apart_by_when_it_was_acted_on() -> None:
    # A dry home's damp case opened at watch in August and raised to significant in October
    # (the clocks start in October) is not a case acted on in summer; one raised at
    # significant in July is.
    bench = _bench()

    def raised(at: str, severity: Severity) -> Finding:
        t = dt.datetime.fromisoformat(at).replace(tzinfo=dt.UTC).timestamp()
        return Finding(Action.RAISE, DAMP, "H0", "bedroom", severity, t, "damp", {})

    autumn: list[Any] = []
    bench._lifecycle(autumn, raised("2026-08-20T03:00", Severity.WATCH))
    bench._lifecycle(autumn, raised("2026-10-02T03:00", Severity.SIGNIFICANT))
    summer: list[Any] = []
    bench._lifecycle(summer, raised("2026-07-10T03:00", Severity.SIGNIFICANT))
    kinds = [bench.Archetype.WELL_RUN, bench.Archetype.WELL_RUN]
    cases = {(0, "damp_mould", "bedroom"): autumn, (1, "damp_mould", "bedroom"): summer}
    counted = bench.summer_damp(cases, kinds)
    assert counted["acted-on"] == 2
    assert counted["acted-on in summer"] == 1
    assert counted["acted-on outside summer"] == 1
    # A damp home's cases are not counted.
    assert bench.summer_damp(cases, [bench.Archetype.DAMP] * 2) == {}


def test_the_damp_truth_judges_only_months_the_run_holds() -> None:
    """A month's mean is ISO 13788's test. A run from 1 January ends at a midnight, the next
    month's first reading: that one reading was judged as a month's mean (a year's run counted
    1 January 2027's midnight; a living room whose wettest month's wall was at 74 % was "damp"
    at 93 %)."""
    bench = _bench()
    np.seterr(all="ignore")
    judged = {}
    for days in (31, 50):
        *_, truths = bench.simulate(bench.Job(4, days, 1800.0, 7, START, 0, 1))
        judged[days] = truths
    assert judged[31].months == ("2026-01",)
    assert judged[50].months == ("2026-01", "2026-02")  # 19 days of February
    # January's means are the same whichever run judged them, and February's were higher.
    assert np.all(judged[50].surface_rh >= judged[31].surface_rh)


def test_explain_lists_a_case_that_reopens_more_than_three_times_in_a_month(
    capsys: Any,
) -> None:
    """The year of 1,000 homes had a damp case reopened 5 times in a month; `--explain` now
    names such cases and their month's changes (and the dry homes' summer damp cases)."""
    bench = _bench()
    d = bench.draw_dwellings(8, seed=7, mix={kind: 1.0 for kind in bench.Archetype})
    dry = next(h for h in range(8) if bench.Archetype(int(d.archetype[h])) in bench.DRY)
    day = 86400.0
    july = dt.datetime(2026, 7, 1, tzinfo=dt.UTC).timestamp()
    case = bench.Case(july, worst=Severity.SIGNIFICANT.rank, why="said so")
    case.changes = [("opened", july)] + [
        (what, july + k * day + (0.5 * day if what == "cleared" else day))
        for k in range(4)
        for what in ("cleared", "reopened")
    ]
    bench._explain_flapping({(dry, "damp_mould", "bedroom"): [case]}, d, 1)
    bench._explain_summer({(dry, "damp_mould", "bedroom"): [case]}, d, 1)
    out = capsys.readouterr().out
    assert "cases reopened more than 3 times in a month: 1" in out
    assert f"home {dry} bedroom, 2026-07: 4 reopenings (opened 01 00:00, cleared 01 12:00" in out
    assert f"summer damp, {bench.Archetype(int(d.archetype[dry])).label} home {dry} bedroom" in out
    assert "opened 07-01: said so" in out


def test_some_archetypes_alone_find_what_the_whole_estate_finds_in_their_homes() -> None:
    """`--archetypes`: the homes of those archetypes alone, each as in the whole estate."""
    bench = _bench()
    np.seterr(all="ignore")
    homes, days = 8, 3
    whole, _, _ = _run(bench, homes, days, 1)
    chosen = (bench.Archetype.COLD, bench.Archetype.DAMP)
    alone, calls, truths = {}, 0, []
    for i in range(2):
        job = bench.Job(homes, days, 1800.0, 7, START, i, 2, "record", tuple(map(int, chosen)))
        part = bench.simulate(job)
        alone.update(part[0])
        calls += part[1]
        truths.append(part[3])
    d = bench.draw_dwellings(homes, seed=7, mix={kind: 1.0 for kind in bench.Archetype})
    mine = {h for h in range(homes) if bench.Archetype(int(d.archetype[h])) in chosen}
    assert 0 < len(mine) < homes
    assert set(bench.merge_truths(truths).homes.tolist()) == mine
    assert calls == len(mine) * 4 * days * 48
    assert alone, "the cold and damp homes have cases in three January days"
    assert alone == {key: found for key, found in whole.items() if key[0] in mine}
