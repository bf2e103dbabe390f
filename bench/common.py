"""What every benchmark shares: paths, an isolated environment, statistics, result rows.

Every server or CLI process a benchmark starts runs this checkout's code
(``PYTHONPATH=<checkout>/server``) with a private HOME and XDG folders, so neither a
user's configuration nor their audit log takes part, and no credential in the caller's
environment reaches it.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SERVER_SRC = ROOT / "server"
PYTHON = sys.executable

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SOURCE = "def divide(a, b):\n    total = a / b\n    return total\n" * 20
"""The document reviewed: 60 lines of ordinary, non-private code."""

ANSWER = '{"findings": [{"line": 2, "severity": "warning", "message": "b may be zero"}]}'
"""The fake model's answer: one finding, streamed."""

_KEPT_VARIABLES = ("PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


def isolated_env(home: Path, config: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment of a process under measurement: this checkout's sources first,
    a private HOME and XDG folders under ``home``, and ``LOCALROUTE_CONFIG`` if given."""
    env = {k: v for k, v in os.environ.items() if k in _KEPT_VARIABLES}
    env.update(
        PYTHONPATH=str(SERVER_SRC),
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_STATE_HOME=str(home / "state"),
        XDG_CACHE_HOME=str(home / "cache"),
    )
    if config is not None:
        env["LOCALROUTE_CONFIG"] = str(config)
    env.update(extra)
    return env


@contextmanager
def scratch() -> Iterator[Path]:
    """A temporary folder for one benchmark: HOME, configuration, workspace."""
    with tempfile.TemporaryDirectory(prefix="localroute-bench-") as tmp:
        path = Path(tmp)
        (path / "ws").mkdir()
        yield path


def openai_backend(name: str, url: str, **keys: Any) -> str:
    """One ``[backends.NAME]`` table of kind openai."""
    lines = [f"[backends.{name}]", 'kind = "openai"', f'url = "{url}"']
    for key, value in keys.items():
        lines.append(f"{key} = {_toml(value)}")
    return "\n".join(lines) + "\n"


def review_task(*route: str) -> str:
    entries = ", ".join(f'"{entry}"' for entry in route)
    return f"[tasks.review]\nroute = [{entries}]\n[tasks.explain]\nroute = [{entries}]\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return f'"{value}"'


# -- statistics --------------------------------------------------------------------------------


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples) if samples else math.nan


def p90(samples: Sequence[float]) -> float:
    if len(samples) < 2:
        return samples[0] if samples else math.nan
    return statistics.quantiles(samples, n=10, method="inclusive")[-1]


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` shows them."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def rss_mib(pid: int) -> float:
    """Resident set size of a live process (Linux ``/proc``), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


# -- results -----------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the table: a figure against its baseline measured in the same run."""

    key: str
    what: str
    goal: str
    baseline: str
    measured: str
    delta: str
    passed: bool | None
    """None: informational, no goal."""
    value: float
    """The compared figure as a number (the ratio or difference): repeated runs are
    summarised by the run whose value is the median."""
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if self.passed is None:
            return "info"
        return "pass" if self.passed else "FAIL"

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"verdict": self.verdict}


def ms(value: float) -> str:
    return f"{value:.2f} ms" if value < 100 else f"{value:.0f} ms"
