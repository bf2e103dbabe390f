"""The single gate between a document and a backend.

:func:`clear` is the only function that makes a
:class:`~localroute.clearance.Clearance`, and every request a backend receives must
carry one (see :mod:`localroute.clearance`). It lets a prompt go to a backend only
when the document's verdict allows that locality — or when the user consented to
this one send, for this document's content, this task and this backend
(:mod:`localroute.privacy.consent`). Anything else raises
:class:`~localroute.clearance.PrivacyViolation`.
"""

from __future__ import annotations

from localroute import _gate_key
from localroute.clearance import Clearance, PrivacyViolation, prompt_digest
from localroute.config.models import Locality
from localroute.privacy.classify import PrivacyVerdict
from localroute.privacy.consent import Consent


def clear(
    verdict: PrivacyVerdict,
    *,
    backend: str,
    locality: Locality,
    system: str,
    user: str,
    task: str,
    consent: Consent | None = None,
) -> Clearance:
    """Clear the prompt (``system``, ``user``) built from the document of ``verdict`` for
    ``backend`` of ``locality``; raise :class:`PrivacyViolation` when it may not go there."""
    consented = False
    if locality not in verdict.localities:
        if consent is None:
            raise PrivacyViolation(
                f"{verdict.path or 'the document'} is private ({verdict.summary}); "
                f"it may not go to {backend} ({locality})"
            )
        consent.check(content_hash=verdict.content_hash, task=task, backend=backend)
        consented = True
    return Clearance(
        key=_gate_key.KEY,
        backend=backend,
        locality=locality,
        content_hash=verdict.content_hash,
        digest=prompt_digest(system, user),
        private=verdict.private,
        consented=consented,
    )
