"""The smallest pygls language server, a baseline for start-up time and memory.

``python bench/minimal_server.py`` answers `initialize` with pygls' defaults and idles;
``--import httpx,pydantic`` first imports those modules, as any server that talks HTTP
and validates configuration with them must; ``--model`` then builds and uses one
pydantic model (pydantic 2 imports its machinery only then).
"""

from __future__ import annotations

import argparse
import importlib

from pygls.lsp.server import LanguageServer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--import", dest="modules", default="", help="comma-separated modules")
    parser.add_argument("--model", action="store_true", help="build and use one pydantic model")
    args = parser.parse_args()
    for name in filter(None, args.modules.split(",")):
        importlib.import_module(name)
    if args.model:
        import pydantic

        class Settings(pydantic.BaseModel):
            name: str = "minimal"
            timeout_s: float = 1.5

        Settings.model_validate({"name": "minimal"})
    LanguageServer("minimal", "1").start_io()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
