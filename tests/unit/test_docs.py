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


def test_routing_guide_configuration_is_accepted(tmp_path: Path) -> None:
    import re

    text = (ROOT / "docs" / "routing.md").read_text()
    (block,) = re.findall(r"```toml\n(.*?)```", text, re.DOTALL)
    path = tmp_path / "config.toml"
    path.write_text(block)
    checked = subprocess.run(
        [sys.executable, "-m", "localroute", "config", "check", str(path)],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    assert checked.stderr == ""

    from localroute.config import sources

    loaded = sources.load(env={"LOCALROUTE_CONFIG": str(path), "XDG_CONFIG_HOME": str(tmp_path)})
    assert loaded.problems == ()
    assert {"quick", "long", "reasoning", "private"} <= set(loaded.config.tasks)
    assert loaded.config.backends["homelab"].kind == "ollama"
