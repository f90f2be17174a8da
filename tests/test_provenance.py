"""Provenance and freshness: metadata from front matter, document properties and sidecars,
carried by every citation and shown by the CLI, the source cards and the library (fake
embedder, real code, temporary folders)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest
from markdown_it import MarkdownIt
from streamlit.testing.v1 import AppTest

from chatbot import cli, library, provenance
from chatbot.answering import Answer, Chatbot, Citation
from chatbot.chunking import ChunkingConfig
from chatbot.config import Settings, SettingsError
from chatbot.corpus import ArticleError, load_article, load_corpus
from chatbot.index import load_index, update_index
from chatbot.presentation import (
    escape_markdown,
    freshness,
    plain_text,
    source_link,
    stale_sources,
    stale_warning,
)
from chatbot.provenance import Provenance, is_stale, provenance_of
from chatbot.retrieval import Retriever
from tests.conftest import REPO, FakeEmbedder
from tests.documents import CARPAL_PAGES, docx_bytes, pdf_bytes

LIMIT = 5_000_000
CONFIG = ChunkingConfig(max_tokens=128)
TODAY = dt.date(2026, 6, 1)
LUPUS = (
    b"---\ntitle: Lupus and Nerves\npublisher: Rheum Weekly\n"
    b"source_url: https://rheum.example.org/lupus-nerves\n"
    b"published: 2019-01-10\nreviewed: '2025-02-01'\n---\n# Lupus and Nerves\n\n"
    b"## Nerves\n\nLupus can damage nerves and cause burning pain in the feet.\n"
)
IVIG = (
    b"---\ntitle: IVIG\ndate: 2020-05-04\n---\n# IVIG\n\n## Source\n\n"
    b"IVIG is made from pooled plasma of many donors.\n"
)
CARPAL_SIDECAR = (
    b"publisher: Hand Society\nsource_url: https://hands.example.org/carpal\n"
    b"published: 2023-09-14\nreviewed: 2025-11-30\n"
)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    write(folder / "lupus.md", LUPUS)
    write(folder / "ivig.md", IVIG)
    write(folder / "carpal-tunnel.pdf", pdf_bytes(CARPAL_PAGES, author="Hand Clinic"))
    write(folder / "carpal-tunnel.meta.yaml", CARPAL_SIDECAR)
    return folder


def bot_over(corpus: Path, index: Path, today: dt.date = TODAY) -> Chatbot:
    embedder = FakeEmbedder(dimension=512)
    report = update_index(load_corpus(corpus, max_bytes=LIMIT), index, embedder, CONFIG)
    assert report.failed == []
    settings = Settings(evidence_dense_scale=20.0, evidence_dense_shift=-6.0)
    return Chatbot(Retriever(load_index(index), embedder, None, settings), today=lambda: today)


# ---------------------------------------------------------------------------- reading


def test_front_matter_provenance_is_checked_and_kept(corpus: Path) -> None:
    article = load_article(corpus / "lupus.md", max_bytes=LIMIT)
    assert article.meta == {
        "title": "Lupus and Nerves",
        "publisher": "Rheum Weekly",
        "source_url": "https://rheum.example.org/lupus-nerves",
        "published": "2019-01-10",
        "reviewed": "2025-02-01",
    }
    assert provenance_of(article.meta) == Provenance(
        source_url="https://rheum.example.org/lupus-nerves",
        publisher="Rheum Weekly",
        published="2019-01-10",
        reviewed="2025-02-01",
    )


def test_date_and_author_stand_in_for_published_and_publisher() -> None:
    assert provenance_of({"date": "2020-05-04", "author": "Dr Lee"}) == Provenance(
        publisher="Dr Lee", published="2020-05-04"
    )
    assert provenance_of({"date": "May 2020", "published": "", "author": 7}) == Provenance()
    assert provenance_of({"date": "2020-05-04T10:30:00", "publisher": "P"}) == Provenance(
        publisher="P", published="2020-05-04"
    )
    assert provenance_of({"source_url": "javascript:alert(1)"}) == Provenance()
    assert provenance_of(None) == Provenance()


@pytest.mark.parametrize(
    ("front_matter", "reason"),
    [
        ("published: soon", "front matter: 'published' 'soon' is not a date written YYYY-MM-DD"),
        (
            "reviewed: '2025-02-30'",
            "front matter: 'reviewed' '2025-02-30' is not a date written YYYY-MM-DD",
        ),
        ("reviewed: 20250201", "front matter: 'reviewed' must be a string, not int"),
        ("publisher: [a, b]", "front matter: 'publisher' must be a string, not list"),
        (
            "source_url: javascript:alert(1)",
            "front matter: 'source_url' 'javascript:alert(1)' must be an http:// or https:// "
            "address without spaces",
        ),
        (
            "source_url: www.example.org/page",
            "front matter: 'source_url' 'www.example.org/page' must be an http:// or https:// "
            "address without spaces",
        ),
    ],
)
def test_bad_provenance_in_front_matter_is_refused_with_the_reason(
    tmp_path: Path, front_matter: str, reason: str
) -> None:
    path = write(tmp_path / "bad.md", f"---\n{front_matter}\n---\n# Bad\n\nText.\n".encode())
    with pytest.raises(ArticleError) as caught:
        load_article(path, max_bytes=LIMIT)
    assert caught.value.reason == reason
    assert str(caught.value) == f"{path}: {reason}"


def test_a_sidecar_wins_over_the_document_properties(corpus: Path) -> None:
    pdf = corpus / "carpal-tunnel.pdf"
    article = load_article(pdf, max_bytes=LIMIT)
    assert article.meta == {
        "publisher": "Hand Society",
        "published": "2023-09-14",
        "source_url": "https://hands.example.org/carpal",
        "reviewed": "2025-11-30",
    }
    # The sidecar is part of what identifies the article's version.
    expected = hashlib.sha256(pdf.read_bytes() + b"\x00" + CARPAL_SIDECAR).hexdigest()
    assert article.sha256 == expected
    (corpus / "carpal-tunnel.meta.yaml").unlink()
    alone = load_article(pdf, max_bytes=LIMIT)
    assert alone.meta == {"publisher": "Hand Clinic", "published": "2000-01-01"}
    assert alone.sha256 == hashlib.sha256(pdf.read_bytes()).hexdigest()


def test_a_sidecar_can_set_the_title_of_markdown_and_docx(tmp_path: Path) -> None:
    write(tmp_path / "gout.docx", docx_bytes([("Normal", "Gout crystals press on nerves.")]))
    write(tmp_path / "gout.meta.yaml", b"title: Gout and Nerves\nreviewed: 2024-01-02\n")
    write(tmp_path / "lupus.md", LUPUS)
    write(tmp_path / "lupus.meta.yaml", b"title: Lupus, reviewed\npublisher: Lupus Trust\n")
    gout = load_article(tmp_path / "gout.docx", max_bytes=LIMIT)
    assert (gout.title, gout.meta) == (
        "Gout and Nerves",
        {"title": "Gout and Nerves", "reviewed": "2024-01-02"},
    )
    lupus = load_article(tmp_path / "lupus.md", max_bytes=LIMIT)
    assert lupus.title == "Lupus, reviewed"
    assert provenance_of(lupus.meta).publisher == "Lupus Trust"


def test_sidecars_are_not_articles(tmp_path: Path) -> None:
    write(tmp_path / "orphan.meta.yaml", b"publisher: Nobody\n")
    write(tmp_path / "ivig.md", IVIG)
    write(tmp_path / "ivig.meta.yaml", b"reviewed: 2024-01-02\n")
    load = load_corpus(tmp_path, max_bytes=LIMIT)
    assert [a.id for a in load.articles] == ["ivig"]
    assert load.failures == ()
    assert load.articles[0].meta["reviewed"] == "2024-01-02"


@pytest.mark.parametrize(
    ("sidecar", "reason"),
    [
        (
            b"published: [unclosed\n",
            "its sidecar carpal-tunnel.meta.yaml is not valid YAML at line 2: expected ',' or "
            "']', but got '<stream end>'",
        ),
        (
            b"- a\n- b\n",
            "its sidecar carpal-tunnel.meta.yaml must be a mapping of 'key: value' lines",
        ),
        (
            b"reviewed: last spring\n",
            "sidecar carpal-tunnel.meta.yaml: 'reviewed' 'last spring' is not a date written "
            "YYYY-MM-DD",
        ),
        (
            b"source_url: ftp://files.example.org/a\n",
            "sidecar carpal-tunnel.meta.yaml: 'source_url' 'ftp://files.example.org/a' must be "
            "an http:// or https:// address without spaces",
        ),
        (b"title: 12\n", "sidecar carpal-tunnel.meta.yaml field 'title' must be a string"),
        (
            b"publisher: Caf\xe9\n",
            "its sidecar carpal-tunnel.meta.yaml is not valid UTF-8 (byte 0xe9 at offset 14); "
            "save it as UTF-8",
        ),
        (
            b'publisher: "\\ud800"\n',
            "its sidecar carpal-tunnel.meta.yaml is not valid Unicode (an escape such as "
            "\\ud800 gives a lone surrogate)",
        ),
    ],
)
def test_a_bad_sidecar_fails_its_article_and_nothing_else(
    corpus: Path, sidecar: bytes, reason: str
) -> None:
    write(corpus / "carpal-tunnel.meta.yaml", sidecar)
    load = load_corpus(corpus, max_bytes=LIMIT)
    assert sorted(a.id for a in load.articles) == ["ivig", "lupus"]
    assert [(f.path, f.error) for f in load.failures] == [
        (str(corpus / "carpal-tunnel.pdf"), reason)
    ]


def test_an_oversized_sidecar_is_refused(tmp_path: Path) -> None:
    article = write(tmp_path / "small.md", b"# Small\n\nTiny.\n")
    write(tmp_path / "small.meta.yaml", b"publisher: " + b"x" * 200 + b"\n")
    with pytest.raises(ArticleError) as caught:
        load_article(article, max_bytes=100)
    assert caught.value.reason == (
        "its sidecar small.meta.yaml is 212 bytes, over the 100-byte limit (CHATBOT_MAX_FILE_BYTES)"
    )


def test_a_changed_sidecar_updates_the_article_without_embedding_again(
    corpus: Path, tmp_path: Path
) -> None:
    embedder = FakeEmbedder()
    update_index(load_corpus(corpus, max_bytes=LIMIT), tmp_path / "i", embedder, CONFIG)
    write(corpus / "carpal-tunnel.meta.yaml", CARPAL_SIDECAR.replace(b"2025-11-30", b"2026-01-05"))
    report = update_index(load_corpus(corpus, max_bytes=LIMIT), tmp_path / "i", embedder, CONFIG)
    assert report.updated == ["carpal-tunnel"]
    assert report.embedded_chunks == 0
    assert load_index(tmp_path / "i").articles["carpal-tunnel"].meta["reviewed"] == "2026-01-05"


def test_a_bad_sidecar_keeps_the_indexed_version(corpus: Path, tmp_path: Path) -> None:
    embedder = FakeEmbedder()
    update_index(load_corpus(corpus, max_bytes=LIMIT), tmp_path / "i", embedder, CONFIG)
    before = load_index(tmp_path / "i").articles["carpal-tunnel"]
    write(corpus / "carpal-tunnel.meta.yaml", b"reviewed: someday\n")
    report = update_index(load_corpus(corpus, max_bytes=LIMIT), tmp_path / "i", embedder, CONFIG)
    assert report.kept_previous == ["carpal-tunnel"]
    assert load_index(tmp_path / "i").articles["carpal-tunnel"] == before


# ---------------------------------------------------------------------------- staleness


@pytest.mark.parametrize(
    ("as_of", "stale"),
    [
        ("2024-06-01", False),  # 730 days before TODAY: not older than the limit
        ("2024-05-31", True),  # 731 days
        ("2026-06-01", False),
        ("2027-01-01", False),  # a date in the future is not stale
        ("", False),  # no date: not marked
        ("not a date", False),
    ],
)
def test_stale_means_older_than_the_limit(as_of: str, stale: bool) -> None:
    assert is_stale(as_of, TODAY, 730) is stale


def test_reviewed_wins_over_published_for_freshness() -> None:
    assert Provenance(published="2001-01-01", reviewed="2026-01-01").as_of == "2026-01-01"
    assert Provenance(published="2001-01-01").as_of == "2001-01-01"


def test_stale_after_days_setting() -> None:
    assert Settings().stale_after_days == 730
    assert Settings.from_env({"CHATBOT_STALE_AFTER_DAYS": "365"}).stale_after_days == 365
    with pytest.raises(
        SettingsError, match=r"^CHATBOT_STALE_AFTER_DAYS must be a positive integer$"
    ):
        Settings.from_env({"CHATBOT_STALE_AFTER_DAYS": "0"})
    with pytest.raises(
        SettingsError, match=r"^CHATBOT_STALE_AFTER_DAYS='soon' is not a valid int$"
    ):
        Settings.from_env({"CHATBOT_STALE_AFTER_DAYS": "soon"})


# ---------------------------------------------------------------------------- citations


def test_citations_carry_the_provenance_and_staleness(corpus: Path, tmp_path: Path) -> None:
    bot = bot_over(corpus, tmp_path / "i")
    lupus = bot.ask("Can lupus damage nerves and cause burning pain in the feet?")
    assert lupus.status == "answered"
    first = lupus.citations[0]
    assert (first.article_id, first.section) == ("lupus", "Nerves")
    assert (first.publisher, first.source_url, first.published, first.reviewed, first.stale) == (
        "Rheum Weekly", "https://rheum.example.org/lupus-nerves", "2019-01-10", "2025-02-01",
        False,
    )  # fmt: skip
    ivig = bot.ask("Is IVIG made from pooled plasma of many donors?").citations[0]
    # Published 2020-05-04 (its front matter's date), never reviewed: 2219 days before TODAY.
    assert (ivig.article_id, ivig.published, ivig.reviewed, ivig.stale) == (
        "ivig", "2020-05-04", "", True,
    )  # fmt: skip
    assert ivig.source_url == "" and ivig.publisher == ""
    carpal = bot.ask("Does a wrist splint at night ease carpal tunnel tingling?").citations[0]
    assert (carpal.article_id, carpal.section, carpal.publisher, carpal.reviewed) == (
        "carpal-tunnel", "Page 3", "Hand Society", "2025-11-30",
    )  # fmt: skip
    assert carpal.stale is False


def test_a_cached_answer_is_dated_again_on_another_day(corpus: Path, tmp_path: Path) -> None:
    bot = bot_over(corpus, tmp_path / "i")
    question = "Can lupus damage nerves and cause burning pain in the feet?"
    assert bot.ask(question).citations[0].stale is False
    bot.today = lambda: dt.date(2027, 2, 2)  # 731 days after the review
    assert bot.ask(question).citations[0].stale is True
    assert len(bot.answers) == 1  # served from the cache both times


def test_answer_json_has_the_citation_provenance(corpus: Path, tmp_path: Path) -> None:
    bot = bot_over(corpus, tmp_path / "i")
    data = bot.ask("Is IVIG made from pooled plasma of many donors?").as_json()
    assert list(data["citations"][0])[-4:] == ["source_url", "published", "reviewed", "stale"]
    assert data["citations"][0]["stale"] is True


# ---------------------------------------------------------------------------- presentation


CITE = Citation(
    n=1,
    article_id="lupus",
    title="Lupus and Nerves",
    publisher="Rheum Weekly",
    section="Nerves",
    quote="Lupus can damage nerves.",
    start=10,
    end=34,
    source_url="https://rheum.example.org/lupus-nerves",
    published="2019-01-10",
    reviewed="2021-02-01",
    stale=True,
)


def answer_of(*citations: Citation) -> Answer:
    return Answer(
        status="answered", query="q", answer="Lupus can damage nerves. [1]", citations=citations
    )


def test_plain_text_names_dates_staleness_and_address_under_each_source() -> None:
    assert plain_text(answer_of(CITE)) == (
        "Lupus can damage nerves. [1]\n\n"
        "Sources:\n[1] Lupus and Nerves › Nerves, Rheum Weekly (lupus, characters 10-34)\n"
        "    published 2019-01-10 · reviewed 2021-02-01 · may be out of date · "
        "https://rheum.example.org/lupus-nerves\n\n" + Answer.disclaimer
    )
    fresh = Citation(**{**CITE.__dict__, "stale": False, "reviewed": "", "source_url": ""})
    assert freshness(fresh) == "published 2019-01-10"
    bare = Citation(**{**fresh.__dict__, "published": ""})
    assert plain_text(answer_of(bare)).split("\n\n")[1] == (
        "Sources:\n[1] Lupus and Nerves › Nerves, Rheum Weekly (lupus, characters 10-34)"
    )


def test_the_stale_warning_says_why() -> None:
    assert stale_warning(CITE, 730) == (
        "This article may be out of date: it was last reviewed on 2021-02-01, more than 730 "
        "days ago. Check a current source or ask a health professional."
    )
    published_only = Citation(**{**CITE.__dict__, "reviewed": ""})
    assert "it was last published on 2019-01-10" in stale_warning(published_only, 30)


RENDER = MarkdownIt("commonmark", {"html": True}).render


@pytest.mark.parametrize(
    ("url", "markdown", "html"),
    [
        (
            "https://rheum.example.org/lupus-nerves",
            r"[https\:\/\/rheum\.example\.org\/lupus\-nerves](https://rheum.example.org/lupus-nerves)",
            '<p><a href="https://rheum.example.org/lupus-nerves">'
            "https://rheum.example.org/lupus-nerves</a></p>\n",
        ),
        (
            'http://x.example/a(b)<i>"q"',
            r"[http\:\/\/x\.example\/a\(b\)\<i\>\"q\"](http://x.example/a%28b%29%3Ci%3E%22q%22)",
            '<p><a href="http://x.example/a%28b%29%3Ci%3E%22q%22">'
            "http://x.example/a(b)&lt;i&gt;&quot;q&quot;</a></p>\n",
        ),
    ],
)
def test_a_source_link_is_made_only_for_http_with_escaped_text(
    url: str, markdown: str, html: str
) -> None:
    link = source_link(Citation(**{**CITE.__dict__, "source_url": url}))
    assert link == markdown
    assert RENDER(link) == html


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "data:text/html,<b>x</b>", "ftp://x.example/a", "//x", "", "x"]
)
def test_no_link_for_other_addresses(url: str) -> None:
    assert source_link(Citation(**{**CITE.__dict__, "source_url": url})) == ""


# ---------------------------------------------------------------------------- the ways in


@pytest.fixture
def env(
    corpus: Path, tmp_path: Path, fake: FakeEmbedder, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Settings in the environment over ``corpus`` on the fake embedder, index built."""
    for key, value in {
        "CHATBOT_CORPUS_DIR": str(corpus),
        "CHATBOT_INDEX_DIR": str(tmp_path / "index"),
        "CHATBOT_EMBEDDING_MODEL": "fake-embedder",
        "CHATBOT_RERANKER_MODEL": "none",
        "CHATBOT_EVIDENCE_DENSE_SCALE": "20",
        "CHATBOT_EVIDENCE_DENSE_SHIFT": "-6",
    }.items():
        monkeypatch.setenv(key, value)
    settings = Settings.from_env()
    library.reindex(settings)
    return settings


def test_chatbot_ask_prints_provenance_and_staleness(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    question = "Is IVIG made from pooled plasma of many donors?"
    assert cli.main(["ask", question]) == 0
    out = capsys.readouterr().out
    assert "[1] IVIG › Source (ivig, characters " in out
    assert "\n    published 2020-05-04 · may be out of date\n" in out
    assert cli.main(["ask", question, "--json"]) == 0
    cited = json.loads(capsys.readouterr().out)["citations"][0]
    keys = ("article_id", "source_url", "published", "reviewed", "stale")
    assert {k: cited[k] for k in keys} == {
        "article_id": "ivig", "source_url": "", "published": "2020-05-04", "reviewed": "",
        "stale": True,
    }  # fmt: skip


def test_the_library_lists_provenance_and_staleness(env: Settings) -> None:
    found = {a.id: a for a in library.list_articles(env, today=TODAY)}
    shown = {
        k: (a.publisher, a.source_url, a.published, a.reviewed, a.stale) for k, a in found.items()
    }
    assert shown == {
        "carpal-tunnel": (
            "Hand Society", "https://hands.example.org/carpal", "2023-09-14", "2025-11-30", False,
        ),
        "ivig": ("", "", "2020-05-04", "", True),
        "lupus": (
            "Rheum Weekly", "https://rheum.example.org/lupus-nerves", "2019-01-10", "2025-02-01",
            False,
        ),
    }  # fmt: skip
    assert found["lupus"].state == "indexed"
    later = {a.id: a.stale for a in library.list_articles(env, today=dt.date(2030, 1, 1))}
    assert later == {"carpal-tunnel": True, "ivig": True, "lupus": True}
    # A changed sidecar is a change that waits for a re-index.
    write(env.corpus_dir / "ivig.meta.yaml", b"reviewed: 2026-05-01\n")
    ivig = next(a for a in library.list_articles(env, today=TODAY) if a.id == "ivig")
    assert (ivig.state, ivig.reviewed, ivig.stale) == ("changed", "2026-05-01", False)


def test_deleting_an_article_deletes_its_sidecar(env: Settings) -> None:
    assert library.delete_article(env, "carpal-tunnel") == [
        "carpal-tunnel.pdf", "carpal-tunnel.meta.yaml",
    ]  # fmt: skip
    assert sorted(p.name for p in env.corpus_dir.iterdir()) == ["ivig.md", "lupus.md"]


def test_an_upload_reports_the_provenance_of_the_document(env: Settings) -> None:
    created = dt.datetime(2025, 4, 1, tzinfo=dt.UTC)
    data = docx_bytes(
        [("Title", "Gout"), ("Normal", "Gout crystals press on nerves.")],
        author="Foot Clinic",
        created=created,
    )
    saved = library.save_article(env, "Gout Notes.docx", data)
    assert (saved.id, saved.source, saved.title, saved.publisher, saved.published) == (
        "gout-notes", "gout-notes.docx", "Gout", "Foot Clinic", "2025-04-01",
    )  # fmt: skip
    assert (env.corpus_dir / "gout-notes.docx").read_bytes() == data


SOURCE_CARD_SCRIPT = """
import json
import sys
from types import SimpleNamespace

sys.path.insert(0, {repo!r})
from chatbot import webui
from chatbot.answering import Answer, Citation
from chatbot.config import Settings

citations = tuple(Citation(**c) for c in json.loads({citations!r}))
index = SimpleNamespace(chunks=[])
service = SimpleNamespace(
    settings=Settings(stale_after_days=730),
    chatbot=SimpleNamespace(retriever=SimpleNamespace(index=index)),
)
answer = "Lupus can damage nerves. [1]"
webui.render_answer(
    Answer(status="answered", query="q", answer=answer, citations=citations), service
)
"""


def source_card(tmp_path: Path, *citations: Citation) -> AppTest:
    script = tmp_path / "card.py"
    payload = json.dumps([c.__dict__ for c in citations])
    script.write_text(SOURCE_CARD_SCRIPT.format(repo=str(REPO), citations=payload))
    at = AppTest.from_file(str(script), default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    for element in (*at.markdown, *at.caption):
        assert element.proto.allow_html is False
    return at


def test_the_source_card_shows_publisher_dates_staleness_and_link(tmp_path: Path) -> None:
    fresh = Citation(
        **{**CITE.__dict__, "n": 2, "article_id": "ivig", "title": "IVIG", "stale": False}
    )
    at = source_card(tmp_path, CITE, fresh)
    # The labels stay the sources' names; the marks are in the cards and under them.
    assert [e.label for e in at.expander] == [
        escape_markdown("[1] Lupus and Nerves › Nerves"),
        escape_markdown("[2] IVIG › Nerves"),
    ]
    assert [c.value for c in at.expander[0].caption] == [
        escape_markdown(
            "Rheum Weekly · published 2019-01-10 · reviewed 2021-02-01 · may be out of date · "
            "lupus, characters 10–34"
        ),
        ":material/history: " + escape_markdown(stale_warning(CITE, 730)),
        r"Source: [https\:\/\/rheum\.example\.org\/lupus\-nerves]"
        "(https://rheum.example.org/lupus-nerves)",
    ]
    assert [c.value for c in at.expander[1].caption] == [
        escape_markdown(
            "Rheum Weekly · published 2019-01-10 · reviewed 2021-02-01 · ivig, characters 10–34"
        ),
        r"Source: [https\:\/\/rheum\.example\.org\/lupus\-nerves]"
        "(https://rheum.example.org/lupus-nerves)",
    ]
    assert [c.value for c in at.main.caption][-2:] == [
        ":material/history: "
        + escape_markdown("Source [1] may be out of date: check a current source."),
        escape_markdown(Answer.disclaimer),
    ]
    assert len(at.warning) == 0


def test_stale_sources_names_each_stale_source_once() -> None:
    second = Citation(**{**CITE.__dict__, "start": 40, "end": 60})
    other = Citation(**{**CITE.__dict__, "n": 3, "article_id": "ivig"})
    fresh = Citation(**{**CITE.__dict__, "n": 2, "stale": False})
    assert stale_sources([CITE, second, fresh, other]) == (
        "Sources [1], [3] may be out of date: check a current source."
    )
    assert stale_sources([fresh]) == ""


def test_a_source_card_escapes_hostile_metadata_and_links_only_http(tmp_path: Path) -> None:
    hostile = Citation(
        **{
            **CITE.__dict__,
            "title": "<script>alert(1)</script>",
            "publisher": "[x](javascript:alert(2))",
            "source_url": "javascript:alert(3)",
            "stale": False,
        }
    )
    at = source_card(tmp_path, hostile)
    assert [e.label for e in at.expander] == [
        escape_markdown("[1] <script>alert(1)</script> › Nerves")
    ]
    captions = [c.value for c in at.caption]
    assert (
        escape_markdown(
            "[x](javascript:alert(2)) · published 2019-01-10 · reviewed 2021-02-01 · "
            "lupus, characters 10–34"
        )
        in captions
    )
    assert not any(c.startswith("Source:") for c in captions)
    assert not any("javascript:alert(3)" in c or "javascript\\:alert\\(3" in c for c in captions)
    assert len(at.warning) == 0


def test_provenance_module_constants() -> None:
    assert provenance.sidecar_of(Path("corpus/carpal-tunnel.pdf")) == Path(
        "corpus/carpal-tunnel.meta.yaml"
    )
    assert provenance.is_sidecar(Path("corpus/carpal-tunnel.meta.yaml"))
    assert not provenance.is_sidecar(Path("corpus/meta.yaml"))


def test_the_library_page_shows_the_dates_and_marks_stale_articles(env: Settings) -> None:
    today = dt.date.today().isoformat()
    for name in ("lupus", "carpal-tunnel"):
        write(env.corpus_dir / f"{name}.meta.yaml", f"reviewed: {today}\n".encode())
    library.reindex(env)
    at = AppTest.from_file(str(REPO / "ui" / "app.py"), default_timeout=180)
    at.run()
    at.switch_page("library.py").run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table.columns) == [
        "title", "id", "state", "chunks", "sha256", "indexed", "published", "reviewed",
        "freshness", "problem",
    ]  # fmt: skip
    rows = {r.id: (r.published, r.reviewed, r.freshness) for r in table.itertuples()}
    assert rows == {
        "carpal-tunnel": ("2000-01-01", today, ""),  # published: the PDF's creation date
        "ivig": ("2020-05-04", "", "may be out of date"),
        "lupus": ("2019-01-10", today, ""),
    }
    assert ":material/history: " + escape_markdown(
        "1 article(s) may be out of date (reviewed, else published, more than 730 days ago): ivig"
    ) in [c.value for c in at.caption]
