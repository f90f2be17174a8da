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
