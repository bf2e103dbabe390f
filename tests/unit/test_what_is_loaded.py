"""What a server or a CLI run loads and does per request: nothing it never uses, and no
import machinery on the request path (a failed import searches every folder of sys.path,
each time it is tried)."""

from __future__ import annotations

import importlib.abc
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from localroute.backends.openai import OpenAIBackend
from localroute.config.models import backend_config
from localroute.lsp.lifecycle import WARM_UP
from tests.fakes.openai_fake import FakeOpenAI
from tests.support.cleared import short_request
from tests.unit.conftest import Closing

SERVER = str(Path(__file__).resolve().parents[2] / "server")

IDLE_SERVER = ("localroute.lsp.main", "localroute.lsp.registry", "localroute.lsp.server", *WARM_UP)
"""What a language server has imported once it idles after `initialized`: what it starts
with, and what it imports in the background after answering `initialize`."""


def loaded_after(modules: Sequence[str]) -> dict[str, Any]:
    """In a fresh interpreter: import ``modules`` (httpx last), then which of a few
    modules are loaded."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}: importlib.import_module(name)\n"
        "import httpx\n"
        "watch = ['httpx._main', 'rich', 'click', 'pygments', 'json_repair', 'html', 'pathspec']\n"
        "print(json.dumps({name: (name in sys.modules, sys.modules.get(name) is not None)"
        " for name in watch}))\n"
    )
    loaded: dict[str, Any] = json.loads(run_python(code))
    return loaded


def run_python(code: str, env: dict[str, str] | None = None) -> str:
    """What ``code`` prints in a fresh interpreter with this checkout's ``server/`` (and
    ``env``, when given, as its whole environment); it must succeed."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env if env is not None else {**os.environ, "PYTHONPATH": SERVER},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_an_idle_server_holds_no_command_line_client_and_no_json_repair() -> None:
    loaded = loaded_after(IDLE_SERVER)
    # httpx's command-line client (rich, click, pygments) is refused, not loaded.
    assert loaded["httpx._main"] == [True, False]
    # json-repair is for broken answers, `html` (its entity table) for error pages,
    # pathspec for a workspace review that meets a `.gitignore`.
    for name in ("rich", "click", "pygments", "json_repair", "html", "pathspec"):
        assert loaded[name] == [False, False], name


def test_pathspec_is_loaded_for_the_first_gitignore_with_patterns(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "a.py").write_text("x = 1\n")
    (tmp_path / "ignoring").mkdir()
    (tmp_path / "ignoring" / ".gitignore").write_text("# nothing yet\n\nbuild/\n")
    (tmp_path / "ignoring" / "build").mkdir()
    (tmp_path / "ignoring" / "build" / "b.py").write_text("y = 2\n")
    (tmp_path / "ignoring" / "c.py").write_text("z = 3\n")
    code = (
        "import json, sys\n"
        "from localroute.bulk.files import expand_paths\n"
        "seen = []\n"
        "for folder in ('plain', 'ignoring'):\n"
        f"    found = expand_paths([{str(tmp_path)!r} + '/' + folder])\n"
        "    seen.append([[p.name for p in found.files], 'pathspec' in sys.modules])\n"
        "print(json.dumps(seen))\n"
    )
    assert json.loads(run_python(code)) == [[["a.py"], False], [[".gitignore", "c.py"], True]]


def test_sqlite_is_loaded_by_the_first_use_of_the_answer_cache(tmp_path: Path) -> None:
    """A server's pipeline, made at `initialized`, opens no answer cache (SQLite: about
    1.5 MiB) until a request needs one."""
    code = (
        "import asyncio, importlib, json, sys\n"
        f"for name in {list(IDLE_SERVER)!r}: importlib.import_module(name)\n"
        "from localroute.config.models import default_config\n"
        "from localroute.pipeline import Pipeline\n"
        "from localroute.results_cache import ResultsCache\n"
        "async def main():\n"
        "    config = default_config(copilot_available=False)\n"
        "    pipeline = Pipeline(config, results=ResultsCache.open(config.cache))\n"
        "    seen = ['sqlite3' in sys.modules]\n"
        "    await pipeline.results.ready()\n"
        "    seen.append('sqlite3' in sys.modules)\n"
        "    await pipeline.aclose()\n"
        "    print(json.dumps(seen))\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "PYTHONPATH": SERVER, "XDG_CACHE_HOME": str(tmp_path)}
    assert json.loads(run_python(code, env)) == [False, True]
    assert (tmp_path / "localroute" / "answers.sqlite3").exists()


def test_an_html_error_page_still_reads_as_its_title() -> None:
    from localroute.backends.openai_errors import parse_error_body

    page = b"<html><head><title>502 Bad Gateway &amp; more</title></head><body>x</body></html>"
    assert parse_error_body(page, "text/html").message == "502 Bad Gateway & more"


def test_broken_json_still_gets_repaired_when_json_repair_is_loaded_late() -> None:
    from localroute.tasks.findings_json import extract_raw_findings

    found = extract_raw_findings("{'findings': [{'line': 3, 'message': 'off by one',},]}")
    assert [item["message"] for item in found or []] == ["off by one"]


class Lookups(importlib.abc.MetaPathFinder):
    """Records every module the import system is asked to find."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, fullname: str, path: object, target: object = None) -> None:
        self.names.append(fullname)
        return None


async def test_a_request_imports_nothing(closing: Closing[Any]) -> None:
    """httpcore tries `import sniffio` on every request: installed, that is a lookup in
    sys.modules; missing, a search of every folder of sys.path, several times a request."""
    with FakeOpenAI() as fake:
        config = backend_config(kind="openai", url=fake.url)
        backend = closing(OpenAIBackend("test", config, "local"))
        await backend.chat(short_request())  # the first request may import what it needs
        lookups = Lookups()
        sys.meta_path.insert(0, lookups)
        try:
            await backend.chat(short_request())
            await backend.chat(short_request())
        finally:
            sys.meta_path.remove(lookups)
    assert lookups.names == []


PLUGIN_DIST = """\
Metadata-Version: 2.1
Name: watching-plugin
Version: 1.0
"""

PLUGIN_MODULE = """\
import os
from pathlib import Path

Path(os.environ["PLUGIN_MARK"]).write_text("loaded")


class Plugin:
    def new_schema_validator(self, *args, **kwargs):
        Path(os.environ["PLUGIN_MARK"]).write_text("saw a validation")
        return None, None, None


plugin = Plugin()
"""


def validate_with_a_plugin_installed(tmp_path: Path, *, localroute_first: bool) -> str | None:
    """In a fresh interpreter with a pydantic plugin installed (a distribution whose
    `pydantic` entry point notes when it is loaded): build and use a pydantic model, after
    importing localroute or without it; what the plugin noted."""
    site = tmp_path / "site"
    dist = site / "watching_plugin-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(PLUGIN_DIST)
    (dist / "entry_points.txt").write_text("[pydantic]\nwatching = watching_plugin:plugin\n")
    (site / "watching_plugin.py").write_text(PLUGIN_MODULE)
    mark = tmp_path / "mark"
    code = (
        ("import localroute\n" if localroute_first else "")
        + "import pydantic\n"
        + "class Settings(pydantic.BaseModel):\n    url: str = ''\n"
        + "Settings.model_validate({'url': 'http://127.0.0.1:8080'})\n"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([SERVER, str(site)]),
        "PLUGIN_MARK": str(mark),
    }
    env.pop("PYDANTIC_DISABLE_PLUGINS", None)
    run_python(code, env)
    return mark.read_text() if mark.exists() else None


def test_no_pydantic_plugin_is_loaded_or_sees_a_validation(tmp_path: Path) -> None:
    # The plugin works: without localroute, pydantic loads it and shows it the model.
    assert validate_with_a_plugin_installed(tmp_path / "plain", localroute_first=False) == (
        "saw a validation"
    )
    assert validate_with_a_plugin_installed(tmp_path / "lr", localroute_first=True) is None


def test_loading_the_configuration_reads_no_package_metadata() -> None:
    """The search for plugins imports importlib.metadata and reads every installed
    distribution's entry points: none of that happens."""
    code = (
        "import sys\n"
        "from localroute.config.models import backend_config\n"
        "backend_config(kind='openai', url='http://127.0.0.1:8080')\n"
        "print('importlib.metadata' in sys.modules)\n"
        "from pydantic.plugin import _loader\n"
        "print(list(_loader.get_plugins()), _loader.PYDANTIC_ENTRY_POINT_GROUP)\n"
    )
    # No plugins; any other name a pydantic version asks of the loader is the real one's.
    assert run_python(code).split("\n")[:2] == ["False", "[] pydantic"]
