"""Checksummed identifiers: payment card numbers, IBANs and national ID numbers.

Candidates are found by two cheap scans (a run of digits and separators, a
capital at a word start followed by digits) and then judged by python-stdnum's
validators: the Luhn digit of a card, the ISO 13616 checksum and country
format of an IBAN, each national number's own check digit or format rules.
A card number or an IBAN counts wherever it is; a national ID number only
where a label names it (see :mod:`.context`), since many 9- to
12-digit numbers in code pass a check digit by chance. Documented test card
numbers, the textbook example IBANs and obvious placeholders (``123456789``,
one digit repeated) are not personal data.

This module is pure: stdlib and python-stdnum only.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from localroute.privacy.personal import kinds
from localroute.privacy.personal.context import Document
from localroute.privacy.personal.kinds import (
    BR_CPF,
    CA_SIN,
    DE_TAX_ID,
    ES_DNI,
    ES_NIE,
    FR_NIR,
    IBAN,
    IN_AADHAAR,
    IN_PAN,
    IT_FISCAL_CODE,
    NL_BSN,
    UK_NHS,
    US_SSN,
)

Found = tuple[str, str, int]
"""(kind, normalised value, offset): the value only counts distinct ones and never leaves."""

# A digit that starts a stretch of digits and single separators — not glued to a word,
# a decimal point, a path or a "+", not the middle of "+33 6 12 ..." (checked after the
# digit: a leading lookbehind would cost the scan its fast first-character search) —
# then at least seven more digits or separators. Possessive, so that a long run costs
# one pass; runs are split and judged in Python.
_NUMERIC = re.compile(r"[0-9](?<![\w.+/@\-][0-9])(?<![0-9][ .\-][0-9])[0-9 .\-]{7,}+")
_MAX_WIDE = 50_000  # stretches of digits looked at per document (a 2 MB log has fewer)
_RUN = re.compile(r"[0-9]++(?:[ .\-][0-9]++)*+")
_RUN_REJECT_BEFORE = frozenset("_.+/@-")
_MAX_RUN = 128  # a longer run of separated digits is a table of numbers (see _spaced_numbers)
_SEPARATOR = re.compile(r"[ .\-]")
_DROP_DIGITS = str.maketrans("", "", "0123456789")

# Two capitals at a word start: an IBAN (two digits follow), an Indian PAN (five
# letters, four digits, a letter), an Italian fiscal code (six letters, two digits,
# a letter, two digits, a letter, three digits, a letter), a Spanish NIE (X, Y or
# Z, seven digits, a letter).
_UPPER = re.compile(
    r"[A-Z](?<![A-Za-z0-9_][A-Z])"
    r"(?:[A-Z][0-9]{2}|[A-Z]{4}[0-9]{4}[A-Z]|[A-Z]{5}[0-9]{2}[A-Z]|[ \-]?[0-9]{7}[ \-]?[A-Z])"
)
_IBAN = re.compile(
    r"[A-Z]{2}[0-9]{2}(?:[A-Z0-9]{11,30}+|(?: [A-Z0-9]{4}){2,7}+(?P<tail> [A-Z0-9]{1,3})?)"
)
_PAN = re.compile(r"[A-Z]{5}[0-9]{4}[A-Z]")
_FISCAL_CODE = re.compile(r"[A-Z]{6}[0-9]{2}[A-Z][0-9]{2}[A-Z][0-9]{3}[A-Z]")
_NIE = re.compile(r"[XYZ][ \-]?[0-9]{7}[ \-]?[A-Z]")

# Issuer prefixes (IIN ranges, as equal-length strings) and lengths. python-stdnum
# checks the Luhn digit but has no card-network table, so this one is kept here.
# 13-digit cards (old Visa, rare Maestro) are left out: EAN-13 barcodes of German
# and British products (prefixes 40-44, 50) have that shape, and one in ten passes
# the Luhn check.
_14_19 = tuple(range(14, 20))
_16_19 = tuple(range(16, 20))
_CARD_RANGES: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("4", "4", (16, 19)),  # Visa
    ("51", "55", (16,)),  # Mastercard
    ("2221", "2720", (16,)),  # Mastercard 2-series
    ("34", "34", (15,)),  # American Express
    ("37", "37", (15,)),
    ("6011", "6011", _16_19),  # Discover
    ("644", "649", _16_19),
    ("65", "65", _16_19),
    ("3528", "3589", _16_19),  # JCB
    ("300", "305", _14_19),  # Diners Club
    ("3095", "3095", _14_19),
    ("36", "36", _14_19),
    ("38", "39", _16_19),
    ("62", "62", _16_19),  # UnionPay
    ("2200", "2204", _16_19),  # Mir
    ("5018", "5018", _16_19),  # Maestro
    ("5020", "5020", _16_19),
    ("5038", "5038", _16_19),
    ("5893", "5893", _16_19),
    ("6304", "6304", _16_19),
    ("6759", "6759", _16_19),
    ("6761", "6763", _16_19),
    ("60", "60", (16,)),  # RuPay
    ("508", "508", (16,)),
    ("81", "82", (16,)),
    ("9792", "9792", (16,)),  # Troy
)
# Test numbers the payment networks and processors (Stripe, Adyen, Braintree,
# PayPal) publish for sandboxes: documentation and fixtures that show them hold
# no one's card. Numbers of one or two repeated digits are caught by _placeholder.
_TEST_CARDS = frozenset(
    {
        "4242424242424242", "4000056655665556", "4012888888881881", "4111111111111111",
        "4000002500003155", "4000000000003220", "4000000000009995", "4000002760003184",
        "5555555555554444", "2223003122003222", "5200828282828210", "5105105105105100",
        "378282246310005", "371449635398431", "378734493671000", "6011111111111117",
        "6011000990139424", "6011981111111113", "3056930009020004", "36227206271667",
        "30569309025904", "38520000023237", "3566002020360505", "3530111333300000",
        "6200000000000005", "6200000000000047", "6205500000000000004", "4917610000000000",
        "4035501000000008", "5425233430109903", "2222400070000005", "4988438843884305",
        "6250941006528599", "4263982640269299", "4917484589897107",
    }
)  # fmt: skip
# The example IBANs of the registry, Wikipedia and bank documentation.
_EXAMPLE_IBANS = frozenset(
    {
        "DE89370400440532013000", "GB82WEST12345698765432", "GB29NWBK60161331926819",
        "GB33BUKB20201555555555", "FR1420041010050500013M02606", "FR7630006000011234567890189",
        "NL91ABNA0417164300", "NL02ABNA0123456789", "ES9121000418450200051332",
        "CH9300762011623852957", "IT60X0542811101000000123456", "BE68539007547034",
        "AT611904300234573201", "PL61109010140000071219812874", "SE4550000000058398257466",
        "DK5000400440116243", "NO9386011117947", "FI2112345600000785",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Run:
    """Digits with single separators between groups (``4111 1111 1111 1111``)."""

    start: int
    end: int
    groups: tuple[str, ...]
    seps: str  # the separator between each pair of groups, in order
    digits: str  # the digits without separators
    shape: tuple[int, ...]  # the length of each group


def numeric_runs(doc: Document) -> Iterator[Run]:
    """Runs of 8 digits or more, separated at most by single spaces, dots or dashes,
    that are not part of a word, a decimal, a path or a longer token."""
    text = doc.text
    for count, wide in enumerate(_NUMERIC.finditer(text)):
        if doc.exhausted or count >= _MAX_WIDE:
            doc.stop(wide.start())
            return
        for m in _RUN.finditer(text, wide.start(), wide.end()):
            start, end = m.span()
            if end - start < 8:
                continue
            if start > 0:
                before = text[start - 1]
                if before.isalnum() or before in _RUN_REJECT_BEFORE:
                    continue
            value = m.group()
            seps = value.translate(_DROP_DIGITS)
            if len(value) - len(seps) < 9 and (seps or not text[end : end + 2].strip(" -")):
                continue  # too short for anything but a DNI (eight digits and a letter)
            if not seps:
                doc.work -= 1
                yield Run(start, end, (value,), "", value, (len(value),))
                continue
            if end - start <= _MAX_RUN:
                doc.work -= 1
                groups = tuple(_SEPARATOR.split(value))
                yield Run(start, end, groups, seps, "".join(groups), tuple(map(len, groups)))
            yield from _spaced_numbers(doc, start, value)


def _spaced_numbers(doc: Document, offset: int, value: str) -> Iterator[Run]:
    """Each number of 9 digits or more alone between spaces in the run ``value`` (a table
    row: ``1500.00``, a card's 16 digits, ``2024 11 05``) as a run of its own, so that a
    card among other numbers, or in a run too long to be one value, is still read."""
    for segment in value.split(" "):
        if len(segment) >= 9 and segment.isdigit():
            if doc.exhausted:
                doc.stop(offset)
                return
            doc.work -= 1
            yield Run(offset, offset + len(segment), (segment,), "", segment, (len(segment),))
        offset += len(segment) + 1


def _placeholder_digits(digits: str) -> bool:
    """Filler, not a person's number: one or two digits repeated, a counting sequence,
    digits that never go down or never go up (``111-22-3333``, ``123-45-6789``)."""
    if len(set(digits)) <= 2 or digits in "12345678901234567890":
        return True
    pairs = list(itertools.pairwise(digits))
    return all(a <= b for a, b in pairs) or all(a >= b for a, b in pairs)


def _card_issuer(digits: str) -> bool:
    n = len(digits)
    return any(lo <= digits[: len(lo)] <= hi and n in lengths for lo, hi, lengths in _CARD_RANGES)


def is_card_number(digits: str) -> bool:
    """A plausible card number: a known issuer prefix and length, a valid Luhn digit,
    and not a published test number or filler (three digits or fewer, five repeats)."""
    if not _card_issuer(digits) or digits in _TEST_CARDS or len(set(digits)) <= 3:
        return False
    if any(d * 5 in digits for d in "0123456789"):
        return False
    return kinds.LUHN_VALID(digits)


def _card(digits: str, doc: Document) -> bool:
    if not _card_issuer(digits):
        return False
    doc.work -= 1
    return is_card_number(digits)


def card_in_run(run: Run, doc: Document) -> str | None:
    """The card number in ``run``: all of it when unseparated, else groups separated by
    one kind of space or dash, the first of 4 digits and the others of 2 to 6
    (``4111 1111 1111 1111``, ``3782 822463 10005``), maybe followed by more numbers.

    An unseparated 19-digit number counts only where a label ("card", "pan", "cc")
    names it: one random 64-bit integer in a hundred looks like one.
    """
    if not run.seps:
        digits = run.groups[0]
        if not 14 <= len(digits) <= 19 or not _card(digits, doc):
            return None
        if len(digits) == 19 and "card" not in doc.labels_near(run.start, run.end):
            return None
        return digits
    if len(set(run.seps)) != 1 or run.seps[0] not in " -":
        return None
    groups = run.groups
    for i, first in enumerate(groups):
        if len(first) != 4:
            continue
        total = first
        for group in groups[i + 1 : i + 6]:
            if not 2 <= len(group) <= 6:
                break
            total += group
            if len(total) > 19:
                break
            if len(total) >= 14 and _card(total, doc):
                return total
    return None


@dataclass(frozen=True)
class _NumericId:
    """A kind of numeric identifier: its digit groupings, separators and checksum."""

    kind: str
    families: frozenset[str]
    shapes: frozenset[tuple[int, ...]]
    seps: str
    is_valid: Callable[[str], bool]


def _fams(*names: str) -> frozenset[str]:
    return frozenset({*names, "natid"})


_NUMERIC_IDS: tuple[_NumericId, ...] = (
    _NumericId(US_SSN, _fams("ssn", "taxid"), frozenset({(9,), (3, 2, 4)}), "- ", kinds.SSN),
    _NumericId(CA_SIN, _fams("sin"), frozenset({(9,), (3, 3, 3)}), "- ", kinds.SIN),
    _NumericId(NL_BSN, _fams("bsn"), frozenset({(9,), (4, 2, 3), (3, 3, 3)}), ". -", kinds.BSN),
    _NumericId(UK_NHS, _fams("nhs"), frozenset({(10,), (3, 3, 4)}), "- ", kinds.NHS),
    _NumericId(
        DE_TAX_ID,
        _fams("steuer", "taxid"),
        frozenset({(11,), (2, 3, 3, 3)}),
        " ",
        kinds.IDNR,
    ),
    _NumericId(BR_CPF, _fams("cpf", "taxid"), frozenset({(11,), (3, 3, 3, 2)}), ".-", kinds.CPF),
    _NumericId(IN_AADHAAR, _fams("aadhaar"), frozenset({(12,), (4, 4, 4)}), " -", kinds.AADHAAR),
    _NumericId(
        FR_NIR,
        _fams("nir"),
        frozenset({(15,), (13, 2), (1, 2, 2, 2, 3, 3, 2)}),
        " ",
        kinds.NIR,
    ),
)
_NUMERIC_ID_LENGTHS = frozenset(sum(shape) for f in _NUMERIC_IDS for shape in f.shapes)
_DNI_FAMILIES = _fams("dni", "taxid")


def _separators_fit(run: Run, allowed: str, kind: str) -> bool:
    if not run.seps:
        return True
    if kind == BR_CPF and run.seps == "..-":  # the usual ddd.ddd.ddd-dd
        return True
    return len(set(run.seps)) == 1 and run.seps[0] in allowed


def national_id_in_run(run: Run, doc: Document) -> tuple[str, str] | None:
    """(kind, digits) of a labelled national ID number that ``run`` is, or None."""
    text = doc.text
    after = text[run.end : run.end + 3]
    if run.shape == (8,) and (
        after[:1].isupper() or (after[:1] in ("-", " ") and after[1:2].isupper())
    ):
        return _dni(run, doc)
    if len(run.digits) not in _NUMERIC_ID_LENGTHS or after[:1].isalpha():
        return None
    digits = run.digits
    if _placeholder_digits(digits):
        return None
    labels: frozenset[str] | None = None
    for fmt in _NUMERIC_IDS:
        if run.shape not in fmt.shapes or not _separators_fit(run, fmt.seps, fmt.kind):
            continue
        if labels is None:
            labels = doc.labels_near(run.start, run.end)
        if labels & fmt.families:
            doc.work -= 1
            if fmt.is_valid(digits):
                return fmt.kind, digits
    return None


def _dni(run: Run, doc: Document) -> tuple[str, str] | None:
    text = doc.text
    if run.shape != (8,):
        return None
    end = run.end + (0 if text[run.end].isupper() else 1)
    letter = text[end]
    if end + 1 < len(text) and (text[end + 1].isalnum() or text[end + 1] == "_"):
        return None
    value = run.digits + letter
    if _placeholder_digits(run.digits) or not doc.labels_near(run.start, end + 1) & _DNI_FAMILIES:
        return None
    doc.work -= 1
    return (ES_DNI, value) if kinds.DNI_VALID(value) else None


_UPPER_IDS: tuple[tuple[re.Pattern[str], str, frozenset[str], Callable[[str], bool]], ...] = (
    (_PAN, IN_PAN, _fams("pan", "taxid"), kinds.PAN_VALID),
    (_FISCAL_CODE, IT_FISCAL_CODE, _fams("cf", "taxid"), kinds.CF_VALID),
    (_NIE, ES_NIE, _DNI_FAMILIES, kinds.NIE_VALID),
)


def _word_ends(text: str, end: int) -> bool:
    return end >= len(text) or not (text[end].isalnum() or text[end] == "_")


def _iban_at(text: str, start: int, doc: Document) -> tuple[str, int] | None:
    """The IBAN starting at ``start`` (compact) and where it ends, or None."""
    m = _IBAN.match(text, start)
    if m is None:
        return None
    values = [m.group()]
    if m["tail"] is not None:
        values.append(text[start : m.start("tail")])
    for value in values:
        end = start + len(value)
        if not _word_ends(text, end):
            continue
        compact = value.replace(" ", "")
        doc.work -= 1
        if compact not in _EXAMPLE_IBANS and kinds.IBAN_VALID(compact):
            return compact, end
    return None


def uppercase_ids(doc: Document) -> Iterator[tuple[str, str, int, int]]:
    """IBANs anywhere, and labelled PANs, fiscal codes and NIEs: (kind, value, start, end)."""
    text = doc.text
    for m in _UPPER.finditer(text):
        if doc.exhausted:
            doc.stop(m.start())
            return
        doc.work -= 1
        start = m.start()
        if text[start + 1].isupper() and text[start + 2 : start + 4].isdigit():
            found_iban = _iban_at(text, start, doc)
            if found_iban is not None:
                yield IBAN, found_iban[0], start, found_iban[1]
            continue
        for pattern, kind, families, is_valid in _UPPER_IDS:
            found = pattern.match(text, start)
            if found is None or not _word_ends(text, found.end()):
                continue
            value = re.sub(r"[ \-]", "", found.group())
            if doc.labels_near(start, found.end()) & families:
                doc.work -= 1
                if is_valid(value):
                    yield kind, value, start, found.end()
            break
