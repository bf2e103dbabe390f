"""localroute: a local-first routing language server for AI code review and explanation."""

import sys
import types
from typing import Any

# httpx imports its optional command-line client (rich, click, pygments: about 90
# modules, 5 MiB and 40 ms at start-up) whenever those happen to be installed, as they
# are next to llama-cpp-python's server or dev tools. localroute never runs it. A None
# entry in sys.modules makes that one import fail at once (the documented meaning of
# None there), and httpx falls back to its stub `httpx.main`; nothing else changes.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]


def _without_pydantic_plugins() -> types.ModuleType:
    """pydantic's plugin loader, answering that there are no plugins.

    When it builds its first schema, pydantic looks for plugins: it imports
    importlib.metadata (with email and zipfile), reads the entry points of every installed
    distribution, and runs the code of every plugin it finds, which then sees every value
    validated (here: the configuration). localroute wants none of that, and the search
    alone cost 20 ms of every start (`localroute review`, the server's first
    configuration). pydantic's own switch is an environment variable,
    PYDANTIC_DISABLE_PLUGINS, which every process localroute starts would inherit; this
    module in place of the loader changes this process only. Any other name a later
    pydantic asks of the loader comes from the real one.
    """
    loader = types.ModuleType("pydantic.plugin._loader", _without_pydantic_plugins.__doc__)

    found: dict[str, types.ModuleType] = {}

    def get_plugins(*args: object, **kwargs: object) -> tuple[()]:
        return ()

    def real(name: str) -> Any:
        if name.startswith("__"):  # the import system asks for `__path__` and the like
            raise AttributeError(name)
        if "real" not in found:
            import importlib.util
            from pathlib import Path

            package = importlib.util.find_spec("pydantic.plugin")
            if package is None or package.origin is None:
                raise AttributeError(name)
            path = Path(package.origin).with_name("_loader.py")
            spec = importlib.util.spec_from_file_location("pydantic.plugin._real_loader", path)
            if spec is None or spec.loader is None:
                raise AttributeError(name)
            found["real"] = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(found["real"])
        return getattr(found["real"], name)

    loader.get_plugins = get_plugins  # type: ignore[attr-defined]
    loader.__getattr__ = real  # type: ignore[method-assign]
    return loader


sys.modules.setdefault("pydantic.plugin._loader", _without_pydantic_plugins())

__version__ = "0.1.0"
