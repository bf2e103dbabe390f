"""The bulk run's terminal output: the progress line (cache hits, rate, ETA) and the
summaries of cache use and backends."""

from __future__ import annotations

import io

from localroute.bulk.report import Progress, backend_summary, summary
from localroute.bulk.sarif import FileResult


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def result(name: str, *, cached: int = 0, parts: int = 1, backend: str = "local") -> FileResult:
    return FileResult(
        name, "review", backend, "coder", "local", (), parts=parts, cached_parts=cached
    )


def test_the_line_shows_cache_hits_rate_and_eta_and_is_throttled() -> None:
    stream, clock = Terminal(), Clock()
    progress = Progress(100, stream, clock)
    progress.start(8)
    assert progress.last == "[0/100] 100 queued, 8 in flight"
    for i in range(10):
        clock.now += 0.2
        progress.advance(result(f"f{i}.py", cached=1 if i < 4 else 0))
    # 10 files in 2 s: 5 files/s, 90 left: 18 s.
    assert progress.last == "[10/100] 10 % · 4 cached · 5.0 files/s · ETA 18s · f9.py → local"
    draws = stream.getvalue().count("\r\x1b[K")
    progress.advance(result("quick.py"))  # 0 s later: not redrawn
    assert stream.getvalue().count("\r\x1b[K") == draws
    clock.now += 100
    for i in range(89):
        progress.advance(result(f"g{i}.py", parts=2, cached=1))  # half cached: not counted
    assert progress.last.startswith("[100/100] 100 % · 4 cached · ")
    assert "ETA" not in progress.last  # done


def test_long_etas_read_as_minutes_and_hours() -> None:
    clock = Clock()
    progress = Progress(100_000, Terminal(), clock)
    progress.start(4)
    clock.now += 10
    progress.advance(result("a.py"))
    assert "ETA 277h46m" in progress.last
    progress = Progress(1000, Terminal(), clock)
    progress.start(4)
    clock.now += 1
    progress.advance(result("a.py"))
    assert "ETA 16m39s" in progress.last


def test_nothing_is_drawn_when_not_on_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(3, stream)
    progress.start(2)
    progress.advance(result("a.py"))
    progress.clear()
    assert stream.getvalue() == ""


def test_the_summaries_count_cache_answers_and_cloud_tokens() -> None:
    results = [
        result("a.py", cached=2, parts=2),
        result("b.py"),
        FileResult("c.py", "review", "cloud", "big", "cloud", (), cloud_tokens=1234),
        FileResult("d.py", "review", None, None, None, (), "down", parts=3, failed_parts=3),
    ]
    line = summary(results, 4, interrupted=False)
    assert "3/4 file(s) reviewed" in line and "2 of 4 answer(s) from the cache" in line
    assert backend_summary(results) == (
        "localroute: files by backend: local ×2 (local), cloud ×1 (cloud); "
        "≈1,234 prompt tokens sent to cloud backends"
    )
    assert backend_summary([results[0]]) == (
        "localroute: files by backend: local ×1 (local); no prompt sent to a cloud backend"
    )
    assert backend_summary([results[3]]) is None
    assert "from the cache" not in summary([results[1]], 1, interrupted=False)
