"""Reviewing many files: which ones, which lines, in what pieces, and the report.

- :mod:`localroute.bulk.files` expands command-line paths to reviewable files, honouring
  ``.gitignore`` and saying why every other file was skipped;
- :mod:`localroute.bulk.changes` asks git what changed since a ref, and
  :mod:`localroute.bulk.hunks` turns the changed hunks into line ranges to review;
- :mod:`localroute.tasks.chunks` splits a file too large for a model's window at top-level
  definitions and merges the findings of the pieces;
- :mod:`localroute.bulk.runner` runs the pipeline over the files, a fixed number at once;
- :mod:`localroute.bulk.report` and :mod:`localroute.bulk.sarif` say what came of it;
- :mod:`localroute.bulk.review_command` is ``localroute review``.

None of these modules imports pygls; only the runner and the command reach the network,
through the pipeline.
"""
