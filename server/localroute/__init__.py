"""localroute: a local-first routing language server for AI code review and explanation."""

import sys

# httpx imports its optional command-line client (rich, click, pygments: about 90
# modules, 5 MiB and 40 ms at start-up) whenever those happen to be installed, as they
# are next to llama-cpp-python's server or dev tools. localroute never runs it. A None
# entry in sys.modules makes that one import fail at once (the documented meaning of
# None there), and httpx falls back to its stub `httpx.main`; nothing else changes.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

__version__ = "0.1.0"
