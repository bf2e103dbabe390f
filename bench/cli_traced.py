"""``localroute review`` with timing hooks, for profiling only (see bench/profile_cli.py).

Started as ``python bench/cli_traced.py review ARGS…``. It does what the ``localroute``
program does (:func:`localroute.cli.run`: the collector paused, :func:`main`, out at
once), with ``bench/serve_traced.py``'s marks and spans around the steps of start-up
and of each request; the events go to the file named by ``LOCALROUTE_TRACE``. The
review's modules are imported before its arguments are read (the program imports them
after): the marks say so.
"""

from __future__ import annotations

import os
import sys

from serve_traced import _traced_create, dump, mark, span  # type: ignore[import-not-found]


def install() -> None:
    # httpx is imported when the first backend is made: not here.
    from localroute import cli, gc_pause
    from localroute.backends import registry
    from localroute.bulk import review_command, runner
    from localroute.pipeline import Pipeline
    from localroute.routing import endpoints

    span(cli, "_store", "configuration read")
    span(review_command, "_prepare", "files listed, configuration checked")
    span(runner, "read_text", "file read")
    span(Pipeline, "classify", "classify")
    for module in (endpoints, registry):
        module.create_backend = _traced_create(module.create_backend)
        span(module, "create_backend", "backend made")
    span(gc_pause, "resume", "start-up over (collector resumed)")
    span(Pipeline, "aclose", "pipeline closed", is_async=True)
    span(review_command, "_report", "report written")


def main() -> None:
    mark("interpreter ready")
    from localroute import gc_pause

    gc_pause.pause()
    from localroute import cli

    mark("imported localroute.cli")
    from localroute.bulk import review_command  # noqa: F401

    mark("imported the review's modules")
    install()
    code = cli.main(sys.argv[1:])
    dump(None)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
