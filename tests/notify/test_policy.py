"""Escalation policies as data: validated at start-up, the built-in default, steps, recipients."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from hof.alertstore import Category
from hof.errors import ConfigError
from notify.policy import HomeInfo, default_config, load_config, recipients, steps_for

POLICY = """
[people.sam]
name = "Sam Responder"
email = "sam@example.org"
phone = "07700900123"
[people.alex]
name = "Alex Next"
email = "alex@example.org"
[people.jo]
name = "Jo Lead"
email = "jo@example.org"
webhook = "http://127.0.0.1:9/jo"

[centres.arc]
name = "Northern ARC"
address = "sip:arc@127.0.0.1:5060"

[[rotas]]
name = "north"
patches = ["North"]
team_lead = "jo"
[[rotas.shifts]]
start = "00:00"
end = "00:00"
people = ["sam", "alex"]

[[policies]]
name = "fast-fall"
kinds = ["fall"]
estates = ["Riverside"]
ack_timeout_s = 5
[[policies.levels]]
wait_s = 0
to = [{ oncall = 1, via = ["email"] }]
[[policies.levels]]
wait_s = 2
to = [{ oncall = 2, via = ["email"] }, { team_lead = true, via = ["email", "webhook"] }]
[[policies.levels]]
wait_s = 2
to = [{ centre = "arc" }]
repeat = 2
repeat_every_s = 1
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "notify.toml"
    path.write_text(text)
    return path


def test_a_policy_file_loads_with_the_defaults_behind_it(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, POLICY))
    fast = config.policy_for(Category.FALL, "Riverside")
    assert fast is not None
    assert fast.name == "fast-fall"
    other = config.policy_for(Category.FALL, "Elsewhere")
    assert other is not None
    assert other.name == "telecare"
    assert other.levels[-1].to[0].centre == "arc", "the default's last level is the ARC"
    for kind in (Category.BUTTON, Category.INACTIVITY, Category.DEVICE_OFFLINE):
        assert config.policy_for(kind, None) is not None


def test_steps_cover_every_level_and_repeat_at_their_times(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, POLICY))
    policy = config.policy_for(Category.FALL, "Riverside")
    assert policy is not None
    t0 = dt.datetime(2026, 3, 29, 0, 59, tzinfo=dt.UTC)
    steps = steps_for(policy, t0)
    assert [(s.level, s.repeat, (s.due_at - t0).total_seconds()) for s in steps] == [
        (0, 0, 0.0),
        (1, 0, 2.0),
        (2, 0, 4.0),
        (2, 1, 5.0),
        (2, 2, 6.0),
    ]


def test_recipients_resolve_rota_lead_centre_and_devices(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, POLICY))
    policy = config.policy_for(Category.FALL, "Riverside")
    assert policy is not None
    home = HomeInfo("H-1", "Riverside", "North", ("wear-1", "hub-1"))
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    first = [r for t in policy.levels[0].to for r in recipients(config, t, home, at, hook_url=None)]
    assert [(c, r.name, r.address) for c, r in first] == [
        ("email", "Sam Responder", "sam@example.org")
    ]
    second = [
        (c, r.address)
        for t in policy.levels[1].to
        for c, r in recipients(config, t, home, at, hook_url=None)
    ]
    assert second == [
        ("email", "alex@example.org"),
        ("email", "jo@example.org"),
        ("webhook", "http://127.0.0.1:9/jo"),
    ]
    (centre,) = recipients(config, policy.levels[2].to[0], home, at, hook_url=None)
    assert centre[0] == "scaip"
    check = config.policy_for(Category.INACTIVITY, "Riverside")
    assert check is not None
    notices = recipients(config, check.levels[0].to[0], home, at, hook_url=None)
    assert [(c, r.address) for c, r in notices] == [
        ("device_notice", "hof/v1/H-1/wear-1/notice"),
        ("device_notice", "hof/v1/H-1/hub-1/notice"),
    ]


def test_the_default_posts_to_the_settings_webhook_at_the_first_level_only() -> None:
    config = default_config()
    policy = config.policy_for(Category.FALL, None)
    assert policy is not None
    home = HomeInfo("H-1", None, None, ())
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    sent = [
        [r for t in level.to for r in recipients(config, t, home, at, hook_url="http://h/alert")]
        for level in policy.levels
    ]
    assert [[(c, r.address) for c, r in level] for level in sent] == [
        [("webhook", "http://h/alert")],
        [],
        [],
    ]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[[policies]]\nname="t"\nkinds=["fall"]\nquiet_hours={start="22:00",end="07:00"}\n'
            '[[policies.levels]]\nwait_s=0\nto=[{person="sam"}]\n',
            "never apply to telecare",
        ),
        (
            '[[policies]]\nname="t"\nkinds=["fall"]\ntelecare=false\n'
            '[[policies.levels]]\nwait_s=0\nto=[{person="sam"}]\n',
            "set telecare = true",
        ),
        (
            '[[policies]]\nname="t"\nkinds=["leak"]\n'
            '[[policies.levels]]\nwait_s=0\nto=[{person="nobody"}]\n',
            "unknown person",
        ),
        (
            '[[policies]]\nname="t"\nkinds=["leak"]\n'
            '[[policies.levels]]\nwait_s=0\nrepeat=2\nto=[{person="sam"}]\n'
            '[[policies.levels]]\nwait_s=1\nto=[{person="sam"}]\n',
            "only the last level may repeat",
        ),
        (
            '[[policies]]\nname="t"\nkinds=["leak"]\n'
            '[[policies.levels]]\nwait_s=0\nto=[{person="sam", oncall=1}]\n',
            "exactly one of",
        ),
        ('[[rotas]]\nname="r"\nteam_lead="ghost"\n', "unknown people"),
    ],
)
def test_bad_policy_files_are_refused_at_start_up(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, '[people.sam]\nname = "Sam"\n' + extra))


def test_a_housing_officer_policy_may_have_quiet_hours(tmp_path: Path) -> None:
    text = (
        '[people.o]\nname = "Officer"\nemail = "o@example.org"\n'
        '[[policies]]\nname="digest"\nkinds=["damp_mould"]\ntelecare=false\n'
        'quiet_hours={start="18:00",end="08:00"}\n'
        '[[policies.levels]]\nwait_s=0\nto=[{person="o", via=["email"]}]\n'
    )
    policy = load_config(_write(tmp_path, text)).policy_for(Category.DAMP_MOULD, None)
    assert policy is not None
    assert policy.quiet_hours is not None
