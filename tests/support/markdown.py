"""Markdown as an editor's renderer reads it: what it would fetch or run, and its code."""

from __future__ import annotations

from typing import Any

from markdown_it import MarkdownIt

RENDERERS = [MarkdownIt("commonmark", {"html": True}), MarkdownIt("js-default", {"html": True})]
"""CommonMark, and markdown-it's default (GitHub-like: tables, strikethrough), HTML on."""

ACTIVE = ("image", "html_inline", "html_block")


def _walk(tokens: list[Any], kinds: tuple[str, ...], found: list[Any]) -> None:
    for token in tokens:
        if token.type in kinds:
            found.append(token)
        _walk(token.children or [], kinds, found)


def active_parts(markdown: str) -> list[str]:
    """The images and raw HTML any of :data:`RENDERERS` finds in ``markdown``."""
    found: list[Any] = []
    for renderer in RENDERERS:
        _walk(renderer.parse(markdown), ACTIVE, found)
    return [f"{token.type}: {token.content or token.attrs}" for token in found]


def code_of(markdown: str) -> list[str]:
    """The text of every code block and code span CommonMark finds in ``markdown``."""
    found: list[Any] = []
    _walk(RENDERERS[0].parse(markdown), ("fence", "code_inline"), found)
    return [token.content for token in found]
