"""Bounded JSON decoding for everything a device sends: a size cap, a depth check, then json.

Every parser of device input (SenML packs, status, config, notices) decodes through `loads`,
so that no message, however it is built, can exhaust memory or the interpreter's stack:

1. the size is capped before anything is read;
2. the bytes must be UTF-8 (RFC 8259 §8.1), so a quote or a bracket is always the byte it
   looks like (neither appears inside a multi-byte sequence);
3. the nesting depth is measured without recursion: strings are cut out, the brackets left
   must pair up, and each pass of `bytes.replace` removes one level of innermost pairs, so
   a `"[" * 3000` costs a few passes over the bytes, never 3,000 stack frames in json
   (about 10 µs for a 2 KB pack, a quarter of what `json.loads` itself takes);
4. only then does `json.loads` run, refusing NaN/Infinity and duplicate keys.

Anything that goes wrong is a `ContractError` with a reason code; nothing else escapes.
"""

from __future__ import annotations

import json
from typing import Any

from hof.errors import ContractError, Reason

__all__ = ["MAX_BYTES", "MAX_DEPTH", "loads", "loads_object"]

MAX_BYTES = 16 * 1024  # CONTRACT.md: a pack is at most 16 KiB; a status or config is far less
# A SenML pack is 2 levels deep, a config 3; room to spare for third-party additions, and far
# below the ~1,000 frames at which json would raise RecursionError.
MAX_DEPTH = 16

# Brackets of both kinds become one kind (nesting is nesting) and all else but quotes goes.
_BRACKETS = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON number")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise ValueError(f"duplicate key {key!r:.40}")
        obj[key] = value
    return obj


def _check_depth(payload: bytes, max_depth: int) -> None:
    """Refuse brackets that do not pair up or nest deeper than `max_depth`, outside strings.

    Escaped backslashes, then escaped quotes, go first (pairs taken left to right, as JSON
    does); then only quotes and brackets are kept. Two adjacent quotes enclose nothing or
    separate nothing, so they go too; what quotes are left enclose strings with brackets in
    them, cut out by splitting on quotes. Each `replace` then removes the innermost pairs,
    one level a pass. Every step is one C-speed pass over the bytes.
    """
    if b"\\" in payload:
        payload = payload.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = payload.translate(_BRACKETS, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in brackets:
        brackets = b"".join(brackets.split(b'"')[::2])
    for _ in range(max_depth):
        if not brackets:
            return
        fewer = brackets.replace(b"[]", b"")
        if len(fewer) == len(brackets):
            raise ContractError(Reason.NOT_JSON, "brackets do not pair up")
        brackets = fewer
    if brackets:
        if b"[]" not in brackets:
            raise ContractError(Reason.NOT_JSON, "brackets do not pair up")
        raise ContractError(Reason.TOO_DEEP, f"nested deeper than {max_depth} levels")


def loads(payload: bytes, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Decode one message's JSON, bounded in size and depth; ContractError if it is not."""
    if len(payload) > max_bytes:
        raise ContractError(Reason.TOO_LARGE, f"{len(payload)} bytes, the limit is {max_bytes}")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ContractError(Reason.NOT_JSON, f"not UTF-8: {exc}"[:200]) from exc
    _check_depth(payload, max_depth)
    try:
        return json.loads(
            text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys
        )
    except (ValueError, RecursionError) as exc:  # JSONDecodeError is a ValueError
        raise ContractError(Reason.NOT_JSON, str(exc)[:200]) from exc


def loads_object(
    payload: bytes, what: str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> dict[str, Any]:
    """`loads` for a message that must be a JSON object (a status, a config, a notice)."""
    body = loads(payload, max_bytes=max_bytes, max_depth=max_depth)
    if not isinstance(body, dict):
        raise ContractError(
            Reason.NOT_JSON, f"a {what} is a JSON object, got {type(body).__name__}"
        )
    return body
