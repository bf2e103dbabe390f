"""How often credential detection flags clean code, and how fast it runs.

Scans every text file of the project's own sources (server/, tests/ less the
secret-detection corpus, client-vscode/src, docs/) and the installed sources
of httpx, pydantic and pygls (the venv's site-packages) with
``localroute.privacy.secrets.find_secrets``, as classification does on a whole
document. None of these files holds a live credential, so every flagged file is a
false positive, unless it is a fixture that holds a credential-shaped string on
purpose: each flagged file is listed with the kinds and lines that fired, for a person
to judge.

Prints a table per source (:mod:`bench.clean_code`) and exits 1 when the share flagged
is over the target (1 %).

Run: `.venv/bin/python bench/secret_false_positives.py [--repeat 3]`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "server")]

from bench.clean_code import measure, print_table, sources, verdict  # noqa: E402
from localroute.privacy.secrets import SecretHit, find_secrets  # noqa: E402

# Files that hold credential-shaped text on purpose; they are not clean code. Each with
# the reason. (The detector's unit and property tests assemble their credentials at
# run time, so their sources are clean and scanned.)
DELIBERATE_FIXTURES = {
    "tests/data/secret_corpus": "the secret-detection corpus: credentials and traps",
}


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

    results = {
        label: measure(files, args.repeat, find_secrets)
        for label, files in sources(DELIBERATE_FIXTURES).items()
    }
    total = print_table("Credential detection over clean code", results, DELIBERATE_FIXTURES)
    print()
    print("Flagged files (each to be judged by a person):" if total.flagged else "No file flagged.")
    for shown, hits in sorted(total.flagged.items()):
        print(f"  {shown}: {_describe(hits)}")
    print()
    return verdict(total)


if __name__ == "__main__":
    raise SystemExit(main())
