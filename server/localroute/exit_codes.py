"""The exit status of `localroute review`, which CI depends on.

A module of its own that imports nothing, so `localroute --help` can show the codes
without loading what a review needs.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_NOT_REVIEWED = 3
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """\
exit status:
  0    every file reviewed, no finding at or above --fail-on
  1    findings at or above --fail-on
  2    usage or configuration error (nothing was sent)
  3    some file was refused (private, no allowed backend) or not reviewed
       (no backend answered); takes precedence over 1
  130  interrupted (Ctrl-C); the report covers the files finished so far
"""
