"""`localroute review` at repository scale: a generated tree of 10,000 files, the real CLI
process, fast fake backends on loopback (each in its own process).

Rows (each a fresh CLI process writing SARIF to `--output`; peak RSS is that process's
own, from `wait4`):

- one backend, no disk cache (`max_disk_bytes = 0`);
- one backend with the disk cache: the first run (everything sent, answers stored) and
  the second (everything from the cache: nothing sent);
- three endpoints of one backend (`urls`, least busy first), each taking up to
  `--per-backend` requests at once; and, for comparison, three backends in the route,
  each with no queue, so requests spill over to the next (no disk cache for either);
- `--changed-since HEAD` on the same tree as a git repository with 100 files edited;
- Ctrl-C in the middle of a run against a slower fake (once about 1,000 requests were
  made): time to exit, exit status, and whether the partial SARIF in `--output` is whole.

`--store` adds a micro-benchmark of the two designs considered for the disk cache: one
SQLite file in WAL mode (the one used) and one file per answer written with a rename.

Run: `.venv/bin/python bench/scale.py` (about two minutes on two cores);
`-n 2000` for a quick look.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "server"))
sys.path.insert(0, str(ROOT))

ANSWER = '{"findings": [{"line": 1, "severity": "info", "message": "looked at it"}]}'


@dataclass
class Row:
    name: str
    files: int
    wall_s: float
    rss_mib: float
    sent: int
    code: int
    note: str = ""

    @property
    def rate(self) -> float:
        return self.files / self.wall_s if self.wall_s else 0.0


class Fake:
    """`python -m tests.fakes.openai_fake` in its own process."""

    def __init__(self, latency: float = 0.0) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.fakes.openai_fake",
                "--port",
                "0",
                "--latency",
                str(latency),
                "--chunk-size",
                "4096",
                "--answer",
                ANSWER,
            ],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'server'}"},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        self.url = line.split(" at ", 1)[1].split()[0]

    def stop(self) -> int:
        """Stop it; the number of chat requests it received."""
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=30)
        return int(out.strip().splitlines()[-1].split()[0])


def make_tree(top: Path, n: int) -> None:
    per_dir = 100
    for i in range(n):
        folder = top / f"pkg{i // per_dir:03}"
        if i % per_dir == 0:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{i:05}.py").write_text(
            f'"""Module {i}."""\n\n\ndef ratio_{i}(a, b):\n    """Divide."""\n'
            f"    total = a + {i}\n    return total / b\n\n\nCONSTANT_{i} = {i}\n"
        )


def config_text(urls: list[str], *, disk: bool, per_backend: int, endpoints: bool = False) -> str:
    """One backend per URL in the route, or (``endpoints``) one backend with every URL
    as an endpoint (`urls`)."""
    cache = f"[cache]\nmax_disk_bytes = {100_000_000 if disk else 0}\n"
    if endpoints:
        listed = ", ".join(f'"{u}"' for u in urls)
        return (
            f'[backends.a]\nkind = "openai"\nurls = [{listed}]\n'
            f'max_concurrency = {per_backend}\n\n[tasks.review]\nroute = ["a:coder"]\n\n{cache}'
        )
    names = "abc"[: len(urls)]
    parts = []
    for name, url in zip(names, urls, strict=True):
        # With several backends, no queue: a full backend hands the request to the next.
        queue = 0 if len(urls) > 1 and name != names[-1] else 100_000
        parts.append(
            f'[backends.{name}]\nkind = "openai"\nurl = "{url}"\n'
            f"max_concurrency = {per_backend}\nmax_queue = {queue}\n"
        )
    route = ", ".join(f'"{n}:coder"' for n in names)
    parts.append(f"[tasks.review]\nroute = [{route}]\n")
    parts.append(cache)
    return "\n".join(parts)


def run_cli(
    work: Path, config: str, args: list[str], *, interrupt_when: Callable[[], bool] | None = None
) -> tuple[float, float, int, str, float | None]:
    """Wall seconds, peak RSS (MiB), exit status, stderr, seconds from SIGINT to exit."""
    (work / "config.toml").write_text(config)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT / "server"),
        "LOCALROUTE_CONFIG": str(work / "config.toml"),
        "XDG_CACHE_HOME": str(work / "cache"),
        "XDG_STATE_HOME": str(work / "state"),
        "XDG_CONFIG_HOME": str(work / "xdg"),
    }
    with (work / "stderr.txt").open("w") as err:
        began = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "localroute", "review", *args],
            cwd=work,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        to_exit = None
        signalled = None
        finished = None
        if interrupt_when is not None:
            give_up = time.monotonic() + 120
            while not interrupt_when() and time.monotonic() < give_up:
                finished = os.wait4(process.pid, os.WNOHANG)
                if finished[0]:
                    break  # done before the moment came: nothing to interrupt
                finished = None
                time.sleep(0.02)
            if finished is None:
                os.kill(process.pid, signal.SIGINT)
                signalled = time.perf_counter()
        _, status, usage = finished or os.wait4(process.pid, 0)
        ended = time.perf_counter()
        process.returncode = os.waitstatus_to_exitcode(status)
        if signalled is not None:
            to_exit = ended - signalled
    return (
        ended - began,
        usage.ru_maxrss / 1024,
        process.returncode,
        (work / "stderr.txt").read_text(),
        to_exit,
    )


def sarif_summary(path: Path) -> tuple[int, bool]:
    run = json.loads(path.read_text())["runs"][0]
    return len(run["results"]), run["invocations"][0]["executionSuccessful"]


def git(repo: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "bench",
        "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_NAME": "bench",
        "GIT_COMMITTER_EMAIL": "bench@example.invalid",
    }
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def scale_table(n: int, jobs: int, per_backend: int) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tree = work / "tree"
        tree.mkdir()
        (tree / ".git").mkdir()  # a project root: the files are not private
        make_tree(tree, n)
        sarif = work / "results.sarif"
        common = ["tree", "--jobs", str(jobs), "--format", "sarif", "--output", str(sarif)]

        def measure(
            name: str, fakes: list[Fake], disk: bool, extra: list[str], endpoints: bool = False
        ) -> Row:
            # One backend takes every job at once; three share them.
            slots = jobs if len(fakes) == 1 else per_backend
            urls = [f.url for f in fakes]
            config = config_text(urls, disk=disk, per_backend=slots, endpoints=endpoints)
            wall, rss, code, err, _ = run_cli(work, config, [*common, *extra])
            results, _ = sarif_summary(sarif)
            pieces = (p.strip() for line in err.splitlines() for p in line.split(", "))
            cached = next((p for p in pieces if "from the cache" in p), "")
            return Row(name, results, wall, rss, 0, code, cached)

        fake = Fake()
        try:
            rows.append(measure("1 backend, no disk cache", [fake], False, ["--refresh"]))
            shutil.rmtree(work / "cache", ignore_errors=True)
            rows.append(measure("1 backend, disk cache, 1st run", [fake], True, []))
            rows.append(measure("1 backend, disk cache, 2nd run", [fake], True, []))
        finally:
            sent = fake.stop()
        rows[0].sent = n
        rows[1].sent = n
        rows[2].sent = sent - 2 * n

        for endpoints in (True, False):
            fakes = [Fake(), Fake(), Fake()]
            name = "3 endpoints of 1 backend" if endpoints else "3 backends in the route"
            try:
                row = measure(f"{name}, no cache", fakes, False, ["--refresh"], endpoints)
            finally:
                counts = [f.stop() for f in fakes]
            row.sent = sum(counts)
            row.note = "per fake " + " / ".join(str(c) for c in counts)
            rows.append(row)

        # The same tree as a git repository, 100 files edited.
        shutil.rmtree(tree / ".git")
        git(tree, "init", "-q")
        git(tree, "add", "-A")
        git(tree, "commit", "-qm", "tree")
        edited = sorted(tree.glob("pkg*/mod*.py"))[:: max(n // 100, 1)][:100]
        for path in edited:
            path.write_text(path.read_text().replace("return total / b", "return total // b"))
        fake = Fake()
        try:
            config = config_text([fake.url], disk=False, per_backend=jobs)
            args = ["--changed-since", "HEAD", *common]
            wall, rss, code, _, _ = run_cli(work, config, args)
        finally:
            sent = fake.stop()
        rows.append(
            Row("--changed-since HEAD, 100 edited", len(edited), wall, rss, sent, code, "hunks")
        )

        # Ctrl-C once 1,000 requests were made (the audit log has a line for each).
        audit = work / "state" / "localroute" / "audit.jsonl"
        audit.unlink(missing_ok=True)

        def busy() -> bool:
            try:
                return audit.stat().st_size > 1000 * 400  # lines of about 400 bytes
            except OSError:
                return False

        fake = Fake(latency=0.05)
        try:
            config = config_text([fake.url], disk=False, per_backend=jobs)
            sarif.unlink(missing_ok=True)
            wall, rss, code, _, to_exit = run_cli(
                work, config, [*common, "--refresh"], interrupt_when=busy
            )
        finally:
            sent = fake.stop()
        try:
            results, ok = sarif_summary(sarif)
            whole = f"partial SARIF valid: {results} results, executionSuccessful={ok}"
        except (OSError, ValueError, KeyError) as exc:
            results, whole = 0, f"partial SARIF unreadable: {exc}"
        rows.append(
            Row(
                "Ctrl-C mid-run (50 ms backend)",
                results,
                wall,
                rss,
                sent,
                code,
                (
                    f"exited {to_exit * 1000:.0f} ms after SIGINT; "
                    if to_exit
                    else "not interrupted; "
                )
                + whole,
            )
        )
    return rows


def store_table(n: int) -> None:
    """Puts and gets of `n` answers: SQLite (WAL) against one file per answer."""
    import hashlib

    from localroute.results_store import AnswerStore

    value = json.dumps(json.loads(ANSWER) | {"reason": "not private", "backend": "a"}) * 2
    keys = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(n)]
    print(f"\nanswer store, {n} answers of {len(value)} bytes (one process)")
    print(f"{'design':<28} {'put/s':>9} {'get/s':>9} {'disk MiB':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        store = AnswerStore(Path(tmp) / "a.sqlite3", max_bytes=10**9)
        began = time.perf_counter()
        for key in keys:
            store.put(key, value)
        put_s = time.perf_counter() - began
        began = time.perf_counter()
        for key in keys:
            assert store.get_first([key]) is not None
        get_s = time.perf_counter() - began
        store.close()
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
        rates = f"{n / put_s:>9.0f} {n / get_s:>9.0f} {size / 2**20:>9.1f}"
        print(f"{'sqlite3, WAL, one by one':<28} {rates}")

    with tempfile.TemporaryDirectory() as tmp:
        store = AnswerStore(Path(tmp) / "a.sqlite3", max_bytes=10**9)
        began = time.perf_counter()
        for start in range(0, n, 100):
            store.write(puts=[(key, value) for key in keys[start : start + 100]])
        put_s = time.perf_counter() - began
        store.close()
        print(f"{'sqlite3, WAL, batches of 100':<28} {n / put_s:>9.0f} {'':>9} {'':>9}")

    with tempfile.TemporaryDirectory() as tmp:
        top = Path(tmp)
        began = time.perf_counter()
        for key in keys:
            folder = top / key[:2]
            folder.mkdir(exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=folder)
            with os.fdopen(handle, "w") as out:
                out.write(value)
            os.replace(temporary, folder / key)
        put_s = time.perf_counter() - began
        began = time.perf_counter()
        for key in keys:
            path = top / key[:2] / key
            path.read_text()
            os.utime(path)  # last use, for eviction by age
        get_s = time.perf_counter() - began
        blocks = sum(p.stat().st_blocks * 512 for p in top.rglob("*") if p.is_file())
        print(
            f"{'one file per answer':<28} {n / put_s:>9.0f} {n / get_s:>9.0f} "
            f"{blocks / 2**20:>9.1f}"
        )
        began = time.perf_counter()
        entries = [(p.stat().st_mtime, p) for p in top.rglob("*") if p.is_file()]
        scan_ms = (time.perf_counter() - began) * 1000
        print(
            f"  (one file per answer: finding what to evict scans {len(entries)} files: "
            f"{scan_ms:.0f} ms)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=textwrap.dedent(__doc__ or ""))
    parser.add_argument("-n", type=int, default=10_000, help="files in the tree")
    parser.add_argument("--jobs", type=int, default=16)
    parser.add_argument(
        "--per-backend", type=int, default=6, help="max_concurrency of each of three fakes"
    )
    parser.add_argument("--store", action="store_true", help="also the answer-store table")
    args = parser.parse_args()
    rows = scale_table(args.n, args.jobs, args.per_backend)
    print(f"localroute review of {args.n} files, --jobs {args.jobs}, fake backends on loopback")
    print(
        f"{'run':<36} {'files':>6} {'wall s':>7} {'files/s':>8} {'peak RSS MiB':>13} "
        f"{'sent':>6} {'exit':>5}  note"
    )
    for row in rows:
        print(
            f"{row.name:<36} {row.files:>6} {row.wall_s:>7.1f} {row.rate:>8.0f} "
            f"{row.rss_mib:>13.0f} {row.sent:>6} {row.code:>5}  {row.note}"
        )
    if args.store:
        store_table(args.n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
