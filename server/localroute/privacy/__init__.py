"""Privacy classification: which documents must never reach a cloud model.

A document is private when one of its paths matches a privacy glob, or when
secret detection is on and the text to be sent holds a credential. Every
module here is pure: no pygls, no httpx, stdlib only.
"""

from __future__ import annotations

from localroute.privacy.classify import PrivacyVerdict, classify, path_from_uri
from localroute.privacy.globs import (
    candidate_paths,
    glob_to_regex,
    match_privacy_glob,
    normalize_path,
)
from localroute.privacy.secrets import SecretHit, find_secrets

__all__ = [
    "PrivacyVerdict",
    "SecretHit",
    "candidate_paths",
    "classify",
    "find_secrets",
    "glob_to_regex",
    "match_privacy_glob",
    "normalize_path",
    "path_from_uri",
]
