"""Escalation policies, people and rotas as data: a TOML file, validated when the notifier starts.

A policy says, for some alert kinds on some estates, who is told at each level and how long
each level waits for an acknowledgement before the next; the last level may repeat, and an
alert acknowledged but not resolved within `ack_timeout_s` is escalated again. The built-in
default covers every responder alert kind, so a file need only say what differs. Quiet hours
are for housing officers' digests: a telecare policy with quiet hours is refused, because a
fall at 3 a.m. is exactly when someone must be woken.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hof.alertstore import Category
from hof.alertstore.models import JobPurpose
from hof.alertstore.notifications import Step
from hof.errors import ConfigError
from notify.channels.base import Recipient
from notify.rota import Rota, on_call, rota_for

__all__ = [
    "DIGEST_KINDS",
    "RESPONDER_KINDS",
    "Centre",
    "Digest",
    "HomeInfo",
    "Level",
    "NotifyConfig",
    "Person",
    "Policy",
    "QuietHours",
    "Target",
    "default_config",
    "load_config",
    "steps_for",
]

# The alert kinds that call people out (DOMAIN.md: telecare responders).
RESPONDER_KINDS = (
    Category.FALL,
    Category.BUTTON,
    Category.SMOKE,
    Category.LEAK,
    Category.INACTIVITY,
    Category.DEVICE_OFFLINE,
)
# What a housing officer's digest may carry: the home's condition and its environmental devices
# (DOMAIN.md: housing officers), never a fall, a call or a tenant's movements.
DIGEST_KINDS = (
    Category.DAMP_MOULD,
    Category.COLD,
    Category.HEAT,
    Category.VENTILATION,
    Category.DEVICE_OFFLINE,
    Category.LOW_BATTERY,
)
ChannelName = Literal["webhook", "email", "notify_sms", "notify_email", "scaip", "device_notice"]


class Person(BaseModel):
    """Someone who can be told: any of an email address, a phone number, a webhook."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    email: str | None = None
    phone: str | None = None
    webhook: str | None = None

    def address(self, channel: str) -> str | None:
        return {
            "email": self.email,
            "notify_email": self.email,
            "notify_sms": self.phone,
            "webhook": self.webhook,
        }.get(channel)


class Centre(BaseModel):
    """An alarm receiving centre: reached over one channel (SCAIP by default) at an address."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    channel: ChannelName = "scaip"
    address: str = Field(min_length=1)


class Target(BaseModel):
    """One entry of a level's `to`: exactly one of the kinds below, sent `via` some channels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    oncall: int | None = Field(None, ge=1)  # 1: the on-call responder for the home's patch
    team_lead: bool = False  # the team lead of that patch's rota
    person: str | None = None
    centre: str | None = None
    hook: bool = False  # the settings' webhook (notify.webhook_url), when one is set
    devices: bool = False  # the home's telecare devices: a `check` notice
    via: tuple[ChannelName, ...] = ("webhook", "email", "notify_sms")

    @model_validator(mode="after")
    def _one_kind(self) -> Target:
        kinds = [
            self.oncall is not None,
            self.team_lead,
            self.person is not None,
            self.centre is not None,
            self.hook,
            self.devices,
        ]
        if sum(kinds) != 1:
            raise ValueError(
                "a target names exactly one of oncall, team_lead, person, centre, hook, devices"
            )
        return self


class Level(BaseModel):
    """Who is told at this level, `wait_s` after the previous one (or the alert, for the first)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    wait_s: float = Field(ge=0)
    to: tuple[Target, ...] = Field(min_length=1)
    repeat: int = Field(0, ge=0, le=20)  # the last level only: sent again this many times
    repeat_every_s: float | None = Field(None, gt=0)


class QuietHours(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    start: dt.time
    end: dt.time
    timezone: str = "Europe/London"


class Digest(BaseModel):
    """A digest email of new housing-officer alerts to the officers of some patches, every
    `every_s` (a day by default), held while its quiet hours last."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Its cursors in the store are named after it (64 characters at most, with "digest:").
    name: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")
    patches: tuple[str, ...] = ("*",)
    to: tuple[str, ...] = Field(min_length=1)  # people, by their key in `people`
    kinds: tuple[Category, ...] = (
        Category.DAMP_MOULD,
        Category.COLD,
        Category.HEAT,
        Category.DEVICE_OFFLINE,
    )
    every_s: float = Field(86_400.0, ge=1)
    quiet_hours: QuietHours | None = None

    @model_validator(mode="after")
    def _officers_only(self) -> Digest:
        telecare = set(self.kinds) - set(DIGEST_KINDS)
        if telecare:
            raise ValueError(
                f"digest {self.name!r} names {', '.join(sorted(k.value for k in telecare))}: "
                "a digest is for housing officers and never carries telecare alerts"
            )
        return self


class Policy(BaseModel):
    """The escalation for some alert kinds on some estates ("*": every estate)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    kinds: tuple[Category, ...] = Field(min_length=1)
    estates: tuple[str, ...] = ("*",)
    telecare: bool = True
    levels: tuple[Level, ...] = Field(min_length=1)
    # Acknowledged but not resolved after this long: told again (None: never).
    ack_timeout_s: float | None = Field(1800.0, gt=0)
    ack_repeats: int = Field(3, ge=0, le=20)
    quiet_hours: QuietHours | None = None

    @model_validator(mode="after")
    def _sound(self) -> Policy:
        if self.telecare and self.quiet_hours is not None:
            raise ValueError(
                f"policy {self.name!r} is a telecare policy with quiet hours: quiet hours are "
                "for housing officers' digests and never apply to telecare"
            )
        telecare_kinds = set(RESPONDER_KINDS) - {Category.LEAK, Category.SMOKE}
        if not self.telecare and telecare_kinds & set(self.kinds):
            raise ValueError(
                f"policy {self.name!r} covers telecare alerts "
                f"({', '.join(sorted(k.value for k in telecare_kinds & set(self.kinds)))}): "
                "set telecare = true"
            )
        for level in self.levels[:-1]:
            if level.repeat:
                raise ValueError(f"policy {self.name!r}: only the last level may repeat")
        return self


class NotifyConfig(BaseModel):
    """The whole file: people, centres, rotas and policies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    people: dict[str, Person] = {}
    centres: dict[str, Centre] = {}
    rotas: tuple[Rota, ...] = ()
    policies: tuple[Policy, ...] = ()
    digests: tuple[Digest, ...] = ()

    @model_validator(mode="after")
    def _references(self) -> NotifyConfig:
        for rota in self.rotas:
            unknown = rota.people() - set(self.people)
            if unknown:
                raise ValueError(f"rota {rota.name!r} names unknown people: {sorted(unknown)}")
        for policy in self.policies:
            for target in (t for level in policy.levels for t in level.to):
                if target.person is not None and target.person not in self.people:
                    raise ValueError(f"policy {policy.name!r} names unknown person {target.person}")
                if target.centre is not None and target.centre not in self.centres:
                    raise ValueError(f"policy {policy.name!r} names unknown centre {target.centre}")
        for digest in self.digests:
            unknown = set(digest.to) - set(self.people)
            if unknown:
                raise ValueError(f"digest {digest.name!r} names unknown people: {sorted(unknown)}")
        return self

    def webhook_addresses(self, hook_url: str | None) -> list[str]:
        """Every webhook address a policy can send to: the settings' webhook (if a policy
        names `hook`), the centres reached by webhook, then the people's, in the file's order."""
        targets = [t for p in self.policies for level in p.levels for t in level.to]
        out = [hook_url] if hook_url and any(t.hook for t in targets) else []
        out += [c.address for c in self.centres.values() if c.channel == "webhook"]
        out += [p.webhook for p in self.people.values() if p.webhook]
        return out

    def policy_for(self, kind: Category, estate: str | None) -> Policy | None:
        """The policy for an alert kind on an estate: one naming the estate, else "*"."""
        for policy in self.policies:
            if kind in policy.kinds and estate is not None and estate in policy.estates:
                return policy
        for policy in self.policies:
            if kind in policy.kinds and "*" in policy.estates:
                return policy
        return None


def _default_policies(arc: str | None = None) -> tuple[Policy, ...]:
    """Fall and the like: the on-call responder (and the settings' webhook, the first level
    only) now; after 60 s unacknowledged, the next responder and the team lead; after 3 more
    minutes the alarm receiving centre `arc` when one is configured, else both responders and
    the lead again, repeated twice more 3 minutes apart. Inactivity asks the tenant first."""
    first = Level(wait_s=0, to=(Target(oncall=1), Target(hook=True)))
    second = Level(wait_s=60, to=(Target(oncall=2), Target(team_lead=True)))
    last_to = (
        (Target(centre=arc),)
        if arc
        else (Target(oncall=1), Target(oncall=2), Target(team_lead=True))
    )
    last = Level(wait_s=180, to=last_to, repeat=2, repeat_every_s=180)
    return (
        Policy(
            name="telecare",
            kinds=(Category.FALL, Category.BUTTON, Category.SMOKE, Category.LEAK),
            levels=(first, second, last),
        ),
        Policy(
            name="inactivity",
            kinds=(Category.INACTIVITY,),
            levels=(
                Level(wait_s=0, to=(Target(devices=True, via=("device_notice",)),)),
                Level(wait_s=600, to=first.to),
                second,
                last,
            ),
        ),
        Policy(name="telecare-device-offline", kinds=(Category.DEVICE_OFFLINE,), levels=(first,)),
    )


def default_config() -> NotifyConfig:
    return NotifyConfig(policies=_default_policies())


def load_config(path: Path | None) -> NotifyConfig:
    """The file's config with the built-in policies behind it (the file's win); ConfigError
    with every problem listed when the file is not valid."""
    if path is None:
        return default_config()
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the notifier's policy file {path}: {exc}") from exc
    try:
        config = NotifyConfig.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"  {'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError(f"invalid policy file {path}:\n" + "\n".join(lines)) from exc
    arc = "arc" if "arc" in config.centres else None
    return config.model_copy(update={"policies": config.policies + _default_policies(arc)})


# -- what a policy means for one alert ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HomeInfo:
    """What the notifier knows of a home: its estate and patch (registry), its devices."""

    id: str
    estate: str | None
    patch: str | None
    devices: tuple[str, ...]


def _level_offsets(policy: Policy) -> Iterator[tuple[int, int, float]]:
    """(level, repeat, seconds after the alert) for every send the policy makes."""
    at = 0.0
    for number, level in enumerate(policy.levels):
        at += level.wait_s
        yield number, 0, at
        every = level.repeat_every_s or max(level.wait_s, 60.0)
        for repeat in range(1, level.repeat + 1):
            yield number, repeat, at + repeat * every


def steps_for(policy: Policy, raised_at: dt.datetime) -> list[Step]:
    """Every escalation job of an alert, created at once so that none depends on another's
    having run: a notifier that dies between levels leaves the later ones in the store."""
    return [
        Step(JobPurpose.ESCALATE, level, repeat, raised_at + dt.timedelta(seconds=offset))
        for level, repeat, offset in _level_offsets(policy)
    ]


def recipients(
    config: NotifyConfig,
    target: Target,
    home: HomeInfo,
    at: dt.datetime,
    *,
    hook_url: str | None,
    notice_topic: str = "hof/v1/{home}/{device}/notice",
) -> list[tuple[str, Recipient]]:
    """(channel, recipient) pairs a target means for a home at a moment; [] when nobody."""
    if target.hook:
        return [("webhook", Recipient("webhook", hook_url))] if hook_url else []
    if target.devices:
        return [
            ("device_notice", Recipient(device, notice_topic.format(home=home.id, device=device)))
            for device in home.devices
        ]
    if target.centre is not None:
        centre = config.centres[target.centre]
        return [(centre.channel, Recipient(centre.name, centre.address))]
    names: tuple[str, ...] = ()
    if target.person is not None:
        names = (target.person,)
    else:
        rota = rota_for(config.rotas, home.patch)
        if rota is not None and target.oncall is not None:
            people = on_call(rota, at)
            names = people[target.oncall - 1 : target.oncall]
        elif rota is not None and target.team_lead and rota.team_lead:
            names = (rota.team_lead,)
    out: list[tuple[str, Recipient]] = []
    for name in names:
        person = config.people[name]
        for channel in target.via:
            address = person.address(channel)
            if address:
                out.append((channel, Recipient(person.name, address)))
    return out
