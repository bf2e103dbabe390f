"""Text cleared to leave this process for one backend: the only text a backend accepts.

Every :class:`localroute.backends.base.ChatRequest` carries a :class:`Clearance`, and a
clearance is made only by the privacy gate (:func:`localroute.privacy.gate.clear`),
which holds the key: mypy proves that no request reaches a backend without one, the
import-linter contracts prove that only the gate holds the key, and the clearance
itself refuses text it was not made for and backends it does not name. A violation is
:class:`PrivacyViolation` — a bug, never a reason to try the next backend.
"""

from __future__ import annotations

import hashlib

from localroute import _gate_key
from localroute.config.models import Locality


class PrivacyViolation(Exception):
    """Text was about to go where its verdict does not allow. Never caught as a failure."""


def prompt_digest(system: str, user: str) -> str:
    data = f"{len(system)}:{system}\0{user}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


class Clearance:
    """Permission for one prompt (by digest) to go to one backend of one locality."""

    __slots__ = ("backend", "consented", "content_hash", "digest", "locality", "private")

    backend: str
    locality: Locality
    content_hash: str
    digest: str
    private: bool
    consented: bool

    def __init__(
        self,
        *,
        key: object,
        backend: str,
        locality: Locality,
        content_hash: str,
        digest: str,
        private: bool,
        consented: bool = False,
    ) -> None:
        if key is not _gate_key.KEY:
            raise PrivacyViolation("a clearance is made by localroute.privacy.gate only")
        for name, value in (
            ("backend", backend),
            ("locality", locality),
            ("content_hash", content_hash),
            ("digest", digest),
            ("private", private),
            ("consented", consented),
        ):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("a clearance cannot be changed")

    def __repr__(self) -> str:
        return (
            f"Clearance(backend={self.backend!r}, locality={self.locality!r}, "
            f"private={self.private}, consented={self.consented})"
        )

    def check_text(self, system: str, user: str) -> None:
        """Refuse text other than the prompt this clearance was made for."""
        if prompt_digest(system, user) != self.digest:
            raise PrivacyViolation("the prompt differs from the text the gate cleared")

    def check_backend(self, backend: str, locality: Locality) -> None:
        """Refuse a backend other than the one this clearance names."""
        if backend != self.backend or locality != self.locality:
            raise PrivacyViolation(
                f"cleared for {self.backend} ({self.locality}), not for {backend} ({locality})"
            )
