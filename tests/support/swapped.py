"""A file swapped for something else after every look at its path and before it is
opened: code that looks at a path (``stat``) and then opens it reads what it did not look
at; code that opens first and then looks at what it opened (``fstat``) does not."""

from __future__ import annotations

import builtins
import io
import os
import threading
from pathlib import Path
from typing import Any

import pytest


def swap_before_open(
    monkeypatch: pytest.MonkeyPatch, path: Path, replacement: Path
) -> threading.Event:
    """From now on, the first open of ``path`` (``os.open``, ``open()``, or ``io.open``
    as ``Path.open`` uses) finds it turned into a symlink to ``replacement``. The event is
    set once that happened."""
    swapped = threading.Event()

    def swap(name: Any) -> None:
        if not swapped.is_set() and isinstance(name, str | os.PathLike) and Path(name) == path:
            swapped.set()
            path.unlink()
            path.symlink_to(replacement)

    real_os_open, real_io_open = os.open, io.open

    def os_open(name: Any, *args: Any, **kwargs: Any) -> int:
        swap(name)
        return real_os_open(name, *args, **kwargs)

    def io_open(name: Any, *args: Any, **kwargs: Any) -> Any:
        swap(name)
        return real_io_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(io, "open", io_open)
    monkeypatch.setattr(builtins, "open", io_open)
    return swapped
