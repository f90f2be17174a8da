"""What the ways in share, owned once by the library: the upload policy, status, building a
missing index and the re-index summary (fake embedder)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbot import cli
from chatbot.config import Settings
from chatbot.index import IndexNotFoundError, IndexReport
from chatbot.library import (
    MAX_UPLOAD_FILES,
    Service,
    UploadRefusedError,
    ensure_index,
    index_status,
    save_articles,
)
from tests.conftest import FakeEmbedder

GOOD = b"# Carpal tunnel\n\nCarpal tunnel syndrome compresses the median nerve at the wrist.\n"


@pytest.fixture
def lib(tmp_path: Path, corpus_copy: Path, fake: FakeEmbedder) -> Settings:
    return Settings(
        corpus_dir=corpus_copy,
        index_dir=tmp_path / "index",
        embedding_model="fake-embedder",
        reranker_model="none",
    )


def corpus_names(settings: Settings) -> list[str]:
    return sorted(p.name for p in Path(settings.corpus_dir).iterdir())


def test_an_upload_is_saved_whole(lib: Settings) -> None:
    saved = save_articles(lib, [("Carpal Tunnel.md", GOOD), ("notes.txt", b"Tingling notes.\n")])
    assert [(a.id, a.source, a.state) for a in saved] == [
        ("carpal-tunnel", "carpal-tunnel.md", "new"),
        ("notes", "notes.txt", "new"),
    ]
    assert {"carpal-tunnel.md", "notes.txt"} <= set(corpus_names(lib))


def test_an_upload_with_one_bad_file_saves_none_and_names_each_problem(lib: Settings) -> None:
    before = corpus_names(lib)
    uploads = [
        ("carpal-tunnel.md", GOOD),
        ("broken.md", b"\xff\xfe\x00binary"),
        ("Carpal Tunnel.MD", GOOD),
        ("slides.pptx", b"x"),
    ]
    with pytest.raises(UploadRefusedError) as refused:
        save_articles(lib, uploads)
    problems = refused.value.problems
    assert [i for i, _ in problems] == [1, 2, 3]
    assert problems[0][1].startswith("broken.md: ")
    assert problems[1][1] == (
        "Carpal Tunnel.MD: gives the article id 'carpal-tunnel', as carpal-tunnel.md does"
    )
    assert problems[2][1].startswith("slides.pptx: unsupported type .pptx")
    assert str(refused.value).endswith("; nothing was saved")
    assert corpus_names(lib) == before


def test_an_upload_of_too_many_files_is_refused(lib: Settings) -> None:
    uploads = [(f"a{i}.md", GOOD) for i in range(MAX_UPLOAD_FILES + 1)]
    with pytest.raises(UploadRefusedError, match=f"upload at most {MAX_UPLOAD_FILES} at once"):
        save_articles(lib, uploads)


def test_ensure_index_builds_only_when_there_is_none(lib: Settings) -> None:
    with pytest.raises(IndexNotFoundError):
        index_status(lib)
    report = ensure_index(lib)
    assert report is not None and report.articles == 5
    assert ensure_index(lib) is None
    status = index_status(lib)
    assert status.version == report.version
    assert status.articles == 5 and status.chunks == report.chunks
    assert status.article_ids == sorted(report.added)
    assert Service(lib).status() == status


def test_the_report_summary_is_the_one_every_way_in_prints() -> None:
    report = IndexReport(
        added=["a"], removed=["b"], articles=3, chunks=9, embedded_chunks=2, reused_chunks=7,
        version="v-1",
    )  # fmt: skip
    assert report.summary() == (
        "added: a\nremoved: b\n3 articles, 9 chunks (2 embedded, 7 reused) [v-1]"
    )
    assert report.summary("idx").endswith("(2 embedded, 7 reused) in idx [v-1]")


def test_cli_index_if_missing_and_status(
    lib: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHATBOT_EMBEDDING_MODEL", "fake-embedder")
    monkeypatch.setenv("CHATBOT_RERANKER_MODEL", "none")
    where = ["--corpus", str(lib.corpus_dir), "--index", str(lib.index_dir)]
    assert cli.main(["index", "--if-missing", *where]) == 0
    built = capsys.readouterr().out
    assert "5 articles," in built and f"in {lib.index_dir} [" in built
    assert cli.main(["index", "--if-missing", *where]) == 0
    out, err = capsys.readouterr()
    assert out == "" and err == f"an index is there already: {lib.index_dir}\n"
    assert cli.main(["index", "--if-missing", "--rebuild", *where]) == 2
    assert "do not go together" in capsys.readouterr().err
    assert cli.main(["status", "--json", "--index", str(lib.index_dir)]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status == index_status(lib).as_json()
