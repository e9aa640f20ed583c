"""The SCAIP channel against a real SIP peer: SIPp (Debian's sip-tester) as the receiving ARC.

SIPp runs tests/notify/scaip_arc.xml: it checks each MESSAGE's content type and the <mrq>'s
mandatory tags (a failed check fails the call, so no 200 is sent and SIPp exits non-zero),
answers 200 and sends back an <mrs> with the same ref. The failure paths (no answer, a final
error response) use a plain UDP socket in the test as the far end.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sipp_arc import Arc, free_udp_port, needs_sipp

from hof.settings import ScaipSettings
from notify.channels.base import DeliveryStatus, Message, Recipient
from notify.channels.scaip import (
    ScaipChannel,
    ScaipConfig,
    SipTarget,
    build_mrq,
    channel_from_settings,
    mrq_for,
    parse_mrs,
    scaip_ref,
    sip_target,
)


@pytest.fixture
def arc(tmp_path: Path) -> Iterator[Callable[[int], Arc]]:
    """Starts SIPp as the ARC for a number of exchanges; stops it at the end of the test."""
    started: list[Arc] = []

    def start(calls: int) -> Arc:
        one = Arc(tmp_path, calls)
        started.append(one)
        return one

    yield start
    for one in started:
        one.stop()


def _message(
    kind: str = "fall", key: str = "41:2:0:arc", device: str = "pendant-1", address: str = "ARC"
) -> Message:
    return Message(
        alert_id=41,
        home="HOME-0042",
        kind=kind,
        level=2,
        subject="Fall at HOME-0042 <kitchen> & hall",
        text="A fall was detected at 03:12. Reply 1A to acknowledge.",
        recipient=Recipient(name="Alarm receiving centre", address=address),
        idempotency_key=key,
        raised_at=dt.datetime(2026, 11, 30, 3, 12, tzinfo=dt.UTC),
        data={"device": device},
    )


def _config(port: int, timeout_s: float = 8.0) -> ScaipConfig:
    return ScaipConfig(
        arc_host="127.0.0.1", arc_port=port, controller_id="4711", timeout_s=timeout_s
    )


def _bodies(trace: str) -> list[str]:
    return re.findall(r"<mrq>.*?</mrq>", trace)


@needs_sipp
async def test_a_fall_reaches_the_arc_and_is_accepted(arc: Callable[[int], Arc]) -> None:
    peer = arc(1)
    channel = ScaipChannel(_config(peer.port))
    try:
        delivery = await channel.send(_message("fall"))
    finally:
        await channel.aclose()
    assert delivery.status is DeliveryStatus.DELIVERED, delivery
    assert delivery.provider_ref
    assert delivery.provider_ref.endswith("@127.0.0.1")
    assert await asyncio.to_thread(peer.wait) == 0, peer.errors()
    [body] = _bodies(peer.messages())
    assert f"<ref>{scaip_ref('41:2:0:arc')}</ref>" in body
    assert "<mty>ME</mty><cid>4711</cid><dty>0005</dty>" in body  # fall detector
    assert "<stc>0009</stc>" in body  # automatic alarm
    # escaped, and clipped to the 32 characters stt allows
    assert "<stt>Fall at HOME-0042 &lt;kitchen&gt; &amp; ha</stt>" in body
    assert "<lte>HOME-0042</lte>" in body
    assert "Content-Type: application/scaip+xml" in peer.messages()


@needs_sipp
async def test_a_pendant_press_is_a_manual_alarm(
    arc: Callable[[int], Arc],
) -> None:
    peer = arc(1)
    channel = ScaipChannel(_config(peer.port))
    try:
        delivery = await channel.send(_message("button", key="9:0:0:arc", device="pend-7"))
    finally:
        await channel.aclose()
    assert delivery.status is DeliveryStatus.DELIVERED, delivery
    assert await asyncio.to_thread(peer.wait) == 0, peer.errors()
    [body] = _bodies(peer.messages())
    assert "<dty>0003</dty><did>pend-7</did><dte>pend-7</dte>" in body
    assert "<stc>0010</stc>" in body


@needs_sipp
async def test_the_recipients_sip_uri_is_where_the_alarm_goes(arc: Callable[[int], Arc]) -> None:
    peer = arc(1)
    channel = ScaipChannel(_config(free_udp_port(), timeout_s=3.0))  # the default ARC is silent
    try:
        delivery = await channel.send(_message(address=f"sip:arc-north@127.0.0.1:{peer.port}"))
    finally:
        await channel.aclose()
    assert delivery.status is DeliveryStatus.DELIVERED, delivery
    assert await asyncio.to_thread(peer.wait) == 0, peer.errors()
    assert f"MESSAGE sip:arc-north@127.0.0.1:{peer.port} SIP/2.0" in peer.messages()


async def test_an_mrs_from_anywhere_but_the_arc_does_not_count() -> None:
    """A forged <mrs> from another address must not mark the alarm delivered."""
    loop = asyncio.get_running_loop()
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as far,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as forger,
    ):
        far.bind(("127.0.0.1", 0))
        forger.bind(("127.0.0.2", 0))  # another loopback address: not the ARC
        far.settimeout(5)

        def arc_answers_200_and_a_forger_sends_mrs() -> None:
            data, addr = far.recvfrom(65535)
            head = data.split(b"\r\n\r\n", 1)[0].decode()
            keep = [
                line
                for line in head.split("\r\n")[1:]
                if line.split(":", 1)[0] in ("Via", "From", "To", "Call-ID", "CSeq")
            ]
            far.sendto(
                (
                    "SIP/2.0 200 OK\r\n" + "\r\n".join(keep) + "\r\nContent-Length: 0\r\n\r\n"
                ).encode(),
                addr,
            )
            ref = re.search(rb"<ref>(\w+)</ref>", data)
            assert ref
            body = b"<mrs><ref>" + ref.group(1) + b"</ref><snu>0</snu></mrs>"
            forged = (
                b"MESSAGE sip:hof@127.0.0.1 SIP/2.0\r\n"
                b"Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKx\r\n"
                b"From: <sip:arc@127.0.0.2>;tag=x\r\nTo: <sip:hof@127.0.0.1>\r\nCall-ID: forged\r\n"
                b"CSeq: 1 MESSAGE\r\nContent-Type: application/scaip+xml\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            forger.sendto(forged, addr)

        answering = loop.run_in_executor(None, arc_answers_200_and_a_forger_sends_mrs)
        channel = ScaipChannel(
            ScaipConfig(arc_host="127.0.0.1", arc_port=far.getsockname()[1], mrs_wait_s=1.0)
        )
        try:
            delivery = await channel.send(_message())
        finally:
            await channel.aclose()
        await answering
    assert delivery.status is DeliveryStatus.SENT, delivery  # 200, but no <mrs> from the ARC


def test_sip_uris() -> None:
    assert sip_target("sip:arc@192.0.2.10:5070") == SipTarget("arc", "192.0.2.10", 5070)
    assert sip_target("sip:arc.example.org") == SipTarget("arc", "arc.example.org", 5060)
    assert sip_target("sip:a@[2001:db8::1]:5062") == SipTarget("a", "2001:db8::1", 5062)
    assert sip_target("Alarm centre") is None
    assert sip_target("tel:+441234567890") is None


@needs_sipp
async def test_heartbeats_on_a_timer_reach_the_arc(arc: Callable[[int], Arc]) -> None:
    peer = arc(3)
    channel = ScaipChannel(_config(peer.port))
    stop = asyncio.Event()
    task = asyncio.create_task(channel.run_heartbeats(0.2, stop))
    try:
        rc = await asyncio.to_thread(peer.wait)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        await channel.aclose()
    assert rc == 0, peer.errors()
    bodies = _bodies(peer.messages())
    assert len(bodies) >= 3
    assert all("<mty>PI</mty><cid>4711</cid><dty>0002</dty>" in b for b in bodies[:3])
    assert len({re.search(r"<ref>(\w+)</ref>", b).group(1) for b in bodies[:3]}) == 3  # type: ignore[union-attr]


async def test_no_answer_is_retransmitted_on_timer_e_then_fails_retryably() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.setblocking(False)
        port = silent.getsockname()[1]
        channel = ScaipChannel(_config(port, timeout_s=2.0))
        try:
            delivery = await channel.send(_message())
        finally:
            await channel.aclose()
        copies: list[bytes] = []
        while True:
            try:
                copies.append(silent.recv(65535))
            except BlockingIOError:
                break
    assert delivery.status is DeliveryStatus.FAILED, delivery
    assert delivery.retryable
    assert "no answer from the ARC within 2 s" in delivery.detail
    # sent at 0, 0.5 and 1.5 s (T1 doubling); the next would be at 3.5 s, after the timeout
    assert len(copies) == 3
    branches = {re.search(rb"branch=(\S+?);", c).group(1) for c in copies}  # type: ignore[union-attr]
    assert len(branches) == 1
    assert next(iter(branches)).startswith(b"z9hG4bK")


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (403, False), (488, False)])
async def test_a_final_error_response_fails(status: int, retryable: bool) -> None:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as far:
        far.bind(("127.0.0.1", 0))
        port = far.getsockname()[1]

        def answer() -> None:
            data, addr = far.recvfrom(65535)
            head = data.split(b"\r\n\r\n", 1)[0].decode()
            keep = [
                line
                for line in head.split("\r\n")[1:]
                if line.split(":", 1)[0] in ("Via", "From", "To", "Call-ID", "CSeq")
            ]
            reply = f"SIP/2.0 {status} Refused\r\n" + "\r\n".join(keep)
            far.sendto((reply + "\r\nContent-Length: 0\r\n\r\n").encode(), addr)

        far.settimeout(5)
        responder = loop.run_in_executor(None, answer)
        channel = ScaipChannel(_config(port))
        try:
            delivery = await channel.send(_message())
        finally:
            await channel.aclose()
        await responder
    assert delivery.status is DeliveryStatus.FAILED
    assert delivery.retryable is retryable
    assert delivery.detail == f"SIP {status} Refused"


def test_a_retry_carries_the_same_ref_and_tags_keep_the_schema_order() -> None:
    first = mrq_for(_message(device="pend-1"), "4711")
    again = mrq_for(_message(device="pend-1"), "4711")
    assert first.ref == again.ref
    assert re.fullmatch(r"[0-9a-f]{16}", first.ref)
    body = build_mrq(first).decode()
    tags = re.findall(r"<(\w+)>", body)
    order = ["mrq", "ref", "ver", "mty", "cid", "dty", "did", "dte", "crd", "stc", "stt", "lte"]
    assert tags[: len(order)] == order
    long_device = mrq_for(_message(device="a-very-long-device-id"), "4711")
    assert long_device.did is None
    assert long_device.dte == "a-very-long-device-id"


def test_mrs_is_parsed_and_anything_else_is_not() -> None:
    mrs = parse_mrs(b"<?xml version='1.0'?><mrs><ref>abc1</ref><snu>6</snu><ste>busy</ste></mrs>")
    assert mrs is not None
    assert (mrs.ref, mrs.snu, mrs.ste) == ("abc1", 6, "busy")
    assert parse_mrs(b"<mrq><ref>abc1</ref></mrq>") is None
    assert parse_mrs(b"not xml") is None
    assert parse_mrs(b"<mrs><ref>abc1</ref><snu>x</snu></mrs>") is None


def test_controller_id_must_be_digits() -> None:
    with pytest.raises(ValueError, match="1-16 digits"):
        ScaipConfig(arc_host="127.0.0.1", controller_id="arc-1")


def test_settings_turn_the_channel_on() -> None:
    assert channel_from_settings(ScaipSettings()) is None
    channel = channel_from_settings(ScaipSettings(arc_host="192.0.2.10", controller_id="4711"))
    assert channel is not None
    assert (channel.config.arc_host, channel.config.controller_id) == ("192.0.2.10", "4711")
