"""Explicit consent: the user — and only the user — lets one refused request go to one
named cloud backend.

A refusal for privacy carries a one-time token bound to the document's content hash,
the task and the backend, valid for :data:`CONSENT_TTL_S` seconds. Passing it back
sends that one request; the token is then spent. Tokens are random and live in this
process only: a workspace file, settings or a model answer cannot make one.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from localroute.clearance import PrivacyViolation

CONSENT_TTL_S = 120.0
MAX_OFFERS = 256


@dataclass(frozen=True)
class ConsentOffer:
    """What a refusal offers: the token, the backend it names, how long it is valid."""

    token: str
    backend: str
    expires_in_s: int

    def as_json(self) -> dict[str, object]:
        return {"token": self.token, "backend": self.backend, "expires_in_s": self.expires_in_s}


Span = tuple[int | None, int | None]
"""The lines of the request (start, end); (None, None) is the whole file."""


@dataclass(frozen=True)
class Consent:
    """A redeemed token: this document content, these lines, this task, this backend, once."""

    content_hash: str
    task: str
    backend: str
    span: Span = (None, None)

    def check(self, *, content_hash: str, task: str, backend: str) -> None:
        if (content_hash, task, backend) != (self.content_hash, self.task, self.backend):
            raise PrivacyViolation("the consent was given for another document, task or backend")


class ConsentError(Exception):
    """A consent token that cannot be used; the message says why."""


class ConsentStore:
    def __init__(self, *, ttl_s: float = CONSENT_TTL_S) -> None:
        self._ttl_s = ttl_s
        self._offers: dict[str, tuple[Consent, float]] = {}

    def offer(
        self, *, content_hash: str, task: str, backend: str, span: Span = (None, None)
    ) -> ConsentOffer:
        """A new single-use token for sending this content (these lines) with this task to
        ``backend``."""
        now = time.monotonic()
        self._offers = {t: v for t, v in self._offers.items() if v[1] > now}
        while len(self._offers) >= MAX_OFFERS:
            self._offers.pop(next(iter(self._offers)))
        token = secrets.token_urlsafe(24)
        self._offers[token] = (Consent(content_hash, task, backend, span), now + self._ttl_s)
        return ConsentOffer(token, backend, int(self._ttl_s))

    def redeem(
        self, token: str, *, content_hash: str, task: str, span: Span = (None, None)
    ) -> Consent:
        """Spend ``token`` for this content, lines and task; raise :class:`ConsentError`
        otherwise (the token is spent either way: it was shown once)."""
        entry = self._offers.pop(token, None)
        if entry is None:
            raise ConsentError("the consent token is unknown or was already used")
        consent, expires = entry
        if time.monotonic() > expires:
            raise ConsentError("the consent token has expired; ask again")
        if consent.content_hash != content_hash:
            raise ConsentError("the document changed since consent was given; ask again")
        if consent.task != task:
            raise ConsentError(f"the consent token was given for the {consent.task} task")
        if consent.span != span:
            raise ConsentError("the consent token was given for other lines of the document")
        return consent
