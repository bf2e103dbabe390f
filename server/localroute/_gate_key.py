"""The key that makes a :class:`localroute.clearance.Clearance`.

Only :mod:`localroute.privacy.gate` may import this module (an import-linter contract in
pyproject.toml enforces it): whoever holds the key can let text leave the machine.
"""

from __future__ import annotations

KEY = object()
