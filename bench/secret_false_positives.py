"""How often credential detection flags clean code, and how fast it runs.

Scans every text file of the project's own sources (server/, tests/ less the
secret-detection corpus, client-vscode/src, docs/) and the installed sources
of httpx, pydantic and pygls (the venv's site-packages) with
``localroute.privacy.secrets.find_secrets``, as classification does on a whole
document. None of these files holds a live credential, so every flagged file is a
false positive, unless it is a fixture that holds a credential-shaped string on
purpose: each flagged file is listed with the kinds and lines that fired, for a person
to judge.

Prints a table per source (files scanned, files flagged, share flagged, MB, ms per MB)
and exits 1 when the share flagged is over the target (1 %). Times are the process's
CPU time, best of ``--repeat`` scans per file, so that other work on a shared machine
counts less.

Run: `.venv/bin/python bench/secret_false_positives.py [--repeat 3]`.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))

from localroute.privacy.secrets import SecretHit, find_secrets  # noqa: E402

TARGET_SHARE = 0.01
PROJECT_DIRS = ("server", "tests", "client-vscode/src", "docs")
PACKAGES = ("httpx", "pydantic", "pygls")
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules", ".git", ".mypy_cache", "dist", "out"})

# Files that hold credential-shaped text on purpose; they are not clean code. Each with
# the reason. (The detector's unit and property tests assemble their credentials at
# run time, so their sources are clean and scanned.)
DELIBERATE_FIXTURES = {
    "tests/data/secret_corpus": "the secret-detection corpus: credentials and traps",
}


@dataclass
class Figures:
    files: int = 0
    chars: int = 0
    seconds: float = 0.0
    flagged: dict[str, list[SecretHit]] = field(default_factory=dict)


def _text_of(path: Path) -> str | None:
    """The file's text, or None for a binary or non-UTF-8 file."""
    data = path.read_bytes()
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


def sources() -> dict[str, list[tuple[str, Path]]]:
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
    return found


def measure(files: list[tuple[str, Path]], repeat: int) -> Figures:
    figures = Figures()
    for shown, path in files:
        text = _text_of(path)
        if text is None:
            continue
        best = float("inf")
        hits: list[SecretHit] = []
        for _ in range(repeat):
            began = time.process_time()
            hits = find_secrets(text)
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


def _describe(hits: list[SecretHit]) -> str:
    by_kind: dict[str, list[int]] = {}
    for hit in hits:
        by_kind.setdefault(hit.kind, []).append(hit.line)
    return "; ".join(
        f"{kind} (line{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines[:5]))}"
        f"{', ...' if len(lines) > 5 else ''})"
        for kind, lines in sorted(by_kind.items())
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="scans per file; the best is timed")
    args = parser.parse_args()

    results = {label: measure(files, args.repeat) for label, files in sources().items()}
    total = Figures()
    for figures in results.values():
        total.files += figures.files
        total.chars += figures.chars
        total.seconds += figures.seconds
        total.flagged.update(figures.flagged)

    print("Credential detection over clean code (text files; a flagged file is one with a hit)")
    print()
    print("| source | files scanned | files flagged | share flagged | MB | ms per MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, figures in [*results.items(), ("total", total)]:
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
    print()
    print("Flagged files (each to be judged by a person):" if total.flagged else "No file flagged.")
    for shown, hits in sorted(total.flagged.items()):
        print(f"  {shown}: {_describe(hits)}")
    share = len(total.flagged) / total.files if total.files else 0.0
    print()
    verdict = "within" if share <= TARGET_SHARE else "OVER"
    print(f"share flagged {share:.2%}: {verdict} the target of {TARGET_SHARE:.0%}")
    return 0 if share <= TARGET_SHARE else 1


if __name__ == "__main__":
    raise SystemExit(main())
