"""Bytes cut into the reads a socket might give them in."""

from __future__ import annotations


def cut(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the offsets ``cuts`` (any order; past the end, or repeated, ignored)."""
    pieces, start = [], 0
    for at in [*sorted(cuts), len(data)]:
        if at > start:
            pieces.append(data[start:at])
            start = at
    return pieces
