"""A command on a document the editor has not opened reads it from disk, on the event
loop: only a small regular file of UTF-8 text is read; a pipe, a device, a directory, a
file too large or not text is refused at once with a message naming why."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from localroute.config import small_file
from localroute.lsp.text import MAX_UNOPENED_BYTES, UnreadableDocument, read_file
from tests.support.swapped import swap_before_open


def test_a_small_file_is_read_with_line_ends_as_in_text_mode(tmp_path: Path) -> None:
    path = tmp_path / "app.py"
    path.write_bytes(b"a = 1\r\nb = 2\rc = 3\ncaf\xc3\xa9\n")
    assert read_file(str(path), "app.py") == "a = 1\nb = 2\nc = 3\ncafé\n"
    link = tmp_path / "link.py"
    link.symlink_to(path)
    assert read_file(str(link), "link.py") == read_file(str(path), "app.py")


def test_bytes_that_are_not_utf8_are_replaced(tmp_path: Path) -> None:
    path = tmp_path / "latin1.py"
    path.write_bytes(b"name = 'caf\xe9'\n")
    assert read_file(str(path), "latin1.py") == "name = 'caf\ufffd'\n"


@pytest.mark.timeout(10)
@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "directory"])
def test_a_device_a_pipe_or_a_directory_is_refused_at_once(tmp_path: Path, target: str) -> None:
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")  # nobody writes to it: reading would wait for ever
        target = str(tmp_path / "fifo")
    elif target == "directory":
        target = str(tmp_path)
    elif not os.path.exists(target):
        pytest.skip(f"{target} does not exist on this system")
    link = tmp_path / "app.py"
    link.symlink_to(target)
    with pytest.raises(UnreadableDocument, match=r"^app\.py is not open and not a regular file$"):
        read_file(str(link), "app.py")


@pytest.mark.timeout(10)
def test_a_pipe_put_in_place_after_a_look_is_not_waited_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is looked at once it is open, not before: a regular file swapped for a
    pipe between a look at its path and its open (the order this module used to follow)
    still cannot block the server."""
    os.mkfifo(tmp_path / "fifo")
    path = tmp_path / "app.py"
    path.write_text("x = 1\n")
    swapped = swap_before_open(monkeypatch, path, tmp_path / "fifo")
    with pytest.raises(UnreadableDocument, match="not a regular file"):
        read_file(str(path), "app.py")
    assert swapped.is_set()


def test_a_file_too_large_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.py"
    with path.open("wb") as handle:
        handle.truncate(MAX_UNOPENED_BYTES + 1)
    with pytest.raises(UnreadableDocument, match=r"^big\.py is not open and larger than 2 MB$"):
        read_file(str(path), "big.py")


@pytest.mark.timeout(10)
def test_a_file_that_grows_while_it_is_read_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log.py"
    path.write_text("x = 1\n")
    read = os.read
    grown = threading.Event()

    def grow_then_read(fd: int, size: int) -> bytes:
        if not grown.is_set():
            grown.set()
            with path.open("ab") as handle:
                handle.write(b"#" * (MAX_UNOPENED_BYTES + 10))
        return read(fd, size)

    monkeypatch.setattr(small_file.os, "read", grow_then_read)
    with pytest.raises(UnreadableDocument, match="larger than 2 MB"):
        read_file(str(path), "log.py")
    assert grown.is_set()


def test_text_with_nul_bytes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deploy.ps1"
    path.write_bytes('$key = "x"\r\n'.encode("utf-16-le"))
    with pytest.raises(UnreadableDocument, match=r"^deploy\.ps1 is not open and is not UTF-8"):
        read_file(str(path), "deploy.ps1")


def test_a_missing_or_unreadable_file_names_why(tmp_path: Path) -> None:
    with pytest.raises(UnreadableDocument, match=r"^cannot read gone\.py: No such file"):
        read_file(str(tmp_path / "gone.py"), "gone.py")
    with pytest.raises(UnreadableDocument, match=r"^cannot read x: not a valid path$"):
        read_file(str(tmp_path / "bad\0name.py"), "x")
    if os.geteuid() != 0:  # root reads whatever the mode says
        locked = tmp_path / "locked.py"
        locked.write_text("x = 1\n")
        locked.chmod(0)
        with pytest.raises(UnreadableDocument, match=r"^cannot read locked\.py: Permission"):
            read_file(str(locked), "locked.py")
