"""Validation of US social security numbers (shape, reserved ranges)."""

import re

SSN_RE = re.compile(r"^(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$")

# Numbers that must be rejected or are placeholders in docs and forms.
PLACEHOLDER_SSNS = ["123-45-6789", "078-05-1120", "219-09-9999", "111-22-3333", "000-12-3456"]


def test_rejects_reserved_ranges():
    assert not is_valid_ssn("666-12-3456")
    assert not is_valid_ssn("987-65-4320")  # advertising range
    assert not is_valid_ssn("123-00-4567")


def test_format():
    assert format_ssn("123456789") == "123-45-6789"


# Not social security numbers at all: a part number and a ticket id of the same shape.
part_number = "536-90-4399"
TICKETS = {"support": "591-15-3585", "billing": "117-45-6797"}


def is_valid_ssn(value: str) -> bool:
    return bool(SSN_RE.match(value))


def format_ssn(digits: str) -> str:
    return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"
