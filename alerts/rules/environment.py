"""Room climate: damp and condensation risk, excess cold, overheating and poor ventilation.

Each is judged on hours beyond a limit over the last 24 hours (see `banded.py`), never on a
single reading: a shower, an open door or a busy kitchen does not raise an alert.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from alerts.findings import Action, Audience, Category, Finding, RuleInfo, Severity
from alerts.mould import MouldState, mould_step
from alerts.occupancy import assumed_in
from alerts.outdoor import Outdoor
from alerts.overheating import Overheat
from alerts.rules.banded import BandedState, Step, banded_step, rule_plan
from alerts.thresholds import BandedRule, Thresholds
from hof.climate import dew_point, surface_humidity, surface_temperature, vapour_pressure
from hof.senml import Record

__all__ = [
    "COLD",
    "DAMP",
    "HEAT",
    "SIGNS_GONE_AT",
    "VENTILATION",
    "RoomState",
    "clear_hold_s",
    "hold_finding",
    "hold_words",
    "month_evidence",
    "month_words",
    "on_readings",
    "seed_surface_days",
    "set_mould_severity",
]

DAMP = RuleInfo(
    "damp_mould",
    1,
    Category.DAMP_MOULD,
    Audience.HOUSING_OFFICER,
    "BS 5250 (RH > 70 %), ISO 13788 (surface RH > 80 %), BRE IP1/06 (fRsi)",
)
COLD = RuleInfo(
    "excess_cold",
    1,
    Category.COLD,
    Audience.HOUSING_OFFICER,
    "WHO Housing and Health Guidelines 2018; HHSRS excess cold bands",
)
HEAT = RuleInfo("overheating", 1, Category.HEAT, Audience.BOTH, "CIBSE TM59 / TM52, CIBSE Guide A")
VENTILATION = RuleInfo(
    "poor_ventilation",
    1,
    Category.VENTILATION,
    Audience.HOUSING_OFFICER,
    "Approved Document F (2021), SAMHE",
)


@dataclass
class RoomState:
    """What the rules remember about one room; rebuilt from 24 h of history after a restart."""

    home: str
    room: str
    temperature: float | None = None
    humidity: float | None = None
    surface: float | None = None  # measured surface temperature, where a probe is fitted
    # The vapour the room's air holds over the outdoor air's (Pa), and ISO 13788's line for
    # dwellings at this outdoor temperature, at the last humidity reading (None: not known).
    vapour_excess: float | None = None
    excess_limit: float | None = None
    signals: dict[str, BandedState] = field(default_factory=dict)
    raised: dict[str, Severity] = field(default_factory=dict)
    # When each raised rule last had no band held: its clear waits `case_clear_hold_h`
    # (damp: `damp_clear_hold_h`).
    gone_since: dict[str, float] = field(default_factory=dict)
    # The VTT mould index at the room's cold surface, stepped once per clock hour on that
    # hour's mean surface temperature and humidity.
    mould: MouldState = field(default_factory=lambda: MouldState.zeros(1))
    hour: int = -1
    hour_sums: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    # Steps of the mould model not yet written: (clock hour, index, that hour's mean surface
    # RH, hours since growth stopped). The worker drains them into InfluxDB so that the
    # dashboard can chart the index, and a restart continues from the last.
    mould_steps: list[tuple[int, float, float, float]] = field(default_factory=list)
    # The nights (noon-to-noon UTC day numbers) of the last `condensation_days` on which the
    # estimated or measured surface met the condensation band: it grades by recurrence.
    condensation_nights: list[int] = field(default_factory=list)
    # The days (UTC) of the last `humidity_days` on which the air's worst humidity band was
    # met: it grades the air's humidity by recurrence, as the nights grade condensation.
    humid_days: list[int] = field(default_factory=list)
    # The days (UTC) of the last `surface_rh_days` on which the known wall surface's RH band
    # (above 80 % for 20 h of 24) was met: it grades the wet wall by recurrence too.
    wet_wall_days: list[int] = field(default_factory=list)
    # The wall surface's RH by day (UTC) while it is known: [sum, readings] of the day in
    # progress and the `surface_month_days` complete days before it, ISO 13788's month
    # (`_surface_month`); the mean of the complete days' means is worked out once an hour.
    surface_days: dict[int, list[float]] = field(default_factory=dict)
    surface_month: float | None = None
    surface_month_days: int = 0
    surface_month_hour: int = -1
    # The latest day held, and whether a complete day changed since the month was graded (a
    # day begun, or a late reading of a past one), and by which settings: the hourly grade is
    # worked out again only then (the same figures: the day in progress is not counted).
    surface_last_day: int = -1
    surface_month_stale: bool = True
    surface_month_th: Thresholds | None = field(default=None, compare=False, repr=False)
    # The days (UTC) of the last `cold_days` on which the milder cold bands' worst was met,
    # and on which the mildest (WHO's minimum for rooms in use) was.
    cold_days: list[int] = field(default_factory=list)
    cold_minimum_days: list[int] = field(default_factory=list)
    # The signals that counted a day or night since their case's evidence last said which: the
    # open case is updated with them, so a restarted worker can take them back
    # (`seed_recurrence`).
    days_counted: set[str] = field(default_factory=set)
    # TM59 / TM52 counts from hourly mean air temperatures.
    overheat: Overheat | None = None
    # An hour was counted since the worker last wrote the counts to InfluxDB (a restart takes
    # them back from there: the year's TM59 and the summer's TM52 outlive the 25 h replay).
    heat_counted: bool = False
    heat_hour: int = -1
    heat_sum: float = 0.0
    heat_n: int = 0

    @property
    def is_bedroom(self) -> bool:
        return "bed" in self.room.lower()


def _state_of(state: RoomState, key: str) -> BandedState:
    """The room's state of signal `key`, made on first use (`setdefault` built one at every
    reading to throw it away)."""
    signal = state.signals.get(key)
    if signal is None:
        signal = state.signals[key] = BandedState()
    return signal


def _signal(
    state: RoomState, key: str, rule: BandedRule, t: float, value: float, counts: bool = True
) -> Step | None:
    return banded_step(_state_of(state, key), rule, t, value, counts=counts)


def _combined(state: RoomState, keys: tuple[str, ...]) -> Severity | None:
    """The worst severity of the signals `keys` (None: none holds)."""
    worst: Severity | None = None
    worst_rank = -1
    signals = state.signals
    for key in keys:
        signal = signals.get(key)
        if signal is not None and signal.severity is not None:
            rank = signal.severity.rank
            if rank > worst_rank:
                worst, worst_rank = signal.severity, rank
    return worst


Words = Callable[[], tuple[str, Mapping[str, object]]]


def _judge(
    state: RoomState,
    info: RuleInfo,
    keys: tuple[str, ...],
    t: float,
    words: Words,
    hold_s: float = 0.0,
    timezone: str = "Europe/London",
) -> Finding | None:
    """Raise when the rule's worst signal changes (up or down); clear when every signal has
    cleared and stayed so for `hold_s`. A case changes severity, it does not close and reopen.
    `words` gives the summary and evidence, asked for only when there is a finding: building
    them at every reading was a fifth of the room's cost.

    A case that starts its hold says so (`Action.HOLD`: when its signs went and when it will
    clear), and one whose signs come back within it says what they are again (`Action.NOTE`):
    an officer reading a case held for a fortnight saw the words that last raised it, as if
    its signs still held."""
    now = _combined(state, keys)
    if now is None and info.name not in state.raised:
        return None  # nothing held and no case: most readings of most rooms
    before = state.raised.get(info.name)
    returned = now is not None and state.gone_since.pop(info.name, None) is not None
    if now is not None and now != before:
        state.raised[info.name] = now
        summary, evidence = words()
        return Finding(Action.RAISE, info, state.home, state.room, now, t, summary, dict(evidence))
    if returned and now is not None:
        summary, evidence = words()
        return Finding(Action.NOTE, info, state.home, state.room, now, t, summary, dict(evidence))
    if now is None and before is not None:
        gone = state.gone_since.setdefault(info.name, t)
        if gone == t and hold_s > 0:
            _, evidence = words()
            return hold_finding(state.home, state.room, info, before, t, hold_s, timezone, evidence)
        if t - gone < hold_s:
            return None  # gone for a mild day or two: not yet evidence that it was put right
        del state.raised[info.name]
        del state.gone_since[info.name]
        _, evidence = words()
        return Finding(
            Action.CLEAR,
            info,
            state.home,
            state.room,
            before,
            t,
            f"{_room(state)}: {info.category.replace('_', ' ')} condition has gone.",
            dict(evidence),
        )
    return None


# The held case's evidence: when its signs went (ISO 8601, UTC: the case page shows it as a
# time), which a restarted worker takes its hold from.
SIGNS_GONE_AT = "signs_gone_at"


def hold_finding(
    home: str,
    room: str,
    info: RuleInfo,
    severity: Severity,
    gone: float,
    hold_s: float,
    timezone: str,
    evidence: Mapping[str, object],
) -> Finding:
    """A case's hold begun at `gone`: its words, and its evidence with when its signs went
    (the live rule's, and a restart's for signs that went while no worker watched)."""
    return Finding(
        Action.HOLD,
        info,
        home,
        room,
        severity,
        gone,
        hold_words(room, info, gone, hold_s, timezone),
        {**evidence, SIGNS_GONE_AT: datetime.fromtimestamp(gone, UTC).isoformat()},
    )


def hold_words(room: str, info: RuleInfo, gone: float, hold_s: float, timezone: str) -> str:
    """What a case in its hold says: since when no sign, and when it clears unless one
    returns (local dates, as an officer reads them)."""
    zone = ZoneInfo(timezone)
    since = datetime.fromtimestamp(gone, zone)
    until = datetime.fromtimestamp(gone + hold_s, zone)
    what = _SIGNS_OF.get(info.category, info.category.replace("_", " "))
    return (
        f"{room.replace('_', ' ').capitalize()}: no sign of {what} since {_uk(since)}; the "
        f"case clears on {_uk(until)} unless one returns."
    )


def _uk(when: datetime) -> str:
    """'1 Dec 2026 10:00', as the case page writes its times."""
    return f"{when.day} {when:%b %Y %H:%M}"


_SIGNS_OF = {Category.DAMP_MOULD: "damp or mould", Category.COLD: "excess cold"}


def clear_hold_s(info: RuleInfo, th: Thresholds) -> float:
    """How long a case of `info` waits, its condition gone, before it clears (0: at once)."""
    if info is DAMP:
        return th.damp_clear_hold_h * 3600
    if info is COLD:
        return th.case_clear_hold_h * 3600
    return 0.0


def _room(state: RoomState) -> str:
    return state.room.replace("_", " ").capitalize()


def _hours(state: RoomState, key: str) -> float:
    signal = state.signals.get(key)
    return signal.hours[0] if signal and signal.hours else 0.0


def _band(state: RoomState, key: str, rule: BandedRule) -> tuple[float, float, bool]:
    """(limit, hours beyond it in the last 24, held) of the worst band held, else the mildest.

    A finding's words name the figure that raised it: "below 10 °C for 2.0 h" for a severe
    cold case, not the mildest band's "below 18 °C for 2.0 of the last 24 hours".
    """
    signal = state.signals.get(key)
    if signal is None or not signal.windows:
        return rule.bands[0].limit, 0.0, False
    pick = 0
    for i, held in enumerate(signal.held):
        if (
            held
            and Severity(rule.bands[i].severity).rank >= Severity(rule.bands[pick].severity).rank
        ):
            pick = i
    held = bool(signal.held) and signal.held[pick]
    hours = signal.hours[pick] if len(signal.hours) > pick else 0.0
    return rule.bands[pick].limit, hours, held


def on_readings(
    state: RoomState,
    records: list[Record],
    th: Thresholds,
    outdoor: Outdoor | float | None = None,
    *,
    trm: float | None = None,
    occupied: bool | None = None,
) -> list[Finding]:
    """Feed one device's records (any order) into the room; the findings they cause.

    `outdoor` is the home's outdoor temperature now (alerts/outdoor.py); None when nothing
    real knows it, and then no wall surface is estimated. `trm` is TM52's running mean of the
    daily outdoor temperature (None: TM52 not judged). `occupied` is whether the home's own
    movement data shows someone in (None: not known, or not consented)."""
    findings: list[Finding] = []
    ordered = sorted(records, key=_pack_order)
    for i, record in enumerate(ordered):
        if not isinstance(record.value, float):
            continue
        t, v = record.time, record.value
        if record.name == "temperature":
            state.temperature = v
            findings += _temperature(state, t, v, th, trm, occupied)
        elif record.name == "humidity":
            state.humidity = v
            adds = _home_adds_vapour(state, v, _outdoor_figure(outdoor, th), th)
            _recurring(
                state,
                "humidity",
                th.humidity,
                t,
                v,
                state.humid_days,
                th.humidity_days,
                th.humidity_recurs,
                counts=adds,
                held_is_watch=False,
                spells=True,
            )
        elif record.name == "surface_temperature":
            state.surface = v
        elif record.name == "co2":
            _signal(state, "co2", th.co2, t, v)
            findings += filter(
                None, [_judge(state, VENTILATION, ("co2",), t, _co2_words(state, v, th))]
            )
        if (
            record.name in _DAMP_INPUTS
            and state.temperature is not None
            and state.humidity is not None
            and not _more_of_this_time(ordered, i)
        ):
            findings += filter(None, [_damp(state, t, th, outdoor)])
    return findings


# A pack's figures of one time, the air's temperature first: the humidity's vapour test and
# the wall's estimate read the room's temperature of that time, not the pack before's.
_FIRST = {"temperature": 0, "surface_temperature": 1, "humidity": 2}
_DAMP_INPUTS = frozenset(_FIRST)


def _pack_order(record: Record) -> tuple[int, int]:
    return record.time_ms, _FIRST.get(record.name, 3)


def _more_of_this_time(ordered: list[Record], i: int) -> bool:
    """Whether a later record of the same time still feeds the damp rule: it is judged once a
    time, on all of that time's figures. Judged after each record, the temperature's turn saw
    the pack before's humidity, and the wall's window kept that stale figure (a second
    judgement at the same time is no news to a window)."""
    t = ordered[i].time_ms
    for j in range(i + 1, len(ordered)):  # no slice: a 500-record pack would copy its tail
        later = ordered[j]
        if later.time_ms != t:
            return False
        if later.name in _DAMP_INPUTS and isinstance(later.value, float):
            return True
    return False


def _co2_words(state: RoomState, v: float, th: Thresholds) -> Words:
    def words() -> tuple[str, Mapping[str, object]]:
        limit, hours, _ = _band(state, "co2", th.co2)
        summary = (
            f"{_room(state)} CO2 above {limit:,.0f} ppm for {hours:.1f} "
            f"of the last 24 hours; now {v:,.0f} ppm."
        )
        return summary, {"co2": v, "hours_above": round(hours, 2), "limit": limit}

    return words


def _temperature(
    state: RoomState,
    t: float,
    v: float,
    th: Thresholds,
    trm: float | None,
    occupied: bool | None,
) -> list[Finding]:
    # A home seen empty (its own movement data) is not a cold hazard for those hours: they
    # are observed but never counted as cold. Unknown occupancy counts every hour but a
    # weekday's working hours (alerts/occupancy.py) for the milder bands; the severe band
    # (hypothermia risk) counts them too: a presumption that the tenant is out at work must
    # not delay an emergency.
    mild, acute = _cold_rules(th.cold)
    if mild is not None:
        counts = assumed_in(t, th) if occupied is None else occupied
        _recurring(
            state, "cold", mild, t, v, state.cold_days, th.cold_days, th.cold_recurs, counts=counts
        )
        _below_minimum(state, mild, t, v, th, counts=counts)
    if acute is not None:
        _signal(state, "cold_acute", acute, t, v, counts=occupied is not False)
    _signal(state, "heat", th.heat, t, v)
    _overheat_hour(state, t, v, trm)

    def cold_words() -> tuple[str, Mapping[str, object]]:
        cold_limit, cold_h = _cold_band(state, mild, acute)
        days = ""
        if mild is not None and state.cold_days:
            worst = mild.bands[-1]
            days = (
                f"; below {worst.limit:g} °C for {worst.hours:g} h of 24 on "
                f"{len(state.cold_days)} of the last {th.cold_days} days"
            )
        if mild is not None and state.cold_minimum_days:
            least = mild.bands[0]
            days += (
                f"; below {least.limit:g} °C for {least.hours:g} h of 24 on "
                f"{len(state.cold_minimum_days)} of the last {th.cold_days} days"
            )
        occupancy = {
            None: (
                f" (occupancy unknown: every hour counted but weekdays "
                f"{th.assumed_out_from_hour:02d}:00-{th.assumed_out_to_hour:02d}:00)"
            ),
            True: " while occupied",
            False: " while occupied (empty now)",
        }[occupied]
        return (
            f"{_room(state)} below {cold_limit:g} °C for {cold_h:.1f} of the last "
            f"24 hours{occupancy}{days}; now {v:.1f} °C.",
            {
                "temperature": v,
                "hours_below": round(cold_h, 2),
                "limit": cold_limit,
                "occupancy": {None: "unknown", True: "occupied", False: "empty"}[occupied],
                "cold_days": len(state.cold_days),
                "cold_minimum_days": len(state.cold_minimum_days),
                "cold_days_window": th.cold_days,
                RECURRENCE: _dates_counted(state, _COLD_DAYS),
            },
        )

    def hot_words() -> tuple[str, Mapping[str, object]]:
        heat_limit, heat_h, heat_held = _band(state, "heat", th.heat)
        verdict = state.overheat.verdict() if state.overheat is not None else None
        parts = []
        if verdict is not None and verdict.severity is not None:
            parts.append(verdict.words)
        if heat_held or not parts:
            parts.append(f"above {heat_limit:g} °C for {heat_h:.1f} of the last 24 hours")
        return (
            f"{_room(state)} {'; '.join(parts)}; now {v:.1f} °C.",
            {
                "temperature": v,
                "hours_above": round(heat_h, 2),
                "limit": heat_limit,
                "running_mean_outdoor": None if trm is None else round(trm, 2),
                **(verdict.evidence if verdict is not None else {}),
            },
        )

    cold = _judge(
        state, COLD, ("cold", "cold_acute"), t, cold_words, clear_hold_s(COLD, th), th.timezone
    )
    cold = _note_days(state, COLD, _COLD_DAYS, t, cold_words, cold)
    hot = _judge(state, HEAT, ("heat", "overheat"), t, hot_words)
    return [f for f in (cold, hot) if f is not None]


def _below_minimum(
    state: RoomState, mild: BandedRule, t: float, v: float, th: Thresholds, *, counts: bool
) -> None:
    """Count the day when the mildest cold band (WHO's minimum for rooms in use) is met, as
    `_recurring` counts the worst's, and make `cold` significant once it was met on
    `th.cold_minimum_days` of the last `th.cold_days`: a room kept below the minimum on most
    days is not kept warm. Called after `_recurring` has graded `cold` on this reading."""
    days = state.cold_minimum_days
    needed = th.cold_minimum_days
    if needed is None:
        days.clear()
        return
    band = state.signals["cold_band"]
    day = int(t // 86400)
    _count_day(state, "cold_minimum", mild, band, 0, v, day, days, th.cold_days, counts=counts)
    cold = state.signals["cold"]
    if len(days) >= needed and (cold.severity is None or cold.severity.rank < _SIGNIFICANT):
        cold.severity = Severity.SIGNIFICANT


_SIGNIFICANT = Severity.SIGNIFICANT.rank


# Each cold rule split into its milder bands and its severe ones, by the rule's identity (a
# home's settings are resolved once, so a room's rule is the same object at every reading).
_SPLIT: dict[int, tuple[BandedRule, BandedRule | None, BandedRule | None]] = {}


def _cold_rules(rule: BandedRule) -> tuple[BandedRule | None, BandedRule | None]:
    """(the milder bands, the severe bands) of a cold rule, each band keeping its own clear
    figure: the milder are judged on the hours the home is taken to be in, the severe on
    every hour it is not seen empty."""
    found = _SPLIT.get(id(rule))
    if found is None or found[0] is not rule:
        bands = [
            band.model_copy(update={"clear_hours": rule.band_clear_hours(i)})
            for i, band in enumerate(rule.bands)
        ]

        def part(severe: bool) -> BandedRule | None:
            mine = [b for b in bands if (b.severity == Severity.SEVERE) is severe]
            if not mine:
                return None
            return BandedRule(
                above=rule.above,
                bands=mine,
                clear_hours=rule.band_clear_hours(bands.index(mine[0])),
                min_observed_hours=rule.min_observed_hours,
            )

        if len(_SPLIT) > 10_000:
            _SPLIT.clear()  # settings reloaded many times over: start again
        found = _SPLIT[id(rule)] = (rule, part(False), part(True))
    return found[1], found[2]


def _cold_band(
    state: RoomState, mild: BandedRule | None, acute: BandedRule | None
) -> tuple[float, float]:
    """(limit, hours beyond it) of the worst cold band held, else of the mildest band."""
    parts = [(key, rule) for key, rule in (("cold_acute", acute), ("cold_band", mild)) if rule]
    for key, rule in parts:
        limit, hours, held = _band(state, key, rule)
        if held:
            return limit, hours
    key, rule = parts[-1]
    limit, hours, _ = _band(state, key, rule)
    return limit, hours


def _overheat_hour(state: RoomState, t: float, v: float, trm: float | None) -> None:
    """Accumulate the air temperature into its clock hour; count an hour in TM59 / TM52 when
    it ends, and grade the room's `overheat` signal from the verdict."""
    if state.overheat is None:
        state.overheat = Overheat(state.is_bedroom)
    hour = int(t // 3600)
    if hour > state.heat_hour >= 0 and state.heat_n > 0:
        state.overheat.hour(state.heat_hour * 3600.0, state.heat_sum / state.heat_n, trm)
        state.heat_counted = True
        state.heat_sum, state.heat_n = 0.0, 0
        grade_overheat(state)
    if hour >= state.heat_hour:
        state.heat_hour = hour
        state.heat_sum += v
        state.heat_n += 1


def grade_overheat(state: RoomState) -> None:
    """The room's `overheat` signal from its TM59 / TM52 counts' verdict."""
    if state.overheat is None:
        return
    severity = state.overheat.severity()
    _state_of(state, "overheat").severity = _SEVERITY[severity] if severity else None


def _home_adds_vapour(state: RoomState, rh: float, te: Outdoor | None, th: Thresholds) -> bool:
    """Whether the room's air holds more vapour over the outdoor air's than ISO 13788's line
    for dwellings (humidity class 3) at this outdoor temperature: the home, not the weather,
    made it humid. True when the outdoor humidity or the room's temperature is not known (the
    air's RH alone is judged, as BS 5250's 70 % has it)."""
    state.vapour_excess = state.excess_limit = None
    p_out = te.vapour_pressure if te is not None else None
    if te is None or p_out is None or state.temperature is None:
        return True
    state.vapour_excess = float(vapour_pressure(state.temperature, rh)) - p_out
    share = (th.vapour_excess_zero_c - te.temperature) / th.vapour_excess_zero_c
    state.excess_limit = th.vapour_excess_pa * min(max(share, 0.0), 1.0)
    return state.vapour_excess > state.excess_limit


def _outdoor_figure(outdoor: Outdoor | float | None, th: Thresholds) -> Outdoor | None:
    if isinstance(outdoor, Outdoor):
        return outdoor
    if outdoor is not None:
        return Outdoor(outdoor, "given")
    if th.outdoor_temperature is not None:
        return Outdoor(th.outdoor_temperature, "fixed setting")
    return None


def _damp(
    state: RoomState, t: float, th: Thresholds, outdoor: Outdoor | float | None
) -> Finding | None:
    assert state.temperature is not None
    assert state.humidity is not None
    t_air, rh = state.temperature, state.humidity
    estimated = state.surface is None
    te = _outdoor_figure(outdoor, th)
    known = True
    if state.surface is not None:
        t_surf = state.surface
        surface_from = "measured"
    elif te is not None:
        t_surf = float(surface_temperature(t_air, te.temperature, th.f_rsi))
        surface_from = "estimated"
    else:
        # No outdoor temperature from anywhere real: no wall estimate (5 °C all year made
        # summer damp cases). Air RH and the mould index on the air's own conditions remain.
        t_surf, known = t_air, False
        surface_from = "not estimated: no outdoor temperature (no outdoor sensor, no weather)"
    rh_surf = float(surface_humidity(t_air, rh, t_surf))
    if known:
        _recurring(
            state,
            "surface_rh",
            th.surface_rh,
            t,
            rh_surf,
            state.wet_wall_days,
            th.surface_rh_days,
            th.surface_rh_recurs,
            held_is_watch=False,
            spells=True,
        )
        _condensation(state, th, t, rh_surf)
        _surface_month(state, th, t, rh_surf)
    m_before = float(state.mould.m[0])
    _mould_hour(state, t, t_surf, rh_surf, th, estimated=estimated and known)
    m_now = float(state.mould.m[0])

    def words() -> tuple[str, Mapping[str, object]]:
        rh_h, surf_h = _hours(state, "humidity_band"), _hours(state, "surface_rh_band")
        td = float(dew_point(t_air, rh))
        wall = (
            f"{'estimated ' if estimated else ''}wall surface RH {rh_surf:.0f} %"
            if known
            else "wall surface not estimated (no outdoor temperature from a sensor or a "
            "weather service)"
        )
        summary = _damp_words(state, th, estimated, m_before, m_now) + (
            f" Now: air {t_air:.1f} °C / {rh:.0f} %, dew point {td:.1f} °C, {wall}, mould "
            f"index {m_now:.1f}{_trend(m_before, m_now)}."
        )
        return summary, {
            "temperature": t_air,
            "humidity": rh,
            "dew_point": round(td, 2),
            "surface_temperature": round(t_surf, 2) if known else None,
            "surface_estimated": estimated and known,
            "surface": (
                f"estimated from outdoor {te.temperature:.1f} °C ({te.source})"
                if surface_from == "estimated" and te is not None
                else surface_from
            ),
            "outdoor_temperature": te.temperature if te is not None else None,
            "outdoor_source": te.source if te is not None else None,
            "outdoor_humidity": te.humidity if te is not None else None,
            "vapour_excess_pa": _rounded(state.vapour_excess),
            "vapour_excess_limit_pa": _rounded(state.excess_limit),
            "surface_rh": round(rh_surf, 1) if known else None,
            "hours_rh_high": round(rh_h, 2),
            "hours_surface_rh_high": round(surf_h, 2),
            **month_evidence(state),
            "f_rsi": th.f_rsi,
            "mould_index": round(m_now, 3),
            "humid_days": len(state.humid_days),
            "humidity_days": th.humidity_days,
            "wet_wall_days": len(state.wet_wall_days),
            "surface_rh_days": th.surface_rh_days,
            "condensation_nights": len(state.condensation_nights),
            "condensation_days": th.condensation_days,
            # Which days and nights: what a restart takes back (`seed_recurrence`).
            RECURRENCE: _dates_counted(state, _DAMP_DAYS),
            "raised_by": [
                key
                for key in _DAMP_SIGNALS
                if (signal := state.signals.get(key)) and signal.severity is not None
            ],
        }

    found = _judge(state, DAMP, _DAMP_SIGNALS, t, words, clear_hold_s(DAMP, th), th.timezone)
    return _note_days(state, DAMP, _DAMP_DAYS, t, words, found)


def _note_days(
    state: RoomState,
    info: RuleInfo,
    keys: tuple[str, ...],
    t: float,
    words: Words,
    found: Finding | None,
) -> Finding | None:
    """`found`, or else a note on the rule's open case when one of its signals `keys` has
    counted a day since its evidence last said which: the same severity, with evidence that
    names the new day. The store keeps it with the case, and a restart or handover takes the
    days back from there (`seed_recurrence`)."""
    if not state.days_counted:
        return found
    counted = state.days_counted.intersection(keys)
    state.days_counted.difference_update(counted)
    now = state.raised.get(info.name)
    if found is not None or not counted or now is None:
        return found
    summary, evidence = words()
    return Finding(Action.NOTE, info, state.home, state.room, now, t, summary, dict(evidence))


# The damp evidence's record of the days counted, by signal, as UTC dates an officer reads
# on the case page (a night of condensation is the date of its evening: nights run noon to
# noon).
RECURRENCE = "days_counted"
_EPOCH = date(1970, 1, 1)


_DAMP_DAYS = ("humidity", "surface_rh", "condensation")
_SEVERITY = {severity.value: severity for severity in Severity}  # a recurrence's names
_COLD_DAYS = ("cold", "cold_minimum")


def _days_of(state: RoomState) -> dict[str, list[int]]:
    return {
        "humidity": state.humid_days,
        "surface_rh": state.wet_wall_days,
        "condensation": state.condensation_nights,
        "cold": state.cold_days,
        "cold_minimum": state.cold_minimum_days,
    }


def _dates_counted(state: RoomState, keys: tuple[str, ...]) -> dict[str, list[str]]:
    return {
        key: [(_EPOCH + timedelta(days=d)).isoformat() for d in days]
        for key, days in _days_of(state).items()
        if days and key in keys
    }


def seed_recurrence(state: RoomState, evidence: Mapping[str, object]) -> bool:
    """Take back the days and nights an open damp case's evidence says were counted (a
    restarted or taking-over worker replays only a day of history; the fortnight that grades
    the case is in the evidence). Days the room's state already holds are kept; the window
    drops the old ones at the next reading. True if anything was taken; what is not a date
    is passed over."""
    said = evidence.get(RECURRENCE)
    if not isinstance(said, Mapping):
        return False
    taken = False
    for key, days in _days_of(state).items():
        listed = said.get(key)
        if not isinstance(listed, list):
            continue
        known: set[int] = set()
        for text in listed:
            try:
                known.add((date.fromisoformat(str(text)) - _EPOCH).days)
            except ValueError:
                continue
        if known - set(days):
            days[:] = sorted(known | set(days))
            taken = True
    return taken


_DAMP_SIGNALS = ("humidity", "surface_rh", "surface_month", "condensation", "mould")
# Noon to noon: one night's condensation (late evening to morning) is one night, not two days.
_NIGHT_OFFSET_S = 12 * 3600


def _condensation(state: RoomState, th: Thresholds, t: float, rh_surf: float) -> None:
    """Grade the `condensation` signal by `th.condensation_recurs` on the number of nights of
    the last `th.condensation_days` on which its band (surface RH above 99 % for 6 of 24 h)
    was met (by default, two nights are a watch). A night with condensation is a sign; nights
    of it in a fortnight are the hazard (ISO 13788 and BS 5250 judge a month, not a night)."""
    _recurring(
        state,
        "condensation",
        th.condensation,
        t,
        rh_surf,
        state.condensation_nights,
        th.condensation_days,
        th.condensation_recurs,
        offset_s=_NIGHT_OFFSET_S,
        held_is_watch=False,
    )


def _surface_month(state: RoomState, th: Thresholds, t: float, rh_surf: float) -> None:
    """Count this reading of the known wall surface's RH into its day, and once an hour grade
    `surface_month`: significant when the mean of the last `surface_month_days` days' means
    (at least `surface_month_min_days` of them) is at or above `surface_month_rh`, ISO
    13788's line against mould growth."""
    if th.surface_month_rh is None:
        return
    day = int(t // 86400)
    sums = state.surface_days.get(day)
    if sums is None:
        if state.surface_days and day < max(state.surface_days):
            return  # a late reading of a day already past: the month is not judged backwards
        sums = state.surface_days[day] = [0.0, 0.0]
        for old in [d for d in state.surface_days if d < day - th.surface_month_days]:
            del state.surface_days[old]
        state.surface_last_day = day
        state.surface_month_stale = True  # the day before is complete now
    elif day != state.surface_last_day:
        state.surface_month_stale = True  # a late reading of a complete day
    sums[0] += rh_surf
    sums[1] += 1.0
    hour = int(t // 3600)
    if hour != state.surface_month_hour:
        if state.surface_month_stale or th is not state.surface_month_th:
            grade_surface_month(state, th, hour)
        else:
            state.surface_month_hour = hour


def grade_surface_month(state: RoomState, th: Thresholds, hour: int = -1) -> None:
    """Work out the month's mean surface RH from the complete days held and grade
    `surface_month`. The day of the latest reading is in progress and not counted: its first
    hours are the night, the wall's wettest, and weighed as a whole day they tipped a month
    at 79.4 % over the line at every midnight (bench/cases)."""
    state.surface_month_hour = hour
    state.surface_month_stale, state.surface_month_th = False, th
    latest = max(state.surface_days, default=0)
    first = latest - th.surface_month_days
    days = [
        total / n
        for day, (total, n) in state.surface_days.items()
        if n > 0 and first <= day < latest
    ]
    state.surface_month = sum(days) / len(days) if days else None
    state.surface_month_days = len(days)
    mean, limit = state.surface_month, th.surface_month_rh
    judged = len(days) >= th.surface_month_min_days
    held = judged and mean is not None and limit is not None and mean >= limit
    _state_of(state, "surface_month").severity = Severity.SIGNIFICANT if held else None


def month_words(state: RoomState, th: Thresholds) -> str:
    """The wall's month in words, as a case says it ("" while nothing is known of it)."""
    if state.surface_month is None:
        return ""
    return (
        f"wall surface RH averaging {state.surface_month:.0f} % over the last "
        f"{state.surface_month_days} days (ISO 13788: mould can grow at a month's mean of "
        f"{th.surface_month_rh:g} % or more)"
    )


def month_evidence(state: RoomState) -> dict[str, float | int | None]:
    """The wall's month as a case's evidence carries it."""
    month = state.surface_month
    return {
        "surface_month_rh": None if month is None else round(month, 1),
        "surface_month_days": state.surface_month_days,
    }


def seed_surface_days(
    state: RoomState, days: Mapping[int, tuple[float, float]], th: Thresholds
) -> None:
    """Take back the month's days (day: sum of hourly surface RH, hours) a restarted worker
    rebuilt from history; a day the room already holds readings of is added to."""
    for day, (total, n) in days.items():
        sums = state.surface_days.setdefault(day, [0.0, 0.0])
        sums[0] += total
        sums[1] += n
    state.surface_last_day = max(state.surface_days, default=-1)
    grade_surface_month(state, th)


def _recurring(
    state: RoomState,
    key: str,
    rule: BandedRule,
    t: float,
    value: float,
    days: list[int],
    window: int,
    recurs: Mapping[str, int],
    *,
    counts: bool = True,
    offset_s: float = 0.0,
    held_is_watch: bool = True,
    spells: bool = False,
) -> None:
    """Grade the signal `key` by recurrence: watch while any band of `rule` is held (its
    window, over the last 24 h, is `key`_band) if `held_is_watch` (else the band held is only
    a sign, named in an open case's words), and by `recurs` on the number of `days` of the
    last `window` on which the rule's worst band was met. A day counts when the value is
    beyond that band's limit (and counted) while the band is met (its hours in the last 24 at
    or above the band's): a day of a spell that began the day before counts only if the band
    is met again in it.
    Days run from `offset_s` after midnight UTC (noon: one night is one night). With
    `spells`, a spell's tail past midnight is not a day of it (`_count_day`)."""
    band = _state_of(state, f"{key}_band")
    banded_step(band, rule, t, value, counts=counts)
    day = int((t - offset_s) // 86400)
    spell = (t, day * 86400 + offset_s) if spells else None
    _count_day(state, key, rule, band, -1, value, day, days, window, counts=counts, spells=spell)
    grade = Severity.WATCH if held_is_watch and band.severity is not None else None
    counted = len(days)
    for name, needed in recurs.items():
        if counted >= needed:
            severity = _SEVERITY[name]
            if grade is None or severity.rank > grade.rank:
                grade = severity
    _state_of(state, key).severity = grade


def _count_day(
    state: RoomState,
    key: str,
    rule: BandedRule,
    band: BandedState,
    index: int,
    value: float,
    day: int,
    days: list[int],
    window: int,
    *,
    counts: bool,
    spells: tuple[float, float] | None = None,
) -> None:
    """Count `day` into `days` (as `key`'s) when band `index` of `rule` is met on this
    reading with the value beyond its limit, and drop the days older than `window`. Met, not
    merely held: a band stays held down to its clear figure (below 16 °C for 6 h, half its
    12), and the days it was only held counted as days it was met.

    `spells` (this reading's time, its day's start): a spell met without a break counts on
    the day it is met and on each later day it stays met for the band's hours of that day, not
    on the day its last hours spill into. One wet wall's spell from an afternoon to 01:00 two
    days on counted as two days, and a third day in the fortnight opened a summer watch in a
    home the simulator keeps dry (bench/cases, cold home 878, 98515ba)."""
    plan = rule_plan(rule)
    limit = plan.limits[index]
    beyond = value > limit if plan.above else value < limit
    met = bool(band.held) and band.held[index] and band.hours[index] >= plan.raise_hours[index]
    tail = False
    if spells is not None:
        t, day_start = spells
        if not met:
            band.met_from = None
        elif band.met_from is None:
            band.met_from = t
        elif band.met_from < day_start and t - day_start < plan.raise_hours[index] * 3600:
            met = False  # the tail of a spell that was met, and counted, on an earlier day
            tail = True
    if counts and beyond and met and (not days or days[-1] < day):
        days.append(day)
        state.days_counted.add(key)
    # A spell still met keeps yesterday's day in the window until it counts today or ends:
    # with a one-day window (`humidity_days: 1`) the day left at midnight, and the case said
    # its signs had gone while the air was still humid. A longer window keeps yesterday anyway.
    keep = days[-1] if tail and days and days[-1] == day - 1 else None
    while days and days[0] <= day - window and days[0] != keep:
        days.pop(0)


def _damp_words(
    state: RoomState, th: Thresholds, estimated: bool, m_before: float, m_now: float
) -> str:
    """What raised the damp case, in words, naming only the signals that hold (all when none
    does yet): "humidity above 70 % for 0.0 h" was said of a case the surface alone raised."""
    rh_limit, rh_h, rh_held = _band(state, "humidity_band", th.humidity)
    s_limit, s_h, s_held = _band(state, "surface_rh_band", th.surface_rh)
    c_limit, c_h, c_held = _band(state, "condensation_band", th.condensation)
    wet = state.signals.get("condensation")
    mould = state.signals.get("mould")
    m_held = mould is not None and mould.severity is not None
    surface = f"{'estimated ' if estimated else ''}wall surface RH"
    humid = state.signals.get("humidity")
    parts = []
    if humid is not None and humid.severity is not None:
        said = _held_and_days(
            th.humidity, rh_limit, rh_h, rh_held, len(state.humid_days), th.humidity_days
        )
        parts.append(f"humidity {said}{_excess(state)}")
    month = state.signals.get("surface_month")
    if month is not None and month.severity is not None and (wall := month_words(state, th)):
        parts.append(f"{'estimated ' if estimated else ''}{wall}")
    wet_wall = state.signals.get("surface_rh")
    if wet_wall is not None and wet_wall.severity is not None:
        said = _held_and_days(
            th.surface_rh, s_limit, s_h, s_held, len(state.wet_wall_days), th.surface_rh_days
        )
        parts.append(f"{surface} {said}")
    if wet is not None and wet.severity is not None:
        nights = len(state.condensation_nights)
        now = f"for {c_h:.1f} of the last 24 hours, " if c_held else ""
        parts.append(
            f"{surface} above {c_limit:g} % (condensation) {now}on {nights} of the last "
            f"{th.condensation_days} nights"
        )
    if m_held:
        growth = "visible growth" if m_now >= th.mould_severe else "growth begun"
        parts.append(f"mould index {m_now:.1f} ({growth}){_trend(m_before, m_now)}")
    elif parts and m_now >= th.mould_significant:
        # Growth begun on an estimated wall: a sign beside what raised the case.
        parts.append(
            f"mould index {m_now:.1f} on the estimated wall (growth begun; a sign, not a case "
            f"alone){_trend(m_before, m_now)}"
        )
    if not parts:
        parts = [
            f"humidity above {rh_limit:g} % for {rh_h:.1f} of the last 24 hours",
            f"{surface} above {s_limit:g} % for {s_h:.1f} h",
        ]
    return f"{_room(state)} {'; '.join(parts)}."


def _held_and_days(
    rule: BandedRule, limit: float, hours: float, held: bool, days: int, window: int
) -> str:
    """What graded a signal judged by recurrence: the band held now, the days its worst band
    was met on, or both."""
    worst = rule.bands[-1]
    said = [f"above {limit:g} % for {hours:.1f} of the last 24 hours"] if held else []
    if days:
        said.append(
            f"above {worst.limit:g} % for {worst.hours:g} h of 24 on {days} of the last "
            f"{window} days"
        )
    return "; ".join(said)


def _excess(state: RoomState) -> str:
    """How much vapour the home adds to the outdoor air's, when known (why it is the home's)."""
    if state.vapour_excess is None or state.excess_limit is None:
        return ""
    return (
        f" (the home now adding {state.vapour_excess:.0f} Pa of vapour to the outdoor air's; "
        f"ISO 13788's line for dwellings is {state.excess_limit:.0f} Pa)"
    )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value)


def _trend(before: float, now: float) -> str:
    if now > before + 1e-9:
        return " and rising"
    return " and falling" if now < before - 1e-9 else ""


def _mould_hour(
    state: RoomState, t: float, t_surf: float, rh_surf: float, th: Thresholds, *, estimated: bool
) -> None:
    """Accumulate this reading into its clock hour; step the mould model when an hour ends
    (`estimated`: the surface is estimated from the outdoor temperature)."""
    hour = int(t // 3600)
    if hour > state.hour >= 0 and state.hour_sums[2] > 0:
        n = state.hour_sums[2]
        # Hours without readings are skipped, not counted as dry (the model's own rule).
        m, dry = mould_step(
            float(state.mould.m[0]),
            float(state.mould.dry_hours[0]),
            state.hour_sums[0] / n,
            state.hour_sums[1] / n,
            1.0,
        )
        state.mould = MouldState.of_room(m, dry)
        state.mould_steps.append((state.hour, m, state.hour_sums[1] / n, dry))
        state.hour_sums = [0.0, 0.0, 0.0]
        set_mould_severity(state, th, estimated=estimated)
    if hour >= state.hour:
        state.hour = hour
        state.hour_sums[0] += t_surf
        state.hour_sums[1] += rh_surf
        state.hour_sums[2] += 1


def set_mould_severity(state: RoomState, th: Thresholds, *, estimated: bool) -> None:
    """Grade the mould signal from the index: 1 is growth begun (microscopic), 3 is visible.

    Growth begun on an estimated wall is a sign, named in an open case's words, not a case:
    the estimate takes the estate's fRsi for the room's own walls, and the index integrates
    its error over weeks. A well-run bathroom in summer (bench/cases, 1,000 homes) reached 1
    at an estimated surface RH of 78 % and was a significant case, Awaab's Law clocks started,
    in a home the simulator keeps dry; as a watch (until `548254b`, 2 Dec 2026) it opened 3
    of the 12 summer cases left in dry homes. A wall wet enough for growth is wet on days of the
    fortnight (`surface_rh`), and ISO 13788's month (`surface_month_rh`) acts on the estimate;
    visible growth (3) is severe on any surface; a probe's surface, or the air's own when
    nothing estimates the wall, is significant at 1."""
    m = float(state.mould.m[0])
    signal = _state_of(state, "mould")
    begun = None if estimated else Severity.SIGNIFICANT
    if m >= th.mould_severe:
        signal.severity = Severity.SEVERE
    elif m >= th.mould_significant:
        if begun is not None and (signal.severity is None or signal.severity.rank < begun.rank):
            signal.severity = begun
    elif m < th.mould_clear:
        signal.severity = None
