"""Pure building blocks for bulk review: which files to review, how to split them, SARIF out.

- :mod:`localroute.bulk.files` expands command-line paths to reviewable files, honouring
  ``.gitignore`` and saying why every other file was skipped;
- :mod:`localroute.tasks.chunks` splits a file too large for a model's window at top-level
  definitions and merges the findings of the pieces;
- :mod:`localroute.bulk.sarif` renders per-file results as a SARIF 2.1.0 log.

None of these modules does network I/O or imports pygls or httpx.
"""
