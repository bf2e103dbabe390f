"""What changed since a git ref, on real repositories made in temporary directories."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from localroute.bulk.changes import (
    REASON_NO_LINES,
    REASON_OUTSIDE,
    REASON_SYMLINK,
    REASON_UNCHANGED,
    ChangesError,
    changed_since,
)
from localroute.bulk.hunks import LineRange, parse_hunks, review_ranges, unquote_path

if shutil.which("git") is None:
    pytest.skip("git is not installed", allow_module_level=True)

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=repo,
        env={**os.environ, **GIT_ENV},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def numbered(n: int, prefix: str = "line") -> str:
    return "".join(f"{prefix} {i}\n" for i in range(1, n + 1))


def replace_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text().splitlines(keepends=True)
    lines[number - 1] = text + "\n"
    path.write_text("".join(lines))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "a.py").write_text(numbered(40))
    (root / "b.py").write_text(numbered(40, "other"))
    (root / "gone.py").write_text("x = 1\n")
    (root / "pkg").mkdir()
    (root / "pkg" / "c.py").write_text(numbered(30))
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "base")
    git(root, "tag", "base")
    return root


# -- pure parts ---------------------------------------------------------------------------


def test_hunks_are_counted_so_content_that_looks_like_a_header_is_not_one() -> None:
    patch = (
        b"diff --git a/x.py b/x.py\n"
        b"index 1..2 100644\n"
        b"--- a/x.py\n"
        b"+++ b/x.py\n"
        b"@@ -3 +3,2 @@ def f():\n"
        b"-old\n"
        b"+++ b/evil.py\n"
        b"+@@ -1 +900,5 @@\n"
        b"@@ -10,2 +11,0 @@\n"
        b"-gone\n"
        b"-gone too\n"
        b"\\ No newline at end of file\n"
        b"diff --git a/d.py b/d.py\n"
        b"deleted file mode 100644\n"
        b"--- a/d.py\n"
        b"+++ /dev/null\n"
        b"@@ -1 +0,0 @@\n"
        b"-x\n"
    )
    assert parse_hunks(patch) == {"x.py": [(3, 2), (11, 0)]}


def test_quoted_paths_are_decoded_as_git_writes_them() -> None:
    assert unquote_path(b"b/plain name.py") == "b/plain name.py"
    assert unquote_path(b'"b/caf\\303\\251 \\"q\\".py"') == 'b/café "q".py'
    assert unquote_path(b'"b/tab\\there\\nnl"') == "b/tab\there\nnl"


def test_ranges_get_context_and_nearby_hunks_merge() -> None:
    # 1-based hunks at 10 (3 lines), 16 (1 line: within 3 of the first's context), 60.
    ranges = review_ranges([(10, 3), (16, 1), (60, 1)], context=3)
    assert ranges == (LineRange(6, 18), LineRange(56, 62))
    assert review_ranges([(1, 1)], context=3) == (LineRange(0, 3),)
    # A deletion after line 20: lines 20 and 21 around the gap, plus context.
    assert review_ranges([(20, 0)], context=2) == (LineRange(17, 22),)
    assert review_ranges([(0, 0)], context=0) == (LineRange(0, 0),)
    assert review_ranges([(5, 1), (7, 1)], context=0) == (LineRange(4, 4), LineRange(6, 6))
    assert review_ranges([(5, 1), (6, 1)], context=0) == (LineRange(4, 5),)


# -- real repositories ----------------------------------------------------------------------


def test_committed_staged_and_unstaged_changes_with_their_hunks(repo: Path) -> None:
    replace_line(repo / "a.py", 5, "committed change")
    git(repo, "commit", "-qam", "one")
    replace_line(repo / "b.py", 30, "staged change")
    git(repo, "add", "b.py")
    replace_line(repo / "pkg" / "c.py", 2, "unstaged change")
    (repo / "gone.py").unlink()
    (repo / "new.py").write_text("brand new\n")
    git(repo, "add", "new.py")

    changes = changed_since("base", cwd=repo, context=3)
    by_name = {f.path.relative_to(repo).as_posix(): f for f in changes.files}
    assert set(by_name) == {"a.py", "b.py", "pkg/c.py", "new.py"}
    assert by_name["a.py"].ranges == (LineRange(1, 7),)
    assert by_name["b.py"].ranges == (LineRange(26, 32),)
    assert by_name["pkg/c.py"].ranges == (LineRange(0, 4),)
    assert by_name["new.py"].ranges is None and by_name["new.py"].status == "added"
    assert changes.deleted == 1
    assert changes.root == repo.resolve()
    assert changes.base == git(repo, "rev-parse", "base").strip()


def test_renames_are_followed_and_only_the_changed_lines_reviewed(repo: Path) -> None:
    git(repo, "mv", "a.py", "moved.py")
    replace_line(repo / "moved.py", 20, "edited after the move")
    git(repo, "mv", "b.py", "same.py")  # a pure rename: no changed line
    git(repo, "commit", "-qam", "moves")

    changes = changed_since("base", cwd=repo, context=1)
    (moved,) = changes.files
    assert moved.path == repo / "moved.py"
    assert moved.status == "renamed" and moved.old_path == repo / "a.py"
    assert moved.ranges == (LineRange(18, 20),)
    assert (repo / "same.py", REASON_NO_LINES) in changes.skipped


def test_untracked_files_only_when_named_or_asked_for(repo: Path) -> None:
    (repo / "pkg" / "draft.py").write_text("draft\n")
    (repo / "notes.py").write_text("notes\n")
    (repo / ".gitignore").write_text("ignored.py\n")
    (repo / "ignored.py").write_text("ignored\n")

    plain = changed_since("base", cwd=repo)
    assert [f.path.name for f in plain.files] == []
    assert set(plain.untracked) == {repo / ".gitignore", repo / "notes.py", repo / "pkg/draft.py"}

    named = changed_since("base", ["notes.py", "ignored.py"], cwd=repo)
    assert {f.path.name: f.status for f in named.files} == {
        "notes.py": "untracked",
        "ignored.py": "untracked",
    }
    assert all(f.ranges is None for f in named.files)

    everything = changed_since("base", ["pkg"], cwd=repo, include_untracked=True)
    assert [f.path for f in everything.files] == [repo / "pkg" / "draft.py"]


def test_paths_narrow_the_changes_and_say_why_named_files_are_left_out(
    repo: Path, tmp_path: Path
) -> None:
    replace_line(repo / "a.py", 1, "changed")
    replace_line(repo / "pkg" / "c.py", 1, "changed")
    outside = tmp_path / "elsewhere.py"
    outside.write_text("x\n")

    changes = changed_since("base", ["pkg", "b.py", str(outside)], cwd=repo)
    assert [f.path for f in changes.files] == [repo / "pkg" / "c.py"]
    assert (repo / "b.py", REASON_UNCHANGED) in changes.skipped
    assert (outside, REASON_OUTSIDE) in changes.skipped


def test_since_where_the_branch_left_the_ref_not_what_the_ref_gained_since(repo: Path) -> None:
    git(repo, "checkout", "-qb", "feature")
    replace_line(repo / "a.py", 3, "feature work")
    git(repo, "commit", "-qam", "feature")
    git(repo, "checkout", "-q", "main")
    replace_line(repo / "b.py", 3, "main moved on")
    git(repo, "commit", "-qam", "main")
    git(repo, "checkout", "-q", "feature")

    changes = changed_since("main", cwd=repo)
    assert [f.path.name for f in changes.files] == ["a.py"]


def test_awkward_file_names(repo: Path) -> None:
    names = ["with space.py", "café.py", 'quote".py', "tab\there.py"]
    for name in names:
        (repo / name).write_text(numbered(20))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "names")
    git(repo, "tag", "names")
    for name in names:
        replace_line(repo / name, 10, "changed")

    changes = changed_since("names", cwd=repo, context=0)
    assert {f.path.name: f.ranges for f in changes.files} == {
        name: (LineRange(9, 9),) for name in names
    }


def test_symlinks_are_not_reviewed(repo: Path) -> None:
    (repo / "link.py").symlink_to("a.py")
    git(repo, "add", "link.py")
    changes = changed_since("base", cwd=repo)
    assert changes.files == []
    assert (repo / "link.py", REASON_SYMLINK) in changes.skipped


def test_bad_ref_outside_a_repository_and_no_git_name_the_cause(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ChangesError, match="unknown git ref 'no-such-branch'"):
        changed_since("no-such-branch", cwd=repo)
    with pytest.raises(ChangesError, match="is not a git ref"):
        changed_since("--output=/tmp/x", cwd=repo)
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    with pytest.raises(ChangesError, match="not inside a git repository"):
        changed_since("HEAD", cwd=lonely)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    with pytest.raises(ChangesError, match="git is not installed"):
        changed_since("HEAD", cwd=repo)


def test_head_means_what_is_not_committed_yet(repo: Path) -> None:
    replace_line(repo / "a.py", 40, "last line changed")
    changes = changed_since("HEAD", cwd=repo, context=3)
    (changed,) = changes.files
    assert changed.ranges == (LineRange(36, 42),)


def test_a_repositorys_fsmonitor_hook_is_never_run(repo: Path, tmp_path: Path) -> None:
    """A repository's own configuration can name a command git runs to learn what changed
    (`core.fsmonitor`): an unpacked archive or a shared folder could carry one. Asking git
    what changed must not run it."""
    marker = tmp_path / "ran"
    hook = tmp_path / "hook.sh"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\n")
    hook.chmod(0o755)
    git(repo, "config", "core.fsmonitor", str(hook))
    replace_line(repo / "a.py", 5, "changed")
    changes = changed_since("base", cwd=repo, include_untracked=True)
    assert [f.path.name for f in changes.files] == ["a.py"]
    assert not marker.exists()


def test_a_clean_filter_the_repository_defines_is_never_run(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filter defined in the repository's configuration (directly or through an include)
    is a command git would run on every changed file it covers; the user's own still runs."""
    ran = tmp_path / "ran"
    hook = tmp_path / "filter.sh"
    hook.write_text(f'#!/bin/sh\necho "$1" >> {ran}\ncat\n')
    hook.chmod(0o755)
    git(repo, "config", "filter.evil.clean", f"{hook} evil")
    included = tmp_path / "included.cfg"
    included.write_text(f'[filter "evil.too"]\n\tclean = {hook} included\n')
    git(repo, "config", "include.path", str(included))
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(f'[filter "mine"]\n\tclean = {hook} mine\n')
    monkeypatch.setenv("HOME", str(home))
    (repo / ".gitattributes").write_text(
        "*.py filter=evil\n*.md filter=evil.too\n*.txt filter=mine\n"
    )
    (repo / "notes.md").write_text("notes\n")
    (repo / "t.txt").write_text("text\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "attributes")
    ran.unlink(missing_ok=True)
    replace_line(repo / "a.py", 5, "changed")
    (repo / "notes.md").write_text("more notes\n")
    (repo / "t.txt").write_text("more text\n")

    changes = changed_since("HEAD", cwd=repo)
    assert sorted(f.path.name for f in changes.files) == ["a.py", "notes.md", "t.txt"]
    assert set(ran.read_text().split()) == {"mine"}


def test_a_git_that_cannot_list_the_filters_stops_the_question(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A git older than 2.26 has no `--show-scope`: rather than run the repository's own
    filters unknowingly, the question is not answered, and the message says why."""
    real = shutil.which("git")
    assert real is not None
    wrapper = tmp_path / "bin" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do [ "$a" = --show-scope ] && '
        "{ echo 'error: unknown option show-scope' >&2; exit 129; }; done\n"
        f'exec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}{os.pathsep}{os.environ['PATH']}")
    replace_line(repo / "a.py", 5, "changed")
    with pytest.raises(ChangesError, match="cannot list the repository's git filters: unknown"):
        changed_since("base", cwd=repo)
