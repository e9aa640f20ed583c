"""One settings model for every process: `HOF_` environment variables, a TOML file, the local stack.

Precedence, highest first: arguments, environment (`HOF_MQTT__PORT=1884`), the TOML file named by
`HOF_CONFIG` (or `./hof.toml` when present), the endpoints that `hof stack up` wrote to
`{state_dir}/stack/endpoints.json`, then the defaults below.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from hof.errors import ConfigError

__all__ = [
    "AlertStoreSettings",
    "AlertsSettings",
    "ContractSettings",
    "DashboardSettings",
    "DeviceListenerSettings",
    "EscalationStep",
    "GatewaySettings",
    "GovNotifySettings",
    "InfluxSettings",
    "IngestSettings",
    "MqttSettings",
    "NatsSettings",
    "NotifySettings",
    "RightsSettings",
    "ScaipSettings",
    "Settings",
    "SimulatorSettings",
    "StackSettings",
    "endpoints_path",
    "load_settings",
    "readable",
]

PLAIN_MQTT_PORT = 1883  # IANA's port for MQTT without TLS; 8883 is MQTT over TLS
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "password", "secret", "admin"})


class MqttSettings(BaseModel):
    """How a process reaches the platform broker."""

    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    timeout_s: float = Field(10.0, gt=0)
    # "3.1.1" for a broker that speaks no MQTT 5, such as NATS's MQTT listener (broker "nats"):
    # no Receive Maximum, session expiry or Retain As Published then (docs/scaling.md).
    protocol: Literal["5", "3.1.1"] = "5"


class NatsSettings(BaseModel):
    """The clustered platform broker (docs/scaling.md): which one the services consume from.

    `broker = "mosquitto"` (the default): ingest reads its MQTT session on `mqtt`. "nats":
    ingest reads durable JetStream consumers on `servers` (on the stream where NATS stores
    devices' QoS 1 publishes before it acknowledges them); devices, gateways and the other
    services reach the cluster's MQTT listeners through `mqtt` (protocol "3.1.1").
    """

    broker: Literal["mosquitto", "nats"] = "mosquitto"
    servers: list[str] = ["nats://127.0.0.1:4222"]
    username: str | None = None
    password: SecretStr | None = None
    # Copies of NATS's MQTT stream (`$MQTT_msgs`) when ingest creates it (equal to the nodes'
    # mqtt.stream_replicas), kept by RAFT: 3 survives the loss of a node; its consumers as many.
    replicas: int = Field(3, ge=1, le=5)
    # How long that stream keeps every device's QoS 1 publish (limits retention): ingest may be
    # down or behind this long without a loss.
    stream_max_age_s: float = Field(86_400.0, gt=0)
    # The bound on messages delivered and not yet acknowledged (stored), per consumer (ingest
    # has one for readings and one for events): backpressure.
    max_ack_pending: int = Field(2000, ge=1)
    # Redelivered when not acknowledged within this long (a worker that died holding it).
    ack_wait_s: float = Field(30.0, gt=0)
    timeout_s: float = Field(5.0, gt=0)


class InfluxSettings(BaseModel):
    """How a process reaches InfluxDB through its 1.x-compatible HTTP API."""

    url: str = "http://127.0.0.1:8086"
    database: str = "hof"
    username: str | None = None
    password: SecretStr | None = None
    timeout_s: float = Field(10.0, gt=0)


class ContractSettings(BaseModel):
    """Bounds on what the contract accepts that are the platform's choice, not the contract's."""

    min_time: float = 1_420_070_400.0
    max_future_s: float = Field(600.0, ge=0)


class IngestSettings(BaseModel):
    """The ingest worker: its MQTT session, batching and metrics endpoint."""

    client_id: str = "hof-ingest-1"
    # MQTT 5 shared subscription group, so several workers split the stream; set the same one
    # on every worker when there is more than one. Empty (the default): a plain subscription
    # for a single worker. Mosquitto 2.0.11 restores a persistent session's plain subscription
    # after a broker restart but not a shared one, so with a share group a message published
    # between the broker's restart and the workers' return is dropped (docs/storage.md).
    share_group: str = ""
    # MQTT 5 Receive Maximum: how many unacknowledged messages the broker may send us. It is
    # the bound on everything ingest holds in memory, since nothing is acknowledged until stored.
    receive_maximum: int = Field(2000, ge=1, le=65535)
    session_expiry_s: int = Field(7 * 24 * 3600, ge=0)
    batch_max_points: int = Field(5000, ge=1)
    flush_interval_s: float = Field(0.5, gt=0)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(0, ge=0, le=65535)
    # The worker's CPU priority, as nice(1) (0-19, higher yields more): bulk readings yield
    # the CPU to the telecare path when a machine is full (docs/notify.md, "A process of its
    # own for the telecare rules"), also against other sessions' processes (hof/cpu.py: an
    # autogroup of its own). The demo and deploy/systemd set 10; 0 leaves it as is.
    nice: int = Field(0, ge=0, le=19)


class AlertsSettings(BaseModel):
    """The rules engine worker: its MQTT session and how often it checks for silence."""

    client_id: str = "hof-alerts-1"
    # Which rules this worker judges. "all": every rule (one process, the one-box default).
    # "telecare": only the telecare events (fall, help button, leak, smoke, tamper) on the
    # event channel, with no state to rebuild; "rest": every rule but those. A "telecare"
    # worker beside a "rest" one keeps a fall off the process that judges every reading: in
    # a burst of readings that process is never idle, and a fall waited for its CPU and GIL
    # (docs/notify.md, "A process of its own for the telecare rules"). Run exactly one of each
    # (or one pool of each, with different share groups), never "all" beside either.
    rules: Literal["all", "telecare", "rest"] = "all"
    # Several workers: the same non-empty group on each, and they split the homes between
    # them (a rendezvous hash over the live members, docs/rules.md "Scaling"). Every worker
    # still subscribes plainly to the whole stream; MQTT's $share is never used for rules,
    # because a room's and a device's state must live in one worker.
    share_group: str = ""
    # A pool member's heartbeat, and the silence after which the others take its homes (a
    # killed worker's last will hands them over at once).
    heartbeat_s: float = Field(1.0, gt=0)
    member_timeout_s: float = Field(5.0, gt=0)
    # Messages of other workers' homes kept this long, so that a worker taking over a home
    # replays what its owner may have taken to its grave (a fall above all).
    handover_window_s: float = Field(30.0, ge=0)
    receive_maximum: int = Field(1000, ge=1, le=65535)
    session_expiry_s: int = Field(7 * 24 * 3600, ge=0)
    # Offline checks run this often, so a grace period fires within seconds of ending.
    tick_s: float = Field(2.0, gt=0)
    # History read at start-up to rebuild the 24-hour windows (rule state survives restarts).
    history_hours: float = Field(25.0, ge=0)
    # Hourly history integrated at start-up to rebuild each room's mould index, which grows
    # and declines over weeks.
    mould_history_days: float = Field(60.0, ge=0)
    thresholds_file: Path | None = None
    # The outdoor temperature where no outdoor sensor reports: a weather service speaking
    # Open-Meteo's forecast API (e.g. https://api.open-meteo.com), polled every
    # `weather_poll_s` for the estate's position (default Leeds). None: sensors only.
    weather_url: str | None = None
    latitude: float = Field(53.80, ge=-90, le=90)
    longitude: float = Field(-1.55, ge=-180, le=180)
    weather_poll_s: float = Field(1800.0, ge=10)
    # Per-home, per-room and per-tenant overrides of the thresholds (alerts/overrides.py).
    overrides_file: Path | None = None
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(0, ge=0, le=65535)
    # The worker's CPU priority, as nice(1): 10 for a "rest" worker beside a "telecare" one
    # in the demo and deploy/systemd, so that judging readings yields the CPU to a fall (and,
    # in an autogroup of its own, to the broker and the database: hof/cpu.py).
    nice: int = Field(0, ge=0, le=19)


class GatewaySettings(BaseModel):
    """The home gateway: the home's broker, its durable queue, and local telecare escalation.

    The uplink is `mqtt` (the platform broker), with this home's own credential: username = home.
    """

    home: str | None = None
    client_id: str = "gateway"
    local: MqttSettings = MqttSettings()
    # None means {state_dir}/gateway/queue.sqlite.
    queue_path: Path | None = None
    # Bound on queued records (~4 weeks of a home of 10 sensors every 5 minutes); past it the
    # oldest routine readings are dropped and counted, never events.
    queue_max_records: int = Field(500_000, ge=10)
    commit_max_messages: int = Field(5000, ge=1)
    commit_interval_s: float = Field(0.05, gt=0)
    forward_chunk_records: int = Field(5000, ge=1)
    publish_window: int = Field(16, ge=1, le=100)
    receive_maximum: int = Field(1000, ge=1, le=65535)
    session_expiry_s: int = Field(7 * 24 * 3600, ge=0)
    # A device is offline once silent for this many of its intervals (config `interval_s`).
    offline_after_intervals: float = Field(3.0, gt=0)
    default_interval_s: float = Field(300.0, gt=0)
    status_interval_s: float = Field(30.0, gt=0)
    # Local telecare escalation: a command (argv) and/or a webhook URL, used when a fall, a
    # button press, smoke or a leak cannot reach the platform within escalate_after_s.
    escalation_command: list[str] | None = None
    escalation_webhook: str | None = None
    escalation_timeout_s: float = Field(10.0, gt=0)
    escalate_after_s: float = Field(10.0, ge=0)
    # Each route is tried this many times, the wait doubling from escalation_backoff_s.
    escalation_attempts: int = Field(3, ge=1, le=10)
    escalation_backoff_s: float = Field(1.0, gt=0, le=60)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(0, ge=0, le=65535)


class DeviceListenerSettings(BaseModel):
    """Where devices and home gateways reach the platform broker: its devices' listener, which
    `hof provision` writes into a device's config. Unset host or port: those of `mqtt`."""

    host: str | None = None
    port: int | None = Field(None, ge=1, le=65535)
    tls: bool = False


class SimulatorSettings(BaseModel):
    """The simulated estate's own broker credential (it plays the devices)."""

    mqtt_username: str | None = None
    mqtt_password: SecretStr | None = None


class StackSettings(BaseModel):
    """The local stack `hof stack up` runs: ports (0 picks a free one) and binaries."""

    mosquitto_port: int = Field(0, ge=0, le=65535)  # devices' listener
    mosquitto_platform_port: int = Field(0, ge=0, le=65535)  # services' listener
    influx_port: int = Field(0, ge=0, le=65535)
    mosquitto_bin: str = "mosquitto"
    mosquitto_passwd_bin: str = "mosquitto_passwd"
    influxd_bin: str = "influxd"
    start_timeout_s: float = Field(60.0, gt=0)


class AlertStoreSettings(BaseModel):
    """The alert store: where it lives and the case policies the landlord sets."""

    # None means the embedded default, a SQLite file under state_dir; production names
    # PostgreSQL here, e.g. postgresql+psycopg://hof@db.example/hof.
    url: str | None = None
    # The database's password, kept out of the URL so that `hof config` can show the URL.
    password: SecretStr | None = None
    # An environmental alert that cleared itself and returns within this window reopens the
    # same case instead of starting a new one (and new legal clocks).
    reopen_window_s: float = Field(72 * 3600.0, ge=0)
    # Awaab's Law clocks start when the landlord becomes aware: when the sensor alert is
    # raised, or when an officer confirms it, as the landlord's policy says.
    aware_from: Literal["raised", "confirmed"] = "raised"
    # How long a SQLite writer waits for another to finish before giving up.
    sqlite_busy_timeout_s: float = Field(30.0, gt=0)
    page_size_max: int = Field(500, ge=1)

    @model_validator(mode="after")
    def _no_password_in_url(self) -> AlertStoreSettings:
        from urllib.parse import urlsplit

        if self.url is not None and urlsplit(self.url).password is not None:
            raise ValueError(
                "alertstore.url holds a password: put it in alertstore.password "
                "(HOF_ALERTSTORE__PASSWORD) so that it stays secret"
            )
        return self


class EscalationStep(BaseModel):
    """Who an unacknowledged responder alert goes to, and how long after it was raised."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    after_s: float = Field(ge=0)
    to: str = Field(min_length=1, max_length=100)


class DashboardSettings(BaseModel):
    """The dashboard: where it listens, its sessions, and how fresh its estate summary is."""

    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)  # 0 picks a free port (tests)
    client_id: str = "dashboard"  # names this instance in STATE_DIR/run for `hof status`
    # Served over HTTPS: the session cookie is Secure and Strict-Transport-Security is sent.
    # None means on in production (environment = "production") and off otherwise.
    secure_cookies: bool | None = None
    hsts_max_age_s: int = Field(365 * 86400, ge=0)
    session_idle_s: float = Field(30 * 60.0, gt=0)  # signed out after this long unused
    session_max_s: float = Field(12 * 3600.0, gt=0)  # and after a working day at most
    login_attempts: int = Field(5, ge=1)  # wrong passwords in a row before a lock
    login_lock_s: float = Field(15 * 60.0, ge=0)
    # Sign-in tries per client address, a token bucket in each dashboard process.
    sign_in_burst: int = Field(10, ge=1)
    sign_in_per_minute: float = Field(6.0, ge=0)
    # Request bodies: refused with 413 past these (the homes CSV upload has its own bound).
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(32 * 1024 * 1024, ge=1024)
    # /metrics asks for 'Authorization: Bearer <token>' when one is set; without one it
    # answers loopback clients only, and nobody in production.
    metrics_token: SecretStr | None = None
    # How often the estate summary is recomputed from the alert store (cases, devices offline),
    # and from InfluxDB (hours cold or hot this week, mould index, last reading): heavier.
    refresh_s: float = Field(60.0, gt=0)
    climate_refresh_s: float = Field(600.0, gt=0)
    # A climate pass reads each clock hour when it ends, once more `climate_recheck_h` later
    # (late points), and again when its last read is `climate_rebuild_s` old (a gateway's
    # queue delivered after an outage).
    climate_recheck_h: int = Field(2, ge=0, le=168)
    climate_rebuild_s: float = Field(86_400.0, gt=0)
    # How often the live alert queue looks for changes in the alert store.
    live_poll_s: float = Field(1.0, gt=0)
    # How long the devices page reuses a scan of the in-memory fleet for the same patches.
    fleet_scan_s: float = Field(10.0, ge=0)
    page_size: int = Field(50, ge=1, le=500)
    # Thresholds the overview's hours-too-cold/hot count against (DOMAIN.md: 18 C for health,
    # 26 C a night-time overheating mark).
    cold_c: float = 18.0
    hot_c: float = 26.0
    # The escalation ladder shown for responder alerts until someone acknowledges.
    escalation: tuple[EscalationStep, ...] = (
        EscalationStep(after_s=0, to="on-duty responder"),
        EscalationStep(after_s=120, to="team lead"),
        EscalationStep(after_s=600, to="duty manager"),
    )


class GovNotifySettings(BaseModel):
    """GOV.UK Notify text messages and emails (notify/channels/notify_gov.py); no API key: off.

    Each template has the placeholders ((subject)) and ((body)). The callback tokens are the
    bearer tokens set on Notify's Callbacks page for delivery receipts and received texts.
    """

    api_key: SecretStr | None = None  # {key_name}-{service_id}-{secret}
    sms_template_id: str = ""
    email_template_id: str = ""
    base_url: str = "https://api.notifications.service.gov.uk"
    timeout_s: float = Field(10.0, gt=0)
    sms_sender_id: str | None = None
    email_reply_to_id: str | None = None
    callback_token: SecretStr | None = None
    inbound_token: SecretStr | None = None


class ScaipSettings(BaseModel):
    """The alarm receiving centre over SCAIP (notify/channels/scaip.py); no host: off."""

    arc_host: str | None = None
    arc_port: int = Field(5060, ge=1, le=65535)
    arc_user: str = "arc"
    controller_id: str = Field("1", pattern=r"^[0-9]{1,16}$")  # cid: this platform to the ARC
    local_host: str = "127.0.0.1"  # the address the ARC answers to
    local_port: int = Field(0, ge=0, le=65535)
    timeout_s: float = Field(8.0, gt=0)
    mrs_wait_s: float = Field(3.0, ge=0)
    heartbeat_s: float = Field(300.0, ge=0)  # 0: no heartbeats


class NotifySettings(BaseModel):
    """The notifier (`hof notify`): policies, channels, the acknowledgement link, timing."""

    client_id: str = "hof-notify-1"
    # Escalation policies, people, centres and rotas (TOML, docs/notify.md); None: the
    # built-in default policy, which tells only `webhook_url` until people are configured.
    policy_file: Path | None = None
    # A webhook told of every responder alert at the default policy's first level: the one
    # variable a third-party harness sets (HOF_NOTIFY__WEBHOOK_URL).
    webhook_url: str | None = None
    # HMAC-SHA256 key of the webhook's X-Hof-Signature, and of the acknowledgement links.
    # None: a random key made once and kept owner-only under STATE_DIR/notify/.
    webhook_secret: SecretStr | None = None
    ack_secret: SecretStr | None = None
    ack_ttl_s: float = Field(24 * 3600.0, gt=0)
    # The acknowledgement link's app; `public_url` is the address people open (e.g. behind a
    # TLS proxy); None: http://{http_host}:{http_port}.
    http_host: str = "127.0.0.1"
    http_port: int = Field(8090, ge=0, le=65535)  # 0 picks a free port (tests)
    public_url: str | None = None
    webhook_timeout_s: float = Field(5.0, gt=0)
    # Connections kept open to each webhook receiver the policies name (`webhook_url`, a
    # centre's, a person's), so that a fall's POST needs no new one; 0: opened when needed.
    webhook_warm: int = Field(4, ge=0, le=16)
    # SMTP with STARTTLS (the landlord's relay); no host: no email.
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_ca_file: Path | None = None  # a private CA (tests, a relay with its own certificate)
    smtp_from: str = "House of the Future <alerts@localhost>"
    smtp_timeout_s: float = Field(10.0, gt=0)
    # One channel's failing recipient is tried this many times, backing off from
    # `retry_backoff_s` (doubling), and then recorded as failed; the others are not held up.
    attempts: int = Field(3, ge=1, le=10)
    retry_backoff_s: float = Field(0.5, ge=0)
    # How often the store is looked at for new alerts and due jobs (an event on MQTT also
    # wakes it at once), and how long a claimed job is held before another notifier may take it.
    poll_s: float = Field(0.2, gt=0)
    # On SQLite, hear of a raised alert from the store's own commit too (inotify), not only
    # from the rules engine's MQTT message (notify/storewatch.py). Off where inotify sees no
    # other machine's writes (a network file system) or to test the MQTT path alone.
    watch_store: bool = True
    lease_s: float = Field(60.0, gt=1)
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(0, ge=0, le=65535)
    gov_notify: GovNotifySettings = GovNotifySettings()
    scaip: ScaipSettings = ScaipSettings()


def endpoints_path(state_dir: Path) -> Path:
    """Where `hof stack up` records the endpoints and credentials of the stack it started."""
    return state_dir / "stack" / "endpoints.json"


class RightsSettings(BaseModel):
    """Tenants' data rights: consent defaults and retention (docs/data-protection.md)."""

    # Streams collected for a home whose consent is not recorded: environment only, under the
    # landlord's legal obligation to keep the home fit to live in (repairs, damp and mould);
    # activity and telecare are health-related and need the tenant's recorded consent.
    unrecorded: list[Literal["environment", "activity", "telecare"]] = ["environment"]
    # Raw readings (`reading`) are kept this long, then only their hourly means.
    environment_raw_days: float = Field(396.0, gt=0)  # 13 months: a year's seasons and a month
    # Raw events (`event`: movement, contacts, falls, presses) this long, then hourly counts.
    events_raw_days: float = Field(90.0, gt=0)
    # Hourly aggregates, closed alerts and cases (with their history and notifications), and
    # the audit log, each this long.
    hourly_days: float = Field(6 * 366.0, gt=0)
    cases_days: float = Field(6 * 366.0, gt=0)  # as long as the landlord's repairs records
    audit_days: float = Field(6 * 366.0, gt=0)
    # How often the expiry job runs where it runs on its own (`hof rights expire --every`).
    expire_every_s: float = Field(3600.0, gt=0)


def _config_file() -> Path:
    named = os.environ.get("HOF_CONFIG")
    if named and not Path(named).is_file():
        raise ConfigError(f"HOF_CONFIG names {named}, which is not a file")
    return Path(named or "hof.toml")


class _StackEndpointsSource(PydanticBaseSettingsSource):
    """Settings from the endpoints file of a running local stack, so that `hof` finds it."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        state_dir = Path(os.environ.get("HOF_STATE_DIR", "var"))
        path = endpoints_path(state_dir)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read the stack's endpoints {path}: {exc}") from exc
        settings = data.get("settings", {})
        return settings if isinstance(settings, dict) else {}


class Settings(BaseSettings):
    """Everything a House of the Future process can be told."""

    model_config = SettingsConfigDict(
        env_prefix="HOF_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    environment: Literal["development", "test", "production"] = "development"
    state_dir: Path = Path("var")
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    mqtt: MqttSettings = MqttSettings()
    nats: NatsSettings = NatsSettings()
    influx: InfluxSettings = InfluxSettings()
    contract: ContractSettings = ContractSettings()
    ingest: IngestSettings = IngestSettings()
    alerts: AlertsSettings = AlertsSettings()
    gateway: GatewaySettings = GatewaySettings()
    simulator: SimulatorSettings = SimulatorSettings()
    devices: DeviceListenerSettings = DeviceListenerSettings()
    stack: StackSettings = StackSettings()
    alertstore: AlertStoreSettings = AlertStoreSettings()
    dashboard: DashboardSettings = DashboardSettings()
    notify: NotifySettings = NotifySettings()
    rights: RightsSettings = RightsSettings()

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment != "production":
            return self
        secrets = {
            "mqtt.password": self.mqtt.password,
            "nats.password": self.nats.password,
            "influx.password": self.influx.password,
            "alertstore.password": self.alertstore.password,
            "notify.smtp_password": self.notify.smtp_password,
            "notify.webhook_secret": self.notify.webhook_secret,
            "notify.ack_secret": self.notify.ack_secret,
        }
        for name, secret in secrets.items():
            if secret is not None and secret.get_secret_value().lower() in PLACEHOLDER_SECRETS:
                raise ValueError(f"{name} is a placeholder; set a real secret in production")
        if not self.mqtt.tls:
            raise ValueError("mqtt.tls must be on in production: credentials cross the network")
        if not self.devices.tls:
            raise ValueError(
                "devices.tls must be on in production: devices and gateways reach the broker "
                "across the internet, so only its TLS listener may be given to them"
            )
        for name, port in (("mqtt.port", self.mqtt.port), ("devices.port", self.devices.port)):
            if port == PLAIN_MQTT_PORT:
                raise ValueError(
                    f"{name} is {PLAIN_MQTT_PORT}, MQTT's plain-text port; in production name "
                    "the broker's TLS listener (8883 by convention)"
                )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=_config_file()),
            _StackEndpointsSource(settings_cls),
        )

    def redacted(self) -> dict[str, Any]:
        """The settings as plain data with secrets shown as `**********`."""
        return json.loads(self.model_dump_json())  # type: ignore[no-any-return]


def load_settings(**overrides: Any) -> Settings:
    """Load the settings, turning validation failures into one readable ConfigError."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(readable("invalid settings", exc)) from exc


def readable(what: str, exc: ValidationError) -> str:
    """A validation failure as a ConfigError says it: `what`, then a line a key."""
    lines = [
        f"  {'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
        for err in exc.errors()
    ]
    return f"{what}:\n" + "\n".join(lines)
