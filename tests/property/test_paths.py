"""Paths and URIs on a real tree: every form a server receives gets the hand-labelled verdict.

Classification runs as the server's does: the URI through ``localroute.identity``, the
policy from the file's own place (``PolicyStore.policy_for``) and the verdict from
``Pipeline.classify``. See tests/property/tree.py for the tree and its ground truth.
"""

from __future__ import annotations

import random
from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from localroute.config.models import Config, PrivacyConfig
from localroute.identity import identify
from localroute.policy.roots import place
from localroute.privacy.classify import classify_document
from tests.property.adversarial import ADVERSARIAL, Adversarial
from tests.property.common import SEEDS, Cases, planned
from tests.property.globs_reference import instantiate, random_glob, reference_match
from tests.property.harness import Classifier
from tests.property.tree import (
    OUTSIDE_GLOBS,
    USER_GLOBS,
    Tree,
    all_globs,
    encode,
    expected,
    flip_case,
    forced_reasons,
    globs_named,
    tree_targets,
)

CONFIG = Config(privacy=PrivacyConfig(globs=list(USER_GLOBS)))


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier(CONFIG)


@planned(3000)
@given(data=st.data())
def test_path_forms_on_a_real_tree_match_the_ground_truth(
    tree: Tree, classifier: Classifier, cases: Cases, data: st.DataObject
) -> None:
    entry, target = data.draw(tree_targets(tree))
    cases(f"form: {target.form}")
    verdict = classifier.classify(target.uri, "print('hello')\n", target.folders).verdict
    want = expected(entry, target)
    context = f"{entry.rel} as {target.form}: uri={target.uri!r} folders={target.folders!r}"
    if want is None:
        return
    assert verdict.private == want.private, f"{context}: {verdict.summary}"
    named = globs_named(verdict.reasons)
    assert all(g in entry.globs for g in named), f"{context}: names {named}, not {entry.globs}"
    if want.glob_required:
        assert named, f"{context}: no glob named ({verdict.summary}); expected {entry.globs}"
    forced = forced_reasons(verdict.reasons)
    assert bool(forced) == want.rootless, f"{context}: {verdict.summary}"
    if verdict.private:
        assert verdict.localities == {"local", "private-network"}
    cases.figure("private" if verdict.private else "not private")


# --- globs made into paths, in every form ---------------------------------------------

GLOB_FORMS = (
    "absolute",
    "detour",
    "double slashes",
    "trailing slash",
    "relative",
    "relative detour",
    "backslashes",
    "case variant",
    "file uri, extra encoding",
    "file uri, localhost",
    "notebook cell",
    "untitled with a path",
)


def glob_form_uri(form: str, rel: str, rng: random.Random) -> str:
    root = "/r/ws"
    absolute = f"{root}/{rel}"
    if form == "absolute":
        return "file://" + quote(absolute)
    if form == "detour":
        return "file://" + quote(f"{root}/q/../{rel}")
    if form == "double slashes":
        return "file://" + quote(root + "/" + rel.replace("/", "//"))
    if form == "trailing slash":
        return "file://" + quote(absolute + "/")
    if form == "relative":
        return "file:" + quote(rel)
    if form == "relative detour":
        return "file:" + quote("zzz/../" + rel)
    if form == "backslashes":
        return absolute.replace("/", "\\")  # a bare Windows-style path, as some clients send
    if form == "case variant":
        return "file://" + quote(flip_case(rng, absolute))
    if form == "file uri, extra encoding":
        return rng.choice(["file://", "FILE://"]) + encode(rng, absolute, slashes=0.3)
    if form == "file uri, localhost":
        return "file://localhost" + quote(absolute)
    if form == "notebook cell":
        return "vscode-notebook-cell:" + encode(rng, absolute) + "#W0sZmlsZQ%3D%3D"
    if form == "untitled with a path":
        return "untitled:" + quote(absolute)
    raise AssertionError(form)


@planned(1200)
@given(seed=SEEDS, form=st.sampled_from(GLOB_FORMS))
def test_a_path_made_from_a_random_glob_is_private_in_every_form(
    cases: Cases, seed: int, form: str
) -> None:
    rng = random.Random(seed)
    glob = random_glob(rng)
    rel = instantiate(glob, rng)
    if not reference_match(glob, rel) or "[" in rel or "?" in rel:
        return  # unsatisfiable glob (e.g. a class that excludes every letter we use)
    cases(f"form: {form}")
    uri = glob_form_uri(form, rel, rng)
    identity = identify(uri)
    placement = place(identity.path, workspace_folders=["/r/ws"]) if identity.path else None
    verdict = classify_document(
        identity,
        "x = 1\n",
        globs=[glob],
        bases=placement.bases if placement else (),
        privacy=PrivacyConfig(),
    )
    assert globs_named(verdict.reasons) == [glob], f"{glob!r}: {rel!r} as {uri!r}: {identity}"


# --- the hand-written adversarial list ------------------------------------------------------

KNOWN_GLOBS = {*all_globs(), *OUTSIDE_GLOBS}


def test_the_adversarial_list_is_long_and_covers_both_answers() -> None:
    assert len(ADVERSARIAL) >= 40
    assert sum(a.expect for a in ADVERSARIAL) >= 30
    assert sum(not a.expect for a in ADVERSARIAL) >= 10


@pytest.mark.parametrize("case", ADVERSARIAL, ids=[a.raw for a in ADVERSARIAL])
def test_adversarial_path(tree: Tree, classifier: Classifier, case: Adversarial) -> None:
    verdict = classifier.classify(case.given(tree), "print('hello')\n", case.folders(tree)).verdict
    assert verdict.private == case.expect, f"{case.raw}: {verdict.summary} ({case.why})"
    assert set(globs_named(verdict.reasons)) <= KNOWN_GLOBS, verdict.reasons
    if case.expect:
        assert globs_named(verdict.reasons) or forced_reasons(verdict.reasons), verdict.reasons
