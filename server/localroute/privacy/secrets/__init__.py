"""Credential detection in the text about to be sent to a model.

Runs on every request, on the whole document, so every detector is a precompiled,
length-bounded regex scanned over the text at C speed (linear whatever the text: the
text is untrusted), and line numbers are only computed for matches. The detectors, by
module:

- ``tokens``: provider tokens by their prefixes and shapes (GitHub, GitLab, Slack,
  OpenAI, Anthropic, Google, AWS, Stripe, Twilio, SendGrid, Mailgun, npm, PyPI,
  Docker Hub, Azure), less documentation placeholders;
- ``keys``: private keys (PEM, PuTTY, any part of one, base64-encoded once more, DER);
- ``connections``: passwords in connection strings (URLs, JDBC, ODBC, ADO.NET, libpq);
- ``assignments``: values assigned to secret-like names, weighed by ``values``
  (length, entropy, character classes; placeholders, templates, paths, URLs,
  references and identifiers dropped, since ordinary code is full of names like
  ``token`` and ``auth``);
- ``documents``: GCP service-account key files, Kubernetes ``Secret`` manifests.

The corpus in tests/data/secret_corpus/ measures recall and false positives, and
bench/secret_false_positives.py the share of clean files flagged; docs/secret-detection.md
says what is detected and what is not.

Hits carry the kind and the line, never the matched text: they end up in logs and in
the editor, where a secret must not. This package is pure: it imports neither pygls
nor httpx.
"""

from __future__ import annotations

from localroute.privacy.secrets.kinds import ALL_KINDS
from localroute.privacy.secrets.kinds import AWS_KEY_ID as AWS_KEY_ID_KIND
from localroute.privacy.secrets.kinds import AWS_SECRET as AWS_SECRET_KIND
from localroute.privacy.secrets.kinds import GENERIC as GENERIC_KIND
from localroute.privacy.secrets.kinds import PRIVATE_KEY as PRIVATE_KEY_KIND
from localroute.privacy.secrets.scan import SecretHit, find_secrets
from localroute.privacy.secrets.values import looks_like_secret_value, shannon_entropy

__all__ = [
    "ALL_KINDS",
    "AWS_KEY_ID_KIND",
    "AWS_SECRET_KIND",
    "GENERIC_KIND",
    "PRIVATE_KEY_KIND",
    "SecretHit",
    "find_secrets",
    "looks_like_secret_value",
    "shannon_entropy",
]
