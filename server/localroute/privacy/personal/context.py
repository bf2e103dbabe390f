"""Where a value sits in a document: its line, and the labels around it.

Personal-data detection asks whether a number is *labelled* — a national ID
counts only where a word such as "ssn", "bsn" or "cpf" names it, a phone
number in national format only where "phone", "tel" or "mobile" does. When
the value has a key of its own (``"ssn": "..."``, ``phone = ...``,
``<bsn>...``, ``Social Security Number: ...``), the key decides alone, so
``example_number='...'`` beside a ``mobile=`` on the same line is not a
phone number. Otherwise (a CSV cell, an SQL tuple, prose, a list item) the
label is the header of the value's column when the value is in a table row
(CSV, TSV, a Markdown table, an SQL tuple): the first line of the run of lines
with as many cells as the row, which is how a 2 MB CSV export names its
columns once for every row. Else the label may be anywhere on the value's
line, on the line above when that line is a heading ("Phone:", ``<ssn>``,
``"phones": [``), or in the first lines of its block (the lines after a blank
line: ``INSERT INTO t (name, ssn) VALUES``).

Everything here is computed lazily and cached per line, per block and per
table, so a document with no candidate costs nothing and a large export
costs about one more pass over its text. Long lines (minified JSON) are read only in a
window around the value, so a label far away on a 2 MB line does not count
and the cost stays linear.

This module is pure: stdlib only.
"""

from __future__ import annotations

import bisect
import re

# Label vocabularies: words and phrases (words joined by "_") naming a family. Text is
# split into words at non-letters and at camelCase humps ("customerSsn", "NHSNumber",
# "home_phone"), so a label never hides inside a word ("hotel", "lesson", "expand");
# glued lower-case forms that people write ("phonenumber", "taxid") are listed.
# A dictionary lookup per word is several times cheaper than one regex alternation.
_VOCABULARY: dict[str, str] = {
    "ssn": "ssn ssns socialsecurity socialsecuritynumber ssnumber social_security soc_sec"
    " ss_no ss_num ss_nbr",
    "taxid": "tin tins taxid taxpayer tax_id tax_identification tax_code tax_no tax_nr"
    " tax_number taxpayer_id tax_payer_id",
    "natid": "nationalid national_id national_identity national_identification"
    " national_insurance id_number id_no id_nr id_card identity_number identity_card"
    " identity_no personal_id personal_code citizen_id citizen_number",
    "nhs": "nhs",
    "sin": "sin social_insurance assurance_sociale",
    "steuer": "steuerid idnr steueridnr identifikationsnummer steueridentifikationsnummer"
    " steuer_id steuer_idnr steuerliche_identifikationsnummer",
    "nir": "nir insee secu sécu sécurité_sociale securite_sociale sécu_sociale",
    "dni": "dni nif nie documento_identidad documento_de_identidad número_de_identidad"
    " numero_de_identidad",
    "bsn": "bsn burgerservicenummer sofinummer sofi burger_service_nummer",
    "aadhaar": "aadhaar aadhar uidai",
    "pan": "pan pans permanent_account",
    "cpf": "cpf cadastro_de_pessoas",
    "cf": "cf codicefiscale codice_fiscale cod_fisc fiscal_code",
    "card": "card cards cc ccn creditcard cardnumber ccnumber kreditkarte carte tarjeta",
    "phone": "phone phones phonenumber phoneno telephone tel telno telefon téléphone"
    " telefono teléfono mobile mobil mobilenumber handynummer cellphone fax sms msisdn"
    " móvil movil celular cellulare portable"
    " whatsapp gsm cell_phone cell_number cell_no contact_number contact_no",
}
# A card's number is its PAN too.
_ALSO: dict[str, tuple[str, ...]] = {"pan": ("pan", "card")}
_PHRASES: dict[str, tuple[str, ...]] = {
    entry.replace("_", " "): _ALSO.get(family, (family,))
    for family, entries in _VOCABULARY.items()
    for entry in entries.split()
}
_PHRASE_STARTS = frozenset(p.split()[0] for p in _PHRASES if " " in p)
_FIRST_WORDS = _PHRASE_STARTS | frozenset(p for p in _PHRASES if " " not in p)
_NOTHING: frozenset[str] = frozenset()
_AMBIGUOUS = frozenset(
    {"sin", "nie", "pan", "pans", "tin", "tins", "cf", "cc", "carte", "secu", "sofi", "nir",
     "mobil", "portable"}
)  # fmt: skip
# Words: capitals and a plural s (SSNs), a run of capitals not followed by a lower-case
# letter (SSN, NHS in NHSNumber), or an optional capital and lower-case letters (Phone,
# téléphone). [^\W\dA-Z_] is a letter other than A-Z.
_WORD = re.compile(r"[A-Z]{2,}s(?![^\W\dA-Z_])|[A-Z]+(?![^\W\dA-Z_])|[A-Z]?[^\W\dA-Z_]+")
_GLUE = frozenset({"", " ", "_", ".", "-"})

# The key a value is assigned to: `ssn: `, `"phone": "`, `tel=`, `Social Security Number: `,
# also when the value is further into a quoted string (`"iban": "NL93 INGB 8441...`).
_KEY_BEFORE = re.compile(
    r"""([A-Za-z_][\w .\-#]{0,40}+)["'\]]?[ \t]*(?::=|=>|->|[:=])[ \t]*"""
    r"""(?:["'][^"'\n]{0,60}+|[(\[{]?[ \t]*)\Z"""
)
_TAG_BEFORE = re.compile(r"<([A-Za-z_][\w.\-:]{0,40}+)(?:[ \t][^<>\n]{0,80})?>[ \t]*\Z")
# Keys that say nothing of their value: the label is elsewhere ({"type": "ssn", "value": ...}).
_GENERIC_KEYS = frozenset(
    {"value", "val", "v", "data", "text", "content", "field", "string", "str", "raw", "input"}
)
_KEY_WINDOW = 80
_BLANK_LINE = re.compile(r"^[ \t\r\f\v]*$", re.MULTILINE)
_LONG_LINE = 1000  # longer lines are read in a window around the value
_BEFORE = 200  # how far before a value on its own line a label may be
_AFTER = 60
_ABOVE = 400  # how much of the line above is read
_OPENERS = frozenset(":>=[{(")
_DELIMITERS = (",", ";", "\t", "|")
_MAX_TABLE_WALK = 10_000
_QUOTES = ('"', "'")
_TOKENS = {
    (d, q): re.compile(f"(?:{q}[^{q}]*{q})+|[^{re.escape(d)}{q}]+|{re.escape(d)}|{q}")
    for d in _DELIMITERS
    for q in _QUOTES
}
_HEADER_LINES = 2
_HEADER_CHARS = 600


def label_families(
    text: str, start: int = 0, end: int | None = None, *, strict: bool = True
) -> frozenset[str]:
    """The label families (keys of the vocabulary) named in ``text[start:end]``.

    Short labels that are also words (Spanish "sin", German "nie", "pan", "tin",
    "cf.") count in running text only when written in capitals (``SIN``, ``NIE``)
    or as part of an identifier (``pan_no``, ``customerSin``); ``strict=False``
    is for a key or a column header of one word, where ``pan`` is a label.
    """
    stop = len(text) if end is None else end
    # Most lines name nothing: one findall and a set test decide that at C speed.
    if _FIRST_WORDS.isdisjoint(map(str.lower, _WORD.findall(text, start, stop))):
        return _NOTHING
    words = [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text, start, stop)]
    found: set[str] = set()
    for i, (original, word_start, word_end) in enumerate(words):
        word = original.lower()
        families = _PHRASES.get(word)
        if families is not None and not (
            (word == "sin" and text[word_end : word_end + 1] == "(")  # the sine
            or (
                strict
                and word in _AMBIGUOUS
                and not _identifier_like(text, original, word_start, word_end)
            )
        ):
            found.update(families)
        if word not in _PHRASE_STARTS:
            continue
        phrase, end_of = word, word_end
        for next_word, next_start, next_end in words[i + 1 : i + 3]:
            if text[end_of:next_start] not in _GLUE:
                break
            phrase, end_of = f"{phrase} {next_word.lower()}", next_end
            families = _PHRASES.get(phrase)
            if families is not None:
                found.update(families)
    return frozenset(found)


def _identifier_like(text: str, word: str, start: int, end: int) -> bool:
    """``SIN``, or a word glued to another by ``_`` or a camelCase hump."""
    if word.isupper():
        return True
    before = text[start - 1 : start]
    after = text[end : end + 1]
    return before == "_" or after == "_" or before.isalpha() or after.isalpha()


class Document:
    """A text with lazily computed line offsets, blocks and labels.

    ``budget`` is how many calls to a costly validator (phonenumbers) the
    detectors may still make on this document; ``work`` how many candidates
    they may still judge in Python (label lookups, validators), so that no
    document, however large or hostile, costs more than about a second.
    """

    def __init__(self, text: str, *, budget: int = 300, work: int = 10_000) -> None:
        self.text = text
        self.budget = budget
        self.work = work
        self._line_starts: list[int] | None = None
        self._blank_lines: list[int] | None = None
        self._line_labels: dict[int, frozenset[str]] = {}
        self._header_labels: dict[int, frozenset[str]] = {}
        self._near: dict[int, frozenset[str]] = {}
        self._cells_cache: dict[tuple[int, str, str], list[str]] = {}
        self._table_heads: dict[tuple[int, str, str], int] = {}
        self.headings: list[int] | None = None  # lines heading a list of people
        self.unchecked_from: int | None = None
        """The offset of the first candidate a scan left unjudged (its work or validator
        budget spent), if any: nothing from there on is ruled out."""

    @property
    def line_starts(self) -> list[int]:
        """Offsets at which each line starts (``\\n`` ends a line; ``\\r\\n`` too)."""
        if self._line_starts is None:
            starts = [0]
            starts.extend(m.end() for m in re.finditer("\n", self.text))
            self._line_starts = starts
        return self._line_starts

    def line_index(self, offset: int) -> int:
        """The 0-based index of the line holding ``offset``."""
        return bisect.bisect_right(self.line_starts, offset) - 1

    def line_span(self, index: int) -> tuple[int, int]:
        """Start and end offsets of line ``index``, without its line break."""
        starts = self.line_starts
        start = starts[index]
        end = starts[index + 1] - 1 if index + 1 < len(starts) else len(self.text)
        return start, end

    def block_start(self, index: int) -> int:
        """The index of the first line of the block holding line ``index``."""
        if self._blank_lines is None:
            self._blank_lines = [
                self.line_index(m.start()) for m in _BLANK_LINE.finditer(self.text)
            ]
        i = bisect.bisect_left(self._blank_lines, index)
        return self._blank_lines[i - 1] + 1 if i > 0 else 0

    def _labels_of_line(self, index: int) -> frozenset[str]:
        """Labels of a whole line, or of the end of a long one (cached)."""
        cached = self._line_labels.get(index)
        if cached is None:
            start, end = self.line_span(index)
            if end - start > _LONG_LINE:
                start = end - _ABOVE
            cached = label_families(self.text, start, end)
            self._line_labels[index] = cached
        return cached

    def _labels_of_header(self, block: int) -> frozenset[str]:
        cached = self._header_labels.get(block)
        if cached is None:
            found: set[str] = set()
            last = min(block + _HEADER_LINES, len(self.line_starts))
            for index in range(block, last):
                start, end = self.line_span(index)
                found |= label_families(self.text, start, min(end, start + _HEADER_CHARS))
            cached = frozenset(found)
            self._header_labels[block] = cached
        return cached

    def _cells_of(self, index: int, delim: str, quote: str) -> list[str]:
        """The cells of line ``index`` (cached); none for a blank or very long line."""
        cached = self._cells_cache.get((index, delim, quote))
        if cached is None:
            start, end = self.line_span(index)
            line = self.text[start:end].strip()
            if not line or end - start > _LONG_LINE:
                cached = []
            else:
                if line.endswith(("),", ");")):  # an SQL tuple, not an empty last cell
                    line = line[:-1]
                cached = _cells(line, delim, quote)
            self._cells_cache[index, delim, quote] = cached
        return cached

    def _table_head(self, index: int, delim: str, quote: str) -> int:
        """The first line of the run of lines, ending at ``index``, that have as many
        cells as line ``index``: a table's header (cached, so a long table costs one
        step per row)."""
        cached = self._table_heads.get((index, delim, quote))
        if cached is not None:
            return cached
        count = len(self._cells_of(index, delim, quote))
        head = index
        for _ in range(_MAX_TABLE_WALK):
            if head == 0 or len(self._cells_of(head - 1, delim, quote)) != count:
                break
            head -= 1
            known = self._table_heads.get((head, delim, quote))
            if known is not None:
                head = known
                break
        self._table_heads[index, delim, quote] = head
        return head

    def _column_label(self, index: int, row: str, pos: int) -> str | None:
        """The header cell above the value at ``row[pos]`` when line ``index`` is a table
        row (CSV, TSV, a Markdown table, an SQL tuple) under a header with as many cells."""
        quotes = _QUOTES if any(q in row for q in _QUOTES) else _QUOTES[:1]
        # The way of cutting rows that makes the longest table is the table's: a comma in
        # "4.250,00" does not cut a Markdown row, an apostrophe does not quote a CSV cell.
        best: tuple[int, int, str, str] | None = None
        for delim in _DELIMITERS:
            if delim not in row:
                continue
            for quote in quotes:
                count = len(self._cells_of(index, delim, quote))
                if count < 2:
                    continue
                head = self._table_head(index, delim, quote)
                if head < index and (best is None or (head, -count) < best[:2]):
                    best = (head, -count, delim, quote)
        if best is None:
            return None
        head, _, delim, quote = best
        header = self._cells_of(head, delim, quote)
        column = len(_cells(row[:pos], delim, quote)) - 1
        return header[column] if column < len(header) else None

    def stop(self, offset: int) -> None:
        """A scan stops at the candidate at ``offset``, unjudged."""
        if self.unchecked_from is None or offset < self.unchecked_from:
            self.unchecked_from = offset

    @property
    def exhausted(self) -> bool:
        """Whether the detectors have judged as many candidates as they may."""
        return self.work <= 0

    def labels_near(self, start: int, end: int) -> frozenset[str]:
        """Label families that name the value at ``text[start:end]``: its key when it
        has one, else its line (near it), the line above and its block's header lines."""
        cached = self._near.get(start)
        if cached is None:
            self.work -= 1
            cached = self._near[start] = self._labels_near(start, end)
        return cached

    def _labels_near(self, start: int, end: int) -> frozenset[str]:
        index = self.line_index(start)
        line_start, line_end = self.line_span(index)
        window = max(line_start, start - _KEY_WINDOW)
        key = _KEY_BEFORE.search(self.text, window, start) or _TAG_BEFORE.search(
            self.text, window, start
        )
        if key is not None:
            name = key.group(1).strip()
            families = label_families(name, strict=" " in name)
            if families or name.lower() not in _GENERIC_KEYS:
                return families
        if line_end - line_start <= _LONG_LINE:
            cell = self._column_label(index, self.text[line_start:line_end], start - line_start)
            if cell is not None:
                name = cell.strip(" \t\"'|()")
                return label_families(name, strict=" " in name)
            own = self._labels_of_line(index)
        else:
            own = label_families(
                self.text, max(line_start, start - _BEFORE), min(line_end, end + _AFTER)
            )
        above = _NOTHING
        if index > 0:
            above_start, above_end = self.line_span(index - 1)
            # Only a heading: "Phone:", "<ssn>", '"phones": [' (a line with a value of
            # its own, '"phone": "06 ...",', names that value, not this one).
            if self.text[max(above_start, above_end - 8) : above_end].rstrip()[-1:] in _OPENERS:
                above = self._labels_of_line(index - 1)
        return own | above | self._labels_of_header(self.block_start(index))


def _cells(line: str, delim: str, quote: str) -> list[str]:
    """``line`` split at ``delim`` outside ``quote``-quoted parts."""
    if quote not in line:
        return line.split(delim)
    cells: list[str] = []
    current: list[str] = []
    for token in _TOKENS[delim, quote].findall(line):
        if token == delim:
            cells.append("".join(current))
            current = []
        else:
            current.append(token)
    cells.append("".join(current))
    return cells


def line_window(text: str, start: int, end: int, before: int, after: int) -> tuple[int, int]:
    """The part of the line around ``text[start:end]``, at most ``before`` characters
    before it and ``after`` after it (bounded, so a 2 MB line costs no more)."""
    left = text.rfind("\n", max(0, start - before), start) + 1 or max(0, start - before)
    right = text.find("\n", end, end + after)
    return left, (right if right >= 0 else min(len(text), end + after))
