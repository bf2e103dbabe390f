"""The configuration reference in docs/ is generated from the schema and must not go stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_configuration_reference_is_current() -> None:
    generated = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_config_docs.py")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    checked_in = (ROOT / "docs" / "configuration.md").read_text()
    assert checked_in == generated, "docs/configuration.md is stale: run `make docs`"
