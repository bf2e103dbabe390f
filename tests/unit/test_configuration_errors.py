"""`localroute review` refuses to start when a configuration error applies to any of its
files; it looks up the tree once per directory, and a directory is where a file is on
disk, not where it was named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from localroute.bulk.review_command import configuration_errors
from localroute.policy import PolicyStore

TYPO = '[privacy]\nglob = ["nothing/**"]\n'  # `glob` for `globs`: an error in a workspace file


def _store(tmp_path: Path) -> PolicyStore:
    home = tmp_path / "home"
    home.mkdir()
    return PolicyStore(env={"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config")})


def _files(folder: Path, *names: str) -> list[Path]:
    out = []
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x = 1\n")
        out.append(path)
    return out


def test_an_error_in_any_directory_is_found(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    _files(clean, ".git/HEAD")
    files = _files(clean, "a.py", "b.py", "c.py", "sub/d.py", "sub/e.py")
    (clean / "sub" / ".localroute.toml").write_text(TYPO)
    errors = configuration_errors(_store(tmp_path), files)
    assert len(errors) == 1 and "glob" in errors[0] and "sub" in errors[0], errors


def test_the_files_of_one_directory_are_looked_up_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _files(tmp_path / "p", ".git/HEAD")
    files = _files(tmp_path / "p", *(f"m{i}.py" for i in range(20)), "sub/x.py", "sub/y.py")
    store = _store(tmp_path)
    looked_up: list[str] = []
    real = store.policy_for
    monkeypatch.setattr(
        store, "policy_for", lambda identity: looked_up.append(identity.path) or real(identity)
    )
    assert configuration_errors(store, files) == []
    assert len(looked_up) == 2  # the project's folder and sub/


def test_a_link_counts_in_the_directory_of_its_target(tmp_path: Path) -> None:
    # A link in a clean folder to a file under a broken workspace file: the link's own
    # folder was seen first, the error is the target's.
    clean = tmp_path / "clean"
    broken = tmp_path / "broken"
    _files(clean, ".git/HEAD")
    (target,) = _files(broken, "secret.py")
    (broken / ".localroute.toml").write_text(TYPO)
    files = _files(clean, "a.py", "b.py")
    link = clean / "c.py"
    os.symlink(target, link)
    errors = configuration_errors(_store(tmp_path), [*files, link])
    assert len(errors) == 1 and str(broken) in errors[0], errors
