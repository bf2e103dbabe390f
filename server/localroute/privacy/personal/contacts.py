"""Contact details: e-mail addresses and phone numbers.

One address or number is not personal data in the sense that keeps a
document local: a file header names its author, a README its maintainer,
a footer the company's switchboard. What is — a CSV export, a JSON fixture,
a log excerpt, a contact table — holds *several*. So these kinds are
counted per document and reported from a threshold (``RUN_THRESHOLD`` in
:mod:`localroute.privacy.personal`), and the addresses and numbers that
belong to no one are not counted:

- e-mail addresses at reserved names (``example.com/net/org`` and their
  subdomains, the ``.test``, ``.example``, ``.invalid`` and ``.localhost``
  top-level domains), role and no-reply mailboxes (``noreply@``,
  ``support@``, ``security@``, ``…@users.noreply.github.com``) and textbook
  placeholders (``user@``, ``john.doe@``); addresses on a line that
  attributes authorship (``Author:``, ``Copyright``, ``Signed-off-by:``,
  ``Co-authored-by:``, ``Maintainer``), after a display name (``Jane Roe
  <jane@...>``, outside mail headers) or in a list under an ``authors = [``
  heading; Message-IDs; a URL's user part;
- phone numbers that ``phonenumbers`` does not call valid, business
  numbers (toll-free, premium-rate, shared-cost, universal access) and
  the ranges set aside for fiction and examples (North America's
  555-0100 to 555-0199, Ofcom's drama numbers, Australia's).

Phone candidates are ``+``-prefixed international numbers, punctuated North
American numbers (``(201) 555-0123``, ``201-555-0123``) and, where a label
("phone", "tel", "mobile", "fax", ...) names them, numbers in national
format, tried against the regions that write numbers that way.
``phonenumbers`` costs a hundred microseconds or more a call, so it only
sees candidates, and at most ``Document.budget`` of them per document.

This module is pure: stdlib and phonenumbers only.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator

from localroute.privacy.personal.context import Document, line_window
from localroute.privacy.personal.ids import Found, Run

EMAIL = "e-mail address"
PHONE = "phone number"

# "@", a domain ending in a dot and 2 to 24 letters (or an xn-- label): most "@" in
# code (decorators, npm scopes, "a@b.1") fail here at C speed. Each label is possessive
# and "@" ends a domain, so the scan stays linear.
_AT = re.compile(
    r"@(?P<domain>[A-Za-z0-9\-]{1,63}+(?:\.[A-Za-z0-9\-]{1,63}+)*?"
    r"\.(?:[A-Za-z]{2,24}|xn--[A-Za-z0-9\-]{1,59}))(?![A-Za-z0-9\-]|\.[A-Za-z0-9])"
)
_LOCAL_END = re.compile(r"[A-Za-z0-9._%+\-]+\Z")
_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_TOKEN_START = re.compile(r"""[\s"'`<(\[{,;]""")

_RESERVED_TLDS = frozenset({"test", "example", "invalid", "localhost"})
_RESERVED_DOMAINS = ("example.com", "example.net", "example.org")
# File names such as "icon@2x.png" look like addresses.
_FILE_TLDS = frozenset(
    {
        "png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "js", "mjs", "cjs", "ts",
        "tsx", "jsx", "css", "scss", "less", "html", "htm", "json", "yaml", "yml", "toml",
        "xml", "md", "rst", "txt", "py", "pyi", "rb", "go", "rs", "java", "kt", "swift",
        "c", "h", "cpp", "hpp", "sh", "zip", "gz", "tar", "whl", "lock", "map", "woff",
        "woff2", "ttf", "pdf", "csv", "log",
    }
)  # fmt: skip
_ROLE_MAILBOXES = frozenset(
    {
        "noreply", "no-reply", "no_reply", "donotreply", "do-not-reply", "do_not_reply",
        "notifications", "notification", "mailer-daemon", "postmaster", "hostmaster",
        "webmaster", "abuse", "security", "support", "help", "info", "contact", "hello",
        "admin", "administrator", "root", "sales", "billing", "privacy", "legal", "press",
        "media", "jobs", "careers", "team", "dev", "devs", "developers", "maintainers",
        "owner", "owners", "bugs", "bug", "feedback", "office", "enquiries", "inquiries",
        "marketing", "newsletter", "news", "service", "noc", "ops", "hr", "accounts",
        "community", "conduct", "git", "github", "gitlab", "ci", "build", "bot", "robot",
        "test", "testing", "user", "username", "name", "email", "mail", "me", "you",
        "your", "someone", "somebody", "foo", "bar", "baz", "john.doe", "jane.doe",
        "johndoe", "janedoe", "firstname.lastname", "first.last", "kontakt", "datenschutz",
        "impressum", "contacto", "ventas", "vertrieb",
    }
)  # fmt: skip
# Words that make a line an attribution; "-by:" stands for the trailers Signed-off-by:,
# Co-authored-by:, Reviewed-by:, Reported-by:, Tested-by:, ... (substring tests on the
# lowered line: an alternation regex costs a hundred times more).
_ATTRIBUTION = (
    "author", "maintainer", "copyright", "(c)", "©", "contributor", "-by:", "written by",
    "created by",
)  # fmt: skip
# A line that heads a list of people: `"authors": [`, `maintainers:`, `Contributors:`,
# `Thanks to:`. The list runs to the next blank line. Found with str.find on the
# lowered text (an IGNORECASE alternation costs 0.5 s on 2 MB), at most
# _MAX_HEADING_WORDS occurrences per word (more only means more addresses count).
_HEADING_WORDS = ("author", "maintainer", "contributor", "credit", "thank", "owner")
_HEADING_TAIL = re.compile(r"""s?(?:[ \t]+to)?["']?[ \t]*[:=]?[ \t]*[\[{(]?[ \t\r]*(?:\n|\Z)""")
_MAX_HEADING_WORDS = 1000
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
# The header lines of a message: `From: Jane Roe <jane@...>` records a person.
_MAIL_HEADER = re.compile(r"[ \t>]*(?:from|to|cc|bcc|reply-to|sender|delivered-to):", re.I)
_MAX_LIST = 200  # lines a heading's list may run


def _domain_ok(domain: str) -> bool:
    labels = domain.split(".")
    tld = labels[-1]
    if not (2 <= len(tld) <= 24 and (tld.isalpha() or tld.startswith("xn--"))):
        return False
    if any(not label or label[0] == "-" or label[-1] == "-" for label in labels):
        return False
    if tld in _RESERVED_TLDS or (len(labels) == 2 and tld in _FILE_TLDS):
        return False
    if any(domain == d or domain.endswith("." + d) for d in _RESERVED_DOMAINS):
        return False
    return "noreply" not in labels and "no-reply" not in labels


def emails(doc: Document) -> Iterator[Found]:
    """E-mail addresses that may be a person's (see the module docstring)."""
    text = doc.text
    for at in _AT.finditer(text):
        if doc.exhausted:
            doc.stop(at.start())
            return
        doc.work -= 1
        pos = at.start()
        local_match = _LOCAL_END.search(text, max(0, pos - 64), pos)
        if local_match is None:
            continue
        start = local_match.start()
        if start > 0 and start == pos - 64 and text[start - 1] in _LOCAL_CHARS:
            continue  # longer than an address's local part may be
        local = local_match.group().lower()
        domain = at["domain"].lower()
        if local[0] == "." or local[-1] == "." or ".." in local or not _domain_ok(domain):
            continue
        if not any(c.isalpha() for c in local):
            continue  # a Message-ID or another machine identifier, not a mailbox
        if local.split("+", 1)[0] in _ROLE_MAILBOXES:
            continue
        head = text[max(0, start - 200) : start]
        token = _TOKEN_START.split(head)[-1]
        if "://" in token:
            continue  # the user part of a URL
        if _attributed(doc, start, at.end()):
            continue
        yield EMAIL, f"{local}@{domain}", start


def _headings(doc: Document) -> list[int]:
    """Indexes of the lines that head a list of people, sorted."""
    lowered = doc.text.translate(_ASCII_LOWER)  # same offsets, unlike str.lower()
    found: set[int] = set()
    for word in _HEADING_WORDS:
        pos = lowered.find(word)
        for _ in range(_MAX_HEADING_WORDS):
            if pos < 0:
                break
            if _HEADING_TAIL.match(lowered, pos + len(word)):
                found.add(doc.line_index(pos))
            pos = lowered.find(word, pos + len(word))
    return sorted(found)


def _attributed(doc: Document, start: int, end: int) -> bool:
    """Whether the address at ``text[start:end]`` credits a person rather than records
    one: an author line, a display name before it (``Jane Roe <jane@...>``,
    ``Jane Roe (jane@...)``), or a list under an "Authors:"-style heading."""
    text = doc.text
    left, right = line_window(text, start, end, 300, 100)
    lowered = text[left:right].lower()
    if any(word in lowered for word in _ATTRIBUTION):
        return True
    if start > 0 and text[start - 1] in "<(" and not _MAIL_HEADER.match(text, left):
        name = text[left : start - 1].rstrip(" \t\"'")
        if name and (name[-1].isalpha() or name[-1] == ")"):
            return True
    if doc.headings is None:
        doc.headings = _headings(doc)
    if not doc.headings:
        return False
    line = doc.line_index(start)
    i = bisect.bisect_left(doc.headings, line)
    if i == 0:
        return False
    heading = doc.headings[i - 1]
    return line - heading <= _MAX_LIST and doc.block_start(line) <= heading


# ---------------------------------------------------------------- phone numbers

# "+" and at least eight digits with few separators between them.
_PLUS = re.compile(r"\+(?=[0-9](?:[ .\-/()]{0,3}[0-9]){7})")
_PLUS_PHONE = re.compile(r"\+[0-9]++(?:[ .\-/]?(?:\([0-9]{1,5}\)|[0-9]++)){0,8}+")
_PLUS_GROUP_END = re.compile(r"[ .\-/]?(?:\([0-9]{1,5}\)|[0-9]+)\Z")
_PAREN_PHONE = re.compile(r"\([2-9][0-9]{2}\) ?[2-9][0-9]{2}[ .\-][0-9]{4}")
_REGIONS_TRUNK_ZERO = ("GB", "DE", "FR", "IT", "NL", "BE", "CH", "AT", "AU")
_NOT_PERSONAL_TYPE_NAMES = ("TOLL_FREE", "PREMIUM_RATE", "SHARED_COST", "UAN", "VOICEMAIL")
# Numbers set aside for drama and examples, as E.164: North America's 555-01XX,
# Ofcom's drama ranges (020 7946 0xxx, 0113 496 0xxx, ..., 07700 900xxx),
# Australia's (0491 57x xxx, (0x) 5550 xxxx, (0x) 7010 xxxx).
_FICTIONAL = re.compile(
    r"\+1[2-9][0-9]{2}55501[0-9]{2}"
    r"|\+44(?:2079460|1[1-6]14960|1214960|1314960|1414960|1514960|1614960|2890180|2920180"
    r"|1632960|7700900|8081570|9098790|3069990)[0-9]{3}"
    r"|\+61(?:[2378](?:5550|7010)[0-9]{4}|4915[7-9][0-9]{4})"
)


def _personal_number(value: str, region: str | None, doc: Document, at: int) -> str | None:
    """The E.164 form of ``value`` (at offset ``at``) when it is a valid number that may be
    a person's."""
    if doc.budget <= 0:
        doc.stop(at)
        return None
    doc.budget -= 1
    # Imported here: phonenumbers' metadata costs tens of ms and MiB, and most documents
    # never hold a candidate number.
    import phonenumbers
    from phonenumbers import PhoneNumberType

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    # number_type is UNKNOWN exactly when is_valid_number is false; one call does both.
    kind = phonenumbers.number_type(number)
    not_personal = {getattr(PhoneNumberType, name) for name in _NOT_PERSONAL_TYPE_NAMES}
    if kind == PhoneNumberType.UNKNOWN or kind in not_personal:
        return None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None if _FICTIONAL.fullmatch(e164) else e164


def _boundary_before(text: str, start: int) -> bool:
    return start == 0 or not (text[start - 1].isalnum() or text[start - 1] in "_+")


def _boundary_after(text: str, end: int) -> bool:
    return end >= len(text) or not (text[end].isalnum() or text[end] == "_")


def international_phones(doc: Document) -> Iterator[Found]:
    """``+``-prefixed numbers (``+44 20 7946 0958``, ``+1 (201) 555-0123``), and North
    American numbers with the area code in parentheses."""
    text = doc.text
    for m in _PLUS.finditer(text):
        if doc.exhausted:
            doc.stop(m.start())
            return
        doc.work -= 1
        start = m.start()
        if not _boundary_before(text, start):
            continue
        found = _PLUS_PHONE.match(text, start)
        if found is None or not _boundary_after(text, found.end()):
            continue
        value = found.group()
        # A number may run into the next one ("+1 201 555 0123 2"): drop trailing groups.
        for _ in range(3):
            if not 8 <= sum(c.isdigit() for c in value) <= 15:
                e164 = None
            else:
                e164 = _personal_number(value, None, doc, start)
            if e164 is not None:
                yield PHONE, e164, start
                break
            shorter = _PLUS_GROUP_END.sub("", value)
            if shorter == value or len(shorter) < 9:
                break
            value = shorter
    for m in _PAREN_PHONE.finditer(text):
        if doc.exhausted:
            doc.stop(m.start())
            return
        doc.work -= 1
        if _boundary_after(text, m.end()):
            e164 = _personal_number(m.group(), "US", doc, m.start())
            if e164 is not None:
                yield PHONE, e164, m.start()


def phone_in_run(run: Run, doc: Document) -> str | None:
    """The E.164 form of the phone number that a run of digits is: punctuated North
    American numbers always, other national formats where a label names them."""
    digits = run.digits
    if not 9 <= len(digits) <= 17 or len(set(run.seps)) > 1:
        return None
    if run.shape in ((3, 3, 4), (1, 3, 3, 4)) and run.seps[:1] in ("-", "."):
        if run.shape == (1, 3, 3, 4) and digits[0] != "1":
            return None
        return _personal_number(digits, "US", doc, run.start)
    if run.shape == (3, 2, 4):
        return None  # how social security numbers are written, not phones
    regions = _national_regions(digits)
    if not regions or "phone" not in doc.labels_near(run.start, run.end):
        return None
    if digits.startswith("00"):
        return _personal_number("+" + digits[2:], None, doc, run.start)
    if any(_FICTIONAL.fullmatch(f"+{code}{digits[1:]}") for code in ("44", "61")):
        return None  # written the British or Australian way, a drama number
    # The region is a guess, so the key is the digits as written: two numbers that one
    # region would read alike (06 12 34 56 78 and 0612 345678) stay two.
    for region in regions:
        if _personal_number(digits, region, doc, run.start) is not None:
            return f"national:{digits}"
    return None


def _national_regions(digits: str) -> tuple[str, ...]:
    """The regions whose national format ``digits`` may be written in: a trunk 0
    (most of Europe, the UK, Australia), ten digits (North America), or Spanish
    and Italian numbers, which have no trunk prefix."""
    if digits.startswith("00"):
        return ("international",)  # 0049 30 ...: the caller reads it as +49 30 ...
    if digits[0] == "0":
        return _REGIONS_TRUNK_ZERO if len(digits) <= 12 else ()
    if len(digits) == 10 and digits[0] in "23456789":
        return ("US",) if digits[0] != "3" else ("US", "IT")
    if len(digits) == 9 and digits[0] in "6789":
        return ("ES",)
    if digits[0] == "3" and len(digits) in (9, 10):
        return ("IT",)
    return ()
