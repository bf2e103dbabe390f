"""VS Code end to end: the packaged extension (client-vscode/localroute-<version>.vsix) in a real
VS Code — code-server in headless Chromium — with the real server and loopback fake backends.

driver.mjs (playwright-core) works the editor the way a person does and saves a screenshot of
each step in tests/vscode/artifacts/ (the bundled-server test in artifacts/bundled/).

The full run (`localroute.server.path` set to this checkout's server): it opens files from the
Explorer, reads the language status item (the route: `local`; `private` for files matched by a
user-level and by a workspace-level privacy glob) and the server's warning about a workspace
setting that would loosen privacy; selects lines and runs "localroute: Review Selection" (the
finding in the Problems panel at its line), "Explain Selection" (the hover), "Show Status",
"Restart Server"; presses Cancel on a review the local fake holds (the fake sees the client
leave); "localroute: Review Folder" from the Explorer's context menu on `pkg` (a finding for
every file); "localroute: Review Changed Files" from the Source Control view of the workspace's
git repository (modified, staged and untracked files; not the deleted or unchanged ones);
"localroute: Stop Local Models" (a picker of the two backends with a stop_command; the local
one's stop_command writes a marker and stops the local fake; the status says `stopped`); then
reviews a file under secrets/, which is refused with a consent modal: Cancel sends nothing,
"Send to cloud anyway (this once)" sends exactly one request to the cloud fake, and the next
review asks again.

The bundled run starts from a clean profile with no `localroute.server.path` and no server on
PYTHONPATH: the extension installs the wheel it ships into a virtual environment in its global
storage and starts that server, and a review lands in the Problems panel.

Code-server, Node 24, Chromium and playwright-core come from scripts/vscode-e2e-setup.sh (run by
`make vscode-deps`, cached under ~/.cache/localroute-e2e). The test runs that script itself when
something is missing, and is skipped only if it cannot install them. Every process it starts runs
in its own session and its whole group is killed at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.fakes.openai_fake import FakeOpenAI
from tests.vscode.local_fake import (
    CLOUD_FINDING,
    EXPLAIN,
    FINDING,
    FINDING_LINE,
    SLOW_MARKER,
    cloud_answer,
)

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CLIENT = ROOT / "client-vscode"
ARTIFACTS = Path(os.environ.get("LOCALROUTE_E2E_ARTIFACTS", HERE / "artifacts"))
SETUP = ROOT / "scripts" / "vscode-e2e-setup.sh"
CACHE = Path(os.environ.get("LOCALROUTE_E2E_CACHE", Path.home() / ".cache" / "localroute-e2e"))

APP = """\
def divide(a, b):
    total = a / b
    return total


def greet(name):
    print("hello " + name)
"""

SLOW = f"""\
def {SLOW_MARKER}(seconds):
    time.sleep(seconds)
"""

SECRET = """\
def connect():
    return open_session("db.internal", user="svc")
"""

# the setup may install the tools first (about 2.5 min cold); the full run takes ~90 s, the
# bundled one ~2 min (pip installs the server's dependencies into a fresh environment)
pytestmark = pytest.mark.timeout(1200)

GIT = ["git", "-c", "user.name=localroute test", "-c", "user.email=test@localroute.invalid"]


def marked(name: str) -> str:
    """A file the local fake recognises by its marker (two lines at least: the finding is on
    line 2)."""
    return f"# marker: {name}\ndef {name}(a, b):\n    return a / b\n"


def vsix_path() -> Path:
    version = json.loads((CLIENT / "package.json").read_text())["version"]
    return CLIENT / f"localroute-{version}.vsix"


def e2e_tools() -> dict[str, str]:
    """The cached tools, installed first when missing; skip only if they cannot be installed."""
    check = subprocess.run(["bash", str(SETUP), "--check"], capture_output=True, text=True)
    if check.returncode != 0:
        setup = subprocess.run(
            ["bash", str(SETUP)], capture_output=True, text=True, timeout=900, check=False
        )
        if setup.returncode != 0:
            pytest.skip(
                "the VS Code e2e tools (Node 24, code-server, chromium, playwright-core) could "
                f"not be installed by {SETUP.relative_to(ROOT)}:\n{setup.stderr[-2000:]}"
            )
    tools: dict[str, str] = {}
    for line in (CACHE / "env.sh").read_text().splitlines():
        key, _, value = line.partition("=")
        if value:
            tools[key] = value
    return tools


def ensure_vsix() -> Path:
    """The VSIX that `make vsix` builds, with the server's wheel in it; built here (by the same
    script) when missing or when it has no wheel, e.g. when pytest runs alone."""
    vsix = vsix_path()
    if not vsix.exists() or not any(
        name.startswith("extension/bundled/") and name.endswith(".whl")
        for name in zipfile.ZipFile(vsix).namelist()
    ):
        subprocess.run(
            ["bash", str(CLIENT / "build-vsix.sh"), sys.executable],
            cwd=ROOT,
            check=True,
            timeout=900,
        )
    return vsix


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def kill_group(pgid: int, grace_s: float = 3.0) -> None:
    """SIGTERM to the group, SIGKILL to what is left after ``grace_s``."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGTERM if grace_s > 0 else signal.SIGKILL)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


@contextlib.contextmanager
def process_group(
    argv: list[str], env: dict[str, str], **popen: Any
) -> Iterator[subprocess.Popen[str]]:
    """A process in a session of its own; the whole group is killed on exit."""
    process = subprocess.Popen(argv, env=env, start_new_session=True, text=True, **popen)
    try:
        yield process
    finally:
        kill_group(process.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)


def wait_http(url: str, timeout_s: float, process: subprocess.Popen[str], log: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"code-server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer in {timeout_s} s:\n{log.read_text()[-3000:]}")


def write_workspace(workspace: Path) -> None:
    for folder in ("secrets", "internal", "vendor", ".vscode", "pkg", "changed"):
        (workspace / folder).mkdir(parents=True)
    (workspace / "app.py").write_text(APP)
    for name in ("one", "two", "three"):
        (workspace / "pkg" / f"{name}.py").write_text(marked(f"pkg_{name}"))
    for name in ("edited", "staged", "gone", "same"):
        (workspace / "changed" / f"{name}.py").write_text(marked(f"old_{name}"))
    (workspace / "slow.py").write_text(SLOW)
    (workspace / "secrets" / "db.py").write_text(SECRET)
    (workspace / "internal" / "notes.py").write_text(APP)
    (workspace / "vendor" / "lib.py").write_text(APP)
    # Workspace-level settings come with the repository: the server may apply only what makes
    # privacy stricter (a glob) and ignores, with a warning, what loosens it.
    workspace_settings = {
        "localroute.privacy.globs": ["vendor/**"],
        "localroute.privacy.detectSecrets": False,
    }
    (workspace / ".vscode" / "settings.json").write_text(json.dumps(workspace_settings))
    # A git repository: everything committed, then one file modified, one staged, one new
    # (untracked), one deleted; changed/same.py and the rest unchanged.
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-q", "-m", "first")):
        git(workspace, *args)
    (workspace / "changed" / "edited.py").write_text(marked("edited"))
    (workspace / "changed" / "staged.py").write_text(marked("staged"))
    git(workspace, "add", "changed/staged.py")
    (workspace / "changed" / "new.py").write_text(marked("untracked"))
    (workspace / "changed" / "gone.py").unlink()


def git(cwd: Path, *args: str) -> None:
    subprocess.run([*GIT, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def write_user_settings(user_data: Path, *, server_path: bool = True) -> None:
    settings: dict[str, Any] = {
        "localroute.status.refreshSeconds": 2,
        "localroute.trace.server": "messages",
        "localroute.privacy.globs": ["internal/**"],
        # quiet, deterministic editor
        "chat.disableAIFeatures": True,
        "workbench.startupEditor": "none",
        "workbench.secondarySideBar.defaultVisibility": "hidden",
        "workbench.tips.enabled": False,
        "workbench.enableExperiments": False,
        "update.mode": "none",
        "telemetry.telemetryLevel": "off",
        "security.workspace.trust.enabled": False,
        "extensions.ignoreRecommendations": True,
        "extensions.autoCheckUpdates": False,
        "extensions.autoUpdate": False,
        "editor.hover.delay": 300,
        "editor.minimap.enabled": False,
        "window.commandCenter": False,
        "files.autoSave": "off",
        "remote.autoForwardPorts": False,
        "git.autoRepositoryDetection": True,
        "git.openRepositoryInParentFolders": "never",
    }
    if server_path:
        settings["localroute.server.path"] = [sys.executable, "-m", "localroute", "serve"]
    # The same settings as user settings and as the remote machine's settings ("Machine"):
    # code-server's browser side does not always load User/settings.json before the extension
    # host starts (seen: 2 runs out of 5 without it), the server side always reads Machine/.
    for level in ("User", "Machine"):
        (user_data / level).mkdir(parents=True, exist_ok=True)
        (user_data / level / "settings.json").write_text(json.dumps(settings, indent=2))


def keep_logs(user_data: Path, artifacts: Path) -> None:
    """The extension's log channel (client log, server stderr, LSP trace) next to the shots."""
    for log in sorted((user_data / "logs").glob("*/exthost*/localroute.localroute/*.log")):
        shutil.copy(log, artifacts / f"extension-{log.name}")


def pump(stream: IO[str], lines: list[str], log: IO[str], on_line: Any) -> None:
    for line in stream:
        log.write(line)
        log.flush()
        lines.append(line)
        on_line(line.rstrip("\n"))


def fresh_artifacts(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def base_env(home: Path) -> dict[str, str]:
    """Nothing of the real home: XDG folders in the test's, no extension gallery."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        # no extension gallery: nothing but loopback (port 9 refuses at once)
        "EXTENSIONS_GALLERY": json.dumps(
            {
                "serviceUrl": "http://127.0.0.1:9/gallery",
                "itemUrl": "http://127.0.0.1:9/items",
                "resourceUrlTemplate": "http://127.0.0.1:9/r/{publisher}/{name}/{version}/{path}",
            }
        ),
    }


@contextlib.contextmanager
def code_server(
    tools: dict[str, str], env: dict[str, str], tmp_path: Path, workspace: Path, artifacts: Path
) -> Iterator[tuple[int, Path]]:
    """The VSIX installed into a fresh code-server, serving `workspace`; yields (port, user
    data folder). Its logs go to `artifacts`."""
    user_data = tmp_path / "user-data"
    extensions = tmp_path / "extensions"
    extensions.mkdir(parents=True, exist_ok=True)
    port = free_port()
    cs_config = tmp_path / "code-server.yaml"
    cs_config.write_text(f"bind-addr: 127.0.0.1:{port}\nauth: none\ncert: false\n")
    command = [
        tools["NODE24"],
        tools["CODE_SERVER"],
        "--config",
        str(cs_config),
        "--user-data-dir",
        str(user_data),
        "--extensions-dir",
        str(extensions),
    ]
    install = subprocess.run(
        [*command, "--install-extension", str(ensure_vsix())],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    installed = [p.name for p in extensions.iterdir()]
    assert any(name.startswith("localroute.localroute-") for name in installed), installed
    cs_log = artifacts / "code-server.log"
    serve = [
        *command,
        "--auth",
        "none",
        "--bind-addr",
        f"127.0.0.1:{port}",
        "--disable-telemetry",
        "--disable-update-check",
        "--disable-workspace-trust",
        "--disable-getting-started-override",
        str(workspace),
    ]
    with (
        cs_log.open("w") as cs_out,
        process_group(serve, env, stdout=cs_out, stderr=subprocess.STDOUT) as server,
    ):
        wait_http(f"http://127.0.0.1:{port}/healthz", 30, server, cs_log)
        try:
            yield port, user_data
        finally:
            keep_logs(user_data, artifacts)


@contextlib.contextmanager
def local_backend(artifacts: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """tests/vscode/local_fake.py in its own process group; yields it and its URL. Reaped as
    soon as it exits, so a stop_command that waits for it to be gone sees it gone."""
    with process_group(
        [sys.executable, "-m", "tests.vscode.local_fake", str(artifacts / "local-fake.json")],
        {**os.environ, "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        stdout=subprocess.PIPE,
    ) as local:
        assert local.stdout is not None
        url = local.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), url
        threading.Thread(target=local.wait, daemon=True).start()
        yield local, url


def test_vscode_review_explain_status_refusal(tmp_path: Path) -> None:
    tools = e2e_tools()
    ensure_vsix()
    artifacts = fresh_artifacts(ARTIFACTS)
    home = tmp_path / "home"
    workspace = tmp_path / "workspace"
    home.mkdir(parents=True)
    write_workspace(workspace)
    write_user_settings(tmp_path / "user-data")
    stop_marker = tmp_path / "stopped.txt"
    spare_marker = tmp_path / "spare-stopped.txt"

    with local_backend(artifacts) as (local, local_url), FakeOpenAI() as cloud:
        cloud.answer_fn = cloud_answer
        # like `systemctl stop`: returns once the service is gone
        stop_local = (
            f"echo stopped >> '{stop_marker}'; kill {local.pid}; "
            f"while kill -0 {local.pid} 2>/dev/null; do sleep 0.05; done"
        )
        config = home / "localroute.toml"
        config.write_text(
            f'[backends.local]\nkind = "openai"\nurl = "{local_url}"\n'
            f"stop_command = {json.dumps(['sh', '-c', stop_local])}\n\n"
            f'[backends.spare]\nkind = "openai"\nurl = "http://127.0.0.1:{free_port()}/v1"\n'
            f"stop_command = {json.dumps(['sh', '-c', f'echo spare >> {spare_marker}'])}\n\n"
            f'[backends.cloud]\nkind = "openai"\nurl = "{cloud.url}"\nlocality = "cloud"\n\n'
            '[tasks.review]\nroute = ["local:coder", "cloud:gpt-cloud"]\n\n'
            '[tasks.explain]\nroute = ["local:coder", "cloud:gpt-cloud"]\n\n'
            "[health]\nttl_s = 1\nrecheck_s = 1\n"
        )
        env = {
            **base_env(home),
            "LOCALROUTE_CONFIG": str(config),
            "PYTHONPATH": str(ROOT / "server"),
        }
        with code_server(tools, env, tmp_path, workspace, artifacts) as (port, _):
            outcome = run_driver(
                tools,
                env,
                port,
                workspace,
                artifacts,
                answers={"cloud-count": lambda: len(cloud.chat_requests)},
                extra={"LR_STOP_MARKER": str(stop_marker), "LR_SPARE_MARKER": str(spare_marker)},
            )
        cloud_chats = [request.json for request in cloud.chat_requests]

    results = outcome["results"]
    print(json.dumps(results, indent=2))
    assert outcome["returncode"] == 0, (results.get("error"), outcome["output"][-6000:])

    # settings: user level and workspace level reach the server apart (the trust rule)
    settings = results["settings"]
    assert "privacy.detect_secrets: ignored" in settings["warning"], settings
    assert "· private ·" in settings["internal"], settings  # user-level glob
    assert "· private ·" in settings["vendor"], settings  # workspace-level glob (stricter)
    assert "private" not in results["status"]["text"], results["status"]  # app.py

    # Review Selection: the finding in the Problems panel, at line 2, from localroute
    review = results["review"]
    assert FINDING in review["problems"], review
    assert f"[Ln {FINDING_LINE}, Col" in review["problems"], review

    # Explain Selection: the explanation is shown at once
    assert EXPLAIN.replace("**", "") in results["explain"]["hover"], results["explain"]
    assert "coder @ local" in results["explain"]["hover"], results["explain"]

    # "localroute: Show Status" lists the backends, probed
    assert "openai, local, up" in results["showStatus"]["text"], results["showStatus"]

    # "localroute: Restart Server" starts a new server that routes again
    assert "local" in results["restart"]["text"], results["restart"]
    log = (artifacts / "extension-localroute.log").read_text()
    assert log.count("starting the server:") == 2, log[-3000:]

    # Cancel in the progress notification aborts the backend request, and nothing lands
    cancel = results["cancel"]
    assert cancel["stats"]["slow_started"] == 1, cancel
    assert cancel["stats"]["disconnects"] >= 1, cancel
    assert "slow.py" not in cancel["problems"], cancel

    # the language status item names the route
    assert "local" in results["status"]["text"], results["status"]

    # Review Folder (Explorer context menu on pkg): every file of the folder, locally
    folder = results["reviewFolder"]
    assert "reviewed 3 of 3 files: 3 findings (local ×3)" in folder["summary"], folder
    markers = folder["stats"]["markers"]
    assert all(markers.get(f"pkg_{n}") == 1 for n in ("one", "two", "three")), markers
    for name in ("one.py", "two.py", "three.py"):
        assert name in folder["problems"], folder

    # Review Changed Files (Source Control title): modified, staged, untracked — not the
    # deleted or the unchanged files
    changed = results["reviewChanged"]
    assert "reviewed 3 of 3 files" in changed["summary"], changed
    markers = changed["stats"]["markers"]
    assert all(markers.get(n) == 1 for n in ("edited", "staged", "untracked")), markers
    assert not {"same", "old_same", "old_gone", "old_edited", "old_staged"} & set(markers)

    # Stop Local Models: a picker of the backends with a stop_command; local's ran, spare's not
    stop = results["stopModels"]
    assert stop["marker"] == "stopped", stop
    assert stop["spare"] == "", stop
    assert "openai, local, stopped" in stop["status"], stop
    assert "local backend stopped" in stop["item"], stop

    # privacy: the refusal is shown with a consent modal; Cancel sends nothing
    refused = results["refused"]
    assert "private" in refused["notification"].lower(), refused
    assert "refused: private" in refused["status"], refused
    assert "Send to cloud anyway (this once)" in refused["modal"], refused
    assert "secrets/db.py" in refused["modal"], refused
    assert refused["cloudCount"] == 0, refused

    # consent given: exactly one request reached the cloud fake, and its finding landed
    given = results["consentGiven"]
    assert given["cloudCount"] == 1, given
    assert CLOUD_FINDING in given["problems"], given
    assert "gpt-cloud @ cloud (cloud, sent with your consent)" in given["notification"], given
    # never remembered: the next review asks again, and Cancel sends nothing more
    assert "Send to cloud anyway (this once)" in results["consentAgain"]["modal"], results
    assert results["consentAgain"]["cloudCount"] == 1, results
    # the server's "Review file" code action (Source Action…) asks the same way
    code_action = results["codeAction"]
    assert "Review file — refused: private" in code_action["menu"], code_action
    assert "Send to cloud anyway (this once)" in code_action["modal"], code_action
    assert code_action["cloudCount"] == 1, code_action
    assert len(cloud_chats) == 1, cloud_chats
    assert "open_session" in json.dumps(cloud_chats[0])

    # a workspace setting changed at run time reaches the server (a glob: stricter)
    assert "refused: private" in results["settingsChange"]["status"], results
    assert "settings changed, sent to the server" in log, log[-3000:]


def pip_env() -> dict[str, str]:
    """pip as the user has it configured (index, certificates, find-links), and its cache, so
    that the extension's first-start install fetches what the user's pip would."""
    env = {k: v for k, v in os.environ.items() if k.startswith("PIP_")}
    env.setdefault("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    if "PIP_CONFIG_FILE" not in env:
        for candidate in (Path.home() / ".config/pip/pip.conf", Path.home() / ".pip/pip.conf"):
            if candidate.is_file():
                env["PIP_CONFIG_FILE"] = str(candidate)
                break
    return env


def test_vscode_bundled_server_from_a_clean_profile(tmp_path: Path) -> None:
    """No localroute.server.path, no localroute on PATH or PYTHONPATH: the extension installs
    the server wheel it ships and starts it; a review lands in the Problems panel."""
    tools = e2e_tools()
    vsix = ensure_vsix()
    with zipfile.ZipFile(vsix) as package:
        wheels = [n for n in package.namelist() if n.startswith("extension/bundled/")]
    assert any(n.endswith(".whl") for n in wheels), f"{vsix} ships no server wheel: {wheels}"
    artifacts = fresh_artifacts(ARTIFACTS / "bundled")
    home = tmp_path / "home"
    workspace = tmp_path / "workspace"
    home.mkdir(parents=True)
    workspace.mkdir()
    (workspace / "app.py").write_text(APP)
    # a hostile repository: a package named like the server, in the folder it starts in
    hijacked = tmp_path / "hijacked.txt"
    (workspace / "localroute").mkdir()
    for module in ("__init__.py", "__main__.py"):
        (workspace / "localroute" / module).write_text(
            f"open({str(hijacked)!r}, 'a').write('imported from the workspace\\n')\n"
        )
    write_user_settings(tmp_path / "user-data", server_path=False)
    with local_backend(artifacts) as (_, local_url):
        config = home / "localroute.toml"
        config.write_text(
            f'[backends.local]\nkind = "openai"\nurl = "{local_url}"\n\n'
            '[tasks.review]\nroute = ["local:coder"]\n\n[tasks.explain]\nroute = ["local:coder"]\n'
        )
        env = {
            **base_env(home),
            **pip_env(),
            "LOCALROUTE_CONFIG": str(config),
        }
        env.pop("PYTHONPATH", None)
        with code_server(tools, env, tmp_path, workspace, artifacts) as (port, user_data):
            outcome = run_driver(tools, env, port, workspace, artifacts, scenario="bundled")

    results = outcome["results"]
    print(json.dumps(results, indent=2))
    assert outcome["returncode"] == 0, (results.get("error"), outcome["output"][-6000:])
    log = (artifacts / "extension-localroute.log").read_text()
    storage = user_data / "User" / "globalStorage" / "localroute.localroute"
    environments = sorted(storage.glob("server-*"))
    assert len(environments) == 1, (list(storage.iterdir()), log[-3000:])
    venv = environments[0]
    assert (venv / ".localroute-ready").is_file()
    ready = json.loads((venv / ".localroute-ready").read_text())
    # made with a Python of the machine (code-server's extension host takes PATH from the
    # login shell), never with this checkout's virtual environment
    interpreter = Path(ready["interpreter"])
    assert interpreter.name.startswith("python"), ready
    assert ROOT not in interpreter.parents and Path(sys.prefix) not in interpreter.parents, ready
    assert f"starting the server: {venv}/bin/python -I -m localroute serve" in log, log[-3000:]
    # isolated: the workspace's own localroute/ folder (the server's cwd) was never imported
    assert not hijacked.exists(), hijacked.read_text()
    assert "(from the server bundled with the extension)" in log, log[-3000:]
    assert "installing its language server" in results["installing"]["text"], results
    assert FINDING in results["review"]["problems"], results["review"]


def run_driver(
    tools: dict[str, str],
    env: dict[str, str],
    port: int,
    workspace: Path,
    artifacts: Path,
    *,
    scenario: str = "full",
    answers: dict[str, Any] | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run driver.mjs; answer its `@@ask NAME` lines; return its results and output."""
    result_file = artifacts / "results.json"
    driver_env = {
        **env,
        **(extra or {}),
        "LR_URL": f"http://127.0.0.1:{port}/?folder={workspace}",
        "LR_SCENARIO": scenario,
        "LR_ARTIFACTS": str(artifacts),
        "LR_RESULTS": str(result_file),
        "LR_CHROMIUM": tools["CHROMIUM"],
        "LR_PLAYWRIGHT": tools["PLAYWRIGHT_CORE"],
        "LR_LOCAL_STATS": str(artifacts / "local-fake.json"),
        "LR_WORKSPACE": str(workspace),
    }
    lines: list[str] = []
    driver_log = artifacts / "driver.log"
    with process_group(
        [tools["NODE24"], str(HERE / "driver.mjs")],
        driver_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    ) as driver:
        assert driver.stdin is not None and driver.stdout is not None
        stdin = driver.stdin

        def on_line(line: str) -> None:
            if line.startswith("@@ask "):
                name = line.removeprefix("@@ask ").strip()
                answer = (answers or {}).get(name)
                stdin.write(f"{answer() if answer else ''}\n")
                stdin.flush()

        with driver_log.open("w") as log:
            reader = threading.Thread(
                target=pump, args=(driver.stdout, lines, log, on_line), daemon=True
            )
            reader.start()
            try:
                returncode = driver.wait(timeout=900)
            except subprocess.TimeoutExpired:
                returncode = -1
            reader.join(timeout=5)
    output = "".join(lines)
    results = json.loads(result_file.read_text()) if result_file.exists() else {}
    if not results:
        pytest.fail(f"the driver wrote no results (exit {returncode}):\n{output[-6000:]}")
    return {"returncode": returncode, "output": output, "results": results}
