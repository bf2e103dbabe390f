"""Where and how a ``command`` backend's CLI runs: the run directory, the files written into
it, the environment, the executable, and the one-time probe of the executable.

Every run (and every probe) gets a fresh, empty run directory (``mkdtemp``: mode 0700, under
the server's temporary directory), removed when the CLI and its process group are gone. The
CLI's working directory is that directory unless ``cwd`` says otherwise, and ``PWD`` always
matches the working directory (some CLIs take ``PWD`` over the real one). ``TMPDIR`` points into
the run directory unless ``env`` sets it, so temporary files a CLI leaves go with it.

Placeholders: ``{model}`` (argv only), ``{run_dir}``, ``{file:NAME}`` (the path of a file of
``files``), and in ``env`` values ``${VAR}`` of the server's environment — expanded in one
pass, so a value taken from the environment is never expanded again.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from localroute.backends.command_output import tail
from localroute.config.models import CommandBackendConfig

PROBE_TIMEOUT_S = 15.0
"""The most a probe (``--version``) may take; a first run may unpack the CLI."""

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\{(model|run_dir)\}|\{file:([^}]*)\}")
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class SetupError(Exception):
    """The CLI cannot be run: not found, a variable unset, the run directory not writable."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def expand(
    template: str, *, run_dir: str, model: str | None = None, environ: Mapping[str, str] | None
) -> str:
    """``template`` with its placeholders replaced; ``${VAR}`` only when ``environ`` is given."""

    def replace(match: re.Match[str]) -> str:
        variable, word, file_name = match.groups()
        if variable is not None:
            if environ is None:
                return match.group(0)
            if variable not in environ:
                raise SetupError(f"environment variable {variable} is not set")
            return environ[variable]
        if file_name is not None:
            return os.path.join(run_dir, file_name)
        if word == "model":
            return match.group(0) if model is None else model
        return run_dir

    return _PLACEHOLDER.sub(replace, template)


def unset_variables(config: CommandBackendConfig, environ: Mapping[str, str]) -> list[str]:
    """The ``${VAR}`` names of ``env`` that ``environ`` lacks, in order."""
    names = [n for value in (config.env or {}).values() for n in _VARIABLE.findall(value)]
    return list(dict.fromkeys(n for n in names if n not in environ))


def not_found(executable: str) -> str:
    where = "" if os.sep in executable else " on PATH"
    return f"`{executable}` not found{where}"


def resolve_executable(name: str, env: Mapping[str, str]) -> str:
    """The path of ``name`` as the CLI's ``PATH`` finds it; :class:`SetupError` if none."""
    path = shutil.which(name, path=env.get("PATH", os.defpath))
    if path is None:
        raise SetupError(not_found(name))
    return os.path.abspath(path)


@dataclass(frozen=True)
class Run:
    """One prepared run: what to execute, with which environment, where."""

    program: str
    """The resolved executable (``argv[0]`` as found on the CLI's ``PATH``)."""
    argv: list[str]
    env: dict[str, str]
    cwd: str
    run_dir: str


@contextlib.contextmanager
def prepared(
    config: CommandBackendConfig,
    template: list[str],
    *,
    model: str | None,
    environ: Mapping[str, str] | None = None,
) -> Iterator[Run]:
    """A fresh run directory with ``files`` written, the expanded argv and environment; the
    directory is removed on leaving, whatever happened. Raises :class:`SetupError`."""
    base = os.environ if environ is None else environ
    missing = unset_variables(config, base)
    if missing:
        raise SetupError(f"environment variable {missing[0]} is not set")
    try:
        run_dir = tempfile.mkdtemp(prefix="localroute-run-")
    except OSError as exc:
        raise SetupError(f"cannot create a run directory: {exc.strerror}") from None
    try:
        _write_files(run_dir, config.files or {})
        env = dict(base)
        env["TMPDIR"] = run_dir
        for name, value in (config.env or {}).items():
            env[name] = expand(value, run_dir=run_dir, environ=base)
        cwd = run_dir
        if config.cwd is not None:
            cwd = expand(config.cwd, run_dir=run_dir, environ=None)
            cwd = os.path.abspath(os.path.expanduser(cwd))
            if not os.path.isdir(cwd):
                raise SetupError(f"cwd {cwd} is not a directory")
        env["PWD"] = cwd
        argv = [expand(a, run_dir=run_dir, model=model, environ=None) for a in template]
        yield Run(resolve_executable(argv[0], env), argv, env, cwd, run_dir)
    finally:
        remove_tree(run_dir)


def _write_files(run_dir: str, files: Mapping[str, str]) -> None:
    root = Path(run_dir)
    for name, text in files.items():
        path = root / name
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            with open(path, "x", encoding="utf-8") as handle:
                handle.write(text)
            os.chmod(path, 0o600)
            written = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SetupError(f"cannot write {name} in the run directory: {exc.strerror}") from None
        if written != text:  # pragma: no cover - a file system that loses writes
            raise SetupError(f"{name} in the run directory does not hold what was written")


def remove_tree(path: str) -> None:
    """Remove ``path`` and everything in it, also what a CLI made read-only."""

    def retry(function: object, target: str, _exc: object) -> None:
        with contextlib.suppress(OSError):
            parent = os.path.dirname(target)
            os.chmod(parent, os.stat(parent).st_mode | stat.S_IRWXU)
            if os.path.isdir(target) and not os.path.islink(target):
                os.chmod(target, stat.S_IRWXU)
                shutil.rmtree(target, ignore_errors=True)
            else:
                os.unlink(target)

    if sys.version_info >= (3, 12):
        shutil.rmtree(path, onexc=retry)
    else:
        shutil.rmtree(path, onerror=retry)


@dataclass(frozen=True)
class ProbeOutcome:
    """What running the probe argv once found."""

    ok: bool
    executable: str | None
    version: str | None
    detail: str


class Prober:
    """Runs the probe argv once per executable file and remembers the outcome; the probe runs
    again only when the executable resolves to another file or the file changed."""

    def __init__(self, config: CommandBackendConfig) -> None:
        self.config = config
        self.template = list(config.probe_argv or [config.argv[0], "--version"])
        self._key: tuple[object, ...] | None = None
        self._outcome: ProbeOutcome | None = None

    @property
    def last(self) -> ProbeOutcome | None:
        return self._outcome

    async def probe(self) -> ProbeOutcome:
        try:
            with prepared(self.config, self.template, model=None) as run:
                key = _file_key(run.program)
                if key == self._key and self._outcome is not None:
                    return self._outcome
                outcome = await _run_probe(run, self.template[0])
        except SetupError as exc:
            return ProbeOutcome(False, None, None, exc.message)
        self._key, self._outcome = key, outcome
        return outcome


def _file_key(path: str) -> tuple[object, ...]:
    info = os.stat(path)
    return (path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


async def spawn(run: Run, *, stdin: int) -> asyncio.subprocess.Process:
    """Start the run's program in a session of its own (so its whole group can be killed),
    in the run's directory and environment, stdout and stderr piped."""
    return await asyncio.create_subprocess_exec(
        run.program,
        *run.argv[1:],
        stdin=stdin,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=run.env,
        cwd=run.cwd,
        start_new_session=True,
    )


async def _run_probe(run: Run, label: str) -> ProbeOutcome:
    shown = " ".join([label, *run.argv[1:]])
    try:
        proc = await spawn(run, stdin=asyncio.subprocess.DEVNULL)
    except OSError as exc:
        return ProbeOutcome(False, run.program, None, f"cannot run `{label}`: {exc.strerror}")
    try:
        async with asyncio.timeout(PROBE_TIMEOUT_S):
            out, err = await proc.communicate()
    except TimeoutError:
        return ProbeOutcome(
            False, run.program, None, f"`{shown}` gave no answer within {PROBE_TIMEOUT_S:g} s"
        )
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()
    text = out.decode("utf-8", "replace")
    errors = err.decode("utf-8", "replace")
    if proc.returncode != 0:
        detail = tail(errors) or tail(text)
        return ProbeOutcome(
            False,
            run.program,
            None,
            f"`{shown}` exited with code {proc.returncode}" + (f": {detail}" if detail else ""),
        )
    version = next((tail(line, 120) for line in (text or errors).splitlines() if line.strip()), "")
    return ProbeOutcome(True, run.program, version or None, run.program)
