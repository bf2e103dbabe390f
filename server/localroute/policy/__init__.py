"""Which rules apply to a file: its project root, the configuration sources that
apply there, and what they say about privacy — one answer, found from the file."""

from __future__ import annotations

from localroute.policy.roots import ProjectRoot, place
from localroute.policy.store import Policy, PolicyStore

__all__ = ["Policy", "PolicyStore", "ProjectRoot", "place"]
