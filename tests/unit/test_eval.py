"""`localroute eval`: the corpus, the scoring, cloud consent and privacy, against fake models."""

from __future__ import annotations

import argparse
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from localroute import cli
from localroute.config.models import Config, PrivacyConfig, TaskConfig, backend_config
from localroute.evaluation.command import add_parser, cloud_refusal, run_eval
from localroute.evaluation.corpus import CORPUS_DIR, LANGUAGES, Snippet, load_corpus, select
from localroute.evaluation.report import as_json, table
from localroute.evaluation.runner import EvalError, check_entries, evaluate
from localroute.evaluation.scoring import ModelScore, ShownFinding, SnippetResult, hits
from tests.fakes.openai_fake import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
CORPUS = load_corpus()
# Prompts name a file relative to its project root: the corpus folder.
BY_PATH = {s.path.relative_to(CORPUS_DIR).as_posix(): s for s in CORPUS}
_LABEL_RE = re.compile(r"of (\S+) \(")


def snippet_of(body: dict[str, Any]) -> Snippet:
    """The corpus snippet a review request is about (its path is in the prompt)."""
    user = body["messages"][-1]["content"]
    match = _LABEL_RE.search(user)
    assert match, user[:200]
    return BY_PATH[match.group(1)]


def perfect(body: dict[str, Any]) -> str:
    snippet = snippet_of(body)
    if snippet.clean:
        return '{"findings": []}'
    finding = {"line": snippet.bug_line, "severity": "error", "message": snippet.note}
    return json.dumps({"findings": [finding]})


def template_copier(body: dict[str, Any]) -> str:
    """A model that fills the answer format with its own placeholder text, on the right line."""
    line = snippet_of(body).bug_line or 1
    finding = {
        "line": line,
        "severity": "error",
        "message": "<short, concrete>",
        "suggestion": "<optional fix>",
    }
    return json.dumps({"findings": [finding]})


def first_line_nagger(body: dict[str, Any]) -> str:
    finding = {"line": 1, "severity": "warning", "message": "Add a module docstring."}
    return json.dumps({"findings": [finding]})


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(chunk_size=64) as server:
        yield server


def config_for(fake: FakeOpenAI, *, locality: str | None = None, **privacy: Any) -> Config:
    settings: dict[str, Any] = {"kind": "openai", "url": fake.url}
    if locality:
        settings["locality"] = locality
    return Config(
        backends={"fake": backend_config(**settings)},
        tasks={"review": TaskConfig(route=["fake:coder"])},
        privacy=PrivacyConfig(**privacy),
    )


async def run(fake: FakeOpenAI, answer: Callable[[dict[str, Any]], str] | str) -> ModelScore:
    if callable(answer):
        fake.answer_fn = answer
    else:
        fake.answer = answer
    [score] = await evaluate(config_for(fake), ["fake:coder"], CORPUS)
    return score


# --- the corpus ----------------------------------------------------------------------------


def test_corpus_has_thirty_seeded_bugs_in_four_languages_and_clean_controls() -> None:
    buggy = [s for s in CORPUS if not s.clean]
    assert len(buggy) >= 30
    for language in LANGUAGES:
        mine = [s for s in CORPUS if s.language == language]
        assert any(not s.clean for s in mine) and any(s.clean for s in mine), language
    kinds = {s.kind for s in buggy}
    for kind in ("off-by-one", "division by zero", "resource leak", "SQL injection"):
        assert kind in kinds
    assert {"unchecked None", "unchecked null"} <= kinds


def test_snippet_files_do_not_name_their_bug() -> None:
    for snippet in CORPUS:
        assert re.fullmatch(r"sample_\d\d\.(py|ts|go|rs)", snippet.path.name), snippet.path
        assert "bug" not in snippet.text().lower()


def test_corpus_ships_as_package_data() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["localroute"]
    for snippet in CORPUS:
        relative = snippet.path.relative_to(CORPUS_DIR.parent.parent)
        assert any(relative.match(p) for p in patterns), relative
    assert any(Path("evaluation/corpus/corpus.toml").match(p) for p in patterns)


def test_a_manifest_that_points_at_a_blank_line_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "python").mkdir()
    (tmp_path / "python" / "a.py").write_text("x = 1\n\ny = 2\n")
    (tmp_path / "corpus.toml").write_text(
        '[[snippet]]\nid = "a"\nfile = "python/a.py"\nlanguage = "python"\n'
        'kind = "off-by-one"\nbug_line = 2\n'
    )
    with pytest.raises(ValueError, match="bug_line 2 is not a line of code"):
        load_corpus(tmp_path)


def test_a_limited_selection_keeps_a_clean_control_per_language() -> None:
    chosen = select(CORPUS, limit=3)
    for language in LANGUAGES:
        mine = [s for s in chosen if s.language == language]
        assert len(mine) == 3
        assert sum(s.clean for s in mine) == 1
    assert [s.language for s in select(CORPUS, languages=["go"])] == ["go"] * sum(
        s.language == "go" for s in CORPUS
    )


# --- scoring -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "end_line", "expected"),
    [(10, 10, True), (9, 9, True), (11, 11, True), (8, 8, False), (12, 12, False),
     (8, 10, True), (5, 12, False), (10, 40, True)],
)  # fmt: skip
def test_a_finding_hits_within_one_line(line: int, end_line: int, expected: bool) -> None:
    assert hits(ShownFinding(line, end_line, "error", "m"), 10) is expected


def test_free_text_never_hits() -> None:
    assert not hits(ShownFinding(10, 10, "info", "the bug is here", unstructured=True), 10)


async def test_a_perfect_model_finds_every_bug_and_flags_no_clean_snippet(
    fake: FakeOpenAI,
) -> None:
    score = await run(fake, perfect)
    assert score.buggy == sum(not s.clean for s in CORPUS)
    assert score.found == score.buggy and score.recall == 1.0
    assert score.false_findings == 0 and score.clean_flagged == 0
    assert score.count("invalid") == score.count("failed") == 0
    assert score.copied == 0
    assert score.median_latency_s is not None
    assert score.prompt_tokens > 0 and score.completion_tokens > 0
    assert len(fake.chat_requests) == len(CORPUS)
    # Every snippet went with its language and the findings schema.
    languages = {s.language for s in CORPUS}
    assert all(lang in json.dumps([r.json for r in fake.chat_requests]) for lang in languages)


async def test_a_model_answering_prose_scores_nothing_and_is_invalid(fake: FakeOpenAI) -> None:
    score = await run(fake, "I am not able to review code, sorry.")
    assert score.found == 0 and score.recall == 0.0
    assert score.count("invalid") == len(CORPUS)
    assert score.false_findings == 0  # free text is no placed finding


async def test_a_model_answering_nothing_finds_nothing(fake: FakeOpenAI) -> None:
    score = await run(fake, '{"findings": []}')
    assert score.recall == 0.0 and score.false_findings == 0
    assert score.count("answered") == len(CORPUS)


async def test_a_model_that_flags_everything_scores_false_findings(fake: FakeOpenAI) -> None:
    score = await run(fake, first_line_nagger)
    assert score.false_findings == score.clean == sum(s.clean for s in CORPUS)
    assert score.clean_flagged == score.clean
    # Line 1 is within one line of a seeded bug only where the bug is on line 1 or 2.
    assert score.found == sum(1 for s in CORPUS if s.bug_line in (1, 2))


async def test_template_text_on_the_right_line_is_not_a_found_bug(fake: FakeOpenAI) -> None:
    score = await run(fake, template_copier)
    assert score.found == 0
    assert score.copied == 0  # dropped by the parser, so nothing copied was shown


async def test_a_backend_that_is_down_counts_as_failed(fake: FakeOpenAI) -> None:
    fake.close()
    [score] = await evaluate(config_for(fake), ["fake:coder"], CORPUS[:3])
    assert score.count("failed") == 3 and score.found == 0
    assert score.median_latency_s is None
    assert "fake:coder" in score.results[0].detail


# --- privacy and cloud consent -------------------------------------------------------------


async def test_private_snippets_never_reach_a_cloud_backend(fake: FakeOpenAI) -> None:
    fake.answer_fn = perfect
    config = config_for(fake, locality="cloud", globs=["**/*.py"])
    [score] = await evaluate(config, ["fake:coder"], CORPUS)
    python = [r for r in score.results if r.snippet.startswith("py-")]
    assert python and all(r.status == "refused" for r in python)
    sent = [snippet_of(r.json) for r in fake.chat_requests]
    assert sent and all(s.language != "python" for s in sent)


def test_entries_must_name_configured_backends(fake: FakeOpenAI) -> None:
    config = config_for(fake)
    with pytest.raises(EvalError, match="no backend named 'homelab'"):
        check_entries(config, ["homelab:qwen3-coder:30b"])
    with pytest.raises(EvalError, match="not 'backend:model'"):
        check_entries(config, ["fake"])
    with pytest.raises(EvalError, match="at least one"):
        check_entries(config, [])
    assert check_entries(config, ["fake:a:b", "fake:a:b"]) == ["fake:a:b"]


def test_cloud_refusal() -> None:
    asked: list[str] = []

    def ask(answer: str) -> Callable[[str], str]:
        def inner(question: str) -> str:
            asked.append(question)
            return answer

        return inner

    assert cloud_refusal([], count=3, allow_cloud=False, interactive=False) is None
    assert cloud_refusal(["copilot"], count=3, allow_cloud=True, interactive=False) is None
    refusal = cloud_refusal(["copilot"], count=3, allow_cloud=False, interactive=False)
    assert refusal is not None and "--allow-cloud" in refusal and "copilot" in refusal
    assert cloud_refusal(["copilot", "openai"], count=3, allow_cloud=False, interactive=True,
                         ask=ask("y")) is None  # fmt: skip
    assert "copilot, openai" in asked[-1] and "3 snippets" in asked[-1]
    assert cloud_refusal(["copilot"], count=3, allow_cloud=False, interactive=True, ask=ask(""))
    assert cloud_refusal(["copilot"], count=3, allow_cloud=False, interactive=True, ask=ask("no"))


class _Loaded:
    def __init__(self, config: Config) -> None:
        self.config = config


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["eval", *argv])


def test_without_a_terminal_cloud_use_needs_allow_cloud(
    fake: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.answer_fn = perfect
    loaded = _Loaded(config_for(fake, locality="cloud"))
    code = run_eval(_args("fake:coder", "--limit", "1"), loaded, interactive=False)
    assert code == 2
    assert "fake is a cloud backend" in capsys.readouterr().err
    assert fake.chat_requests == []

    code = run_eval(_args("fake:coder", "--limit", "1", "--allow-cloud"), loaded, interactive=False)
    assert code == 0
    assert len(fake.chat_requests) == len(LANGUAGES)


def test_on_a_terminal_cloud_use_is_confirmed(
    fake: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.answer_fn = perfect
    loaded = _Loaded(config_for(fake, locality="cloud"))
    questions: list[str] = []

    def decline(question: str) -> str:
        questions.append(question)
        return "n"

    assert run_eval(_args("fake:coder", "--limit", "1"), loaded, ask=decline, interactive=True) == 2
    assert "fake" in questions[0] and fake.chat_requests == []
    assert "nothing was sent" in capsys.readouterr().err


def test_local_entries_run_without_asking(fake: FakeOpenAI) -> None:
    fake.answer_fn = perfect

    def never(question: str) -> str:
        raise AssertionError("asked about a local backend")

    loaded = _Loaded(config_for(fake))
    assert run_eval(_args("fake:coder", "--limit", "1", "--quiet"), loaded, ask=never) == 0


# --- output --------------------------------------------------------------------------------


def test_the_command_line_prints_json(
    fake: FakeOpenAI,
    tmp_path: Path,
    isolated_environ: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake.answer_fn = perfect
    isolated_environ.write_text(
        f'[backends.fake]\nkind = "openai"\nurl = "{fake.url}"\n'
        '[tasks.review]\nroute = ["fake:coder"]\n'
    )
    monkeypatch.chdir(tmp_path)
    output = tmp_path / "eval.json"
    argv = ["eval", "fake:coder", "--language", "rust", "--format", "json", "--output", str(output)]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert json.loads(output.read_text()) == document
    [model] = document["models"]
    assert model["entry"] == "fake:coder" and model["recall"] == 1.0
    assert model["snippets"] == sum(s.language == "rust" for s in CORPUS)
    assert all(r["found"] for r in model["results"] if r["bug_line"] is not None)
    assert "[fake:coder] rs-total: found" in captured.err
    # The evaluation's requests are audited like any other.
    audit = (tmp_path / "state" / "localroute" / "audit.jsonl").read_text().splitlines()
    assert len(audit) == model["snippets"]


def test_table_lists_each_model_with_its_scores() -> None:
    found = SnippetResult("a", 3, "answered", (ShownFinding(3, 3, "error", "m"),), 2.0, 100, 20)
    missed = SnippetResult("b", 5, "invalid", (ShownFinding(1, 1, "info", "x", unstructured=True),),
                           4.0, 90, 30)  # fmt: skip
    clean = SnippetResult("c", None, "answered", (ShownFinding(2, 2, "warning", "m"),), 3.0)
    down = SnippetResult("d", 7, "failed", detail="down")
    text = table([ModelScore("local:coder", (found, missed, clean, down))])
    header, rule, row = text.splitlines()[:3]
    assert header.split()[0] == "model" and set(rule) <= {"-", " "}
    assert row.split() == ["local:coder", "1/3", "33", "%", "1", "(1/1)", "1", "1", "0", "3.0",
                           "190/50"]  # fmt: skip
    document = as_json([ModelScore("m", (found,))], CORPUS[:1])
    assert document["models"][0]["results"][0]["found"] is True
