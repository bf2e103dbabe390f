"""Privacy: which documents must never reach a cloud model, and the gate to the outside.

A document is private when one of its paths matches a privacy glob, when a
detector finds a credential or personal data in its text, or when its rules
cannot be known (fail closed). :mod:`localroute.privacy.gate` is the only place
that lets text leave for a backend. Pure: no pygls, no httpx.
"""

from __future__ import annotations

from localroute.privacy.classify import (
    ALL_LOCALITIES,
    PrivacyVerdict,
    classify,
    classify_document,
    content_hash,
    private_localities,
)
from localroute.privacy.globs import (
    candidate_paths,
    glob_to_regex,
    match_privacy_glob,
    normalize_path,
)
from localroute.privacy.secrets import SecretHit, find_secrets

__all__ = [
    "ALL_LOCALITIES",
    "PrivacyVerdict",
    "SecretHit",
    "candidate_paths",
    "classify",
    "classify_document",
    "content_hash",
    "find_secrets",
    "glob_to_regex",
    "match_privacy_glob",
    "normalize_path",
    "private_localities",
]
