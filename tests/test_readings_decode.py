"""The HTTP readings decoder: the typed fast path agrees with the checked path on every body.

``_decode_json`` decodes a well-formed body straight into typed objects (msgspec) and sends
any other body to ``_decode_json_checked``, which names the offending member. These tests
hold the two to the same answer, so the fast path can never accept what the checks refuse
or read a value differently.
"""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shuangtan.errors import InputError
from shuangtan.web.readings_api import _decode_json, _decode_json_checked

# NUL is refused before either path runs (test_bad_bodies_name_the_field).
_TEXT = st.characters(exclude_characters="\x00")
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(_TEXT, max_size=12),
)
_READING = st.fixed_dictionaries(
    {
        "meter": st.one_of(st.text(_TEXT, min_size=1, max_size=8), st.integers(0, 10**6)),
        "ts": _SCALARS,
        "value": _SCALARS,
    },
    optional={
        "unit": st.one_of(st.none(), st.text(_TEXT, max_size=5), st.integers()),
        "extra": _SCALARS,
    },
)
_ELEMENT = st.one_of(_READING, _SCALARS, st.lists(_SCALARS, max_size=2))
_BODY = st.one_of(
    st.fixed_dictionaries({"readings": st.lists(_ELEMENT, max_size=6)}),
    st.fixed_dictionaries({"readings": _SCALARS}),
    st.dictionaries(st.text(_TEXT, max_size=9), st.lists(_READING, max_size=2), max_size=2),
    st.lists(_READING, max_size=2),
)


def _answer(body: bytes) -> Any:
    try:
        return [tuple(r) for r in _decode_json(body)]
    except InputError as exc:
        return ("error", exc.field, str(exc))


def _checked(body: bytes) -> Any:
    try:
        return [tuple(r) for r in _decode_json_checked(body)]
    except InputError as exc:
        return ("error", exc.field, str(exc))


def _same(fast: Any, checked: Any) -> bool:
    if isinstance(fast, tuple) or isinstance(checked, tuple):
        return bool(fast == checked)
    if len(fast) != len(checked):
        return False
    for a, b in zip(fast, checked, strict=True):
        for x, y in zip(a, b, strict=True):
            if isinstance(x, float) or isinstance(y, float):
                if not (type(x) is type(y) and (x == y or (math.isnan(x) and math.isnan(y)))):
                    return False
            elif x != y or type(x) is not type(y):
                return False
    return True


@settings(max_examples=300, deadline=None)
@given(_BODY)
def test_fast_and_checked_paths_agree(document: Any) -> None:
    body = orjson.dumps(document)
    fast, checked = _answer(body), _checked(body)
    assert _same(fast, checked), (body, fast, checked)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"readings":[{"meter":"\xff","ts":"x","value":1}]}', "$"),  # not UTF-8 in a string
        (b'{"readings":[{"meter":"a","ts":"x","value":1}]} trailing', "$"),
        (b'{"readings":[{"meter":"a","ts":"x","value":1,"Unit":"kWh"}]}', "readings[0]"),
        (b'{"readings":[{"meter":true,"ts":"x","value":1}]}', "readings[0].meter"),
        (b'{"readings":[{"meter":"a\\u0000","ts":"x","value":1}]}', "$"),
        (b'{"readings":{"meter":"a"}}', "readings"),
    ],
)
def test_bad_bodies_name_the_field(body: bytes, field: str) -> None:
    with pytest.raises(InputError) as caught:
        _decode_json(body)
    assert caught.value.field == field


def test_well_formed_body_keeps_every_member() -> None:
    body = (
        b'{"readings":[{"meter":"M1","ts":"2025-01-01T00:15:00+08:00","value":1.5},'
        b'{"meter":"M2","ts":"2025-01-01T00:15:00+08:00","value":"2","unit":"MWh"}]}'
    )
    assert [tuple(r) for r in _decode_json(body)] == [
        ("M1", "2025-01-01T00:15:00+08:00", 1.5, None, "readings[0]"),
        ("M2", "2025-01-01T00:15:00+08:00", "2", "MWh", "readings[1]"),
    ]
