"""The core's error root and the reason codes every contract rejection carries.

HofError
├── ContractError      a message breaks CONTRACT.md (reason code + detail)
├── ConfigError        settings that cannot work
└── StackError         a real part (Mosquitto, InfluxDB) would not start or answer
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ConfigError", "ContractError", "HofError", "Reason", "StackError"]


class Reason(StrEnum):
    """Why a message was rejected; stable codes used in logs, metrics and dead letters."""

    BAD_TOPIC = "bad_topic"
    TOO_LARGE = "too_large"
    NOT_JSON = "not_json"
    TOO_DEEP = "too_deep"
    NOT_SENML = "not_senml"
    EMPTY_PACK = "empty_pack"
    TOO_MANY_RECORDS = "too_many_records"
    BAD_FIELD = "bad_field"
    UNSUPPORTED_VERSION = "unsupported_version"
    BAD_NAME = "bad_name"
    BASE_NAME_MISMATCH = "base_name_mismatch"
    NO_VALUE = "no_value"
    WRONG_VALUE_TYPE = "wrong_value_type"
    UNKNOWN_UNIT = "unknown_unit"
    OUT_OF_RANGE = "out_of_range"
    BAD_TIME = "bad_time"
    DUPLICATE_RECORD = "duplicate_record"
    RETAINED = "retained"
    STORAGE_REJECTED = "storage_rejected"
    INTERNAL_ERROR = "internal_error"  # the service failed on it: a bug, logged with its trace


class HofError(Exception):
    """Root of every error the platform raises on purpose."""


class ContractError(HofError):
    """A message breaks the wire contract; `reason` is a stable code, `detail` says exactly how."""

    def __init__(self, reason: Reason, detail: str, *, index: int | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.index = index
        where = f" (record {index})" if index is not None else ""
        super().__init__(f"{reason.value}{where}: {detail}")


class ConfigError(HofError):
    """Settings that cannot work (bad values, placeholder secrets outside development)."""


class StackError(HofError):
    """A real part of the local stack would not start, answer or stop."""
