"""The article library: checked uploads, deletes, listing, re-index with progress, the live
service and the article filter of search (fake embedder, real code, temporary folders)."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from chatbot import library
from chatbot.config import Settings
from chatbot.index import (
    IndexMismatchError,
    IndexNotFoundError,
    IndexUnusableError,
    current_version,
    load_index,
)
from chatbot.index.updating import _EMBED_STEP
from chatbot.library import (
    ArticleInfo,
    ArticleNotFoundError,
    LibraryError,
    Service,
    article_id_for,
    delete_article,
    list_articles,
    reindex,
    save_article,
)
from chatbot.retrieval import Hit, Retriever
from tests.conftest import FakeEmbedder, RecordingReranker

UPLOADS = ".md, .txt, .html, .pdf, .docx"
SMALL = {
    "ivig.md": b"# IVIG\n\n## Source\n\nIVIG is made from pooled plasma of donors.\n\n"
    b"## Side effects\n\nIVIG can cause headache and fever after infusion.\n",
    "lupus.md": b"---\ntitle: Lupus and Nerves\npublisher: Rheum Weekly\n---\n# Lupus\n\n"
    b"## Nerves\n\nLupus can damage nerves and cause burning pain.\n\n"
    b"## Treatment\n\nLupus nerve pain is treated with steroids and gabapentin.\n",
    "dupixent.txt": b"Dupixent\n\nDupixent rarely causes numbness; report numbness at once.\n",
    "egpa.html": b"<html><head><title>EGPA</title></head><body><h1>EGPA</h1>"
    b"<p>EGPA is a rare vasculitis that can injure nerves.</p></body></html>",
}
GOUT = b"# Gout and Nerves\n\nGout crystals can press on the tarsal tunnel nerves.\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every entry under ``folder`` (hidden ones too): file bytes, ``None`` for folders."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, data in SMALL.items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture
def lib(tmp_path: Path, corpus: Path, fake: FakeEmbedder) -> Settings:
    # Without a reranker the evidence comes from the dense score: calibrated for the fake.
    return Settings(
        corpus_dir=corpus,
        index_dir=tmp_path / "index",
        embedding_model="fake-embedder",
        reranker_model="none",
        evidence_dense_scale=20.0,
        evidence_dense_shift=-6.0,
    )


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The folder where uploads are probed (``tempfile``'s default), to see it cleaned."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def count_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The index versions ``Retriever.from_settings`` loads, in order."""
    loads: list[str] = []
    original = Retriever.from_settings.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Retriever], settings: Settings) -> Retriever:
        retriever = original(cls, settings)
        loads.append(retriever.index.version)
        return retriever

    monkeypatch.setattr(Retriever, "from_settings", classmethod(counting))
    return loads


# ---------------------------------------------------------------------- article ids


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("../../etc/passwd.md", ("passwd", ".md")),
        (r"C:\x\y.md", ("y", ".md")),
        ("../../etc/My Lupus Notes.MD", ("my-lupus-notes", ".md")),
        ("  IVIG   Side-Effects (2024).txt ", ("ivig-side-effects-2024", ".txt")),
        ("/abs/dir/Notes_1.Txt", ("notes_1", ".txt")),
        ("report.final.v2.html", ("report.final.v2", ".html")),
        (".hidden.md", ("hidden", ".md")),
        ("--_.Dupixent._--.md", ("dupixent", ".md")),
        ("Café au lait.md", ("caf-au-lait", ".md")),
        ("a" * 300 + ".md", ("a" * 100, ".md")),
    ],
)
def test_article_id_keeps_only_a_slug_of_the_last_name_part(
    filename: str, expected: tuple[str, str]
) -> None:
    assert article_id_for(filename) == expected


@pytest.mark.parametrize(
    ("filename", "message"),
    [
        ("paper.doc", f"paper.doc: unsupported type .doc; upload {UPLOADS} files"),
        ("README", f"README: unsupported type (none); upload {UPLOADS} files"),
        ("setup.EXE", f"setup.EXE: unsupported type .exe; upload {UPLOADS} files"),
        ("../../evil.sh", f"evil.sh: unsupported type .sh; upload {UPLOADS} files"),
        ("notes.markdown", f"notes.markdown: unsupported type .markdown; upload {UPLOADS} files"),
        ("", f"the file: unsupported type (none); upload {UPLOADS} files"),
        ("uploads/", f"the file: unsupported type (none); upload {UPLOADS} files"),
        (".md", ".md: the file name gives no usable article id; rename it"),
        ("!!!.txt", "!!!.txt: the file name gives no usable article id; rename it"),
        ("../---.md", "---.md: the file name gives no usable article id; rename it"),
        ("日本語.html", "日本語.html: the file name gives no usable article id; rename it"),
    ],
)
def test_article_id_refuses_other_types_and_empty_slugs(filename: str, message: str) -> None:
    with pytest.raises(LibraryError) as caught:
        article_id_for(filename)
    assert str(caught.value) == message


# ---------------------------------------------------------------------- saving


def test_save_writes_the_exact_bytes_under_a_server_side_name(
    lib: Settings, tmp_path: Path, scratch: Path
) -> None:
    data = b"---\npublisher: Foot Clinic\n---\n# Gout and Nerves\r\n\r\nGout presses on nerves.\r\n"
    info = save_article(lib, "../../uploads/Gout Notes.MD", data)
    assert info == ArticleInfo(
        id="gout-notes",
        title="Gout and Nerves",
        source="gout-notes.md",
        publisher="Foot Clinic",
        chunks=0,
        sha256=sha(data),
        indexed_at="",
        state="new",
    )
    assert (lib.corpus_dir / "gout-notes.md").read_bytes() == data
    assert sorted(p.name for p in lib.corpus_dir.iterdir()) == sorted([*SMALL, "gout-notes.md"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus", "scratch"]
    assert list(scratch.iterdir()) == []
    assert info.as_json() == {
        "id": "gout-notes",
        "title": "Gout and Nerves",
        "source": "gout-notes.md",
        "publisher": "Foot Clinic",
        "chunks": 0,
        "sha256": sha(data),
        "indexed_at": "",
        "state": "new",
        "error": "",
        "source_url": "",
        "published": "",
        "reviewed": "",
        "stale": False,
    }


def test_save_accepts_a_file_of_exactly_the_limit_and_not_one_byte_more(lib: Settings) -> None:
    data = GOUT
    limit = lib.with_overrides(max_file_bytes=len(data))
    before = snapshot(lib.corpus_dir)
    with pytest.raises(LibraryError) as caught:
        save_article(limit, "gout.md", data + b"!")
    assert str(caught.value) == (
        f"gout.md: {len(data) + 1} bytes is over the {len(data)}-byte limit "
        "(CHATBOT_MAX_FILE_BYTES)"
    )
    assert snapshot(lib.corpus_dir) == before
    info = save_article(limit, "gout.md", data)
    assert (info.id, info.sha256) == ("gout", sha(data))
    assert (lib.corpus_dir / "gout.md").read_bytes() == data


@pytest.mark.parametrize(
    ("filename", "data", "reason"),
    [
        (
            "big.md",
            b"# Big\n\n" + b"a" * 1_493,
            "1,500 bytes is over the 1,000-byte limit (CHATBOT_MAX_FILE_BYTES)",
        ),
        ("empty.md", b"", "empty: the file has no article text"),
        ("../secret/blank.txt", b"  \n\n\t\n", "empty: the file has no article text"),
        ("meta-only.md", b"---\ntitle: Notes\n---\n", "empty: the file has no article text"),
        (
            "scan.md",
            b"%PDF-1.4\x00\x01\x02",
            "binary file (contains NUL bytes); articles must be text",
        ),
        ("noise.txt", b"\x01" * 20 + b"text", "looks binary (20 control characters); not text"),
        (
            "latin1.txt",
            b"caf\xe9 au lait",
            "not valid UTF-8 (byte 0xe9 at offset 3); save the file as UTF-8",
        ),
        (
            "open.md",
            b"---\ntitle: Notes\n\nBody text.\n",
            "front matter opened with '---' on line 1 is never closed",
        ),
        (
            "yaml.md",
            b"---\ntitle: [unclosed\n---\nBody.\n",
            "front matter is not valid YAML at line 3: expected ',' or ']', but got '<stream end>'",
        ),
        (
            "list.md",
            b"---\n- a\n- b\n---\nBody.\n",
            "front matter must be a mapping of 'key: value' lines",
        ),
        (
            "number.md",
            b"---\ntitle: 42\n---\nBody.\n",
            "front matter field 'title' must be a string",
        ),
        # A bad replacement of an existing article leaves the old file in place.
        ("IVIG.md", b"", "empty: the file has no article text"),
        ("Lupus.txt", b"\xff\xfe\x00", "binary file (contains NUL bytes); articles must be text"),
    ],
)
def test_save_refuses_unusable_files_and_leaves_the_corpus_as_it_was(
    lib: Settings, scratch: Path, filename: str, data: bytes, reason: str
) -> None:
    before = snapshot(lib.corpus_dir)
    with pytest.raises(LibraryError) as caught:
        save_article(lib.with_overrides(max_file_bytes=1_000), filename, data)
    assert str(caught.value) == f"{filename}: {reason}"
    assert snapshot(lib.corpus_dir) == before
    assert list(scratch.iterdir()) == []


def test_save_refuses_an_unsupported_name_before_writing(lib: Settings, scratch: Path) -> None:
    before = snapshot(lib.corpus_dir)
    with pytest.raises(LibraryError, match=r"^paper\.rtf: unsupported type \.rtf; upload"):
        save_article(lib, "paper.rtf", GOUT)
    assert snapshot(lib.corpus_dir) == before
    assert list(scratch.iterdir()) == []


def test_a_failed_write_leaves_no_staging_file(
    lib: Settings, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = snapshot(lib.corpus_dir)

    def no_space(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(library.os, "replace", no_space)
    with pytest.raises(OSError, match="No space left on device"):
        save_article(lib, "ivig.md", GOUT)
    monkeypatch.undo()
    assert snapshot(lib.corpus_dir) == before  # no .upload-* left, ivig.md as it was
    assert list(scratch.iterdir()) == []


def test_replacing_an_article_removes_its_files_with_other_suffixes(lib: Settings) -> None:
    corpus = lib.corpus_dir
    (corpus / "ivig.htm").write_bytes(b"<p>Old IVIG page.</p>")
    (corpus / "ivig.json").write_bytes(b"{}")  # not an article: left alone
    others = {n: d for n, d in snapshot(corpus).items() if not n.startswith("ivig.")}
    text = b"IVIG Notes\n\nIVIG is given by infusion.\n"
    info = save_article(lib, "IVIG.TXT", text)
    assert (info.id, info.source, info.title) == ("ivig", "ivig.txt", "IVIG Notes")
    after = snapshot(corpus)
    assert after == {**others, "ivig.json": b"{}", "ivig.txt": text}
    # The same name again replaces the bytes in place.
    save_article(lib, "ivig.txt", GOUT)
    assert snapshot(corpus) == {**others, "ivig.json": b"{}", "ivig.txt": GOUT}


def test_save_creates_a_missing_corpus_folder(lib: Settings, tmp_path: Path) -> None:
    settings = lib.with_overrides(corpus_dir=tmp_path / "new" / "corpus")
    save_article(settings, "gout.md", GOUT)
    assert snapshot(tmp_path / "new") == {"corpus": None, "corpus/gout.md": GOUT}


def test_save_and_delete_leave_the_live_index_alone(lib: Settings) -> None:
    reindex(lib)
    before = snapshot(lib.index_dir)
    live = current_version(lib.index_dir)
    save_article(lib, "gout.md", GOUT)
    save_article(lib, "lupus.md", SMALL["lupus.md"] + b"\nLupus fatigue is common.\n")
    delete_article(lib, "ivig")
    assert snapshot(lib.index_dir) == before
    assert current_version(lib.index_dir) == live
    states = {a.id: a.state for a in list_articles(lib)}
    assert states == {
        "dupixent": "indexed",
        "egpa": "indexed",
        "gout": "new",
        "ivig": "deleted",
        "lupus": "changed",
    }


# ---------------------------------------------------------------------- deleting


def test_delete_removes_every_file_of_the_article(lib: Settings) -> None:
    corpus = lib.corpus_dir
    (corpus / "lupus.htm").write_bytes(b"<p>Lupus.</p>")
    (corpus / "lupus.TXT").write_bytes(b"Lupus.")
    (corpus / "lupus.json").write_bytes(b"{}")
    before = snapshot(corpus)
    assert delete_article(lib, "lupus") == ["lupus.TXT", "lupus.htm", "lupus.md"]
    expected = {n: d for n, d in before.items() if n not in {"lupus.TXT", "lupus.htm", "lupus.md"}}
    assert snapshot(corpus) == expected
    assert delete_article(lib, "dupixent") == ["dupixent.txt"]
    assert not (corpus / "dupixent.txt").exists()


@pytest.mark.parametrize(
    "article_id",
    [
        "nope",
        "../x",
        "",
        "a/b",
        "../corpus/ivig",
        "/etc/passwd",
        ".hidden",
        "ivig.md",
        "IVIG",
        "notes",
        "x\n",
        " ivig",
    ],
)
def test_delete_of_an_unknown_or_malformed_id_touches_nothing(
    lib: Settings, tmp_path: Path, article_id: str
) -> None:
    (tmp_path / "x.md").write_bytes(b"# Outside\n\nNot in the corpus.\n")
    (lib.corpus_dir / ".hidden.md").write_bytes(b"# Hidden\n\nIgnored.\n")
    (lib.corpus_dir / "notes.json").write_bytes(b"{}")
    before = snapshot(tmp_path)
    with pytest.raises(ArticleNotFoundError) as caught:
        delete_article(lib, article_id)
    assert str(caught.value) == f"no article {article_id!r} in the corpus"
    assert isinstance(caught.value, LibraryError)
    assert snapshot(tmp_path) == before


# ---------------------------------------------------------------------- listing


def test_list_without_an_index_shows_every_file_as_new(lib: Settings) -> None:
    assert list_articles(lib) == [
        ArticleInfo("dupixent", "Dupixent", "dupixent.txt", "", 0, sha(SMALL["dupixent.txt"]),
                    "", "new"),
        ArticleInfo("egpa", "EGPA", "egpa.html", "", 0, sha(SMALL["egpa.html"]), "", "new"),
        ArticleInfo("ivig", "IVIG", "ivig.md", "", 0, sha(SMALL["ivig.md"]), "", "new"),
        ArticleInfo("lupus", "Lupus and Nerves", "lupus.md", "Rheum Weekly", 0,
                    sha(SMALL["lupus.md"]), "", "new"),
    ]  # fmt: skip


def test_list_states_follow_the_corpus_edits_exactly(lib: Settings) -> None:
    reindex(lib)
    index = load_index(lib.index_dir)
    chunks = {a: len(r.chunk_ids) for a, r in index.articles.items()}
    at = {a: r.indexed_at for a, r in index.articles.items()}
    assert all(chunks.values())

    def indexed(article_id: str, title: str, source: str, publisher: str = "") -> ArticleInfo:
        return ArticleInfo(
            article_id,
            title,
            source,
            publisher,
            chunks[article_id],
            sha(SMALL[source]),
            at[article_id],
            "indexed",
        )

    everything = [
        indexed("dupixent", "Dupixent", "dupixent.txt"),
        indexed("egpa", "EGPA", "egpa.html"),
        indexed("ivig", "IVIG", "ivig.md"),
        indexed("lupus", "Lupus and Nerves", "lupus.md", "Rheum Weekly"),
    ]
    assert list_articles(lib) == everything

    corpus = lib.corpus_dir
    (corpus / "ivig.md").unlink()
    lupus = SMALL["lupus.md"].replace(b"Lupus and Nerves", b"Lupus and the Nerves")
    (corpus / "lupus.md").write_bytes(lupus)
    (corpus / "dupixent.txt").write_bytes(b"\xff\xfe\x00garbage")
    (corpus / "broken.md").write_bytes(b"caf\xe9")
    (corpus / "gout.md").write_bytes(GOUT)
    (corpus / ".upload-x-1-2").write_bytes(b"ignored")
    nul = "binary file (contains NUL bytes); articles must be text"
    utf8 = "not valid UTF-8 (byte 0xe9 at offset 3); save the file as UTF-8"
    pending = [
        ArticleInfo("broken", "broken", "broken.md", "", 0, sha(b"caf\xe9"), "", "failed", utf8),
        ArticleInfo("dupixent", "Dupixent", "dupixent.txt", "", chunks["dupixent"],
                    sha(b"\xff\xfe\x00garbage"), at["dupixent"], "failed", nul),
        indexed("egpa", "EGPA", "egpa.html"),
        ArticleInfo("gout", "Gout and Nerves", "gout.md", "", 0, sha(GOUT), "", "new"),
        ArticleInfo("ivig", "IVIG", "ivig.md", "", chunks["ivig"], sha(SMALL["ivig.md"]),
                    at["ivig"], "deleted"),
        ArticleInfo("lupus", "Lupus and the Nerves", "lupus.md", "Rheum Weekly",
                    chunks["lupus"], sha(lupus), at["lupus"], "changed"),
    ]  # fmt: skip
    assert list_articles(lib) == pending

    # After a re-index only the files that do not load wait; the broken article keeps what
    # was indexed of it.
    report = reindex(lib)
    assert (report.added, report.updated, report.removed) == (["gout"], ["lupus"], ["ivig"])
    assert report.kept_previous == ["dupixent"]
    index = load_index(lib.index_dir)
    after = list_articles(lib)
    assert [(a.id, a.state) for a in after] == [
        ("broken", "failed"),
        ("dupixent", "failed"),
        ("egpa", "indexed"),
        ("gout", "indexed"),
        ("lupus", "indexed"),
    ]
    by_id = {a.id: a for a in after}
    assert by_id["dupixent"] == pending[1]
    assert by_id["lupus"].sha256 == sha(lupus) == index.articles["lupus"].sha256
    assert by_id["lupus"].indexed_at == index.articles["lupus"].indexed_at
    assert by_id["gout"].chunks == len(index.articles["gout"].chunk_ids) > 0


def test_list_with_the_corpus_folder_gone_shows_indexed_articles_as_deleted(
    lib: Settings, tmp_path: Path
) -> None:
    reindex(lib)
    states = [(a.id, a.state) for a in list_articles(lib.with_overrides(corpus_dir=tmp_path / "x"))]
    assert states == [("dupixent", "deleted"), ("egpa", "deleted"), ("ivig", "deleted"),
                      ("lupus", "deleted")]  # fmt: skip


# ---------------------------------------------------------------------- re-indexing


def test_reindex_reports_progress_stage_by_stage(lib: Settings, fake: FakeEmbedder) -> None:
    calls: list[tuple[str, int, int]] = []
    report = reindex(lib, progress=lambda *call: calls.append(call))
    chunks = report.chunks
    assert 0 < chunks < _EMBED_STEP
    assert (report.embedded_chunks, report.articles) == (chunks, 4)
    assert report.added == ["dupixent", "egpa", "ivig", "lupus"]
    assert calls == [
        ("chunking", 0, 4),
        ("chunking", 1, 4),
        ("chunking", 2, 4),
        ("chunking", 3, 4),
        ("chunking", 4, 4),
        ("embedding", 0, chunks),
        ("embedding", chunks, chunks),
        ("writing", 0, 1),
        ("writing", 1, 1),
    ]
    assert report.version == current_version(lib.index_dir).name
    assert len(fake.embedded) == chunks

    # Nothing changed: nothing is embedded or written, and the version stays.
    calls.clear()
    again = reindex(lib, progress=lambda *call: calls.append(call))
    assert again.version == report.version
    assert calls == [*(("chunking", n, 4) for n in range(5)), ("embedding", 0, 0)]
    assert len(fake.embedded) == chunks


def test_reindex_progress_steps_through_a_large_embedding(
    lib: Settings, fake: FakeEmbedder
) -> None:
    reindex(lib)
    sections = "\n\n".join(
        f"## Part {n}\n\nPart {n} of the guide explains nerve topic number {n}." for n in range(80)
    )
    (lib.corpus_dir / "guide.md").write_text(f"# Nerve Guide\n\n{sections}\n")
    fake.calls.clear()
    calls: list[tuple[str, int, int]] = []
    report = reindex(lib, progress=lambda *call: calls.append(call))
    todo = report.embedded_chunks
    assert report.added == ["guide"]
    assert todo == len(load_index(lib.index_dir).articles["guide"].chunk_ids) > _EMBED_STEP
    steps = list(range(0, todo, _EMBED_STEP))
    assert calls == [
        *(("chunking", n, 5) for n in range(6)),
        *(("embedding", done, todo) for done in steps),
        ("embedding", todo, todo),
        ("writing", 0, 1),
        ("writing", 1, 1),
    ]
    assert [len(call) for call in fake.calls] == [min(_EMBED_STEP, todo - s) for s in steps]
    assert all(text.startswith("Nerve Guide > Part ") for text in fake.embedded)


def test_a_failed_reindex_leaves_the_live_index(lib: Settings) -> None:
    first = reindex(lib)
    before = snapshot(lib.index_dir)
    for path in lib.corpus_dir.iterdir():
        path.unlink()
    calls: list[tuple[str, int, int]] = []
    with pytest.raises(IndexUnusableError, match=r"refusing to remove all 4 indexed articles"):
        reindex(lib, progress=lambda *call: calls.append(call))
    assert calls == []
    assert snapshot(lib.index_dir) == before
    assert current_version(lib.index_dir).name == first.version
    assert [a.state for a in list_articles(lib)] == ["deleted"] * 4
    # With rebuild the library may be emptied.
    emptied = reindex(lib, rebuild=True)
    assert (emptied.articles, emptied.removed) == (0, ["dupixent", "egpa", "ivig", "lupus"])
    assert list_articles(lib) == []


def test_a_reindex_stopped_by_its_progress_callback_changes_nothing(lib: Settings) -> None:
    first = reindex(lib)
    before = snapshot(lib.index_dir)
    (lib.corpus_dir / "gout.md").write_bytes(GOUT)

    def stop(stage: str, done: int, total: int) -> None:
        if stage == "embedding":
            raise RuntimeError("stopped by the caller")

    with pytest.raises(RuntimeError, match="stopped by the caller"):
        reindex(lib, progress=stop)
    assert snapshot(lib.index_dir) == before
    assert current_version(lib.index_dir).name == first.version
    # The writer lock was released: the next re-index goes through.
    report = reindex(lib)
    assert report.added == ["gout"]
    assert current_version(lib.index_dir).name == report.version != first.version


def test_reindex_of_a_missing_corpus_folder_changes_nothing(lib: Settings, tmp_path: Path) -> None:
    reindex(lib)
    before = snapshot(lib.index_dir)
    missing = tmp_path / "missing"
    with pytest.raises(FileNotFoundError) as caught:
        reindex(lib.with_overrides(corpus_dir=missing))
    assert str(caught.value) == f"corpus directory {missing} does not exist"
    assert snapshot(lib.index_dir) == before


# ---------------------------------------------------------------------- the service


def test_service_needs_an_index_and_loads_the_one_it_builds(
    lib: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads = count_loads(monkeypatch)
    service = Service(lib)
    with pytest.raises(IndexNotFoundError):
        service.search("lupus")
    report = service.reindex()
    assert loads == [report.version]  # loaded by the re-index, not on the next question
    assert service.version == report.version == current_version(lib.index_dir).name
    assert service.search("lupus nerve pain", k=1)[0].article_id == "lupus"
    assert loads == [report.version]


def test_service_loads_once_and_answers_from_the_live_version(
    lib: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = reindex(lib)
    loads = count_loads(monkeypatch)
    service = Service(lib)
    answer = service.ask("What is IVIG made from? pooled plasma donors")
    assert answer.status == "answered"
    assert answer.citations[0].article_id == "ivig"
    assert answer.citations[0].quote == "IVIG is made from pooled plasma of donors."
    hits = service.search("lupus steroids gabapentin")
    assert len(hits) == lib.search_k
    assert hits[0].article_id == "lupus"
    assert service.version == first.version
    # Re-indexing an unchanged corpus keeps the version: no reload.
    assert service.reindex().version == first.version
    assert loads == [first.version]


def test_service_follows_a_reindex_done_elsewhere(
    lib: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = reindex(lib)
    loads = count_loads(monkeypatch)
    service = Service(lib)
    query = "gout crystals tarsal tunnel"
    assert service.version == first.version
    assert service.search(query, articles=["gout"]) == []

    save_article(lib, "gout.md", GOUT)
    assert service.version == first.version  # saving alone changes nothing live
    second = reindex(lib)  # as another process would: not through the service
    assert service.version == second.version != first.version
    hits = service.search(query, k=3, articles=["gout"])
    assert [h.article_id for h in hits] == ["gout"]
    assert hits[0].text == "Gout crystals can press on the tarsal tunnel nerves."
    assert service.search(query, k=1)[0].article_id == "gout"
    answer = service.ask("Can gout crystals press on the tarsal tunnel nerves?")
    assert (answer.status, answer.citations[0].article_id) == ("answered", "gout")
    assert loads == [first.version, second.version]

    delete_article(lib, "gout")
    third = reindex(lib)
    assert service.search(query, k=3, articles=["gout"]) == []
    assert "gout" not in {h.article_id for h in service.search(query, k=10)}
    assert loads == [first.version, second.version, third.version]


def test_service_records_the_version_it_loaded_not_the_one_it_saw(
    lib: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = reindex(lib)
    save_article(lib, "gout.md", GOUT)
    loads: list[str] = []
    original = Retriever.from_settings.__func__  # type: ignore[attr-defined]

    def reindexed_meanwhile(cls: type[Retriever], settings: Settings) -> Retriever:
        # Another process switches the index between the service's look at CURRENT and
        # its load: the service must know it holds the newer version.
        if not loads:
            reindex(settings)
        retriever = original(cls, settings)
        loads.append(retriever.index.version)
        return retriever

    monkeypatch.setattr(Retriever, "from_settings", classmethod(reindexed_meanwhile))
    service = Service(lib)
    assert service.search("gout crystals", k=1)[0].article_id == "gout"
    second = current_version(lib.index_dir).name
    assert second != first.version
    assert service.version == second
    assert loads == [second]


def test_service_refuses_an_index_of_another_model(lib: Settings) -> None:
    reindex(lib)
    service = Service(lib.with_overrides(embedding_model="other-model"))
    with pytest.raises(IndexMismatchError, match="built with the embedding model 'fake-embedder'"):
        service.search("lupus")


def _chunk_map(settings: Settings) -> dict[str, tuple[str, str, str, str, int, int]]:
    index = load_index(settings.index_dir)
    return {
        c.id: (c.article_id, index.articles[c.article_id].title, c.section, c.text, c.start, c.end)
        for c in index.chunks
    }


def _seen(hits: Sequence[Hit]) -> dict[str, tuple[str, str, str, str, int, int]]:
    return {h.chunk_id: (h.article_id, h.title, h.section, h.text, h.start, h.end) for h in hits}


def test_threads_searching_through_a_reindex_see_whole_versions(
    lib: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads_n = 8
    reindex(lib)
    old = _chunk_map(lib)
    loads = count_loads(monkeypatch)
    service = Service(lib)
    first = service.version
    # Changing an article changes its chunk ids: a mixed result would show both.
    path = lib.corpus_dir / "lupus.md"
    path.write_bytes(path.read_bytes().replace(b"steroids", b"corticosteroids"))
    query = "lupus nerve pain steroids gabapentin plasma numbness"
    k = 20  # more than the chunks: a result from a whole version holds all of its chunks

    results: list[list[tuple[bool, dict[str, tuple[str, str, str, str, int, int]]]]] = [
        [] for _ in range(threads_n)
    ]
    errors: list[BaseException] = []
    start = threading.Barrier(threads_n + 1)
    switched = threading.Event()

    def search(n: int) -> None:
        try:
            start.wait()
            while True:
                after = switched.is_set()
                results[n].append((after, _seen(service.search(query, k=k))))
                if after:
                    return
        except BaseException as exc:  # reported below
            errors.append(exc)

    def overlap(stage: str, done: int, total: int) -> None:
        # Hold the writer until every thread has searched again, so searches run while the
        # new version is written and switched in.
        if stage in ("embedding", "writing"):
            marks = [len(r) for r in results]
            while not errors and any(len(r) <= m for r, m in zip(results, marks, strict=True)):
                time.sleep(0.001)

    workers = [threading.Thread(target=search, args=(n,)) for n in range(threads_n)]
    for worker in workers:
        worker.start()
    start.wait()
    report = reindex(lib, progress=overlap)
    switched.set()
    for worker in workers:
        worker.join()

    assert errors == []
    assert report.updated == ["lupus"]
    new = _chunk_map(lib)
    assert set(old) != set(new)
    assert loads == [first, report.version]  # one reload, whatever the threads did
    for per_thread in results:
        versions = []
        for after, seen in per_thread:
            assert seen in (old, new)
            versions.append("new" if seen == new else "old")
            if after:
                assert seen == new
        assert versions[0] == "old"
        assert versions[-1] == "new"


# ---------------------------------------------------------------------- filtered search


@pytest.fixture
def retriever(lib: Settings, fake: FakeEmbedder) -> Retriever:
    reindex(lib)
    return Retriever(load_index(lib.index_dir), fake, None, Settings())


QUERY = "lupus nerve pain numbness plasma donors vasculitis"


def _renumbered(hits: Sequence[Hit]) -> list[Hit]:
    return [dataclasses.replace(h, rank=n) for n, h in enumerate(hits, start=1)]


def test_filter_keeps_only_the_chosen_articles(retriever: Retriever) -> None:
    index = retriever.index
    wanted = {"ivig", "dupixent"}
    rows = {c.id for c in index.chunks if c.article_id in wanted}
    for mode in ("dense", "bm25", "hybrid"):
        hits = retriever.search(QUERY, k=20, mode=mode, articles=sorted(wanted))  # type: ignore[arg-type]
        assert {h.article_id for h in hits} == wanted, mode
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    # Dense scores every allowed chunk.
    assert {h.chunk_id for h in retriever.search(QUERY, k=20, mode="dense", articles=wanted)} == (
        rows
    )
    assert len(retriever.search(QUERY, k=1, articles=wanted)) == 1


@pytest.mark.parametrize("articles", [[], ["nope"], ("IVIG",), {"ivig.md"}])
def test_filter_with_no_known_article_finds_nothing(
    retriever: Retriever, articles: list[str]
) -> None:
    for mode in ("dense", "bm25", "hybrid"):
        assert retriever.search(QUERY, k=5, mode=mode, articles=articles) == []  # type: ignore[arg-type]


def test_unknown_ids_among_known_ones_are_ignored(retriever: Retriever) -> None:
    mixed = retriever.search(QUERY, k=20, articles=["nope", "egpa"])
    assert mixed == retriever.search(QUERY, k=20, articles=["egpa"])
    assert [h.article_id for h in mixed] == ["egpa"]
    assert retriever.search(QUERY, k=20, articles=None) == retriever.search(QUERY, k=20)


@pytest.mark.parametrize("mode", ["dense", "bm25"])
def test_filtered_search_equals_the_unfiltered_one_restricted(
    retriever: Retriever, mode: str
) -> None:
    assert len(retriever.index) < retriever.settings.candidates  # all in the candidate pool
    full = retriever.search(QUERY, k=20, mode=mode)  # type: ignore[arg-type]
    assert {h.article_id for h in full} == set(retriever.index.articles)
    for article in retriever.index.articles:
        expected = _renumbered([h for h in full if h.article_id == article])
        assert retriever.search(QUERY, k=20, mode=mode, articles=[article]) == expected  # type: ignore[arg-type]
    pair = _renumbered([h for h in full if h.article_id in {"lupus", "ivig"}])
    assert retriever.search(QUERY, k=20, mode=mode, articles=["lupus", "ivig"]) == pair  # type: ignore[arg-type]


def test_filtered_fusion_ranks_within_the_filter(retriever: Retriever) -> None:
    rrf = retriever.settings.rrf_k
    dense = [h.chunk_id for h in retriever.search(QUERY, k=20, mode="dense")]
    bm25 = [h.chunk_id for h in retriever.search(QUERY, k=20, mode="bm25")]
    wanted = {"lupus", "ivig"}
    keep = {c.id for c in retriever.index.chunks if c.article_id in wanted}
    expected: dict[str, float] = {}
    for ranking in (dense, bm25):
        for rank, chunk_id in enumerate(c for c in ranking if c in keep):
            expected[chunk_id] = expected.get(chunk_id, 0.0) + 1.0 / (rrf + rank + 1)
    hits = retriever.search(QUERY, k=20, mode="hybrid", articles=wanted)
    assert {h.chunk_id: h.fused_score for h in hits} == {
        c: round(s, 6) for c, s in expected.items()
    }
    fused = [h.fused_score for h in hits]
    assert fused == sorted(fused, reverse=True)  # type: ignore[type-var]


def test_filter_applies_before_the_candidate_cut(retriever: Retriever) -> None:
    narrow = Retriever(
        retriever.index, retriever.embedder, None, Settings(candidates=1, duplicate_threshold=1.0)
    )
    query = "pooled plasma donors lupus"
    assert narrow.search(query, k=1, mode="dense")[0].article_id == "ivig"
    lupus = [i for i, c in enumerate(retriever.index.chunks) if c.article_id == "lupus"]
    scores = retriever.index.vectors_of(lupus) @ retriever.embedder.embed_query(query)
    best = retriever.index.chunks[lupus[int(np.argmax(scores))]]
    hits = narrow.search(query, k=1, mode="dense", articles=["lupus"])
    assert [(h.chunk_id, h.dense_score) for h in hits] == [(best.id, round(float(max(scores)), 6))]
    # BM25 too: the filter is applied to the whole ranking, not to its first candidates.
    assert narrow.search(query, k=1, mode="bm25")[0].article_id == "ivig"
    ranking = retriever.search(query, k=20, mode="bm25")
    expected = _renumbered([h for h in ranking if h.article_id == "lupus"][:1])
    assert expected and narrow.search(query, k=1, mode="bm25", articles=["lupus"]) == expected


def test_the_reranker_reads_only_the_chosen_articles(retriever: Retriever) -> None:
    reranker = RecordingReranker()
    reranking = Retriever(retriever.index, retriever.embedder, reranker, Settings(rerank_top=10))
    hits = reranking.search(QUERY, k=3, mode="rerank", articles=["lupus"])
    lupus_chunks = len(retriever.index.articles["lupus"].chunk_ids)
    assert [h.article_id for h in hits] == ["lupus"] * min(3, lupus_chunks)
    assert len(reranker.passages) == lupus_chunks
    assert all(p.startswith("Lupus and Nerves > ") for p in reranker.passages)


def test_list_keeps_a_good_article_beside_a_second_file_with_its_id(lib: Settings) -> None:
    reindex(lib)
    (lib.corpus_dir / "ivig.txt").write_bytes(b"IVIG notes.\n")
    rows = [(a.id, a.source, a.state) for a in list_articles(lib) if a.id == "ivig"]
    assert rows == [("ivig", "ivig.md", "indexed"), ("ivig", "ivig.txt", "failed")]


def test_list_with_an_unusable_index_lists_the_corpus(lib: Settings) -> None:
    reindex(lib)
    (lib.index_dir / "CURRENT").write_text("../elsewhere\n", encoding="utf-8")
    states = {a.id: a.state for a in list_articles(lib)}
    assert states == {"ivig": "new", "lupus": "new", "dupixent": "new", "egpa": "new"}


def test_concurrent_uploads_of_one_id_leave_exactly_one_file(
    lib: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two uploads of one article with different suffixes, racing: one wins, none is lost.

    Each upload waits after its rename for the other to rename too (for at most 1 s): without
    the corpus lock both renames land before either cleans up, and each deletes the other's
    file; with it the second upload waits for the first to finish.
    """
    real_replace = library.os.replace
    both_renamed = threading.Barrier(2)

    def replace_then_wait(src: str | Path, dst: str | Path) -> None:
        real_replace(src, dst)
        with contextlib.suppress(threading.BrokenBarrierError):
            both_renamed.wait(timeout=1)

    monkeypatch.setattr(library.os, "replace", replace_then_wait)
    errors: list[BaseException] = []

    def upload(name: str) -> None:
        try:
            save_article(lib, name, GOUT)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(n,)) for n in ("gout.md", "gout.txt")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    left = sorted(p.name for p in lib.corpus_dir.iterdir() if p.stem == "gout")
    assert len(left) == 1 and left[0] in {"gout.md", "gout.txt"}
