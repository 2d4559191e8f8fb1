"""The generated factor table in docs/ matches the packaged library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_factor_table_is_current() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_factor_table.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr + "\nrun `make docs`"


def test_every_method_has_a_methodology_page() -> None:
    from shuangtan.services.requests import METHODS

    for method in METHODS:
        assert (ROOT / "docs" / "methodology" / f"{method}.md").is_file(), method
