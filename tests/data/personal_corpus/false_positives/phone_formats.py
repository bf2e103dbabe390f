"""Phone number formatting, with the numbers set aside for fiction and examples."""

import datetime
import ipaddress
import re

PHONE_RE = re.compile(r"^\+?[1-9]\d{1,14}$")

EXAMPLES = {
    "us": "(415) 555-0132",  # 555-0100 to 555-0199 are fictional
    "us_intl": "+1 212 555 0199",
    "uk": "+44 20 7946 0958",  # Ofcom drama range
    "uk_mobile": "07700 900123",
    "au": "+61 491 570 156",
    "toll_free": "+1 800 275 2273",
}


def normalise(number: str) -> str:
    return "+" + re.sub(r"\D", "", number)


def test_dates_times_and_versions():
    assert datetime.date.fromisoformat("2024-05-02") == datetime.date(2024, 5, 2)
    assert "10.0.19041.1234".count(".") == 3
    assert int(ipaddress.ip_address("192.168.100.200")) == 3232261320
    assert datetime.timedelta(seconds=86400).days == 1
    assert int("KB5034441"[2:]) == 5034441


def test_two_real_looking_numbers_are_not_a_list():
    assert normalise("+49 30 123456") == "+4930123456"
    assert normalise("+33 1 23 45 67 89") == "+33123456789"
