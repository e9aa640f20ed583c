"""The alarm receiving centre channel: SCAIP (CLC/TS 50134-9) alarms and heartbeats over SIP.

SCAIP carries a small XML document, `<mrq>` (message request), in the body of a SIP MESSAGE
with content type `application/scaip+xml`. The ARC answers the SIP transaction with 200 and then
sends its own MESSAGE back carrying `<mrs>` (message response) with the same `ref` and a status
number (`snu`, 0 = accepted). The element names and code lists follow the public descriptions
of SS 91100:2014 / TS 50134-9 named in docs/notify.md ("SCAIP"); the paid specification itself
was not available, so what is and is not verified is listed there.

The SIP part is a minimal RFC 3261 user agent client for one non-INVITE transaction over UDP:
request line, Via with a fresh `z9hG4bK` branch, From with a tag, To, Call-ID, CSeq,
Max-Forwards, Content-Type and Content-Length; the request is retransmitted on timer E
(T1 doubling up to T2, T2 once a provisional answer came) until a final response or the
adapter's timeout (at most timer F, 64*T1). It also answers the ARC's `<mrs>` MESSAGE with 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import secrets
import socket
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Final, cast

from hof.settings import ScaipSettings
from hof.waiting import within
from notify.channels.base import Delivery, DeliveryStatus, Message

__all__ = [
    "DEVICE_TYPES",
    "STATUS_CODES",
    "MrqFields",
    "MrsFields",
    "ScaipChannel",
    "ScaipConfig",
    "SipTarget",
    "build_mrq",
    "channel_from_settings",
    "mrq_for",
    "parse_mrs",
    "scaip_ref",
    "sip_target",
]

CONTENT_TYPE: Final = "application/scaip+xml"
VERSION: Final = "01.00"

# Device types (dty) and status codes (stc) from the SCAIP code lists; only those we send.
DEVICE_TYPES: Final[dict[str, str]] = {
    "controller": "0002",  # local unit and controller: heartbeats come from it
    "button": "0003",  # personal trigger (pendant)
    "pull_cord": "0004",  # fixed trigger
    "fall": "0005",  # fall detector
    "inactivity": "0010",  # activity detector
    "smoke": "0023",  # smoke detector
    "device_offline": "0032",  # communication link monitor
    "leak": "0033",  # flood detector
}
STATUS_CODES: Final[dict[str, str]] = {
    "automatic_alarm": "0009",
    "manual_alarm": "0010",
    "cancel": "0019",
    "offline": "0073",
    "test_primary": "0102",  # test transmission over the primary channel: the heartbeat
}
# A person pressed something: a manual alarm; a sensor decided: an automatic one.
_MANUAL_KINDS: Final = frozenset({"button", "pull_cord"})
# snu values after which trying again may help (hold, not treated, busy).
_RETRYABLE_SNU: Final = frozenset({4, 5, 6})
_SNU_WORDS: Final[dict[int, str]] = {
    0: "OK",
    1: "message too long",
    2: "invalid format",
    3: "wrong data content",
    4: "hold",
    5: "not treated",
    6: "busy",
    7: "mandatory tag missing",
}

# RFC 3261 timers (section 17.1.2.2, non-INVITE client transaction).
T1: Final = 0.5
T2: Final = 4.0

_TAG_LIMITS: Final[dict[str, int]] = {"dte": 32, "stt": 32, "lte": 32, "ite": 128, "did": 8}


@dataclass(frozen=True, slots=True)
class ScaipConfig:
    """Where the ARC is and who we are to it."""

    arc_host: str
    arc_port: int = 5060
    arc_user: str = "arc"  # the user part of the ARC's SIP URI
    controller_id: str = "1"  # cid: digits, 1-16; the ARC's id for this platform
    local_host: str = "127.0.0.1"
    local_port: int = 0  # 0: any free port (the Via carries the real one)
    local_user: str = "hof"
    timeout_s: float = 8.0  # whole attempt: SIP final response, then the ARC's <mrs>
    mrs_wait_s: float = 3.0  # how long to wait for <mrs> after the 200
    t1_s: float = T1

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[0-9]{1,16}", self.controller_id):
            raise ValueError(f"SCAIP controller id must be 1-16 digits, not {self.controller_id!r}")


@dataclass(frozen=True, slots=True)
class MrqFields:
    """One `<mrq>`: the tags this platform fills, in the schema's sequence order."""

    ref: str
    cid: str
    dty: str
    ver: str = VERSION
    mty: str = "ME"  # ME message, RE reset, IN information, PI heartbeat
    did: str | None = None
    dte: str | None = None
    crd: str = "no-voice:"  # no speech path from this platform to the home
    stc: str | None = None
    stt: str | None = None
    lte: str | None = None
    ite: str | None = None


# The XSD's <xs:sequence>: a strict ARC refuses tags out of this order.
_MRQ_ORDER: Final = (
    *("ref", "ver", "mty", "cid", "dty", "did"),
    *("dte", "crd", "stc", "stt", "lte", "ite"),
)


@dataclass(frozen=True, slots=True)
class MrsFields:
    """The ARC's answer: which request (`ref`) and its status number (`snu`)."""

    ref: str
    snu: int
    ste: str = ""


def scaip_ref(key: str) -> str:
    """A `ref` (1-16 alphanumerics) fixed by the idempotency key, so a retry is the same alarm."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _clip(tag: str, value: str | None) -> str | None:
    if value is None:
        return None
    limit = _TAG_LIMITS.get(tag)
    return value[:limit] if limit else value


def build_mrq(fields: MrqFields) -> bytes:
    """The XML body; text is escaped and clipped to the lengths the schema allows."""
    root = ET.Element("mrq")
    for tag in _MRQ_ORDER:
        value = _clip(tag, getattr(fields, tag))
        if value is None or value == "":
            continue
        ET.SubElement(root, tag).text = value
    body: bytes = ET.tostring(root, encoding="utf-8")  # no declaration for utf-8: added here
    return b'<?xml version="1.0" encoding="UTF-8"?>' + body


def mrq_for(message: Message, controller_id: str) -> MrqFields:
    """What an alert becomes for the ARC: device type and status from its kind."""
    kind = message.kind
    device = str(message.data.get("device", "")) or None
    stc = (
        STATUS_CODES["offline"]
        if kind == "device_offline"
        else STATUS_CODES["manual_alarm"]
        if kind in _MANUAL_KINDS
        else STATUS_CODES["automatic_alarm"]
    )
    return MrqFields(
        ref=scaip_ref(message.idempotency_key),
        cid=str(message.data.get("scaip_controller_id", controller_id)),
        dty=DEVICE_TYPES.get(kind, "0001"),  # 0001: undefined
        stc=stc,
        # did is at most 8 characters; a longer device id goes in the device text only
        did=device if device and len(device) <= 8 else None,
        dte=device,
        stt=message.subject,
        lte=message.home,
        ite=f"alert {message.alert_id}: {message.text}",
    )


def parse_mrs(body: bytes) -> MrsFields | None:
    """The ARC's `<mrs>`, or None when the body is not one."""
    try:
        root = ET.fromstring(body)  # expat: no external entities
    except ET.ParseError:
        return None
    if root.tag != "mrs":
        return None
    ref = root.findtext("ref")
    snu = root.findtext("snu")
    if not ref or snu is None or not snu.strip().isdigit():
        return None
    return MrsFields(ref=ref.strip(), snu=int(snu), ste=(root.findtext("ste") or "").strip())


@dataclass(frozen=True, slots=True)
class SipTarget:
    """Where a MESSAGE goes: the user part of the request URI, host and UDP port."""

    user: str
    host: str
    port: int = 5060


_SIP_URI = re.compile(r"^sip:(?:([^@;>\s]+)@)?([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::(\d{1,5}))?$")


def sip_target(address: str) -> SipTarget | None:
    """`sip:arc@192.0.2.10:5060` as a target; None when the address is not a SIP URI."""
    match = _SIP_URI.match(address.strip())
    if match is None:
        return None
    user, host, port = match.groups()
    return SipTarget(user or "arc", host.strip("[]"), int(port) if port else 5060)


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    reason: str


def _parse_sip(data: bytes) -> tuple[str, dict[str, str], bytes] | None:
    """Start line, headers (lower-cased names, compact forms expanded; first value) and body."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.decode("utf-8", "replace").split("\r\n")
    compact = {"v": "via", "f": "from", "t": "to", "i": "call-id", "c": "content-type"}
    headers: dict[str, str] = {}
    vias: list[str] = []
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon:
            continue
        key = name.strip().lower()
        key = compact.get(key, key)
        if key == "via":
            vias.append(value.strip())
        headers.setdefault(key, value.strip())
    if vias:
        headers["via"] = "\r\nVia: ".join(vias)
    return lines[0], headers, body


class _SipProtocol(asyncio.DatagramProtocol):
    """Routes responses to waiting transactions by branch, and answers the ARC's requests."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.responses: dict[str, asyncio.Queue[_Response]] = {}
        # ref -> (the ARC's address, the waiting attempt): an <mrs> counts only from that ARC
        self.mrs: dict[str, tuple[str, asyncio.Future[MrsFields]]] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        parsed = _parse_sip(data)
        if parsed is None:
            return
        start, headers, body = parsed
        if start.startswith("SIP/2.0 "):
            match = re.search(r"branch=([^;,\s]+)", headers.get("via", ""))
            parts = start.split(" ", 2)
            if match and len(parts) >= 2 and parts[1].isdigit():
                queue = self.responses.get(match.group(1))
                if queue is not None:
                    queue.put_nowait(_Response(int(parts[1]), parts[2] if len(parts) > 2 else ""))
            return
        self._answer(start, headers, body, addr)

    def _answer(
        self, start: str, headers: dict[str, str], body: bytes, addr: tuple[str | int, ...]
    ) -> None:
        method = start.split(" ", 1)[0]
        if method == "ACK" or self.transport is None:
            return
        status = "200 OK" if method in ("MESSAGE", "OPTIONS") else "405 Method Not Allowed"
        to = headers.get("to", "")
        if "tag=" not in to:
            to = f"{to};tag={secrets.token_hex(4)}"
        reply = (
            f"SIP/2.0 {status}\r\n"
            f"Via: {headers.get('via', '')}\r\n"
            f"From: {headers.get('from', '')}\r\n"
            f"To: {to}\r\n"
            f"Call-ID: {headers.get('call-id', '')}\r\n"
            f"CSeq: {headers.get('cseq', '')}\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        self.transport.sendto(reply.encode(), addr)
        if method == "MESSAGE":
            mrs = parse_mrs(body)
            if mrs is not None:
                pending = self.mrs.get(mrs.ref)
                if pending is not None and pending[0] == addr[0] and not pending[1].done():
                    pending[1].set_result(mrs)


class ScaipChannel:
    """Sends each alert to the ARC as a SCAIP `<mrq>` and reports the ARC's answer."""

    name = "scaip"

    def __init__(self, config: ScaipConfig) -> None:
        self.config = config
        self._protocol: _SipProtocol | None = None
        self._transport: asyncio.DatagramTransport | None = None
        self._lock = asyncio.Lock()
        self._cseq = 0

    async def _endpoint(self) -> tuple[asyncio.DatagramTransport, _SipProtocol]:
        async with self._lock:
            if self._transport is None or self._protocol is None or self._transport.is_closing():
                loop = asyncio.get_running_loop()
                transport, protocol = await loop.create_datagram_endpoint(
                    _SipProtocol, local_addr=(self.config.local_host, self.config.local_port)
                )
                self._transport, self._protocol = transport, protocol
            return self._transport, self._protocol

    @property
    def local_port(self) -> int | None:
        """The UDP port the channel sends from and the ARC answers to (after the first send)."""
        if self._transport is None:
            return None
        return int(self._transport.get_extra_info("sockname")[1])

    async def send(self, message: Message) -> Delivery:
        """One alarm to the ARC (the recipient's SIP URI, else the configured ARC); never
        raises for a delivery failure."""
        fields = mrq_for(message, self.config.controller_id)
        target = sip_target(message.recipient.address) or self._default_target()
        return await self._exchange(fields, target)

    def _default_target(self) -> SipTarget:
        c = self.config
        return SipTarget(c.arc_user, c.arc_host, c.arc_port)

    async def heartbeat(self) -> Delivery:
        """One heartbeat (`mty` PI) so the ARC knows the link to this platform is alive."""
        fields = MrqFields(
            ref=secrets.token_hex(8),
            cid=self.config.controller_id,
            dty=DEVICE_TYPES["controller"],
            mty="PI",
            stc=STATUS_CODES["test_primary"],
        )
        return await self._exchange(fields, self._default_target())

    async def run_heartbeats(self, interval_s: float, stop: asyncio.Event) -> None:
        """A heartbeat every `interval_s` until `stop` is set; a failed one is tried next time."""
        while not stop.is_set():
            await self.heartbeat()
            with contextlib.suppress(TimeoutError):
                await within(stop.wait(), interval_s)

    async def _exchange(self, fields: MrqFields, target: SipTarget) -> Delivery:
        call_id = f"{secrets.token_hex(12)}@{self.config.local_host}"
        try:
            return await within(self._transaction(fields, call_id, target), self.config.timeout_s)
        except TimeoutError:
            return Delivery(
                DeliveryStatus.FAILED,
                detail=f"no answer from the ARC within {self.config.timeout_s:g} s",
                provider_ref=call_id,
                retryable=True,
            )
        except OSError as exc:
            return Delivery(
                DeliveryStatus.FAILED,
                detail=f"cannot send to the ARC: {exc}",
                provider_ref=call_id,
                retryable=True,
            )

    def _request(
        self, fields: MrqFields, call_id: str, branch: str, port: int, to: SipTarget
    ) -> bytes:
        c = self.config
        self._cseq += 1
        body = build_mrq(fields)
        target = f"sip:{to.user}@{to.host}:{to.port}"
        head = (
            f"MESSAGE {target} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {c.local_host}:{port};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:{c.local_user}@{c.local_host}:{port}>;tag={secrets.token_hex(4)}\r\n"
            f"To: <{target}>\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: {self._cseq} MESSAGE\r\n"
            f"Content-Type: {CONTENT_TYPE}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body

    async def _transaction(self, fields: MrqFields, call_id: str, to: SipTarget) -> Delivery:
        transport, protocol = await self._endpoint()
        loop = asyncio.get_running_loop()
        # Resolved once, off the loop's thread; the ARC's <mrs> must come from this address.
        infos = await loop.getaddrinfo(
            to.host, to.port, family=socket.AF_INET, type=socket.SOCK_DGRAM
        )
        arc = SipTarget(to.user, str(infos[0][4][0]), to.port)
        port = int(transport.get_extra_info("sockname")[1])
        branch = "z9hG4bK" + secrets.token_hex(8)
        responses: asyncio.Queue[_Response] = asyncio.Queue()
        mrs_waiter: asyncio.Future[MrsFields] = loop.create_future()
        protocol.responses[branch] = responses
        protocol.mrs[fields.ref] = (arc.host, mrs_waiter)
        try:
            final = await self._send_until_final(
                transport, self._request(fields, call_id, branch, port, to), responses, arc
            )
            if final.status >= 300:
                return Delivery(
                    DeliveryStatus.FAILED,
                    detail=f"SIP {final.status} {final.reason}".strip(),
                    provider_ref=call_id,
                    # 5xx, 6xx other than "decline", 408 and 480: the ARC may take it later
                    retryable=final.status >= 500 or final.status in (408, 480),
                )
            try:
                mrs = await within(mrs_waiter, self.config.mrs_wait_s)
            except TimeoutError:
                return Delivery(
                    DeliveryStatus.SENT,
                    detail=f"SIP {final.status} {final.reason}; no <mrs> from the ARC yet",
                    provider_ref=call_id,
                )
            words = _SNU_WORDS.get(mrs.snu, "unknown status")
            if mrs.snu == 0:
                return Delivery(
                    DeliveryStatus.DELIVERED,
                    detail=f"ARC accepted (snu 0, ref {fields.ref})",
                    provider_ref=call_id,
                )
            return Delivery(
                DeliveryStatus.FAILED,
                detail=f"ARC refused: snu {mrs.snu} {words} {mrs.ste}".strip(),
                provider_ref=call_id,
                retryable=mrs.snu in _RETRYABLE_SNU,
            )
        finally:
            protocol.responses.pop(branch, None)
            protocol.mrs.pop(fields.ref, None)

    async def _send_until_final(
        self,
        transport: asyncio.DatagramTransport,
        request: bytes,
        responses: asyncio.Queue[_Response],
        to: SipTarget,
    ) -> _Response:
        """Timer E retransmission until a final response; the caller's timeout bounds it."""
        address = (to.host, to.port)
        interval = self.config.t1_s
        provisional = False
        transport.sendto(request, address)
        deadline = time.monotonic() + 64 * self.config.t1_s  # timer F
        while time.monotonic() < deadline:
            try:
                response = await within(responses.get(), interval)
            except TimeoutError:
                transport.sendto(request, address)
                interval = T2 if provisional else min(interval * 2, T2)
                continue
            if response.status >= 200:
                return response
            provisional = True
        raise TimeoutError

    async def aclose(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            self._protocol = None


def channel_from_settings(conf: ScaipSettings) -> ScaipChannel | None:
    """The ARC channel when an ARC host is configured."""
    if not conf.arc_host:
        return None
    return ScaipChannel(
        ScaipConfig(
            arc_host=conf.arc_host,
            arc_port=conf.arc_port,
            arc_user=conf.arc_user,
            controller_id=conf.controller_id,
            local_host=conf.local_host,
            local_port=conf.local_port,
            timeout_s=conf.timeout_s,
            mrs_wait_s=conf.mrs_wait_s,
        )
    )
