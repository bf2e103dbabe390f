"""Small files someone else may have put in place (a workspace's `.localroute.toml`, a
`.gitignore`) are read without blocking and only up to a limit: a symlink to a device or
a pipe is refused at once instead of being read for ever."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from localroute.config.small_file import read_small_text


def test_a_regular_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[privacy]\nglobs = ['x/**']\n")
    assert read_small_text(path) == "[privacy]\nglobs = ['x/**']\n"
    link = tmp_path / "link.toml"
    link.symlink_to(path)
    assert read_small_text(link) == path.read_text()


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_small_text(tmp_path / "nothing.toml")


@pytest.mark.timeout(10)
@pytest.mark.parametrize("target", ["/dev/zero", "fifo", "directory", "socket"])
def test_a_device_a_pipe_a_socket_or_a_directory_is_refused_at_once(
    tmp_path: Path, target: str
) -> None:
    if target == "fifo":
        os.mkfifo(tmp_path / "fifo")  # nobody writes to it: reading would wait for ever
        target = str(tmp_path / "fifo")
    elif target == "directory":
        target = str(tmp_path)
    elif target == "socket":
        if not hasattr(socket, "AF_UNIX"):
            pytest.skip("no unix sockets on this system")
        with socket.socket(socket.AF_UNIX) as bound:  # its file stays once it is closed
            bound.bind(str(tmp_path / "sock"))
        target = str(tmp_path / "sock")
    elif not os.path.exists(target):
        pytest.skip(f"{target} does not exist on this system")
    link = tmp_path / ".localroute.toml"
    link.symlink_to(target)
    with pytest.raises(OSError) as raised:
        read_small_text(link)
    assert not isinstance(raised.value, FileNotFoundError)
    assert raised.value.strerror in ("not a regular file", "Is a directory"), raised.value


def test_a_file_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.toml"
    path.write_text("# " + "x" * 100 + "\n")
    assert read_small_text(path, limit=200)
    with pytest.raises(OSError, match="larger than 50 bytes"):
        read_small_text(path, limit=50)


def test_bytes_that_are_not_utf8_are_refused_or_replaced(tmp_path: Path) -> None:
    path = tmp_path / ".gitignore"
    path.write_bytes(b"caf\xe9/\n")
    with pytest.raises(UnicodeDecodeError):
        read_small_text(path)
    assert read_small_text(path, errors="replace") == "caf\ufffd/\n"
