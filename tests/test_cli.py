"""The ``shuangtan`` command line, run as a user runs it: a subprocess, stdin and files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ACCEPTANCE = (
    '{"id":"a","method":"electricity","amount":1000,"unit":"MWh","region":"河北","year":2022}'
)


def shuangtan(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("shuangtan")
    return subprocess.run(
        [str(exe), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "120"},
        check=False,
    )


def test_acceptance_line_prints_725_2_with_source() -> None:
    done = shuangtan("calc", stdin=ACCEPTANCE + "\n")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["co2e_t"] == 725.2
    assert "725.2," in done.stdout  # printed as such, not 725.1999999999999
    factor = out["factors"][0]
    assert factor["value"] == 0.7252
    assert factor["region"] == "CN-HE"
    assert "2022年电力二氧化碳排放因子" in factor["source"]


@pytest.mark.parametrize("engine", ["vector", "record"])
def test_file_with_bad_lines_exits_1_without_traceback(tmp_path: Path, engine: str) -> None:
    path = tmp_path / "in.jsonl"
    path.write_text(
        ACCEPTANCE + "\n"
        '{"id":"b","method":"fuel_combustion","fuel":"unobtainium","amount":1,"unit":"t"}\n'
        "\n"
        '{"id": oops\n'
        '{"id":"c","method":"heat","amount":5,"year":2022}\n',
        encoding="utf-8",
    )
    done = shuangtan("calc", str(path), "--engine", engine)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    lines = [json.loads(x) for x in done.stdout.splitlines()]
    assert [x.get("id") for x in lines] == ["a", "b", None, None, "c"]
    assert lines[1]["error"]["field"] == "fuel"
    assert lines[4]["co2e_t"] == 0.55


def test_missing_file_and_bad_engine_are_usage_errors(tmp_path: Path) -> None:
    done = shuangtan("calc", str(tmp_path / "nope.jsonl"))
    assert done.returncode == 2
    assert "cannot read" in done.stderr
    assert "Traceback" not in done.stderr
    done = shuangtan("calc", "--engine", "turbo", stdin="")
    assert done.returncode == 2
    assert "--engine" in done.stderr


def test_empty_input_is_fine() -> None:
    done = shuangtan("calc", stdin="")
    assert done.returncode == 0
    assert done.stdout == ""


def test_demo_prints_the_sample_inventory() -> None:
    done = shuangtan("demo", "sample", "--lang", "en")
    assert done.returncode == 0, done.stderr
    assert "GHG inventory 2022" in done.stdout
    assert "Purchased electricity" in done.stdout
    done = shuangtan("demo", "sample")
    assert "温室气体排放清单" in done.stdout


def test_factors_commands() -> None:
    done = shuangtan("factors", "validate")
    assert done.returncode == 0
    assert done.stdout.startswith("ok: ")
    done = shuangtan("factors", "search", "cn.electricity.ets")
    assert done.returncode == 0
    assert "0.5703" in done.stdout
