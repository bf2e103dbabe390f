"""Privacy: which documents must never reach a cloud model, and the gate to the outside.

A document is private when one of its paths matches a privacy glob
(:mod:`~localroute.privacy.globs`), when a detector finds a credential
(:mod:`~localroute.privacy.secrets`) or personal data
(:mod:`~localroute.privacy.personal`) in its text, or when its rules cannot be known
(fail closed); :mod:`~localroute.privacy.classify` makes the verdict.
:mod:`~localroute.privacy.gate` is the only place that lets text leave for a backend.
Pure: no pygls, no httpx. Import from the submodules: this package imports nothing, so
that what only needs one piece (the log filter of :mod:`~localroute.privacy.redact`)
does not load them all.
"""
