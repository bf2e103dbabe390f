"""Tests for localroute.bulk.files: path expansion for bulk review."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from localroute.bulk.files import (
    REASON_BINARY,
    REASON_IGNORED,
    REASON_NOT_FOUND,
    REASON_NOT_REGULAR,
    REASON_SYMLINK_DIR,
    SNIFF_BYTES,
    expand_paths,
    looks_binary,
    reason_too_large,
)
from tests.support.swapped import swap_before_open


def write(path: Path, content: str | bytes = "print('hi')\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = (tmp_path / "repo").resolve()
    (root / ".git" / "info").mkdir(parents=True)
    write(root / ".git" / "config", "[core]\n")
    return root


def rel(root: Path, paths: list[Path]) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def skipped_rel(root: Path, skipped: list[tuple[Path, str]]) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): reason for p, reason in skipped}


def test_root_and_nested_gitignore_are_honoured(repo: Path) -> None:
    write(repo / ".gitignore", "*.log\nbuild/\n/top-only.txt\n")
    write(repo / "a.py")
    write(repo / "app.log", "log\n")
    write(repo / "top-only.txt", "x\n")
    write(repo / "build" / "gen.py")
    write(repo / "sub" / ".gitignore", "secret.txt\n!keep.log\n")
    write(repo / "sub" / "b.py")
    write(repo / "sub" / "secret.txt", "s\n")
    write(repo / "sub" / "keep.log", "kept by negation\n")
    write(repo / "sub" / "top-only.txt", "anchored pattern does not reach here\n")
    write(repo / "sub" / "deeper" / "build" / "x.py")
    write(repo / "other" / "secret.txt", "the nested rule is local to sub/\n")

    result = expand_paths([repo])

    assert rel(repo, result.files) == [
        ".gitignore",
        "a.py",
        "other/secret.txt",
        "sub/.gitignore",
        "sub/b.py",
        "sub/keep.log",
        "sub/top-only.txt",
    ]
    assert skipped_rel(repo, result.skipped) == {
        "app.log": REASON_IGNORED,
        "build": REASON_IGNORED,  # an ignored directory is reported once, not per file
        "sub/deeper/build": REASON_IGNORED,
        "sub/secret.txt": REASON_IGNORED,
        "top-only.txt": REASON_IGNORED,
    }


def test_deeper_gitignore_overrides_shallower(repo: Path) -> None:
    write(repo / ".gitignore", "!*.gen.py\n")
    write(repo / "pkg" / ".gitignore", "*.gen.py\n")
    write(repo / "pkg" / "a.gen.py")
    write(repo / "b.gen.py")

    result = expand_paths([repo])

    assert "b.gen.py" in rel(repo, result.files)
    assert skipped_rel(repo, result.skipped) == {"pkg/a.gen.py": REASON_IGNORED}


def test_default_excluded_directories_are_never_entered(repo: Path) -> None:
    write(repo / "main.py")
    write(repo / ".venv" / "lib" / "site.py")
    write(repo / "web" / "node_modules" / "left-pad" / "index.js", "module.exports = 1;\n")
    write(repo / "pkg" / "__pycache__" / "m.cpython-311.pyc", b"\x00\x01")
    write(repo / ".gitignore", "!.venv/\n!node_modules/\n")  # cannot re-include them

    result = expand_paths([repo])

    assert rel(repo, result.files) == [".gitignore", "main.py"]
    assert result.skipped == []


def test_binary_files_are_skipped_with_reason(repo: Path) -> None:
    write(repo / "nul.dat", b"abc\x00def")
    write(repo / "latin1.txt", "caf\xe9\n".encode("latin-1"))
    write(repo / "ok.py")

    result = expand_paths([repo])

    assert rel(repo, result.files) == ["ok.py"]
    assert skipped_rel(repo, result.skipped) == {
        "latin1.txt": REASON_BINARY,
        "nul.dat": REASON_BINARY,
    }


def test_utf8_character_cut_at_the_sniff_boundary_is_text(repo: Path) -> None:
    head = b"x" * (SNIFF_BYTES - 1) + "é".encode()  # é's second byte is past 8 KiB
    write(repo / "long.txt", head + b"\nmore text\n")
    # Past the sniffed head, invalid bytes are not looked at.
    write(repo / "late.txt", b"y" * (SNIFF_BYTES + 10) + b"\xff")

    result = expand_paths([repo])

    assert rel(repo, result.files) == ["late.txt", "long.txt"]


def test_looks_binary() -> None:
    assert not looks_binary(b"")
    assert not looks_binary("naïve — ok\n".encode())
    assert looks_binary(b"\x00")
    assert looks_binary(b"\xff\xfe")
    cut = "é".encode()[:1]
    assert not looks_binary(b"abc" + cut)  # may continue past the head
    assert looks_binary(b"abc" + cut, complete=True)  # the file really ends there


def test_oversized_files_are_skipped_with_reason(repo: Path) -> None:
    write(repo / "exact.py", "x" * 100)
    write(repo / "big.py", "x" * 101)

    result = expand_paths([repo], max_bytes=100)

    assert rel(repo, result.files) == ["exact.py"]
    assert skipped_rel(repo, result.skipped) == {"big.py": reason_too_large(100)}
    assert reason_too_large(100) == "larger than 100 bytes"


def test_explicit_files_are_kept_even_when_ignored(repo: Path) -> None:
    write(repo / ".gitignore", "*.gen.py\n")
    generated = write(repo / "x.gen.py")
    write(repo / "y.gen.py")

    result = expand_paths([generated])
    assert result.files == [generated]
    assert result.skipped == []

    # Named explicitly and also met (ignored) in a walk: kept, not reported as skipped.
    both = expand_paths([repo, generated])
    assert generated in both.files
    assert skipped_rel(repo, both.skipped) == {"y.gen.py": REASON_IGNORED}


def test_explicit_files_are_still_skipped_when_binary_or_large(repo: Path) -> None:
    binary = write(repo / "img.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    big = write(repo / "big.py", "x" * 50)

    result = expand_paths([binary, big], max_bytes=10)

    assert result.files == []
    assert result.skipped == [(big, reason_too_large(10)), (binary, REASON_BINARY)]


def test_missing_paths_are_reported(tmp_path: Path) -> None:
    missing = tmp_path / "nope.py"

    result = expand_paths([missing])

    assert result.files == []
    assert result.skipped == [(missing, REASON_NOT_FOUND)]


def test_relative_paths_are_resolved(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(repo / "src" / "m.py")
    monkeypatch.chdir(repo)

    result = expand_paths([Path("src"), Path("src/m.py"), Path("./src/../src/m.py")])

    assert result.files == [repo / "src" / "m.py"]


def test_files_are_sorted_and_deduplicated(repo: Path) -> None:
    for name in ["b.py", "a.py", "c/d.py"]:
        write(repo / name)

    result = expand_paths([repo / "c", repo, repo / "a.py", repo])

    assert rel(repo, result.files) == ["a.py", "b.py", "c/d.py"]
    assert all(p.is_absolute() for p in result.files)


def test_walking_a_subdirectory_honours_the_ancestors_gitignore(repo: Path) -> None:
    write(repo / ".gitignore", "gen/\n*.tmp\n")
    write(repo / "src" / ".gitignore", "local.txt\n")
    write(repo / "src" / "pkg" / "a.py")
    write(repo / "src" / "pkg" / "gen" / "b.py")
    write(repo / "src" / "pkg" / "c.tmp", "t\n")
    write(repo / "src" / "pkg" / "local.txt", "l\n")

    result = expand_paths([repo / "src" / "pkg"])

    assert rel(repo, result.files) == ["src/pkg/a.py"]
    assert skipped_rel(repo, result.skipped) == {
        "src/pkg/c.tmp": REASON_IGNORED,
        "src/pkg/gen": REASON_IGNORED,
        "src/pkg/local.txt": REASON_IGNORED,
    }


def test_an_explicitly_named_ignored_directory_is_walked(repo: Path) -> None:
    write(repo / ".gitignore", "vendor/\n")
    write(repo / "vendor" / ".gitignore", "*.min.js\n")
    write(repo / "vendor" / "lib.py")
    write(repo / "vendor" / "lib.min.js", "x\n")

    assert expand_paths([repo]).files == [repo / ".gitignore"]

    result = expand_paths([repo / "vendor"])
    assert rel(repo, result.files) == ["vendor/.gitignore", "vendor/lib.py"]
    assert skipped_rel(repo, result.skipped) == {"vendor/lib.min.js": REASON_IGNORED}


def test_git_info_exclude_is_honoured(repo: Path) -> None:
    write(repo / ".git" / "info" / "exclude", "scratch/\n")
    write(repo / "scratch" / "notes.py")
    write(repo / "main.py")

    result = expand_paths([repo])

    assert rel(repo, result.files) == ["main.py"]
    assert skipped_rel(repo, result.skipped) == {"scratch": REASON_IGNORED}


def test_explicit_root_without_git(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    write(root / ".gitignore", "*.out\n")
    write(root / "pkg" / "a.py")
    write(root / "pkg" / "a.out", "o\n")

    # Without a .git and without root, only the directory's own .gitignore files count.
    assert rel(root, expand_paths([root / "pkg"]).files) == ["pkg/a.out", "pkg/a.py"]
    # With root, the root's .gitignore applies below it.
    assert rel(root, expand_paths([root / "pkg"], root=root).files) == ["pkg/a.py"]


def test_a_nested_repository_starts_its_own_rules(repo: Path) -> None:
    write(repo / ".gitignore", "*.txt\n")
    (repo / "sub" / ".git").mkdir(parents=True)
    write(repo / "sub" / "notes.txt", "n\n")
    write(repo / "top.txt", "t\n")

    result = expand_paths([repo])

    assert "sub/notes.txt" in rel(repo, result.files)
    assert skipped_rel(repo, result.skipped) == {"top.txt": REASON_IGNORED}


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlinks(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside / "o.py")
    target = write(repo / "real.py")
    os.symlink(outside, repo / "linkdir")
    os.symlink(target, repo / "alias.py")
    os.symlink(repo / "gone.py", repo / "dangling.py")

    result = expand_paths([repo])

    # The file symlink resolves to the file already listed: one entry.
    assert rel(repo, result.files) == ["real.py"]
    assert skipped_rel(repo, result.skipped) == {
        "dangling.py": REASON_NOT_FOUND,
        "linkdir": REASON_SYMLINK_DIR,
    }
    # Named explicitly, a symlinked directory is followed.
    assert expand_paths([repo / "linkdir"]).files == [(outside / "o.py").resolve()]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_special_files_are_not_regular(repo: Path) -> None:
    os.mkfifo(repo / "pipe")
    write(repo / "a.py")

    result = expand_paths([repo])

    assert rel(repo, result.files) == ["a.py"]
    assert skipped_rel(repo, result.skipped) == {"pipe": REASON_NOT_REGULAR}
    assert expand_paths([repo / "pipe"]).skipped == [(repo / "pipe", REASON_NOT_REGULAR)]


def test_negative_max_bytes_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        expand_paths([tmp_path], max_bytes=-1)


@pytest.mark.timeout(10)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_file_swapped_for_a_pipe_after_its_look_is_not_waited_for(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file is looked at (its kind, its size) and then its head is read: a pipe put in
    its place in between is found not regular once open, instead of blocking the walk."""
    os.mkfifo(tmp_path / "fifo")
    path = write(repo / "a.py")
    swapped = swap_before_open(monkeypatch, path, tmp_path / "fifo")

    result = expand_paths([path])

    assert swapped.is_set()
    assert result.files == []
    assert result.skipped == [(path, REASON_NOT_REGULAR)]


@pytest.mark.timeout(10)
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_chosen_file_is_read_as_text_and_a_pipe_in_its_place_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localroute.bulk.runner import read_text

    path = write(tmp_path / "a.py", b"a = 1\r\nb = 'caf\xe9'\rc = 3\n")
    assert read_text(path) == "a = 1\nb = 'caf\ufffd'\nc = 3\n"  # as text mode reads it

    os.mkfifo(tmp_path / "fifo")
    swapped = swap_before_open(monkeypatch, path, tmp_path / "fifo")
    with pytest.raises(OSError) as raised:
        read_text(path)
    assert swapped.is_set()
    assert raised.value.strerror == "not a regular file"
