"""One-time consent tokens: single use, short-lived, bound to content, lines, task, backend."""

from __future__ import annotations

import pytest

from localroute.privacy.consent import ConsentError, ConsentStore


def test_a_token_sends_only_what_it_was_offered_for() -> None:
    store = ConsentStore()
    offer = store.offer(content_hash="h1", task="review", backend="cloud", span=(3, 5))
    assert offer.backend == "cloud" and offer.expires_in_s == 120
    consent = store.redeem(offer.token, content_hash="h1", task="review", span=(3, 5))
    assert (consent.backend, consent.span) == ("cloud", (3, 5))
    with pytest.raises(ConsentError, match="unknown or was already used"):
        store.redeem(offer.token, content_hash="h1", task="review", span=(3, 5))


@pytest.mark.parametrize(
    ("content", "task", "span", "why"),
    [
        ("h2", "review", (3, 5), "document changed"),
        ("h1", "explain", (3, 5), "review task"),
        ("h1", "review", (None, None), "other lines"),
    ],
)
def test_a_token_for_other_content_task_or_lines_is_refused_and_spent(
    content: str, task: str, span: tuple[int | None, int | None], why: str
) -> None:
    store = ConsentStore()
    offer = store.offer(content_hash="h1", task="review", backend="cloud", span=(3, 5))
    with pytest.raises(ConsentError, match=why):
        store.redeem(offer.token, content_hash=content, task=task, span=span)
    with pytest.raises(ConsentError, match="already used"):
        store.redeem(offer.token, content_hash="h1", task="review", span=(3, 5))


def test_a_token_expires() -> None:
    store = ConsentStore(ttl_s=0.0)
    offer = store.offer(content_hash="h", task="review", backend="cloud")
    with pytest.raises(ConsentError, match="expired"):
        store.redeem(offer.token, content_hash="h", task="review")


def test_tokens_are_random() -> None:
    store = ConsentStore()
    tokens = {store.offer(content_hash="h", task="t", backend="b").token for _ in range(50)}
    assert len(tokens) == 50 and all(len(t) >= 32 for t in tokens)
