"""The architecture the build enforces: import-linter's contracts hold, and fail on a
wrong import; the privacy gate is the only place that makes a clearance."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "server" / "localroute"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree / "server")}
    return subprocess.run(
        [str(LINT_IMPORTS), str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def copy_with(tmp_path: Path, module: str, line: str) -> Path:
    """A copy of the package with ``line`` added at the top of ``module``."""
    tree = tmp_path / "tree"
    shutil.copytree(PACKAGE, tree / "server" / "localroute", ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(ROOT / "pyproject.toml", tree / "pyproject.toml")
    target = tree / "server" / "localroute" / module
    text = target.read_text()
    head, sep, rest = text.partition("from __future__ import annotations\n")
    target.write_text(f"{head}{sep}{line}\n{rest}")
    return tree


@pytest.fixture(scope="module")
def lint_available() -> None:
    if not LINT_IMPORTS.exists():
        pytest.skip(f"lint-imports is not installed next to {sys.executable}")


def test_the_layers_hold(lint_available: None) -> None:
    done = lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("backends/base.py", "import localroute.lsp.server", "Layers"),
        ("config/models.py", "import localroute.backends.base", "Layers"),
        ("pipeline.py", "from localroute import _gate_key", "Only the privacy gate"),
        ("privacy/classify.py", "import httpx", "The pure core"),
    ],
)
def test_a_wrong_import_breaks_the_build(
    lint_available: None, tmp_path: Path, module: str, line: str, contract: str
) -> None:
    done = lint(copy_with(tmp_path, module, line))
    assert done.returncode != 0
    broken = [row for row in done.stdout.splitlines() if " BROKEN" in row]
    assert any(contract in row for row in broken), done.stdout


def constructions(name: str) -> list[str]:
    """Every module of the package that calls ``name(...)``."""
    found: list[str] = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if called == name:
                    found.append(path.relative_to(PACKAGE).as_posix())
    return sorted(set(found))


def test_only_the_gate_makes_a_clearance_and_only_the_classifier_a_verdict() -> None:
    assert constructions("Clearance") == ["privacy/gate.py"]
    assert constructions("PrivacyVerdict") == ["privacy/classify.py"]


MAX_MODULE_LINES = 400


def test_no_server_module_is_over_400_lines() -> None:
    # A module that outgrows this is split along its seams (see docs/architecture.md).
    sizes = {
        path.relative_to(PACKAGE).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert len(sizes) > 50  # the package was found
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}
