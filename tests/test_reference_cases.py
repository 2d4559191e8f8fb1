"""Reference cases from published sources: each row of reference/cases.jsonl cites its source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import calc_one

CASES = [
    json.loads(line)
    for line in (Path(__file__).parent / "reference" / "cases.jsonl")
    .read_text("utf-8")
    .splitlines()
    if line.strip()
]


def _get(obj: dict[str, Any], path: str) -> float:
    value: Any = obj
    for part in path.split("."):
        value = value[part]
    return float(value)


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_reference_case(case: dict[str, Any]) -> None:
    assert case["source"], "every reference case cites its source"
    out = calc_one({"id": case["case"], **case["record"]})
    assert "error" not in out, out
    for path, expected in case["expect"].items():
        got = _get(out, path)
        if case.get("exact"):
            assert got == expected, (path, got, expected)
        elif "abs" in case:
            assert got == pytest.approx(expected, abs=case["abs"]), path
        else:
            assert got == pytest.approx(expected, rel=case["rel"]), path
    for factor in out["factors"]:
        assert factor["source"], factor
        assert factor["status"], factor
