"""The privacy verdict of a document: made once, on its whole text and its path.

Every part of a private document is private: a selection, a chunk or a prompt built
from it inherits this verdict, which also names the localities its text may go to
(see :mod:`localroute.privacy.gate`). This module is pure: no pygls, no httpx.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from localroute.config.models import Locality, PrivacyConfig
from localroute.identity import DocumentIdentity, uri_path
from localroute.privacy.globs import match_privacy_glob
from localroute.privacy.personal import find_personal_data
from localroute.privacy.secrets import find_secrets

MAX_REASONS = 10

ALL_LOCALITIES: frozenset[Locality] = frozenset({"local", "private-network", "cloud"})


@dataclass(frozen=True)
class PrivacyVerdict:
    """Whether a document is private, why (globs, detector kinds and lines, never values),
    which document it is about, and where its text may go."""

    private: bool
    reasons: tuple[str, ...] = ()
    content_hash: str = ""
    """SHA-256 of the whole text classified."""
    path: str | None = None
    """The document's canonical path, if it is a file."""
    localities: frozenset[Locality] = ALL_LOCALITIES

    @property
    def summary(self) -> str:
        """The reasons joined with ``"; "``, or ``"not private"``."""
        return "; ".join(self.reasons) if self.reasons else "not private"


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def private_localities(allow_private_network: bool) -> frozenset[Locality]:
    if allow_private_network:
        return frozenset({"local", "private-network"})
    return frozenset({"local"})


def _article(kind: str) -> str:
    return "an" if kind[:1].lower() in "aeiou" else "a"


def classify(
    *,
    path: str | None,
    workspace_roots: Sequence[str],
    text: str,
    globs: Sequence[str],
    detect_secrets: bool,
    detect_personal_data: bool = False,
    first_line: int = 1,
    forced_private: Sequence[str] = (),
    other_paths: Sequence[str] = (),
    allow_private_network: bool = True,
) -> PrivacyVerdict:
    """Classify a document as private or not.

    ``path`` is the document's absolute path, or None when it is not a file;
    ``other_paths`` are further names of the same document that globs are matched
    against (its path as the URI spelled it, before symlinks are resolved; the path of
    a URI of an unknown scheme). ``workspace_roots`` are the directories relative paths
    are taken against. ``text`` is the whole document, ``first_line`` the 1-based file
    line of its first line, so reasons name lines of the file. ``forced_private`` are
    reasons that make the document private whatever it holds (a configuration that
    fails closed, a file whose project cannot be known). At most :data:`MAX_REASONS`
    reasons are kept, followed by "and N more".
    """
    reasons: list[str] = list(forced_private)
    for candidate in dict.fromkeys(p for p in (path, *other_paths) if p):
        glob = match_privacy_glob(candidate, workspace_roots, globs)
        if glob is not None:
            reasons.append(f"path matches privacy glob '{glob}'")
            break
    if detect_secrets:
        for hit in find_secrets(text, first_line=first_line):
            reasons.append(f"contains {_article(hit.kind)} {hit.kind} (line {hit.line})")
    if detect_personal_data:
        reasons.extend(hit.reason() for hit in find_personal_data(text, first_line=first_line))
    if len(reasons) > MAX_REASONS:
        extra = len(reasons) - MAX_REASONS
        reasons = [*reasons[:MAX_REASONS], f"and {extra} more"]
    private = bool(reasons)
    return PrivacyVerdict(
        private=private,
        reasons=tuple(reasons),
        content_hash=content_hash(text),
        path=path,
        localities=private_localities(allow_private_network) if private else ALL_LOCALITIES,
    )


def classify_document(
    identity: DocumentIdentity,
    text: str,
    *,
    globs: Sequence[str],
    bases: Sequence[str],
    privacy: PrivacyConfig,
    forced_private: Sequence[str] = (),
    owner_text: str | None = None,
) -> PrivacyVerdict:
    """The verdict of a whole document under the rules of its policy.

    ``owner_text`` is the text of the file a view stands for (a `git:` version shows an
    older text of a working-tree file): what the detectors find there counts too.
    """
    forced = list(forced_private)
    if owner_text is not None and owner_text != text:
        owner = classify(
            path=None,
            workspace_roots=(),
            text=owner_text,
            globs=(),
            detect_secrets=privacy.detect_secrets,
            detect_personal_data=privacy.detect_personal_data,
        )
        forced += [f"{reason} in {identity.path}" for reason in owner.reasons]
    other: list[str] = []
    if identity.fs_path and identity.fs_path != identity.path:
        other.append(identity.fs_path)
    other.extend(identity.aliases)
    if identity.path is None and identity.source == "unknown":
        raw = uri_path(identity.uri)
        if raw:
            other.append(raw)
    return classify(
        path=identity.path,
        workspace_roots=bases,
        text=text,
        globs=globs,
        detect_secrets=privacy.detect_secrets,
        detect_personal_data=privacy.detect_personal_data,
        forced_private=forced,
        other_paths=other,
        allow_private_network=privacy.allow_private_network,
    )
