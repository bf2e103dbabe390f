"""The adversarial list end to end: a real server over stdio, its local backend down and a
cloud backend (a loopback fake labelled cloud by the user file) that records requests."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from tests.fakes.openai_fake import FakeOpenAI
from tests.property.adversarial import ADVERSARIAL, Adversarial
from tests.property.serving import Answer, editor, sent_texts, user_config
from tests.property.tree import USER_GLOBS, Tree, forced_reasons

MARKER = "adversarial marker"


def _as_uri(case: Adversarial, tree: Tree) -> str | None:
    """The URI an editor would send for this case, when there is one."""
    if case.roots_raw:
        return None  # the server has one workspace folder: {ws}
    given = case.given(tree)
    if ":" in given.split("/", 1)[0] and not given.startswith("/"):
        return given
    if given.startswith("/"):
        return "file://" + quote(given)
    return None


def _named_a_reason(detail: str) -> bool:
    return "privacy glob '" in detail or bool(forced_reasons((detail,)))


async def test_adversarial_uris_through_a_real_server(tree: Tree, tmp_path: Path) -> None:
    cases = [(c, uri) for c in ADVERSARIAL if (uri := _as_uri(c, tree)) is not None]
    assert len(cases) >= 30
    wrong: list[str] = []
    with FakeOpenAI(answer='{"findings": []}') as cloud:
        config = user_config(cloud.url, globs=USER_GLOBS)
        ws_uri = "file://" + quote(tree.abs("ws"))
        async with editor(tmp_path, config, root_uri=ws_uri, folders=[ws_uri]) as session:
            for case, uri in cases:
                before = len(cloud.chat_requests)
                answer = await session.review(uri, f"print('{MARKER}')\n")
                if case.expect:
                    if answer.kind != "refused" or not _named_a_reason(answer.detail):
                        wrong.append(f"{case.raw}: {answer.kind} {answer.detail}")
                elif answer != Answer("answered", "cloud"):
                    wrong.append(f"{case.raw}: {answer.kind} {answer.detail}")
                sent = cloud.chat_requests[before:]
                if case.expect and sent:
                    wrong.append(f"{case.raw}: LEAK, {len(sent)} request(s) reached the cloud fake")
    assert not wrong, "\n".join(wrong)
    assert MARKER in sent_texts(cloud)  # the public cases did go: the fake was reachable
