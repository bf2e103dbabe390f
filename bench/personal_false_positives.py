"""How often personal-data detection flags clean code, and how fast it runs.

Scans every text file of the project's own sources (server/, tests/ less the
deliberate fixtures, client-vscode/src, docs/) and the installed sources of httpx,
pydantic and pygls (the venv's site-packages) with
``localroute.privacy.personal.find_personal_data``, as classification does on a whole
document. None of these files holds personal data, so every flagged file is a false
positive unless a person judges otherwise: each is listed with its reasons.

Prints a table per source (:mod:`bench.clean_code`), the time of a 5,000-line Python
file, and exits 1 when the share flagged is over the target (1 %). ``--wide`` adds every text file
of site-packages (thousands of files of other projects; a wider, harder sample, not
part of the target).

Run: `.venv/bin/python bench/personal_false_positives.py [--repeat 3] [--wide]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "server")]

from bench.clean_code import measure, package_dir, print_table, sources, verdict  # noqa: E402
from localroute.privacy.personal import find_personal_data  # noqa: E402

# Files that hold personal data (or credentials) on purpose; they are not clean code.
DELIBERATE_FIXTURES = {
    "tests/data/personal_corpus": "the personal-data corpus: synthetic records and traps",
    "tests/unit/test_personal_data.py": "the detector's unit tests: synthetic values",
    "tests/e2e/test_personal_data.py": "its end-to-end tests: a synthetic card number",
    "tests/data/secret_corpus": "the secret-detection corpus: credentials and traps",
}


def five_thousand_lines() -> str:
    """5,000 lines of real Python source: pydantic's, in file order."""
    lines: list[str] = []
    for path in sorted(package_dir("pydantic").rglob("*.py")):
        lines.extend(path.read_text(encoding="utf-8").splitlines())
        if len(lines) >= 5000:
            break
    return "\n".join(lines[:5000]) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="scans per file; the best is timed")
    parser.add_argument("--wide", action="store_true", help="also scan all of site-packages")
    args = parser.parse_args()

    results = {
        label: measure(files, args.repeat, find_personal_data)
        for label, files in sources(DELIBERATE_FIXTURES, wide=args.wide).items()
    }
    total = print_table("Personal-data detection over clean code", results, DELIBERATE_FIXTURES)
    for label, figures in results.items():
        if not figures.flagged:
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
    return verdict(total)


if __name__ == "__main__":
    raise SystemExit(main())
