"""The one table of what the server answers: every entry resolves to a handler of the
kind it says, every command of the contract has one, and serving imports little."""

from __future__ import annotations

import inspect
import subprocess
import sys

from localroute import contract
from localroute.lsp.registry import COMMANDS, FEATURES, resolve


def test_every_feature_resolves_to_a_handler_of_its_kind() -> None:
    for method, target, is_async, _options in FEATURES:
        handler = resolve(target)
        assert inspect.iscoroutinefunction(handler) is is_async, (method, target)
        assert next(iter(inspect.signature(handler).parameters)) == "ls", target


def test_every_command_of_the_contract_has_an_async_handler() -> None:
    assert set(COMMANDS) == set(contract.COMMANDS) == set(contract.ARGUMENTS)
    for name, target in COMMANDS.items():
        assert inspect.iscoroutinefunction(resolve(target)), name


def test_answering_initialize_loads_no_configuration_detectors_or_http() -> None:
    code = (
        "import sys\n"
        "import localroute.lsp.main, localroute.lsp.registry, localroute.lsp.server\n"
        "heavy = ['pydantic', 'httpx', 'phonenumbers', 'stdnum', 'localroute.pipeline']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
