"""How often personal-data detection flags clean code, and how fast it runs.

Scans every text file of the project's own sources (server/, tests/ less the
deliberate fixtures, client-vscode/src, docs/) and the installed sources of httpx,
pydantic and pygls (the venv's site-packages) with
``localroute.privacy.personal.find_personal_data``, as classification does on a whole
document. None of these files holds personal data, so every flagged file is a false
positive unless a person judges otherwise: each is listed with its reasons.

Prints a table per source (files scanned, files flagged, share flagged, MB, ms per MB),
the time of a 5,000-line Python file, and exits 1 when the share flagged is over the
target (1 %). Times are the process's CPU time, best of ``--repeat`` scans per file,
so that other work on a shared machine counts less. ``--wide`` adds every text file
of site-packages (thousands of files of other projects; a wider, harder sample, not
part of the target).

Run: `.venv/bin/python bench/personal_false_positives.py [--repeat 3] [--wide]`.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from localroute.privacy.personal import PersonalHit, find_personal_data  # noqa: E402

TARGET_SHARE = 0.01
PROJECT_DIRS = ("server", "tests", "client-vscode/src", "docs")
PACKAGES = ("httpx", "pydantic", "pygls")
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", ".git", ".mypy_cache", "dist", "out"})
MAX_BYTES = 4_000_000  # classification sees documents of up to about 2 MB

# Files that hold personal data (or credentials) on purpose; they are not clean code.
DELIBERATE_FIXTURES = {
    "tests/data/personal_corpus": "the personal-data corpus: synthetic records and traps",
    "tests/unit/test_personal_data.py": "the detector's unit tests: synthetic values",
    "tests/data/secret_corpus": "the secret-detection corpus: credentials and traps",
}


@dataclass
class Figures:
    files: int = 0
    chars: int = 0
    seconds: float = 0.0
    flagged: dict[str, list[PersonalHit]] = field(default_factory=dict)


def _text_of(path: Path) -> str | None:
    """The file's text, or None for a binary, non-UTF-8 or huge file."""
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


def _files_under(base: Path) -> list[Path]:
    return sorted(
        path
        for path in base.rglob("*")
        if path.is_file() and not SKIPPED_DIRS.intersection(path.relative_to(base).parts)
    )


def _excluded(relative: str) -> bool:
    return any(relative == f or relative.startswith(f + "/") for f in DELIBERATE_FIXTURES)


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name} is not installed in this environment ({sys.executable})")
    return Path(next(iter(spec.submodule_search_locations)))


def sources(wide: bool) -> dict[str, list[tuple[str, Path]]]:
    """Label -> (name shown, path) of every file to scan."""
    project: list[tuple[str, Path]] = []
    for directory in PROJECT_DIRS:
        for path in _files_under(ROOT / directory):
            relative = path.relative_to(ROOT).as_posix()
            if not _excluded(relative):
                project.append((relative, path))
    found = {"localroute (project)": project}
    for name in PACKAGES:
        base = _package_dir(name)
        found[name] = [
            (f"{name}/{path.relative_to(base).as_posix()}", path) for path in _files_under(base)
        ]
    if wide:
        base = Path(sysconfig.get_paths()["purelib"])
        found["site-packages (wide)"] = [
            (path.relative_to(base).as_posix(), path) for path in _files_under(base)
        ]
    return found


def measure(files: list[tuple[str, Path]], repeat: int) -> Figures:
    figures = Figures()
    for shown, path in files:
        text = _text_of(path)
        if text is None:
            continue
        best = float("inf")
        hits: list[PersonalHit] = []
        for _ in range(repeat):
            began = time.process_time()
            hits = find_personal_data(text)
            best = min(best, time.process_time() - began)
        figures.files += 1
        figures.chars += len(text)
        figures.seconds += best
        if hits:
            figures.flagged[shown] = hits
    return figures


def _share(flagged: int, files: int) -> str:
    return f"{flagged / files:.2%}" if files else "-"


def _ms_per_mb(figures: Figures) -> str:
    mb = figures.chars / 1e6
    return f"{figures.seconds * 1000 / mb:.1f}" if mb else "-"


def five_thousand_lines() -> str:
    """5,000 lines of real Python source: pydantic's, in file order."""
    lines: list[str] = []
    for path in sorted(_package_dir("pydantic").rglob("*.py")):
        lines.extend(path.read_text(encoding="utf-8").splitlines())
        if len(lines) >= 5000:
            break
    return "\n".join(lines[:5000]) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="scans per file; the best is timed")
    parser.add_argument("--wide", action="store_true", help="also scan all of site-packages")
    args = parser.parse_args()

    results = {label: measure(files, args.repeat) for label, files in sources(args.wide).items()}
    total = Figures()
    for label, figures in results.items():
        if label.endswith("(wide)"):
            continue
        total.files += figures.files
        total.chars += figures.chars
        total.seconds += figures.seconds
        total.flagged.update(figures.flagged)

    print("Personal-data detection over clean code (text files; a flagged file is one with a hit)")
    print()
    print("| source | files scanned | files flagged | share flagged | MB | ms per MB |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = [(k, v) for k, v in results.items() if not k.endswith("(wide)")]
    rows.append(("total", total))
    rows += [(k, v) for k, v in results.items() if k.endswith("(wide)")]
    for label, figures in rows:
        name = f"**{label}**" if label == "total" else label
        print(
            f"| {name} | {figures.files:,} | {len(figures.flagged)} | "
            f"{_share(len(figures.flagged), figures.files)} | {figures.chars / 1e6:.2f} | "
            f"{_ms_per_mb(figures)} |"
        )
    print()
    print("Excluded as deliberate fixtures:")
    for fixture, reason in DELIBERATE_FIXTURES.items():
        print(f"  {fixture}: {reason}")
    for label, figures in rows:
        if label == "total" or not figures.flagged:
            continue
        print()
        print(f"Flagged in {label} (each to be judged by a person):")
        for shown, hits in sorted(figures.flagged.items()):
            print(f"  {shown}: {'; '.join(hit.reason() for hit in hits)}")
    if not total.flagged:
        print()
        print("No file of the target corpus flagged.")

    text = five_thousand_lines()
    runs = []
    for _ in range(max(args.repeat, 5) * 4):
        began = time.process_time()
        find_personal_data(text)
        runs.append(time.process_time() - began)
    print()
    print(
        f"5,000-line Python file ({len(text) / 1e3:.0f} kB): best {min(runs) * 1e3:.2f} ms, "
        f"median {statistics.median(runs) * 1e3:.2f} ms (CPU time)"
    )

    share = len(total.flagged) / total.files if total.files else 0.0
    verdict = "within" if share <= TARGET_SHARE else "OVER"
    print(f"share flagged {share:.2%}: {verdict} the target of {TARGET_SHARE:.0%}")
    return 0 if share <= TARGET_SHARE else 1


if __name__ == "__main__":
    raise SystemExit(main())
