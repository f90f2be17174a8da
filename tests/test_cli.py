"""The ``chatbot`` command's output shapes and exit codes (fake embedder, in process)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from chatbot import cli
from tests.conftest import FakeEmbedder

HIT_KEYS = [
    "rank", "score", "chunk_id", "article_id", "title", "section", "text", "start", "end",
    "dense_score", "bm25_score", "fused_score", "rerank_score", "evidence",
]  # fmt: skip


@pytest.fixture
def fake_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeEmbedder:
    embedder = FakeEmbedder()
    monkeypatch.setattr(cli, "get_embedder", lambda *args, **kwargs: embedder)
    monkeypatch.setattr("chatbot.embedding.get_embedder", lambda *args, **kwargs: embedder)
    monkeypatch.setenv("CHATBOT_EMBEDDING_MODEL", embedder.name)
    monkeypatch.setenv("CHATBOT_RERANKER_MODEL", "none")
    return embedder


DUPIXENT = "Can Dupixent cause nerve pain?"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_index_json_shape(
    fake_cli: FakeEmbedder, corpus_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "index", "--corpus", str(corpus_copy), "--index", str(tmp_path / "i"), "--json"
    )
    assert code == 0
    result = json.loads(out)
    for key in ("added", "updated", "removed", "unchanged", "failed", "articles", "chunks"):
        assert key in result
    assert result["articles"] == 5 and len(result["added"]) == 5
    assert result["chunks"] == len(fake_cli.embedded)


def test_index_reports_failures_and_exits_non_zero(
    fake_cli: FakeEmbedder, corpus_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (corpus_copy / "broken.md").write_bytes(b"\x00\x00")
    code, out, err = run(
        capsys, "index", "--corpus", str(corpus_copy), "--index", str(tmp_path / "i"), "--json"
    )
    assert code == 1
    result = json.loads(out)
    assert result["articles"] == 5
    assert result["failed"] == [
        {
            "path": str(corpus_copy / "broken.md"),
            "error": "binary file (contains NUL bytes); articles must be text",
        }
    ]
    assert "broken.md: binary file" in err


def test_index_plain_output(
    fake_cli: FakeEmbedder, corpus_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "index", "--corpus", str(corpus_copy), "--index", str(tmp_path / "i")
    )
    assert code == 0
    assert out.startswith("added: dupixent-nerve-pain, immune-mediated-neuropathy,")
    assert "5 articles," in out


def test_search_json_status_and_stdin_batch(
    fake_cli: FakeEmbedder,
    corpus_copy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index_dir = str(tmp_path / "i")
    run(capsys, "index", "--corpus", str(corpus_copy), "--index", index_dir)

    code, out, _ = run(
        capsys, "search", "IVIG immunoglobulin plasma", "-k", "2", "--index", index_dir, "--json"
    )
    hits = json.loads(out)
    assert code == 0
    assert [list(h) for h in hits] == [HIT_KEYS, HIT_KEYS]
    assert hits[0]["article_id"] == "ivig-for-neuropathy"

    monkeypatch.setattr("sys.stdin", io.StringIO("lupus nerve pain\n\nIVIG plasma\n"))
    code, out, _ = run(capsys, "search", "-k", "1", "--index", index_dir)
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert [[h["article_id"] for h in hits] for hits in lines] == [
        ["lupus-nerve-pain"],
        [],
        ["ivig-for-neuropathy"],
    ]

    code, out, _ = run(capsys, "status", "--index", index_dir, "--json")
    status = json.loads(out)
    assert code == 0
    assert (status["articles"], status["model"]) == (5, "fake-embedder")
    assert status["chunks"] == len(fake_cli.embedded)
    assert status["built_at"].endswith("+00:00")


def test_search_refuses_huge_queries(
    fake_cli: FakeEmbedder, corpus_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index_dir = str(tmp_path / "i")
    run(capsys, "index", "--corpus", str(corpus_copy), "--index", index_dir)
    code, out, _ = run(capsys, "search", "x" * 100_000, "--index", index_dir)
    assert code == 1
    assert json.loads(out) == {"error": "query is 100000 characters; the limit is 2000"}


def test_errors_are_one_clear_line(
    fake_cli: FakeEmbedder,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, _, err = run(capsys, "search", "x", "--index", str(tmp_path / "none"))
    assert code == 2
    assert err.startswith("chatbot search: error: no index in ")
    assert "build one with `chatbot index" in err

    code, _, err = run(capsys, "index", "--corpus", str(tmp_path / "none"))
    assert (code, err.strip()) == (
        2,
        f"chatbot index: error: corpus directory {tmp_path / 'none'} does not exist",
    )

    monkeypatch.setenv("CHATBOT_SEARCH_K", "many")
    code, _, err = run(capsys, "status")
    assert code == 2
    assert "CHATBOT_SEARCH_K='many' is not a valid int" in err


@pytest.fixture
def fake_ask(fake: FakeEmbedder, monkeypatch: pytest.MonkeyPatch) -> FakeEmbedder:
    """As ``fake_cli``, with the triage detector's own model loaded for real (``ask``)."""
    monkeypatch.setattr(cli, "get_embedder", lambda *args, **kwargs: fake)
    monkeypatch.setenv("CHATBOT_EMBEDDING_MODEL", fake.name)
    monkeypatch.setenv("CHATBOT_RERANKER_MODEL", "none")
    return fake


def test_ask_json_has_an_answer_id_and_is_logged_unless_told(
    fake_ask: FakeEmbedder, corpus_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from chatbot.questionlog import QuestionLog

    index_dir = tmp_path / "i"
    run(capsys, "index", "--corpus", str(corpus_copy), "--index", str(index_dir))
    ids = []
    for _ in range(2):  # the second is served from the answer cache: its own id all the same
        code, out, _ = run(capsys, "ask", "What is IVIG?", "--index", str(index_dir), "--json")
        assert code == 0
        ids.append(json.loads(out)["answer_id"])
    assert len(set(ids)) == 2 and all(len(i) == 32 for i in ids)
    code, out, _ = run(
        capsys, "ask", "What is IVIG?", "--index", str(index_dir), "--json", "--no-log"
    )
    assert code == 0 and len(json.loads(out)["answer_id"]) == 32
    logged = QuestionLog(index_dir / "questions.sqlite3").questions()
    assert [(q.answer_id, q.question) for q in logged] == [(i, "What is IVIG?") for i in ids]


def test_gaps_json_csv_and_text(
    fake_ask: FakeEmbedder,
    corpus_copy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chatbot import gaps
    from chatbot.config import Settings
    from chatbot.library import Service

    index_dir = tmp_path / "i"
    run(capsys, "index", "--corpus", str(corpus_copy), "--index", str(index_dir))
    code, out, _ = run(capsys, "gaps", "--index", str(index_dir), "--json")
    assert code == 0
    assert json.loads(out) == {
        "since": "",
        "threshold": 0.85,
        "refused": 0,
        "gaps": [],
        "rated_down": [],
    }
    asked = ["Is ozempic good for weight loss?", "ozempic for weight loss", DUPIXENT]
    questions = "\n".join(asked) + "\n"
    monkeypatch.setattr("sys.stdin", io.StringIO(questions))
    code, out, _ = run(capsys, "ask", "--index", str(index_dir))
    answers = [json.loads(line) for line in out.splitlines()]
    assert [a["status"] for a in answers] == ["no_answer", "no_answer", "answered"]
    settings = Settings.from_env().with_overrides(index_dir=index_dir)
    Service(settings).feedback(answers[2]["answer_id"], "down", "=too short")

    csv_path = tmp_path / "gaps.csv"
    code, out, _ = run(
        capsys, "gaps", "--index", str(index_dir), "--json", "--since", "7", "--csv", str(csv_path)
    )
    assert code == 0
    report = json.loads(out)
    assert report["refused"] == 2
    assert [(g["count"], g["example"], g["queries"]) for g in report["gaps"]] == [
        (
            2,
            "ozempic for weight loss",
            ["ozempic for weight loss", "Is ozempic good for weight loss?"],
        )
    ]
    assert [(r["question"], r["comment"]) for r in report["rated_down"]] == [
        (DUPIXENT, "=too short")
    ]
    expected = Service(settings).gaps(7)
    assert report == {**expected.as_json(), "since": report["since"]}
    written = csv_path.read_bytes().decode("utf-8")
    assert written == gaps.to_csv(expected).replace(expected.since, report["since"])
    rated_at = report["rated_down"][0]["rated_at"]
    assert written.splitlines()[-1] == f"rated_down,1,{DUPIXENT},answered,'=too short,{rated_at},"

    code, out, _ = run(capsys, "gaps", "--index", str(index_dir))
    assert code == 0
    assert out.splitlines()[:3] == [
        "2 question(s) refused as not covered in the whole log, in 1 group(s):",
        f"  1. 2x  ozempic for weight loss  (last asked {report['gaps'][0]['last_asked']})",
        "       - Is ozempic good for weight loss?",
    ]
    code, _, err = run(capsys, "gaps", "--index", str(index_dir), "--since", "0")
    assert (code, err) == (2, "chatbot gaps: error: --since must be a positive number of days\n")
