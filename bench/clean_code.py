"""What the false-positive benchmarks share: the clean code they scan and its table.

``bench/secret_false_positives.py`` and ``bench/personal_false_positives.py`` each run
one detector over the same corpus — the project's own sources less the fixtures that
hold such data on purpose, and the installed sources of httpx, pydantic and pygls — and
print the same table: files scanned, files flagged, share flagged, MB, ms per MB. Times
are the process's CPU time, best of ``repeat`` scans per file, so that other work on a
shared machine counts less.
"""

from __future__ import annotations

import importlib.util
import sys
import sysconfig
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET_SHARE = 0.01
PROJECT_DIRS = ("server", "tests", "client-vscode/src", "docs")
PACKAGES = ("httpx", "pydantic", "pygls")
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", ".git", ".mypy_cache", "dist", "out"})
MAX_BYTES = 4_000_000  # classification sees documents of up to about 2 MB
WIDE = "site-packages (wide)"
"""The label of ``--wide``'s extra source, which is shown but not part of the target."""

Files = list[tuple[str, Path]]
"""(name shown, path) of each file to scan."""


@dataclass
class Figures:
    files: int = 0
    chars: int = 0
    seconds: float = 0.0
    flagged: dict[str, list[Any]] = field(default_factory=dict)

    def add(self, other: Figures) -> None:
        self.files += other.files
        self.chars += other.chars
        self.seconds += other.seconds
        self.flagged.update(other.flagged)

    @property
    def share(self) -> float:
        return len(self.flagged) / self.files if self.files else 0.0


def text_of(path: Path) -> str | None:
    """The file's text, or None for a binary, non-UTF-8, huge or unreadable file."""
    try:
        if path.stat().st_size > MAX_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def files_under(base: Path) -> list[Path]:
    return sorted(
        path
        for path in base.rglob("*")
        if path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(base).parts)
    )


def package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not installed in this environment ({sys.executable})")
    return Path(next(iter(spec.submodule_search_locations)))


def sources(fixtures: Mapping[str, str], *, wide: bool = False) -> dict[str, Files]:
    """Label -> files to scan: the project's (less ``fixtures``), each package's, and with
    ``wide`` every file of site-packages."""

    def excluded(relative: str) -> bool:
        return any(relative == f or relative.startswith(f + "/") for f in fixtures)

    project = [
        (path.relative_to(ROOT).as_posix(), path)
        for directory in PROJECT_DIRS
        for path in files_under(ROOT / directory)
        if not excluded(path.relative_to(ROOT).as_posix())
    ]
    found = {"localroute (project)": project}
    for name in PACKAGES:
        base = package_dir(name)
        found[name] = [
            (f"{name}/{path.relative_to(base).as_posix()}", path) for path in files_under(base)
        ]
    if wide:
        base = Path(sysconfig.get_paths()["purelib"])
        found[WIDE] = [(path.relative_to(base).as_posix(), path) for path in files_under(base)]
    return found


def measure(files: Files, repeat: int, detect: Callable[[str], Sequence[Any]]) -> Figures:
    """``detect`` over every text file, the best of ``repeat`` CPU times each."""
    figures = Figures()
    for shown, path in files:
        text = text_of(path)
        if text is None:
            continue
        best = float("inf")
        hits: Sequence[Any] = ()
        for _ in range(repeat):
            began = time.process_time()
            hits = detect(text)
            best = min(best, time.process_time() - began)
        figures.files += 1
        figures.chars += len(text)
        figures.seconds += best
        if hits:
            figures.flagged[shown] = list(hits)
    return figures


def print_table(title: str, results: Mapping[str, Figures], fixtures: Mapping[str, str]) -> Figures:
    """The table (the wide source, if any, below the total) and the excluded fixtures;
    returns the total of the target corpus."""
    total = Figures()
    for label, figures in results.items():
        if label != WIDE:
            total.add(figures)
    rows = [(k, v) for k, v in results.items() if k != WIDE] + [("total", total)]
    rows += [(k, v) for k, v in results.items() if k == WIDE]
    print(f"{title} (text files; a flagged file is one with a hit)")
    print()
    print("| source | files scanned | files flagged | share flagged | MB | ms per MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, figures in rows:
        mb = figures.chars / 1e6
        share = f"{figures.share:.2%}" if figures.files else "-"
        speed = f"{figures.seconds * 1000 / mb:.1f}" if mb else "-"
        name = f"**{label}**" if label == "total" else label
        print(
            f"| {name} | {figures.files:,} | {len(figures.flagged)} | {share} | {mb:.2f} | "
            f"{speed} |"
        )
    print()
    print("Excluded as deliberate fixtures:")
    for fixture, reason in fixtures.items():
        print(f"  {fixture}: {reason}")
    return total


def verdict(total: Figures) -> int:
    """Prints the share against the target; the exit status (1: over it)."""
    within = total.share <= TARGET_SHARE
    print(
        f"share flagged {total.share:.2%}: {'within' if within else 'OVER'} "
        f"the target of {TARGET_SHARE:.0%}"
    )
    return 0 if within else 1
