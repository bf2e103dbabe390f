"""Reading a file that someone else may have put in place: a workspace's
``.localroute.toml``, a ``.gitignore``, a token file, a document the editor has not
opened, the files a bulk review reads.

A repository can hold a symlink by any of those names, to ``/dev/zero`` (read for ever) or
``/dev/stdin`` (the language server's own pipe from the editor: reading it would block
the server and eat the client's messages). So the file is opened without waiting (a FIFO
opens at once), must turn out to be a regular file, and is read only up to a limit.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MAX_CONFIG_BYTES = 1_000_000
"""Configuration, ignore and token files are far smaller; a larger one is refused."""


class NotRegularFile(OSError):
    """The path names a device, a pipe, a socket or a directory: it is not read."""


class TooLarge(OSError):
    """The file is larger than the limit, or grew past it while it was read."""


def read_small_text(path: Path, limit: int = MAX_CONFIG_BYTES, errors: str = "strict") -> str:
    """The UTF-8 text of the regular file at ``path`` (symlinks followed), at most ``limit``
    bytes. ``FileNotFoundError`` when there is none; another ``OSError`` naming why not
    (:class:`NotRegularFile`, :class:`TooLarge`, unreadable); ``UnicodeDecodeError`` when
    not UTF-8 and ``errors`` is ``strict``."""
    fd, info = _open_regular(path)
    try:
        if info.st_size > limit:
            raise TooLarge(errno.EFBIG, f"larger than {limit} bytes", str(path))
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, min(65536, limit + 1 - size)):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:  # it grew since it was looked at
                raise TooLarge(errno.EFBIG, f"larger than {limit} bytes", str(path))
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", errors)


def read_head(path: Path, size: int) -> bytes:
    """The first ``size`` bytes (fewer if the file is shorter) of the regular file at
    ``path``, opened the same way: :class:`NotRegularFile` for anything else."""
    fd, _ = _open_regular(path)
    try:
        chunks: list[bytes] = []
        got = 0
        while got < size and (chunk := os.read(fd, size - got)):
            chunks.append(chunk)
            got += len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks)


def as_text_mode(text: str) -> str:
    """``text`` with its line ends as a file opened in text mode has them: a CR LF or a
    lone CR is one line feed."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _open_regular(path: Path) -> tuple[int, os.stat_result]:
    """A descriptor of ``path`` opened without waiting (a FIFO opens at once), and what it
    is: looked at once open, so what is read is what was looked at."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # a socket: there is nothing to open
            raise NotRegularFile(errno.EINVAL, "not a regular file", str(path)) from exc
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotRegularFile(errno.EINVAL, "not a regular file", str(path))
    except BaseException:
        os.close(fd)
        raise
    return fd, info
