"""Privacy glob semantics and the paths a document is matched through."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from localroute.config.models import BUILTIN_PRIVACY_GLOBS
from localroute.privacy.globs import (
    candidate_paths,
    glob_to_regex,
    match_privacy_glob,
    normalize_path,
)


def matches(glob: str, path: str) -> bool:
    return glob_to_regex(glob).fullmatch(path) is not None


@pytest.mark.parametrize("path", [".env", "app/.env", "a/b/c/.env", "/abs/x/.env", "/.env"])
def test_double_star_prefix_matches_any_depth_including_zero(path: str) -> None:
    assert matches("**/.env", path)


@pytest.mark.parametrize("path", [".envrc", "app/.envrc", "x.env", "env", "app/.envx/y"])
def test_double_star_prefix_needs_the_exact_basename(path: str) -> None:
    assert not matches("**/.env", path)


@pytest.mark.parametrize(
    ("glob", "path"),
    [
        ("**/.env", "app/.env/x"),
        ("internal", "internal/a.py"),
        ("internal", "src/internal/deep/a.py"),
        ("confidential/", "src/confidential/x.py"),
        ("/vendor", "vendor/lib/a.go"),
        ("docs/*.md", "docs/a.md/inside.txt"),
    ],
)
def test_a_pattern_matching_a_directory_covers_everything_below(glob: str, path: str) -> None:
    # gitignore semantics: an excluded directory excludes its contents.
    assert matches(glob, path)


@pytest.mark.parametrize(
    ("glob", "path"),
    [("internal", "internals/a.py"), ("confidential/", "confidential"), ("/vendor", "a/vendor/x")],
)
def test_directory_patterns_do_not_spill_over(glob: str, path: str) -> None:
    assert not matches(glob, path)


def test_env_variants() -> None:
    assert matches("**/.env.*", ".env.local")
    assert matches("**/.env.*", "deploy/.env.production")
    assert not matches("**/.env.*", ".env")


def test_matching_is_case_insensitive() -> None:
    assert matches("**/*.pem", "Secrets/KEY.PEM")
    assert matches("**/secrets/**", "Secrets/KEY.PEM")
    assert matches("**/.SSH/**", "home/.ssh/config")


def test_single_star_stays_within_a_segment() -> None:
    assert matches("src/*.py", "src/a.py")
    assert not matches("src/*.py", "src/pkg/a.py")
    assert matches("src/**/*.py", "src/a.py")
    assert matches("src/**/*.py", "src/pkg/sub/a.py")


def test_question_mark_and_classes() -> None:
    assert matches("key?.txt", "key1.txt")
    assert not matches("key?.txt", "key12.txt")
    assert not matches("a?b", "a/b")
    assert matches("id_[rd]sa", "id_rsa")
    assert matches("id_[rd]sa", "x/id_dsa")
    assert not matches("id_[rd]sa", "id_esa")
    assert matches("file[0-9]", "file7")
    assert matches("[!a]bc", "xbc")
    assert not matches("[!a]bc", "abc")
    assert not matches("x[!a]y", "x/y")


def test_glob_without_slash_matches_basename_at_any_depth() -> None:
    assert matches("*.pem", "key.pem")
    assert matches("*.pem", "a/b/key.pem")
    assert matches("*.pem", "/etc/ssl/key.pem")
    assert matches("credentials*", "conf/credentials.json")


def test_glob_with_inner_slash_is_anchored() -> None:
    assert matches("config/prod.yaml", "config/prod.yaml")
    assert not matches("config/prod.yaml", "app/config/prod.yaml")


def test_leading_slash_anchors_at_root() -> None:
    assert matches("/build/**", "build/out.txt")
    assert not matches("/build/**", "src/build/out.txt")
    assert matches("/.env", ".env")
    assert not matches("/.env", "app/.env")


def test_trailing_double_star_and_trailing_slash_match_everything_below() -> None:
    assert matches("vault/**", "vault/a")
    assert matches("vault/**", "vault/a/b/c.txt")
    assert not matches("vault/**", "vault")
    assert matches("secrets/", "secrets/a.txt")
    assert matches("secrets/", "deep/secrets/a/b.txt")


def test_middle_double_star_matches_zero_or_more_segments() -> None:
    assert matches("a/**/b", "a/b")
    assert matches("a/**/b", "a/x/y/b")
    assert not matches("a/**/b", "a/xb")


def test_special_characters_are_literal() -> None:
    assert matches("**/a+b(1).txt", "x/a+b(1).txt")
    assert not matches("**/a+b(1).txt", "x/aab1.txt")
    assert matches("**/data[", "x/data[")  # unclosed class is a literal "["


def test_compiled_patterns_are_cached() -> None:
    assert glob_to_regex("**/cached/**") is glob_to_regex("**/cached/**")


def test_normalize_path() -> None:
    assert normalize_path("src/../secrets/a.txt") == "secrets/a.txt"
    assert normalize_path("/w//src/./x/../y.py") == "/w/src/y.py"
    assert normalize_path("secrets\\a.txt") == "secrets/a.txt"
    assert normalize_path("C:\\ws\\src\\..\\.env") == "C:/ws/.env"
    assert normalize_path("//srv//share/a") == "/srv/share/a"


def test_candidate_paths_relative_to_containing_roots_only() -> None:
    cands = candidate_paths("/w/proj/src/../secrets/a.txt", ["/w/proj", "/w/other", "/w"])
    assert cands[0] == "/w/proj/secrets/a.txt"
    assert "secrets/a.txt" in cands
    assert "proj/secrets/a.txt" in cands
    assert not any(c.startswith("other") for c in cands)
    assert len(cands) == len(set(cands))


def test_candidate_paths_compare_roots_case_insensitively() -> None:
    assert "secrets/a.txt" in candidate_paths("/W/Proj/secrets/a.txt", ["/w/proj/"])


def test_root_itself_has_no_relative_candidate() -> None:
    assert candidate_paths("/w/proj", ["/w/proj"]) == ["/w/proj"]


def test_dotdot_is_normalised_before_matching() -> None:
    # Anchored glob: only the relative candidate "secrets/a.txt" can match.
    assert match_privacy_glob("/ws/src/../secrets/a.txt", ["/ws"], ["secrets/**"]) == "secrets/**"
    assert match_privacy_glob("/ws/src/secrets.txt", ["/ws"], ["secrets/**"]) is None


def test_relative_glob_catches_absolute_path_outside_any_workspace() -> None:
    assert match_privacy_glob("/home/u/secrets/x.py", [], ["**/secrets/**"]) == "**/secrets/**"
    assert match_privacy_glob("/home/u/secrets/x.py", ["/elsewhere"], ["**/*.pem"]) is None


def test_first_matching_glob_is_returned() -> None:
    globs = ["**/*.key", "**/.env", "**/.env*"]
    assert match_privacy_glob("/w/.env", ["/w"], globs) == "**/.env"


def test_windows_separators() -> None:
    assert match_privacy_glob("C:\\ws\\secrets\\a.txt", ["C:\\ws"], ["secrets/**"]) == "secrets/**"
    assert match_privacy_glob("C:\\ws\\src\\a.py", ["C:\\ws"], ["secrets/**"]) is None
    assert matches("secrets\\**", "secrets/a.txt")


def test_absolute_glob() -> None:
    globs = ["/home/u/vault/**"]
    assert match_privacy_glob("/home/u/vault/notes.md", ["/home/u/proj"], globs) == globs[0]
    assert match_privacy_glob("/home/u/proj/vault/notes.md", ["/home/u/proj"], globs) is None


def test_home_relative_glob(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/tester")
    assert match_privacy_glob("/home/tester/notes/a.txt", [], ["~/notes/**"]) == "~/notes/**"


@pytest.mark.parametrize(
    ("rel", "private"),
    [
        (".env", True),
        ("config/.env.production", True),
        ("certs/server.PEM", True),
        ("deploy/tls.key", True),
        ("home/.ssh/id_ed25519.pub", True),
        (".aws/config", True),
        ("app/secrets/db.yaml", True),
        ("credentials.json", True),
        ("infra/terraform.tfstate.backup", True),
        ("src/main.py", False),
        ("docs/secrets.md", False),
        ("src/keyboard.py", False),
        (".envrc", True),
        ("deploy/prod.tfvars", True),
        ("home/.kube/config", True),
        (".pgpass", True),
        ("home/.docker/config.json", True),
        ("keys/server.ppk", True),
        ("web/.htpasswd", True),
        ("k8s/secrets.yaml", True),
        ("k8s/secrets.yml", True),
        ("src/envrc.py", False),
        ("k8s/deployment.yaml", False),
    ],
)
def test_builtin_globs(rel: str, private: bool) -> None:
    got = match_privacy_glob(f"/ws/{rel}", ["/ws"], BUILTIN_PRIVACY_GLOBS)
    assert (got is not None) == private


needs_symlinks = pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")


@needs_symlinks
def test_symlink_inside_workspace_into_private_directory(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "secrets").mkdir(parents=True)
    (ws / "secrets" / "real.txt").write_text("x")
    link = ws / "link.txt"
    link.symlink_to(ws / "secrets" / "real.txt")

    cands = candidate_paths(str(link), [str(ws)])
    assert "link.txt" in cands
    assert "secrets/real.txt" in cands
    # Anchored glob: matches only through the resolved relative path.
    assert match_privacy_glob(str(link), [str(ws)], ["secrets/**"]) == "secrets/**"
    assert match_privacy_glob(str(link), [str(ws)], BUILTIN_PRIVACY_GLOBS) == "**/secrets/**"


@needs_symlinks
def test_symlinked_directory_path(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "secrets").mkdir(parents=True)
    (ws / "innocent").symlink_to(ws / "secrets", target_is_directory=True)
    path = str(ws / "innocent" / "a.txt")  # need not exist
    assert match_privacy_glob(path, [str(ws)], ["secrets/**"]) == "secrets/**"


@needs_symlinks
def test_symlink_out_of_workspace_into_absolute_glob(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    vault = tmp_path.resolve() / "vault"
    vault.mkdir()
    (vault / "data.txt").write_text("x")
    link = ws / "data.txt"
    link.symlink_to(vault / "data.txt")

    glob = f"{vault.as_posix()}/**"
    assert match_privacy_glob(str(link), [str(ws)], [glob]) == glob
    assert match_privacy_glob(str(ws / "other.txt"), [str(ws)], [glob]) is None


@needs_symlinks
def test_workspace_root_given_through_a_symlink(tmp_path: Path) -> None:
    real_ws = tmp_path / "real_ws"
    (real_ws / "secrets").mkdir(parents=True)
    alias = tmp_path / "alias"
    alias.symlink_to(real_ws, target_is_directory=True)
    # The editor reports the real path, the workspace folder was opened via the alias.
    path = str(real_ws / "secrets" / "a.txt")
    assert match_privacy_glob(path, [str(alias)], ["secrets/**"]) == "secrets/**"
