"""What OpenAI-compatible servers say about their models: ids, aliases, context windows."""

from __future__ import annotations

from typing import Any

from localroute.backends.openai_errors import int_or_none

_RUNTIME_WINDOW_KEYS = ("max_model_len", "context_length", "context_window", "max_context_length")
"""Per-model window fields of ``/models`` entries: vLLM's ``max_model_len``, and the
``context_length`` / ``context_window`` of other OpenAI-compatible servers and proxies."""


def parse_models(data: Any) -> tuple[tuple[str, ...], dict[str, int]]:
    """Model ids (with llama-swap aliases) and their context windows from ``/models``.

    The window is the one the server runs with where the entry says it (vLLM's
    ``max_model_len`` and the like), else llama.cpp's training context ``meta.n_ctx_train``
    (an upper bound: the server may run with less; ``/props`` says how much).
    """
    items = data.get("data") if isinstance(data, dict) else data
    ids: list[str] = []
    context: dict[str, int] = {}
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        names = [item["id"], *model_aliases(item)]
        meta = item.get("meta")
        window = next(
            (n for key in _RUNTIME_WINDOW_KEYS if (n := int_or_none(item.get(key)))), None
        )
        if window is None and isinstance(meta, dict):
            window = int_or_none(meta.get("n_ctx_train"))
        if window:
            context.update(dict.fromkeys(names, window))
        ids += [n for n in names if n not in ids]
    return tuple(ids), context


def model_aliases(item: dict[str, Any]) -> list[str]:
    """The llama-swap aliases of a ``/models`` entry (``meta.llamaswap.aliases``)."""
    meta = item.get("meta")
    swap = meta.get("llamaswap") if isinstance(meta, dict) else None
    aliases = swap.get("aliases") if isinstance(swap, dict) else None
    return [a for a in aliases if isinstance(a, str) and a] if isinstance(aliases, list) else []


def props_window(data: Any) -> int | None:
    """The context window per request in llama.cpp's ``/props``: the slot's ``n_ctx``."""
    if not isinstance(data, dict):
        return None
    settings = data.get("default_generation_settings")
    if isinstance(settings, dict) and int_or_none(settings.get("n_ctx")):
        return int_or_none(settings.get("n_ctx"))
    return int_or_none(data.get("n_ctx"))


def ready_models(data: Any) -> list[str]:
    """The models llama-swap's ``/running`` lists as ready (v170 lists only those)."""
    items = data.get("running") if isinstance(data, dict) else None
    return [
        item["model"]
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
        and isinstance(item.get("model"), str)
        and item.get("state", "ready") == "ready"
    ]


def starting_models(data: Any) -> list[str]:
    """The models llama-swap's ``/running`` lists as ``starting`` (loading; current versions
    list every process that is not stopped, v170 only ready ones)."""
    items = data.get("running") if isinstance(data, dict) else None
    return [
        item["model"]
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
        and isinstance(item.get("model"), str)
        and item.get("state") == "starting"
    ]
