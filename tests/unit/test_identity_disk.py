"""A file's path is resolved once per identity: its canonical path (NFC, for globs) and
the path on disk (for its project root) come from the same resolution."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

from localroute.identity import DocumentIdentity, identify, identify_path
from localroute.policy.store import PolicyStore, disk_path


def test_the_disk_path_is_the_resolved_path_as_the_file_system_spells_it(tmp_path: Path) -> None:
    folder = tmp_path / unicodedata.normalize("NFD", "café")  # NFD on disk, as macOS names it
    folder.mkdir()
    (folder / "real.py").write_text("x = 1\n")
    (tmp_path / "link.py").symlink_to(folder / "real.py")
    for identity in (
        identify((tmp_path / "link.py").as_uri()),
        identify_path(tmp_path / "link.py"),
    ):
        assert identity.disk == os.path.realpath(folder / "real.py")  # not in NFC
        assert identity.path == unicodedata.normalize("NFC", identity.disk)
        assert disk_path(identity) == identity.disk


def test_an_identity_made_without_it_is_resolved_when_its_policy_is_made(tmp_path: Path) -> None:
    project = tmp_path / "project"
    (project / ".git").mkdir(parents=True)
    (project / "a.py").write_text("x = 1\n")
    (tmp_path / "alias").symlink_to(project)
    given = str(tmp_path / "alias" / "a.py")
    bare = DocumentIdentity(Path(given).as_uri(), "file", str(project / "a.py"), "file", given)
    assert bare.disk is None
    assert disk_path(bare) == str(project / "a.py")
    store = PolicyStore(env={"LOCALROUTE_CONFIG": str(tmp_path / "none.toml")})
    root = store.policy_for(bare).root
    assert root is not None and root.path == str(project)
    assert bare == identify(Path(given).as_uri())  # the resolved path is not part of equality


def test_paths_not_on_this_file_system_have_no_disk_path() -> None:
    for uri in ("file:///C:/work/a.py", "file://server/share/a.py"):
        assert identify(uri).disk is None
