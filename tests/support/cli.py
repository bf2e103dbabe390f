"""The real command line, ``python -m localroute``, in a subprocess with places of its own.

Every run (and every ``localroute serve`` a test starts) gets an environment whose user
file, XDG configuration, state and cache homes are the test's, and whose ``PYTHONPATH`` is
this checkout's ``server/``, so the code under test is the code beside the tests::

    done = run_localroute("review", "src", "--format", "json", env=env_in(tmp_path, CONFIG),
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
LOCALROUTE = (sys.executable, "-m", "localroute")
"""The command that runs this checkout's command line (with :func:`localroute_env`)."""


def localroute_env(
    *,
    config: Path | None,
    config_home: Path,
    state_home: Path,
    cache_home: Path | None = None,
    home: Path | None = None,
    **extra: str,
) -> dict[str, str]:
    """This process's environment with the places given: the user file ``config`` (None:
    none is named), the XDG homes, ``HOME`` when given, then ``extra``."""
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(config_home),
        "XDG_STATE_HOME": str(state_home),
        "PYTHONPATH": str(ROOT / "server"),
    }
    env.pop("LOCALROUTE_CONFIG", None)
    if config is not None:
        env["LOCALROUTE_CONFIG"] = str(config)
    if cache_home is not None:
        env["XDG_CACHE_HOME"] = str(cache_home)
    if home is not None:
        env["HOME"] = str(home)
    env.update(extra)
    return env


def env_in(base: Path, config: str | None = None, **extra: str) -> dict[str, str]:
    """:func:`localroute_env` with everything under ``base``: the user file
    ``base/config.toml`` (written from ``config``, dedented; None leaves it as it is) and the
    XDG homes ``base/xdg``, ``base/state`` and ``base/cache``."""
    base.mkdir(parents=True, exist_ok=True)
    path = base / "config.toml"
    if config is not None:
        path.write_text(textwrap.dedent(config))
    return localroute_env(
        config=path,
        config_home=base / "xdg",
        state_home=base / "state",
        cache_home=base / "cache",
        **extra,
    )


def run_localroute(
    *args: str,
    env: dict[str, str],
    cwd: Path | None = None,
    timeout: float = 120,
    python_options: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """``python -m localroute ARGS``, nothing on its standard input; output captured."""
    return subprocess.run(
        [sys.executable, *python_options, "-m", "localroute", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def audit_entries(state_home: Path) -> list[dict[str, Any]]:
    """The audit log under the XDG state home ``state_home`` (empty when there is none)."""
    path = state_home / "localroute" / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
