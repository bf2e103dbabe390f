"""Lifecycle, workspace and configuration notifications; registered in
:mod:`localroute.lsp.registry`.

`initialize` is answered at once: it only records the client's settings and folders
(the configuration is read on first use). Folder changes, editor settings and the
workspace files apply before the next request: the policy store re-reads a file as
soon as it changed on disk; the client's notifications only make that visible sooner.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import threading
import uuid
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from localroute.config.paths import WORKSPACE_FILE_NAMES

if TYPE_CHECKING:
    from localroute.lsp.server import LocalrouteServer

log = logging.getLogger(__name__)

WATCHED = [f"**/{name}" for name in WORKSPACE_FILE_NAMES]


CLIENT_OPTIONS = ("deliverResultsLater",)
"""initializationOptions that configure this session, not the routing configuration."""


def initialize(ls: LocalrouteServer, params: types.InitializeParams) -> None:
    options = params.initialization_options
    asked = None
    if isinstance(options, dict):
        asked = options.get("deliverResultsLater")
        options = {k: v for k, v in options.items() if k not in CLIENT_OPTIONS}
    ls.init_settings = options
    window = params.capabilities.window
    progress = bool(window and window.work_done_progress)
    client = (params.client_info.name if params.client_info else "").lower()
    # A client without work-done progress usually waits for executeCommand with a short
    # timeout, and so does Eglot (10 s, "Timed out"): answer at once and deliver the
    # results by notification, unless the client says otherwise.
    ls.deliver_later = asked if isinstance(asked, bool) else (not progress or client == "eglot")
    # Nothing is read here: the configuration is loaded on first use, after `initialize`
    # has been answered (at `initialized`, or the first request). The modules that takes
    # are imported meanwhile in a thread, started once the answer is written: an import
    # holds the interpreter's lock, and would slow the answer down.
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # called outside the server's loop (a test)
        _start_warm_up()
        return
    loop.set_exception_handler(_quiet_cancellation)
    loop.call_soon(_start_warm_up)


def _quiet_cancellation(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """pygls reads each handler's result in a callback; for a handler that was cancelled
    (the client sent `exit` while `initialized` still ran) asyncio would print that
    cancellation with a traceback on stderr, which editors show as an error. A
    cancellation is no error; everything else goes to asyncio's own handler."""
    if isinstance(context.get("exception"), asyncio.CancelledError):
        log.debug("cancelled at exit: %s", context.get("message"))
        return
    loop.default_exception_handler(context)


def _start_warm_up() -> None:
    threading.Thread(target=_warm_up, name="localroute-warm-up", daemon=True).start()


WARM_UP = (
    "localroute.pipeline",
    "localroute.lsp.commands",
    "localroute.lsp.code_actions",
    "localroute.privacy.secrets",
    "localroute.privacy.personal",
    "localroute.backends.openai",
)


def _warm_up() -> None:
    for module in WARM_UP:
        try:
            importlib.import_module(module)
        except Exception:  # the request that needs it will say what is wrong
            log.debug("warm-up import of %s failed", module, exc_info=True)


async def initialized(ls: LocalrouteServer, params: types.InitializedParams) -> None:
    # Probe local backends first: a request that comes next joins the probe in flight,
    # so a dead host costs it one short connect timeout at most.
    ls.health_watch()
    await pull_settings(ls)
    ls.apply_settings()
    await watch_config_files(ls)


async def shutdown(ls: LocalrouteServer, params: Any) -> None:
    await ls.aclose()


async def did_change_configuration(
    ls: LocalrouteServer, params: types.DidChangeConfigurationParams
) -> None:
    settings = params.settings
    if isinstance(settings, dict) and isinstance(settings.get("localroute"), dict):
        ls.pulled_settings = settings["localroute"]
    else:
        await pull_settings(ls)
    ls.apply_settings()


def did_change_workspace_folders(
    ls: LocalrouteServer, params: types.DidChangeWorkspaceFoldersParams
) -> None:
    # pygls has updated its folders already; the policy store learns them here.
    ls.update_workspace()
    ls.apply_settings()


def did_change_watched_files(
    ls: LocalrouteServer, params: types.DidChangeWatchedFilesParams
) -> None:
    # The store notices changed files by itself; reading them now reports problems early.
    ls.apply_settings()


def did_save(ls: LocalrouteServer, params: types.DidSaveTextDocumentParams) -> None:
    if params.text_document.uri.rsplit("/", 1)[-1] in WORKSPACE_FILE_NAMES:
        ls.apply_settings()


async def pull_settings(ls: LocalrouteServer) -> None:
    workspace = ls.client_capabilities.workspace
    if not (workspace and workspace.configuration):
        return
    try:
        result = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section="localroute")])
        )
    except Exception as exc:
        log.warning("workspace/configuration failed: %s", exc)
        return
    if result and isinstance(result[0], dict) and result[0]:
        ls.pulled_settings = result[0]


async def watch_config_files(ls: LocalrouteServer) -> None:
    """Ask the client to report changes of the workspace files, when it can."""
    workspace = ls.client_capabilities.workspace
    watched = workspace.did_change_watched_files if workspace else None
    if not (watched and watched.dynamic_registration):
        return
    options = types.DidChangeWatchedFilesRegistrationOptions(
        watchers=[types.FileSystemWatcher(glob_pattern=glob) for glob in WATCHED]
    )
    registration = types.Registration(
        id=f"localroute-config-{uuid.uuid4()}",
        method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
        register_options=options,
    )
    try:
        await ls.client_register_capability_async(
            types.RegistrationParams(registrations=[registration])
        )
    except Exception as exc:  # a client that refuses still gets re-reads on each request
        log.info("watching workspace files not registered: %s", exc)
