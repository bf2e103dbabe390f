"""A misbehaving ``opencode run --format json`` for the command backend's fault matrix.

Usage: ``python fault_cli.py MODE [ignored opencode arguments...]``; the prompt is read from
stdin first, as the real CLI does. Modes (those :mod:`tests/fakes/bin/fake-opencode` has no
switch for):

* ``killed``: a ``step_start`` and a first ``text`` event, then the CLI dies of SIGKILL
  (the command-line analogue of a connection reset mid-stream).
* ``truncated``: a ``step_start``, a first ``text`` event and half of the next line, then
  stdout ends and the CLI exits 0 with no ``step_finish`` and no ``done``.
* ``invalid_json``: every line starts like a JSON event but is cut off; exit 0.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

ANSWER = '{"findings": [{"line": 1, "severity": "warning", "message": "from the faulty CLI"}]}'


def _event(kind: str, **fields: object) -> str:
    line = {"type": kind, "timestamp": int(time.time() * 1000), "sessionID": "ses_fault"}
    return json.dumps({**line, **fields}, separators=(",", ":")) + "\n"


def _text(piece: str) -> str:
    return _event("text", part={"type": "text", "text": piece})


def main(argv: list[str]) -> int:
    mode = argv[1] if len(argv) > 1 else ""
    sys.stdin.read()
    out = sys.stdout
    half = len(ANSWER) // 2
    if mode == "killed":
        out.write(_event("step_start", part={"type": "step-start"}) + _text(ANSWER[:half]))
        out.flush()
        time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGKILL)
    elif mode == "truncated":
        rest = _text(ANSWER[half:])
        out.write(_event("step_start", part={"type": "step-start"}) + _text(ANSWER[:half]))
        out.write(rest[: len(rest) // 2])
        out.flush()
        return 0
    elif mode == "invalid_json":
        for _ in range(3):
            line = _text(ANSWER)
            out.write(line[: len(line) // 2] + "\n")
        out.flush()
        return 0
    sys.stderr.write(f"fault_cli: unknown mode {mode!r}\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
