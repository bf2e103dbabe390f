"""docs/configuration.md, the full reference, has a section for every table of the file
and a row for every key (the generator reads the schema; this checks it left nothing out)."""

from __future__ import annotations

import re
from pathlib import Path

from localroute.config.models import BACKEND_MODELS, Config

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def _sections() -> dict[str, str]:
    text = REFERENCE.read_text(encoding="utf-8")
    parts = re.split(r"^## `(.+?)`$", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_every_table_of_the_file_has_a_section() -> None:
    sections = _sections()
    for name in Config.model_fields:
        plain = f"[{name}]" in sections
        named = f"[{name}.NAME]" in sections
        assert plain or named, f"docs/configuration.md has no section for [{name}]"
    assert "[audit]" in sections


def test_every_key_has_a_row() -> None:
    sections = _sections()
    for name, field in Config.model_fields.items():
        if name in ("backends", "tasks"):
            continue
        model = field.annotation
        assert isinstance(model, type)
        for key in model.model_fields:  # type: ignore[attr-defined]
            assert f"| `{key}` |" in sections[f"[{name}]"], f"[{name}] {key} is not documented"
    for kind, model in BACKEND_MODELS.items():
        keys = "".join(
            body for heading, body in sections.items() if heading.startswith("[backends.NAME]")
        )
        for key in model.model_fields:
            assert f"| `{key}` |" in keys, f"{kind} backends: {key} is not documented"
