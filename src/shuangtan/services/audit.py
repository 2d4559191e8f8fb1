"""The audit trail's arithmetic: canonical JSON, state hashes and the SHA-256 chain.

Every state change and data edit appends one record. A record's hash covers the hash of the
record before it and the canonical JSON of its own fields, so changing, removing or reordering
any record breaks every link after it; ``before_sha256`` and ``after_sha256`` are hashes of the
changed entity's whole state, so a later direct edit of the entity no longer matches the last
record that names it.

Canonical JSON is ``orjson`` with sorted keys: floats in their shortest round-trip form (the
stored value, to the last bit), datetimes as ISO 8601 (naive UTC, microseconds when present),
bytes replaced by their SHA-256. The same state read from SQLite or PostgreSQL hashes the same.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any, Final

import orjson

__all__ = [
    "GENESIS",
    "RECORD_FIELDS",
    "canonical",
    "record_hash",
    "state_hash",
]

#: The link before the first record.
GENESIS: Final = "0" * 64

#: The fields of a record that its hash covers, in the order they are stored.
RECORD_FIELDS: Final = (
    "seq",
    "at",
    "actor_id",
    "actor",
    "org_id",
    "action",
    "entity",
    "entity_id",
    "before_sha256",
    "after_sha256",
    "detail",
)


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"sha256": hashlib.sha256(bytes(value)).hexdigest()}
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot hash a {type(value).__name__}")


def canonical(value: Any) -> bytes:
    """Canonical JSON bytes of ``value`` (sorted keys, exact floats, bytes as their SHA-256).

    Raises
    ------
    TypeError
        A value of a type with no canonical form (NaN and infinities included).
    """
    try:
        return orjson.dumps(
            value, default=_default, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
        )
    except orjson.JSONEncodeError as exc:
        raise TypeError(str(exc)) from None


def state_hash(state: Mapping[str, Any]) -> str:
    """SHA-256 [hex] of an entity's state (its columns, and its parts where it has them)."""
    return hashlib.sha256(canonical(state)).hexdigest()


def record_hash(prev_sha256: str, fields: Mapping[str, Any]) -> str:
    """SHA-256 [hex] of one audit record, linked to the record before it.

    Parameters
    ----------
    prev_sha256 : str
        The previous record's hash (:data:`GENESIS` for the first).
    fields : Mapping
        The record's :data:`RECORD_FIELDS`; ``at`` a naive UTC datetime, ``detail`` the
        stored JSON text.
    """
    missing = [name for name in RECORD_FIELDS if name not in fields]
    if missing:
        raise KeyError(f"audit record lacks {', '.join(missing)}")
    body = {name: fields[name] for name in RECORD_FIELDS}
    at = body["at"]
    if isinstance(at, dt.datetime):
        body["at"] = at.isoformat(timespec="microseconds")
    return hashlib.sha256(prev_sha256.encode("ascii") + b"\n" + canonical(body)).hexdigest()
