"""Awaab's Law clocks as data per hazard type, and the due times they give a case.

The Hazards in Social Housing (Prescribed Requirements) (England) Regulations 2025 (see
DOMAIN.md): an emergency hazard is investigated and made safe within 24 hours; a significant
hazard is investigated within 10 working days, the tenant gets a written summary within 3
working days of the investigation ending, safety work is done within 5 working days and further
works are physically started within 12 weeks. The duties extend to more hazards from 2026 and
2027, so the clocks are a validated table keyed by category, not damp-only code.

A working-day deadline falls at the end of that working day in England (Europe/London): the case
is overdue from the following midnight. The day the landlord became aware does not count.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from hof.alertstore.vocabulary import Category, Severity
from hof.alertstore.workingdays import add_working_days

__all__ = [
    "DEFAULT_CLOCKS",
    "LONDON",
    "CaseDues",
    "ClockPolicy",
    "Clocks",
    "HazardClocks",
    "Span",
    "dues_after_investigation",
    "dues_at_awareness",
]

LONDON = ZoneInfo("Europe/London")


class Span(BaseModel):
    """A legal time limit: so many hours, calendar days, weeks or working days."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: int = Field(ge=0)
    unit: Literal["hours", "days", "weeks", "working_days"]

    def after(self, start: dt.datetime) -> dt.datetime:
        """The instant this span runs out, counted from `start` (timezone-aware)."""
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if self.unit == "hours":
            return start + dt.timedelta(hours=self.amount)
        local_day = start.astimezone(LONDON).date()
        if self.unit == "working_days":
            last = add_working_days(local_day, self.amount)
        else:
            last = local_day + dt.timedelta(days=self.amount * (7 if self.unit == "weeks" else 1))
        # The end of the last day, London time: overdue from the next local midnight.
        next_midnight = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=LONDON)
        return next_midnight.astimezone(dt.UTC)


class Clocks(BaseModel):
    """The duties of one class of hazard; a span left out means no such duty."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # From becoming aware.
    investigate: Span
    # From becoming aware for an emergency (make safe within 24 h); otherwise from the
    # investigation's end.
    make_safe: Span | None = None
    make_safe_from: Literal["aware", "investigation_end"] = "investigation_end"
    # From the investigation's end.
    written_summary: Span | None = None
    further_works_start: Span | None = None


class HazardClocks(BaseModel):
    """Clocks for one hazard type: the emergency set, and the significant set.

    `emergency_severities`, when given, says which of the rules' severities are an emergency
    for this hazard (in place of the policy's): a bedroom below 10 °C for hours is a risk of
    hypothermia, an imminent and significant risk of harm, though the rule calls it `severe`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    emergency: Clocks | None = None
    significant: Clocks | None = None
    emergency_severities: frozenset[Severity] | None = None


class ClockPolicy(BaseModel):
    """Which categories carry legal clocks, and which severities count as which hazard class."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    hazards: dict[Category, HazardClocks]
    # The rules' severities against the Regulations' two classes; `watch` starts no clock.
    emergency_severities: frozenset[Severity] = frozenset({Severity.EMERGENCY})
    significant_severities: frozenset[Severity] = frozenset({Severity.SIGNIFICANT, Severity.SEVERE})

    def class_for(
        self, category: Category, severity: Severity
    ) -> Literal["emergency", "significant"] | None:
        """The Regulations' class of a case of this category and severity; None: no clocks."""
        hazard = self.hazards.get(category)
        if hazard is None:
            return None
        emergency = self.emergency_severities
        if hazard.emergency_severities is not None:
            emergency = hazard.emergency_severities
        if severity in emergency:
            return "emergency"
        if severity in self.significant_severities or severity in self.emergency_severities:
            return "significant"
        return None

    def clocks_for(self, category: Category, severity: Severity) -> Clocks | None:
        klass = self.class_for(category, severity)
        hazard = self.hazards.get(category)
        if klass is None or hazard is None:
            return None
        return hazard.emergency if klass == "emergency" else hazard.significant


_EMERGENCY = Clocks(
    investigate=Span(amount=24, unit="hours"),
    make_safe=Span(amount=24, unit="hours"),
    make_safe_from="aware",
)
_SIGNIFICANT = Clocks(
    investigate=Span(amount=10, unit="working_days"),
    written_summary=Span(amount=3, unit="working_days"),
    make_safe=Span(amount=5, unit="working_days"),
    further_works_start=Span(amount=12, unit="weeks"),
)
_BOTH = HazardClocks(emergency=_EMERGENCY, significant=_SIGNIFICANT)
# The 2026 phase: excess cold and excess heat. Their rules' worst band is an emergency hazard:
# below 10 °C for 2 h is HHSRS's hypothermia band (DOMAIN.md), above 32 °C for 2 h is far past
# where CIBSE TM59 and UKHSA's heat-health alerts put harm; both harm within the day, which is
# what the 24-hour duty is for. Their significant and watch bands stay significant and none.
_TEMPERATURE = HazardClocks(
    emergency=_EMERGENCY,
    significant=_SIGNIFICANT,
    emergency_severities=frozenset({Severity.EMERGENCY, Severity.SEVERE}),
)

# Damp and mould from 27 October 2025; excess cold and heat from the 2026 phase. Telecare
# falls are about a person, not the HHSRS "falls" hazard of the building: no clocks.
DEFAULT_CLOCKS = ClockPolicy(
    hazards={
        Category.DAMP_MOULD: _BOTH,
        Category.COLD: _TEMPERATURE,
        Category.HEAT: _TEMPERATURE,
    }
)


@dataclass(frozen=True, slots=True)
class CaseDues:
    """Due instants (UTC); None where the clock has not started or the duty does not apply."""

    investigation_due: dt.datetime | None = None
    summary_due: dt.datetime | None = None
    works_due: dt.datetime | None = None
    further_works_due: dt.datetime | None = None


def dues_at_awareness(clocks: Clocks, aware_at: dt.datetime) -> CaseDues:
    """The clocks that start when the landlord becomes aware."""
    works = None
    if clocks.make_safe is not None and clocks.make_safe_from == "aware":
        works = clocks.make_safe.after(aware_at)
    return CaseDues(investigation_due=clocks.investigate.after(aware_at), works_due=works)


def dues_after_investigation(
    clocks: Clocks, aware_at: dt.datetime, ended_at: dt.datetime
) -> CaseDues:
    """All the clocks once the investigation has ended at `ended_at`."""
    start = dues_at_awareness(clocks, aware_at)

    def after(span: Span | None) -> dt.datetime | None:
        return span.after(ended_at) if span is not None else None

    works = start.works_due
    if clocks.make_safe_from == "investigation_end":
        works = after(clocks.make_safe)
    return CaseDues(
        investigation_due=start.investigation_due,
        summary_due=after(clocks.written_summary),
        works_due=works,
        further_works_due=after(clocks.further_works_start),
    )
