"""The privacy verdict: reasons, secret-free summaries, and document URIs."""

from __future__ import annotations

from localroute.config.models import BUILTIN_PRIVACY_GLOBS
from localroute.identity import identify
from localroute.privacy.classify import classify

GITHUB_TOKEN = "gh" + "p_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
AWS_KEY_ID = "AK" + "IA" + "Q3EGRPZ7KD2WXN5M"
GLOBS = list(BUILTIN_PRIVACY_GLOBS)


def test_glob_reason() -> None:
    verdict = classify(
        path="/ws/app/.env",
        workspace_roots=["/ws"],
        text="DEBUG=1\n",
        globs=GLOBS,
        detect_secrets=True,
    )
    assert verdict.private
    assert verdict.reasons == ("path matches privacy glob '**/.env'",)
    assert verdict.summary == "path matches privacy glob '**/.env'"


def test_secret_reason_uses_file_lines_and_never_the_secret() -> None:
    text = "\n".join(["import os", "", f'TOKEN = "{GITHUB_TOKEN}"'])
    verdict = classify(
        path="/ws/src/app.py",
        workspace_roots=["/ws"],
        text=text,
        globs=GLOBS,
        detect_secrets=True,
        first_line=10,
    )
    assert (verdict.private, verdict.reasons) == (True, ("contains a GitHub token (line 12)",))
    assert GITHUB_TOKEN not in verdict.summary
    assert GITHUB_TOKEN[4:] not in repr(verdict)


def test_article_before_vowel_kinds() -> None:
    verdict = classify(
        path=None, workspace_roots=[], text=f"k = '{AWS_KEY_ID}'", globs=GLOBS, detect_secrets=True
    )
    assert verdict.reasons == ("contains an AWS access key id (line 1)",)
    assert AWS_KEY_ID not in verdict.summary


def test_glob_reason_comes_before_secret_reasons() -> None:
    verdict = classify(
        path="/ws/secrets/conf.py",
        workspace_roots=["/ws"],
        text=f"a = 1\nk = '{AWS_KEY_ID}'\nt = '{GITHUB_TOKEN}'\n",
        globs=GLOBS,
        detect_secrets=True,
    )
    assert verdict.reasons == (
        "path matches privacy glob '**/secrets/**'",
        "contains an AWS access key id (line 2)",
        "contains a GitHub token (line 3)",
    )
    assert verdict.summary == "; ".join(verdict.reasons)


def test_detect_secrets_off_ignores_content() -> None:
    verdict = classify(
        path="/ws/src/app.py",
        workspace_roots=["/ws"],
        text=f'TOKEN = "{GITHUB_TOKEN}"',
        globs=GLOBS,
        detect_secrets=False,
    )
    assert (verdict.private, verdict.reasons) == (False, ())
    assert verdict.summary == "not private"


def test_detect_secrets_off_still_honours_globs() -> None:
    verdict = classify(
        path="/ws/id_rsa", workspace_roots=["/ws"], text="", globs=GLOBS, detect_secrets=False
    )
    assert verdict.private
    assert verdict.reasons == ("path matches privacy glob '**/id_rsa*'",)


def test_no_path_classifies_by_text_only() -> None:
    clean = classify(
        path=None, workspace_roots=["/ws"], text="print('hi')\n", globs=GLOBS, detect_secrets=True
    )
    assert not clean.private
    dirty = classify(
        path=None,
        workspace_roots=["/ws"],
        text=f"x = '{GITHUB_TOKEN}'",
        globs=GLOBS,
        detect_secrets=True,
    )
    assert dirty.reasons == ("contains a GitHub token (line 1)",)


def test_reasons_are_capped() -> None:
    text = "\n".join(f"k{i} = '{AWS_KEY_ID}'" for i in range(14))
    verdict = classify(
        path="/ws/.env", workspace_roots=["/ws"], text=text, globs=GLOBS, detect_secrets=True
    )
    assert len(verdict.reasons) == 11
    assert verdict.reasons[0] == "path matches privacy glob '**/.env'"
    assert verdict.reasons[9] == "contains an AWS access key id (line 9)"
    assert verdict.reasons[-1] == "and 5 more"


def test_notebook_cell_is_private_through_its_notebook() -> None:
    uri = "vscode-notebook-cell:/home/u/proj/secrets/analysis.ipynb#W0sZmlsZQ%3D%3D"
    verdict = classify(
        path=identify(uri).path,
        workspace_roots=["/home/u/proj"],
        text="df.head()",
        globs=GLOBS,
        detect_secrets=True,
    )
    assert verdict.reasons == ("path matches privacy glob '**/secrets/**'",)
