"""Personal data in a document (placeholder until the detector lands)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PersonalHit:
    kind: str
    count: int
    line: int

    def reason(self) -> str:
        return f"personal data: {self.count} {self.kind}"


def find_personal_data(text: str, *, first_line: int = 1) -> list[PersonalHit]:
    return []
