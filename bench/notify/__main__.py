"""Notifier: fall published -> first notification received (webhook and email), with no load
and under a burst of readings.

    .venv/bin/python bench/notify [--falls 30] [--burst 200000] [--burst-falls 30]
                                  [--logs DIR --log-level DEBUG]

A private Mosquitto + InfluxDB, `hof ingest`, `hof alerts` (a telecare worker beside a rest
worker, as `hof demo` runs them) and `hof notify` as processes; a
webhook receiver (HTTP) and an SMTP server requiring STARTTLS (aiosmtpd, a self-signed
certificate made here) in this process. Each fall is published by a pendant (QoS 1) to its
own home and timed from the PUBACK to the webhook POST's arrival (the settings' webhook,
HOF_NOTIFY__WEBHOOK_URL, as a harness sets it) and to the email's arrival (the on-call
responder of a one-person rota). The burst publishes readings in packs of 10 (20 SenML
records, as the harness does) from another process as fast as the broker takes them, with
falls spread through it. `raised` is when the rules engine raised the alert (the store's
`first_raised_at`): what comes after it is the notifier's share.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from paho.mqtt.enums import CallbackAPIVersion

from hof.settings import Settings
from hof.stack import Stack
from hof.stack.ports import free_port

POLICY = """
[people.sam]
name = "Sam Responder"
email = "sam@example.org"
[[rotas]]
name = "all"
[[rotas.shifts]]
start = "00:00"
end = "00:00"
people = ["sam"]
[[policies]]
name = "bench"
kinds = ["fall", "button"]
[[policies.levels]]
wait_s = 0
to = [{ oncall = 1, via = ["email"] }, { hook = true }]
"""

Arrivals = dict[str, dict[str, float]]  # channel -> home -> arrival (time.time())


def _receivers(arrivals: Arrivals, tmp: Path) -> tuple[ThreadingHTTPServer, Controller, Path]:
    class Hook(BaseHTTPRequestHandler):
        # Keep-alive, as the peers harness's receiver and real webhook endpoints do: the
        # notifier's pooled client then reuses a warm connection (HTTP/1.0 closes each one).
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            now = time.time()
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            arrivals["webhook"].setdefault(str(body.get("home")), now)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()

    class Mail:
        async def handle_DATA(  # noqa: N802  (aiosmtpd's hook name)
            self, server: SMTP, session: Session, envelope: Envelope
        ) -> str:
            now = time.time()
            text = (envelope.original_content or b"").decode(errors="replace")
            for line in text.splitlines():
                if line.startswith("Subject:"):
                    arrivals["email"].setdefault(line.rsplit(" ", 1)[-1].strip(), now)
            return "250 OK"

    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    smtp = Controller(
        Mail(), hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True
    )
    smtp.start()
    return server, smtp, cert


def _credential(settings: Settings) -> dict[str, str]:
    """The simulator's broker credential (it plays the devices), for this and the burst."""
    assert settings.simulator.mqtt_password is not None
    return {
        "BENCH_MQTT_HOST": settings.mqtt.host,
        "BENCH_MQTT_PORT": str(settings.mqtt.port),
        "BENCH_MQTT_USER": settings.simulator.mqtt_username or "",
        "BENCH_MQTT_PASSWORD": settings.simulator.mqtt_password.get_secret_value(),
    }


def _client(credential: dict[str, str], inflight: int = 20) -> paho.Client:
    client = paho.Client(callback_api_version=CallbackAPIVersion.VERSION2)
    client.max_inflight_messages_set(inflight)
    client.username_pw_set(credential["BENCH_MQTT_USER"], credential["BENCH_MQTT_PASSWORD"])
    client.connect(credential["BENCH_MQTT_HOST"], int(credential["BENCH_MQTT_PORT"]))
    client.loop_start()
    return client


def _fall(client: paho.Client, home: str) -> float:
    pack = json.dumps([{"bn": "wear-1/", "bt": time.time(), "n": "fall", "vs": "detected"}])
    info = client.publish(f"hof/v1/{home}/wear-1/event", pack, qos=1)
    info.wait_for_publish(30)
    return time.time()


def _wait(arrivals: Arrivals, homes: list[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if all(h in arrivals["webhook"] and h in arrivals["email"] for h in homes):
            return
        time.sleep(0.05)


def _raised(settings: Settings, arrivals: Arrivals, homes: list[str]) -> None:
    """When the rules engine raised each fall's alert (its own clock, this machine's): the
    part of the latency before the notifier could see anything."""
    from hof.alertstore import AlertFilter, AlertStore

    store = AlertStore.from_settings(settings)
    try:
        for first in range(0, len(homes), 100):
            page = store.list(AlertFilter(homes=homes[first : first + 100]), limit=500)
            for alert in page.items:
                arrivals["raised"].setdefault(alert.home, alert.first_raised_at.timestamp())
    finally:
        store.close()


def _summary(label: str, sent: dict[str, float], arrivals: Arrivals) -> list[str]:
    lines = []
    for channel in ("raised", "webhook", "email"):
        ms = sorted(
            (arrivals[channel][h] - t) * 1000 for h, t in sent.items() if h in arrivals[channel]
        )
        if not ms:
            lines.append(f"  {label:28} {channel:8} none of {len(sent)} arrived")
            continue
        p50, p99 = statistics.median(ms), ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
        lines.append(
            f"  {label:28} {channel:8} n={len(ms):3}/{len(sent)}  p50 {p50:6.0f} ms"
            f"  p99 {p99:6.0f} ms  max {ms[-1]:6.0f} ms"
        )
    return lines


def burst_worker(readings: int) -> None:
    """Publish `readings` readings, 10 to a pack, QoS 1, at most 1,000 unacknowledged."""
    client = _client(dict(os.environ), inflight=1000)
    rng = random.Random(1)
    t0 = 1_763_841_600
    devices = [(f"home-{h:05d}", f"env-{d:02d}") for h in range(200) for d in range(2)]
    infos = []
    for i in range(readings // 10):
        home, device = devices[i % len(devices)]
        base = t0 + (i // len(devices)) * 600
        pack: list[dict[str, Any]] = []
        for k in range(10):
            pack.append({"n": "temperature", "u": "Cel", "v": round(rng.uniform(15, 24), 2),
                         "t": base + k * 60})  # fmt: skip
            pack.append({"n": "humidity", "u": "%RH", "v": round(rng.uniform(40, 80), 1),
                         "t": base + k * 60})  # fmt: skip
        pack[0]["bn"] = f"{device}/"
        infos.append(client.publish(f"hof/v1/{home}/{device}/reading", json.dumps(pack), qos=1))
        if len(infos) >= 1000:
            infos.pop(0).wait_for_publish(60)
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--falls", type=int, default=30)
    parser.add_argument("--burst", type=int, default=200_000, help="readings in the burst")
    parser.add_argument("--burst-falls", type=int, default=30)
    parser.add_argument("--logs", type=Path, help="copy the services' logs here at the end")
    parser.add_argument("--log-level", default="WARNING", help="the services' log level")
    parser.add_argument("--burst-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.burst_worker:
        burst_worker(args.burst)
        return 0
    arrivals: Arrivals = {"raised": {}, "webhook": {}, "email": {}}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        hook, smtp, cert = _receivers(arrivals, tmp)
        (tmp / "notify.toml").write_text(POLICY)
        stack = Stack(Settings(state_dir=tmp))
        info = stack.up()
        settings = Settings(state_dir=tmp, **info.settings())
        host, port = hook.server_address[:2]
        env = {
            **os.environ,
            "HOF_STATE_DIR": str(tmp),
            "HOF_LOG_LEVEL": args.log_level,
            "HOF_LOG_FORMAT": "json",
            "HOF_NOTIFY__WEBHOOK_URL": f"http://{host!s}:{port}/alert",
            "HOF_NOTIFY__POLICY_FILE": str(tmp / "notify.toml"),
            "HOF_NOTIFY__SMTP_HOST": "127.0.0.1",
            "HOF_NOTIFY__SMTP_PORT": str(smtp.port),
            "HOF_NOTIFY__SMTP_CA_FILE": str(cert),
            "HOF_NOTIFY__HTTP_PORT": "0",
            # The benchmark's homes are not in the registry: telecare taken as consented.
            "HOF_RIGHTS__UNRECORDED": '["environment", "activity", "telecare"]',
        }
        # As hof demo and deploy/systemd run them: falls judged in a worker of their own, the
        # bulk of readings at nice 10 (docs/notify.md).
        services = {
            "ingest": ("ingest", {"HOF_INGEST__NICE": "10"}),
            "alerts": ("alerts", {"HOF_ALERTS__RULES": "rest", "HOF_ALERTS__NICE": "10"}),
            "alerts-telecare": (
                "alerts",
                {"HOF_ALERTS__RULES": "telecare", "HOF_ALERTS__CLIENT_ID": "hof-alerts-telecare"},
            ),
            "notify": ("notify", {}),
        }
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "hof.cli", command],
                env={**env, **extra},
                stdout=subprocess.DEVNULL,
                stderr=(tmp / f"{name}.log").open("wb"),
            )
            for name, (command, extra) in services.items()
        ]
        lines = [f"notifier benchmark ({os.cpu_count()} cores on this machine, everything on it)"]
        try:
            while len(list((tmp / "run").glob("*.json"))) < len(services):
                time.sleep(0.1)
            time.sleep(2.0)
            credential = _credential(settings)
            client = _client(credential)
            quiet: dict[str, float] = {}
            for i in range(args.falls):
                home = f"Q-{i:04d}"
                quiet[home] = _fall(client, home)
                _wait(arrivals, [home], 10)
                time.sleep(0.2)
            _raised(settings, arrivals, list(quiet))
            lines += _summary("no load", quiet, arrivals)
            burst = subprocess.Popen(
                [sys.executable, __file__, "--burst", str(args.burst), "--burst-worker"],
                env={**env, **credential},
            )
            began = time.monotonic()
            loaded: dict[str, float] = {}
            # Falls spread through the burst (its length is unknown beforehand: ~1 per 0.2 s).
            for i in range(args.burst_falls):
                if burst.poll() is not None:
                    break
                home = f"B-{i:04d}"
                loaded[home] = _fall(client, home)
                time.sleep(0.2)
            if burst.wait(900) != 0:
                raise RuntimeError("the burst publisher failed")
            burst_s = time.monotonic() - began
            _wait(arrivals, list(loaded), 60)
            _raised(settings, arrivals, list(loaded))
            lines += _summary(f"burst of {args.burst:,} readings", loaded, arrivals)
            lines.append(
                f"  (the burst took {burst_s:.1f} s to publish; {len(loaded)} falls during it)"
            )
            client.disconnect()
            client.loop_stop()
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            stack.down()
            hook.shutdown()
            smtp.stop()
            if args.logs is not None:
                args.logs.mkdir(parents=True, exist_ok=True)
                for log in tmp.glob("*.log"):
                    shutil.copy(log, args.logs / log.name)
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
