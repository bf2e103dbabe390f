"""The TypeScript types of the commands (client-vscode/src/common/contract.ts) are generated from
the server's contract, and the checked-in file must be what the generator writes today."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import NotRequired, get_origin, get_type_hints

import pytest

from localroute import contract

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "gen_ts_contract.py"
CHECKED_IN = ROOT / "client-vscode" / "src" / "common" / "contract.ts"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_ts_contract", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_checked_in_typescript_is_current() -> None:
    generated = subprocess.run(
        [sys.executable, str(SCRIPT), "--stdout"], check=True, capture_output=True, text=True
    ).stdout
    assert CHECKED_IN.read_text() == generated, (
        "client-vscode/src/common/contract.ts is stale: run python scripts/gen_ts_contract.py"
    )
    check = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True)
    assert check.returncode == 0


def test_every_command_and_every_typed_dict_is_in_the_typescript() -> None:
    text = CHECKED_IN.read_text()
    for name, value in vars(contract).items():
        if isinstance(value, str) and value in contract.COMMANDS:
            assert f"export const {name} = '{value}';" in text
            assert f"[{name}]:" in text  # in the COMMANDS table
        elif isinstance(value, type) and hasattr(value, "__required_keys__"):
            declared = re.search(rf"export (interface|type) {name}\b", text)
            assert declared, name
            hints = get_type_hints(value, include_extras=True)
            for key, hint in hints.items():
                mark = "?" if get_origin(hint) is NotRequired else ""
                assert re.search(rf"\n  {key}{re.escape(mark)}: ", text), (name, key)
    assert f"export const REQUEST_FAILED = {contract.REQUEST_FAILED};" in text


def test_translation_of_each_construct() -> None:
    source = '''
"""A contract."""
from typing import Literal, NotRequired, TypedDict

PING = "x.ping"
CODE = -1
TABLE: dict[str, str] = {PING: "Ping it's here."}
Kind = Literal["a", "b-c"]

class Base(TypedDict):
    """The base."""
    name: str

class Args(Base):
    count: int
    """How many."""
    ratio: NotRequired[float | None]
    tags: list[str | int]
    by_name: dict[str, Kind]
    flag: NotRequired[bool]

class Empty(TypedDict):
    pass
'''
    ts = generator().generate(source, "fake.py")
    assert "export const PING = 'x.ping';" in ts
    assert "export const CODE = -1;" in ts
    assert '[PING]: "Ping it\'s here.",' in ts
    assert "export type TableName = keyof typeof TABLE;" in ts
    assert "export type Kind = 'a' | 'b-c';" in ts
    assert "/** The base. */\nexport interface Base {\n  name: string;\n}" in ts
    assert "export interface Args extends Base {" in ts
    assert "  /** How many. */\n  count: number;" in ts
    assert "  ratio?: number | null;" in ts
    assert "  tags: (string | number)[];" in ts
    assert "  by_name: Record<string, Kind>;" in ts
    assert "  flag?: boolean;" in ts
    assert "export type Empty = Record<string, never>;" in ts


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("from typing import TypedDict\nclass A(TypedDict):\n    x: set[str]\n", "annotation"),
        ("from typing import TypedDict\nclass A(TypedDict):\n    x: Unknown\n", "unknown type"),
        ("class A:\n    x: int\n", "not a TypedDict"),
        ("X = 1.5\n", "module-level value"),
        ("def f():\n    pass\n", "statement"),
        ("from typing import TypedDict\nclass A(TypedDict):\n    x: int = 1\n", "default"),
    ],
)
def test_what_has_no_translation_is_an_error_naming_the_line(source: str, why: str) -> None:
    gen = generator()
    with pytest.raises(gen.ContractError, match=rf"fake\.py:\d+: .*{why}"):
        gen.generate(source, "fake.py")
