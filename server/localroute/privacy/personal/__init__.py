"""Personal data in a document: checksummed identifiers and runs of contact details.

A document holding personal data is private: it never goes to a cloud model.
What counts (docs/personal-data.md has the full list and the reasons):

- a payment card number (issuer prefix and length, Luhn digit), an IBAN
  (country format and checksum): one is enough, wherever it is;
- a national ID number — US SSN, UK NHS number, Canadian SIN, German tax
  ID, French NIR, Spanish DNI/NIE, Dutch BSN, Indian Aadhaar and PAN,
  Brazilian CPF, Italian fiscal code — whose check digit or format
  validates *and* that a label names (``ssn``, ``"bsn":``, a CSV column
  ``cpf``): one is enough;
- e-mail addresses or phone numbers from :data:`RUN_THRESHOLD` distinct
  ones on: a fixture, an export or a log, not an author line.

Validation is python-stdnum's and phonenumbers'; regexes only find
candidates. The scans are precompiled regexes with possessive or bounded
repeats (linear on any text), and the validators only see candidates, so a
5,000-line source file costs a few milliseconds (bench/personal_false_positives.py
measures it).

Hits carry a kind, a count and a line, never a value.

This module is pure: stdlib, python-stdnum and phonenumbers; no pygls, no httpx.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from localroute.privacy.personal import contacts, ids, kinds
from localroute.privacy.personal.context import Document

RUN_THRESHOLD = 3
"""Distinct e-mail addresses (or phone numbers) from which a document holds personal data.

One is an author, two are a maintainer and a security contact; three people's
addresses are a list of people. Addresses that belong to no one are not counted.
"""

MAX_COUNTED = 100
"""Distinct values counted per kind; beyond it the count reads "100 or more"."""

PERSONAL_KINDS: dict[str, str] = {
    kinds.CARD: "payment card numbers",
    kinds.IBAN: "IBANs",
    kinds.US_SSN: "US social security numbers",
    kinds.UK_NHS: "UK NHS numbers",
    kinds.CA_SIN: "Canadian social insurance numbers",
    kinds.DE_TAX_ID: "German tax IDs",
    kinds.FR_NIR: "French social security numbers",
    kinds.ES_DNI: "Spanish DNIs",
    kinds.ES_NIE: "Spanish NIEs",
    kinds.NL_BSN: "Dutch citizen service numbers",
    kinds.IN_AADHAAR: "Indian Aadhaar numbers",
    kinds.IN_PAN: "Indian PANs",
    kinds.BR_CPF: "Brazilian CPF numbers",
    kinds.IT_FISCAL_CODE: "Italian fiscal codes",
    contacts.EMAIL: "e-mail addresses",
    contacts.PHONE: "phone numbers",
}
"""Every kind a hit may have, with its plural."""

WORK_PER_SCAN = 10_000
"""Candidates each scan (numbers, capitals, e-mail, international phones) may judge in
Python — label lookups and validator calls — per document. Cheap regex rejections are
free; this bounds a large or hostile document to well under a second. A scan that has
more candidates stops at this many, and what it did not judge is not ruled out: the
document gets an :data:`UNCHECKED` hit (a verdict is the whole text's, never a prefix's)."""

UNCHECKED = "unchecked"
"""The kind of the hit a document gets when a scan stopped before its end (its work or
validator budget spent) and nothing it judged was personal data: a data file too large
to judge whole may hold personal data past where the scan stopped, so it is private."""

_THRESHOLDS = {contacts.EMAIL: RUN_THRESHOLD, contacts.PHONE: RUN_THRESHOLD}


@dataclass(frozen=True)
class PersonalHit:
    """Personal data of one kind in a text: how many distinct values and the 1-based
    line of the first; never a value."""

    kind: str
    count: int
    line: int
    more: bool = False  # at least ``count``: counting stopped at MAX_COUNTED

    def reason(self) -> str:
        """``personal data: 14 e-mail addresses (first on line 2)``: the kind and the
        count, never a value."""
        if self.kind == UNCHECKED:
            return (
                "personal data not ruled out: more candidates than are checked per "
                f"document (numbers, addresses, IDs), unchecked from line {self.line} on"
            )
        noun = self.kind if self.count == 1 and not self.more else PERSONAL_KINDS[self.kind]
        count = f"{self.count} or more" if self.more else str(self.count)
        where = f"line {self.line}" if self.count == 1 else f"first on line {self.line}"
        return f"personal data: {count} {noun} ({where})"


class _Tally:
    def __init__(self) -> None:
        self.first: dict[str, int] = {}
        self.values: dict[str, set[str]] = {}
        self.more: set[str] = set()

    def add(self, kind: str, value: str, offset: int) -> None:
        values = self.values.setdefault(kind, set())
        if value in values:
            return
        if len(values) >= MAX_COUNTED:
            self.more.add(kind)
            return
        values.add(value)
        self.first[kind] = min(offset, self.first.get(kind, offset))

    def full(self, kind: str) -> bool:
        return kind in self.more


def find_personal_data(text: str, *, first_line: int = 1) -> list[PersonalHit]:
    """Find personal data in ``text``: one hit per kind, sorted by line.

    ``first_line`` is the number given to the first line of ``text``, so a
    selection reports lines of its file. E-mail addresses and phone numbers
    are reported from :data:`RUN_THRESHOLD` distinct ones on; every other kind
    from one.
    """
    doc = Document(text, work=WORK_PER_SCAN)
    tally = _Tally()
    # IBANs and the like first: the digits inside them are not numbers of their own.
    claimed_starts: list[int] = []
    claimed_ends: list[int] = []
    for kind, value, start, end in ids.uppercase_ids(doc):
        tally.add(kind, value, start)
        claimed_starts.append(start)
        claimed_ends.append(end)
    doc.work = WORK_PER_SCAN
    for run in ids.numeric_runs(doc):
        if claimed_starts:
            i = bisect.bisect_right(claimed_starts, run.start) - 1
            if i >= 0 and run.start < claimed_ends[i]:
                continue
        card = ids.card_in_run(run, doc)
        if card is not None:
            tally.add(kinds.CARD, card, run.start)
            continue
        national = ids.national_id_in_run(run, doc)
        if national is not None:
            tally.add(national[0], national[1], run.start)
            continue
        if not tally.full(contacts.PHONE):
            phone = contacts.phone_in_run(run, doc)
            if phone is not None:
                tally.add(contacts.PHONE, phone, run.start)
    doc.work = WORK_PER_SCAN
    for kind, value, offset in contacts.emails(doc):
        if tally.full(contacts.EMAIL):
            break
        tally.add(kind, value, offset)
    doc.work = WORK_PER_SCAN
    for kind, value, offset in contacts.international_phones(doc):
        if tally.full(contacts.PHONE):
            break
        tally.add(kind, value, offset)

    hits = [
        PersonalHit(
            kind,
            len(values),
            first_line + doc.line_index(tally.first[kind]),
            more=kind in tally.more,
        )
        for kind, values in tally.values.items()
        if len(values) >= _THRESHOLDS.get(kind, 1)
    ]
    if not hits and doc.unchecked_from is not None:
        hits.append(PersonalHit(UNCHECKED, 0, first_line + doc.line_index(doc.unchecked_from)))
    hits.sort(key=lambda hit: (hit.line, hit.kind))
    return hits


def personal_data_reasons(text: str, *, first_line: int = 1) -> list[str]:
    """The reasons :func:`find_personal_data` gives for ``text``, one per kind."""
    return [hit.reason() for hit in find_personal_data(text, first_line=first_line)]
