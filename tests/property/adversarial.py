"""The hand-written adversarial paths and URIs of ``adversarial_paths.txt``."""

from __future__ import annotations

from pathlib import Path

from tests.property.tree import Tree

ADVERSARIAL_FILE = Path(__file__).with_name("adversarial_paths.txt")


class Adversarial:
    def __init__(self, expect: bool, raw: str, roots_raw: str, why: str) -> None:
        self.expect, self.raw, self.roots_raw, self.why = expect, raw, roots_raw, why

    def given(self, tree: Tree) -> str:
        return self.raw.replace("{ws}", tree.abs("ws")).replace("{base}", tree.base)

    def folders(self, tree: Tree) -> tuple[str, ...]:
        if self.roots_raw == "-":
            return ()
        if not self.roots_raw:
            return (tree.abs("ws"),)
        return tuple(
            r.strip().replace("{ws}", tree.abs("ws")).replace("{base}", tree.base)
            for r in self.roots_raw.split(",")
        )


def read_adversarial() -> list[Adversarial]:
    cases = []
    for line in ADVERSARIAL_FILE.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        expect, raw, roots, why = (part.strip() for part in line.split(" | "))
        assert expect in ("private", "public"), line
        cases.append(Adversarial(expect == "private", raw, roots, why))
    return cases


ADVERSARIAL = read_adversarial()
