"""Subject access, erasure, the purge of a withdrawn stream and retention, against the real
InfluxDB and an alert store migrated to head (SQLite here; the same SQL runs on PostgreSQL)."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from hofsupport import Device, Watcher, influx_query

from hof.alertstore import AlertStore, migrate
from hof.alertstore import notifications as n
from hof.alertstore.models import AlertHistory
from hof.consent import Stream
from hof.registry import HomeIn, upsert_homes
from hof.registry.carers import name_carer
from hof.registry.consent import ConsentIn, current_consents, record_consents
from hof.registry.models import User
from hof.rights.operations import erase_home, expire, export_home, purge_withdrawn
from hof.rights.records import Actor, audit
from hof.settings import Settings

ADMIN = Actor("admin@example.org", role="admin", via="cli")


@pytest.fixture
def rights_settings(settings: Settings, tmp_path: Path) -> Settings:
    """The session's InfluxDB, a fresh alert store, and no broker to tell (state_dir apart)."""
    store = settings.alertstore.model_copy(update={"url": f"sqlite:///{tmp_path / 'a.sqlite3'}"})
    mqtt = settings.mqtt.model_copy(update={"timeout_s": 1.0})
    return settings.model_copy(update={"alertstore": store, "state_dir": tmp_path, "mqtt": mqtt})


@pytest.fixture
def store(rights_settings: Settings) -> Iterator[AlertStore]:
    assert rights_settings.alertstore.url is not None
    migrate(rights_settings.alertstore.url)
    opened = AlertStore.from_settings(rights_settings)
    yield opened
    opened.close()


def write(settings: Settings, lines: list[str]) -> None:
    assert settings.influx.password is not None
    response = httpx.post(
        f"{settings.influx.url}/write",
        params={"db": settings.influx.database, "precision": "ms"},
        content="\n".join(lines).encode(),
        auth=(settings.influx.username or "", settings.influx.password.get_secret_value()),
        timeout=10,
    )
    assert response.status_code == 204, response.text


def furnish(settings: Settings, store: AlertStore, home: str, temperature: float) -> int:
    """A registered home with readings, a movement, a fall alert notified, and a view audited."""
    upsert_homes(store.engine, [HomeIn(id=home, reference=f"R-{home}", address=f"{home} Road")])
    now = int(time.time() * 1000)
    write(
        settings,
        [
            f"reading,device=env-1,home={home},room=bedroom temperature={temperature},"
            f"humidity=61.5 {now - 60_000}",
            f"reading,device=env-1,home={home},room=bedroom temperature={temperature + 1},"
            f"humidity=62.5 {now - 30_000}",
            f"event,device=tc-1,home={home} motion=true {now - 20_000}",
            f'event,device=tc-1,home={home} fall="detected",leak=false {now - 10_000}',
        ],
    )
    alert = store.raise_or_update(
        home=home,
        rule="fall",
        rule_version=1,
        category="fall",
        audience="responder",
        severity="emergency",
        summary=f"Fall detected in {home}.",
    ).alert
    with n.transaction(store.engine) as session:
        n.record_attempt(
            session,
            alert_id=alert.id,
            job_id=None,
            level=0,
            repeat=0,
            channel="email",
            recipient_name="Responder",
            recipient_address="responder@example.org",
            attempt=1,
            status="sent",
            detail="250 OK",
            provider_ref=None,
            idempotency_key=f"k-{home}",
            at=dt.datetime.now(dt.UTC),
        )
    viewer = Actor("officer@example.org", role="responder", via="page")
    audit(store.engine, viewer, "view_home", home, {})
    # A named carer: who could see the home's health data is held about the home too.
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(User).values(
                email=f"carer-{home}@example.org".lower(),
                name="Named Carer",
                role="responder",
                patches=[],
                password_hash="not-a-hash",
                active=True,
                failed_logins=0,
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    name_carer(
        store.engine,
        home,
        f"carer-{home}@example.org",
        relationship="daughter",
        recorded_by="admin@example.org",
    )
    return alert.id


def test_the_export_holds_the_homes_readings_alerts_and_audit_and_nothing_of_another(
    rights_settings: Settings, store: AlertStore, home_id: str
) -> None:
    mine, other = f"{home_id}-a", f"{home_id}-b"
    furnish(rights_settings, store, mine, 18.25)
    furnish(rights_settings, store, other, 23.75)
    bundle = asyncio.run(export_home(rights_settings, store.engine, mine, ADMIN))
    with zipfile.ZipFile(io.BytesIO(bundle)) as z:
        files = {name: z.read(name).decode() for name in z.namelist()}
    assert mine in files["README.txt"]
    readings = list(csv.DictReader(io.StringIO(files["readings/reading.csv"])))
    assert [r["temperature"] for r in readings] == ["18.25", "19.25"]
    assert readings[0]["room"] == "bedroom"
    events = files["readings/event.csv"]
    assert "detected" in events
    assert ",true" in events
    assert f"Fall detected in {mine}." in files["alerts.csv"]
    assert "raised" in files["alert_history.csv"]
    assert "responder@example.org" in files["notifications.csv"]
    audit_rows = list(csv.DictReader(io.StringIO(files["audit.csv"])))
    assert [r["action"] for r in audit_rows] == ["view_home", "subject_access_export"]
    assert f"{mine} Road" in files["home.csv"]
    carers = list(csv.DictReader(io.StringIO(files["carers.csv"])))
    assert [(c["carer_email"], c["relationship"]) for c in carers] == [
        (f"carer-{mine}@example.org".lower(), "daughter")
    ]
    # Nothing of the other home, in any file.
    for name, text in files.items():
        assert other not in text, name
        # The other home's reading as a number of its own, not the digits of a time of day
        # ("04:53:23.752935" failed this once when it was a plain substring test).
        assert not re.search(r"(?<![\d:.])23\.75(?!\d)", text), name


def test_an_erasure_removes_the_home_and_a_second_reports_nothing_left(
    rights_settings: Settings,
    store: AlertStore,
    home_id: str,
    device: Callable[[str], Device],
    watcher: Callable[[str], Watcher],
) -> None:
    kept = f"{home_id}-kept"
    # The broker holds the home's devices' retained status and config too.
    env = device("env-1")
    env.publish("status", '{"state":"online","fw":"1.0.0"}', retain=True)
    env.configure('{"rooms":{"env-1":"bedroom"}}')
    furnish(rights_settings, store, home_id, 19.0)
    furnish(rights_settings, store, kept, 19.0)
    record_consents(
        store.engine,
        [ConsentIn(home=home_id, stream=Stream.ACTIVITY, granted=True)],
        recorded_by="admin@example.org",
    )
    first = asyncio.run(erase_home(rights_settings, store.engine, home_id, ADMIN, "tenant asked"))
    assert first.points == {"reading": 2, "event": 2}
    assert first.retained == 2
    retained = watcher(f"hof/v1/{home_id}/#")
    time.sleep(0.5)
    assert [m for m in retained.messages if m[1]] == []
    assert first.rows == {
        "alert_history": 1,
        "notifications": 1,
        "alerts": 1,
        "consent": 1,
        "carers": 1,
        "home_condition": 1,
        "home": 1,
    }
    q = f"SELECT count(*) FROM reading, event WHERE \"home\"::tag = '{home_id}'"
    assert influx_query(rights_settings, q) == []
    with store.engine.connect() as conn:
        for table in ("home", "alert", "home_consent", "home_carer", "home_condition"):
            column = "id" if table == "home" else "home"
            held = conn.execute(
                sa.text(f"SELECT count(*) FROM {table} WHERE {column} = :h"), {"h": home_id}
            )
            assert held.scalar() == 0, table
        # What the law needs stays: that it happened, why, by whom; no readings or address.
        (erased,) = conn.execute(
            sa.text("SELECT actor, detail FROM audit_event WHERE home = :h AND action = 'erase'"),
            {"h": home_id},
        ).all()
        assert erased[0] == "admin@example.org"
        assert "tenant asked" in str(erased[1])
        # The other home is untouched.
        assert (
            conn.execute(
                sa.text("SELECT count(*) FROM alert WHERE home = :h"), {"h": kept}
            ).scalar()
            == 1
        )
    q_kept = f"SELECT count(temperature) FROM reading WHERE \"home\"::tag = '{kept}'"
    assert influx_query(rights_settings, q_kept)[0]["values"][0][1] == 2
    second = asyncio.run(erase_home(rights_settings, store.engine, home_id, ADMIN, "again"))
    assert second.nothing_left
    assert (second.points, second.rows) == ({}, {})


def test_alert_history_stays_append_only_outside_an_erasure(
    store: AlertStore, home_id: str
) -> None:
    store.raise_or_update(
        home=home_id,
        rule="fall",
        rule_version=1,
        category="fall",
        audience="responder",
        severity="emergency",
        summary="Fall.",
    )
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), store.engine.begin() as conn:
        conn.execute(sa.delete(AlertHistory))


def test_a_withdrawal_purges_that_streams_values_and_keeps_the_rest(
    rights_settings: Settings, store: AlertStore, home_id: str
) -> None:
    furnish(rights_settings, store, home_id, 20.0)
    record_consents(
        store.engine,
        [ConsentIn(home=home_id, stream=Stream.ACTIVITY, granted=True)],
        recorded_by="admin@example.org",
    )
    record_consents(
        store.engine,
        [ConsentIn(home=home_id, stream=Stream.ACTIVITY, granted=False, note="moved to care")],
        recorded_by="admin@example.org",
    )
    current = current_consents(store.engine, [home_id])[home_id][Stream.ACTIVITY]
    assert (current.granted, current.purged_at) == (False, None)
    done = asyncio.run(purge_withdrawn(rights_settings, store.engine))
    assert done == {f"{home_id}/activity": 1}
    home = f"\"home\"::tag = '{home_id}'"
    assert influx_query(rights_settings, f"SELECT count(motion) FROM event WHERE {home}") == []
    fall = influx_query(rights_settings, f"SELECT fall, leak FROM event WHERE {home}")
    assert fall[0]["values"][0][1:] == ["detected", False]  # the other stream's values stay
    temps = influx_query(rights_settings, f"SELECT temperature FROM reading WHERE {home}")
    assert [v[1] for v in temps[0]["values"]] == [20.0, 21.0]
    assert asyncio.run(purge_withdrawn(rights_settings, store.engine)) == {}  # done once


def test_retention_keeps_hourly_means_of_raw_readings_past_their_period(
    rights_settings: Settings, store: AlertStore, home_id: str
) -> None:
    rights = rights_settings.rights.model_copy(
        update={"environment_raw_days": 2 / 24, "events_raw_days": 2 / 24}
    )
    short = rights_settings.model_copy(update={"rights": rights})
    hour = int(time.time() // 3600) * 3600
    old = hour - 5 * 3600  # a whole hour, well past the two-hour period
    lines = [
        f"reading,device=env-1,home={home_id},room=hall temperature={t},humidity=50.0 "
        f"{(old + i * 600) * 1000}"
        for i, t in enumerate((16.0, 17.0, 18.0))
    ]
    lines.append(
        f"reading,device=env-1,home={home_id},room=hall temperature=21.0,humidity=50.0 "
        f"{int(time.time() * 1000) - 60_000}"
    )
    lines.append(f"event,device=tc-1,home={home_id} motion=true {(old + 60) * 1000}")
    write(short, lines)
    report = asyncio.run(expire(short, store.engine))
    assert report.downsampled["reading"] >= 1
    home = f"\"home\"::tag = '{home_id}'"
    raw = influx_query(short, f"SELECT temperature FROM reading WHERE {home}")
    assert [v[1] for v in raw[0]["values"]] == [21.0]  # only the recent one is raw
    hourly = influx_query(short, f"SELECT mean_temperature, room FROM reading_hourly WHERE {home}")
    assert hourly[0]["values"] == [[old * 1000, 17.0, "hall"]]
    counts = influx_query(short, f"SELECT count_motion FROM event_hourly WHERE {home}")
    assert counts[0]["values"] == [[old * 1000, 1]]
    assert influx_query(short, f"SELECT count(motion) FROM event WHERE {home}") == []
