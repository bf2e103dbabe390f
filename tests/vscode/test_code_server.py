"""VS Code end to end: the packaged extension (client-vscode/localroute-<version>.vsix) in a real
VS Code — code-server in headless Chromium — with the real server and loopback fake backends.

driver.mjs (playwright-core) works the editor the way a person does and saves a screenshot of
each step in tests/vscode/artifacts/: it opens files from the Explorer, reads the language
status item (the route: `local`; `private` for files matched by a user-level and by a
workspace-level privacy glob) and the server's warning about a workspace setting that would
loosen privacy; selects lines and runs "localroute: Review Selection" (the finding in the
Problems panel at its line), "Explain Selection" (the hover), "Show Status", "Restart Server";
presses Cancel on a review the local fake holds (the fake sees the client leave); then asks
this test to stop the local fake (a line on stdout, answered on stdin) and reviews a file under
secrets/, which must be refused — and the fake "cloud" backend must have received nothing.

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
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from tests.fakes.openai_fake import FakeOpenAI
from tests.vscode.local_fake import EXPLAIN, FINDING, FINDING_LINE, SLOW_MARKER

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

# the setup may install the tools first (about 2.5 min cold); the test itself takes ~30 s
pytestmark = pytest.mark.timeout(900)


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
    """The VSIX that `make vsix` builds (built here when missing, e.g. pytest run alone)."""
    vsix = vsix_path()
    if not vsix.exists():
        subprocess.run(["make", "-s", "vsix"], cwd=ROOT, check=True, timeout=600)
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
    for folder in ("secrets", "internal", "vendor", ".vscode"):
        (workspace / folder).mkdir(parents=True)
    (workspace / "app.py").write_text(APP)
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


def write_user_settings(user_data: Path) -> None:
    settings = {
        "localroute.server.path": [sys.executable, "-m", "localroute", "serve"],
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
    }
    # The same settings as user settings and as the remote machine's settings ("Machine"):
    # code-server's browser side does not always load User/settings.json before the extension
    # host starts (seen: 2 runs out of 5 without it), the server side always reads Machine/.
    for level in ("User", "Machine"):
        (user_data / level).mkdir(parents=True, exist_ok=True)
        (user_data / level / "settings.json").write_text(json.dumps(settings, indent=2))


def keep_logs(user_data: Path) -> None:
    """The extension's log channel (client log, server stderr, LSP trace) next to the shots."""
    for log in sorted((user_data / "logs").glob("*/exthost*/localroute.localroute/*.log")):
        shutil.copy(log, ARTIFACTS / f"extension-{log.name}")


def pump(stream: IO[str], lines: list[str], log: IO[str], on_line: Any) -> None:
    for line in stream:
        log.write(line)
        log.flush()
        lines.append(line)
        on_line(line.rstrip("\n"))


def test_vscode_review_explain_status_refusal(tmp_path: Path) -> None:
    tools = e2e_tools()
    vsix = ensure_vsix()
    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    ARTIFACTS.mkdir(parents=True)

    home = tmp_path / "home"
    workspace = tmp_path / "workspace"
    user_data = tmp_path / "user-data"
    extensions = tmp_path / "extensions"
    for d in (home, user_data, extensions):
        d.mkdir(parents=True)
    write_workspace(workspace)
    write_user_settings(user_data)
    port = free_port()
    cs_config = tmp_path / "code-server.yaml"
    cs_config.write_text(f"bind-addr: 127.0.0.1:{port}\nauth: none\ncert: false\n")

    local_stats = ARTIFACTS / "local-fake.json"
    with (
        process_group(
            [sys.executable, "-m", "tests.vscode.local_fake", str(local_stats)],
            {**os.environ, "PYTHONPATH": str(ROOT)},
            cwd=ROOT,
            stdout=subprocess.PIPE,
        ) as local,
        FakeOpenAI() as cloud,
    ):
        assert local.stdout is not None
        local_url = local.stdout.readline().strip()
        assert local_url.startswith("http://127.0.0.1:"), local_url
        config = home / "localroute.toml"
        config.write_text(
            f'[backends.local]\nkind = "openai"\nurl = "{local_url}"\n\n'
            f'[backends.cloud]\nkind = "openai"\nurl = "{cloud.url}"\nlocality = "cloud"\n\n'
            '[tasks.review]\nroute = ["local:coder", "cloud:gpt-cloud"]\n\n'
            '[tasks.explain]\nroute = ["local:coder", "cloud:gpt-cloud"]\n\n'
            "[health]\nttl_s = 1\nrecheck_s = 1\n"
        )
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "LOCALROUTE_CONFIG": str(config),
            "PYTHONPATH": str(ROOT / "server"),
            # no extension gallery: nothing but loopback (port 9 refuses at once)
            "EXTENSIONS_GALLERY": json.dumps(
                {
                    "serviceUrl": "http://127.0.0.1:9/gallery",
                    "itemUrl": "http://127.0.0.1:9/items",
                    "resourceUrlTemplate": "http://127.0.0.1:9/r/{publisher}/{name}/{version}/{path}",
                }
            ),
        }
        code_server = [
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
            [*code_server, "--install-extension", str(vsix)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            start_new_session=True,
        )
        assert install.returncode == 0, install.stdout + install.stderr
        installed = [p.name for p in extensions.iterdir()]
        assert any(name.startswith("localroute.localroute-") for name in installed), installed

        cs_log = ARTIFACTS / "code-server.log"
        serve = [
            *code_server,
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
                outcome = run_driver(
                    tools, env, port, workspace, lambda: kill_group(local.pid, grace_s=0)
                )
            finally:
                keep_logs(user_data)

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
        log = (ARTIFACTS / "extension-localroute.log").read_text()
        assert log.count("starting the server:") == 2, log[-3000:]

        # Cancel in the progress notification aborts the backend request, and nothing lands
        cancel = results["cancel"]
        assert cancel["stats"]["slow_started"] == 1, cancel
        assert cancel["stats"]["disconnects"] >= 1, cancel
        assert "slow.py" not in cancel["problems"], cancel

        # the language status item names the route
        assert "local" in results["status"]["text"], results["status"]

        # privacy: the refusal is shown, and the cloud backend received nothing
        refused = results["refused"]
        assert "private" in refused["notification"].lower(), refused
        assert "refused: private" in refused["status"], refused
        assert cloud.chat_requests == [], [r.json for r in cloud.chat_requests]

        # a workspace setting changed at run time reaches the server (a glob: stricter)
        assert "refused: private" in results["settingsChange"]["status"], results
        assert "settings changed, sent to the server" in log, log[-3000:]


def run_driver(
    tools: dict[str, str],
    env: dict[str, str],
    port: int,
    workspace: Path,
    on_stop_local: Any,
) -> dict[str, Any]:
    """Run driver.mjs; answer its `@@stop-local` request; return its results and output."""
    result_file = ARTIFACTS / "results.json"
    driver_env = {
        **env,
        "LR_URL": f"http://127.0.0.1:{port}/?folder={workspace}",
        "LR_ARTIFACTS": str(ARTIFACTS),
        "LR_RESULTS": str(result_file),
        "LR_CHROMIUM": tools["CHROMIUM"],
        "LR_PLAYWRIGHT": tools["PLAYWRIGHT_CORE"],
        "LR_LOCAL_STATS": str(ARTIFACTS / "local-fake.json"),
        "LR_WORKSPACE": str(workspace),
    }
    lines: list[str] = []
    driver_log = ARTIFACTS / "driver.log"
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
            if line.strip() == "@@stop-local":
                on_stop_local()
                stdin.write("stopped\n")
                stdin.flush()

        with driver_log.open("w") as log:
            reader = threading.Thread(
                target=pump, args=(driver.stdout, lines, log, on_line), daemon=True
            )
            reader.start()
            try:
                returncode = driver.wait(timeout=300)
            except subprocess.TimeoutExpired:
                returncode = -1
            reader.join(timeout=5)
    output = "".join(lines)
    results = json.loads(result_file.read_text()) if result_file.exists() else {}
    if not results:
        pytest.fail(f"the driver wrote no results (exit {returncode}):\n{output[-6000:]}")
    return {"returncode": returncode, "output": output, "results": results}
