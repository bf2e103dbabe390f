"""The editor docs list every command the server registers, generated from its registry."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from localroute import contract
from localroute.lsp.registry import COMMANDS as REGISTERED

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gen_command_docs.py"
EDITOR_DOCS = sorted((ROOT / "docs" / "editors").glob("*.md"))


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_command_docs", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_lists_in_the_docs_are_current() -> None:
    check = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def test_every_editor_doc_lists_every_registered_command() -> None:
    assert set(REGISTERED) == set(contract.COMMANDS)
    assert {doc.stem for doc in EDITOR_DOCS} >= {"vscode", "neovim", "emacs", "helix", "zed"}
    for doc in EDITOR_DOCS:
        text = doc.read_text()
        assert "<!-- commands:begin" in text, doc.name
        for name in REGISTERED:
            assert f"| `{name}` |" in text, (doc.name, name)


def test_arguments_are_read_from_the_typed_dicts() -> None:
    block = generator().command_list()
    assert "| `localroute.review` | `{uri, range?, refresh?, task?, consent?}` |" in block
    assert "| `localroute.status` | `{}` |" in block
    assert "| `localroute.stopBackend` | `{backend}` |" in block
    assert "allowCloud?" in block


def test_a_doc_without_markers_is_left_alone_and_a_stale_one_is_replaced() -> None:
    gen = generator()
    assert gen.updated("no list here\n", "X") is None
    stale = "before\n<!-- commands:begin -->\nold\n<!-- commands:end -->\nafter\n"
    assert gen.updated(stale, "NEW") == "before\nNEW\nafter\n"
