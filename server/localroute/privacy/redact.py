"""Withholding credentials from text the server shows or writes: model answers turned
into diagnostics and hovers, log lines, audit outcomes.

A model that read a file holding a key may quote it back; a backend error may echo
a header. Lines that hold a credential are replaced whole — the detector knows the
line and the kind, and a line is the unit a person reads.
"""

from __future__ import annotations

import logging


def redact(text: str) -> str:
    """``text`` with every line that holds a credential replaced by a note naming its kind."""
    # Imported here: the log filter is installed before the language server answers
    # `initialize`, and the detectors' rules need not be compiled by then.
    from localroute.privacy.secrets import find_secrets

    hits = find_secrets(text)
    if not hits:
        return text
    kinds = {hit.line: hit.kind for hit in hits}
    lines = text.split("\n")
    for number, kind in kinds.items():
        if 1 <= number <= len(lines):
            lines[number - 1] = f"[line withheld: it held a {kind}]"
    return "\n".join(lines)


class RedactingFilter(logging.Filter):
    """A logging filter that withholds credentials from every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
