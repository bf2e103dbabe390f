"""The cycle collector paused while `localroute review` starts, and start-up's objects
kept out of every later collection.

Start-up (pydantic and the configuration's schemas, httpx, the detectors) allocates a
few hundred thousand objects that live as long as the process. The collector walks
them again and again while they are made: a `localroute review` run spent about 40 ms
in it, one full collection alone 18 ms. So the `localroute` program pauses the
collector before its heavy imports (:func:`pause`) and, once start-up is over, moves
what exists into the permanent generation (:func:`gc.freeze`) and turns the collector
back on (:func:`resume`). Only `review`, the command a CI job runs on every push, keeps
it paused past its arguments, through reading the configuration; it resumes before
listing the files. Every other command resumes once its arguments are read.

The language server resumes it at once, with its arguments: its start-up leaves enough
garbage that collecting it later (rather than as it is made) left the idle server 7 MiB
larger. Code that imports localroute (tests, other programs) keeps its collector as it
is: there :func:`resume` does nothing.
"""

from __future__ import annotations

import gc

_paused = False


def pause() -> None:
    """Stop cyclic garbage collection until :func:`resume` (the program's entry point)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> None:
    """Start-up is over: freeze what it made and collect again. Does nothing unless
    :func:`pause` stopped the collector."""
    global _paused
    if not _paused:
        return
    _paused = False
    gc.freeze()
    gc.enable()


def paused() -> bool:
    return _paused
