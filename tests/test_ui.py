"""The Streamlit app's pages under ``AppTest``, on the real corpus and models."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from chatbot import presentation, safety
from chatbot.config import Settings
from chatbot.library import Service, reindex
from chatbot.questionlog import QuestionLog
from tests.conftest import CORPUS, REPO

pytestmark = pytest.mark.integration

APP = str(REPO / "ui" / "app.py")
PASSWORD = "correct horse battery staple"
UNCOVERED = "What are the opening hours of the pharmacy?"
HOSTILE = "<script>alert(1)</script> <img src=x onerror=alert(2)> [click](javascript:alert(3)) $x$"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A corpus copy and its real index, built once for the module."""
    root = tmp_path_factory.mktemp("ui")
    corpus = root / "corpus"
    shutil.copytree(CORPUS, corpus)
    reindex(Settings(corpus_dir=corpus, index_dir=root / "index"))
    return corpus, root / "index"


@pytest.fixture
def env(
    built: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """Environment for an app on a private copy of the built index and corpus."""
    corpus, index = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(built[0], corpus)
    shutil.copytree(built[1], index)
    monkeypatch.setenv("CHATBOT_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("CHATBOT_INDEX_DIR", str(index))
    yield Settings.from_env()


@pytest.fixture
def reference(env: Settings) -> Service:
    """The library service the pages should agree with."""
    return Service(env)


def start(page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    at.run()
    if page is not None:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def no_raw_html(at: AppTest) -> None:
    """No element of the page was drawn with HTML allowed."""
    for element in (*at.markdown, *at.caption):
        assert element.proto.allow_html is False
    assert at.markdown and at.caption


def ask(at: AppTest, question: str) -> AppTest:
    at.chat_input[0].set_value(question).run()
    assert not at.exception, at.exception
    return at


# ---------------------------------------------------------------------------- chat


def test_chat_answers_with_cited_sources_and_disclaimer(env: Settings, reference: Service) -> None:
    at = start()
    assert at.info[0].value == safety.DISCLAIMER
    ask(at, "Can Dupixent cause nerve pain?")

    expected = reference.ask("Can Dupixent cause nerve pain?")
    assert expected.status == "answered"
    texts = [m.value for m in at.markdown]
    assert presentation.answer_markdown(expected) in texts
    labels = [e.label for e in at.expander]
    # One card per passage: sentences that share a number share the card.
    assert labels == [
        presentation.escape_markdown(presentation.source_label(group[0]))
        for group in presentation.source_groups(expected.citations)
    ]
    assert len(labels) == len({c.n for c in expected.citations})
    assert labels[0].startswith(r"\[1\] Is Dupixent Linked to Nerve Pain\?")
    # The cited sentence is highlighted inside its passage.
    first = expected.citations[0]
    assert any(f"**{presentation.escape_markdown(first.quote)}**" in t for t in texts)
    assert at.main.caption[-1].value == presentation.escape_markdown(safety.DISCLAIMER)
    no_raw_html(at)


def test_chat_follow_up_uses_the_history(env: Settings) -> None:
    at = start()
    ask(at, "Can lupus cause nerve pain?")
    ask(at, "How is it treated?")
    (_, first), (_, second) = at.session_state.chat
    assert first.citations[0].article_id == "lupus-nerve-pain"
    assert "rewritten" in second.flags
    assert "lupus" in second.query.lower()
    assert second.status == "answered"
    assert {c.article_id for c in second.citations} == {"lupus-nerve-pain"}
    assert len(at.chat_message) == 4


def test_chat_shows_the_corrected_question(env: Settings) -> None:
    at = ask(start(), "can dupixsent cause numbess")
    ((_, answer),) = at.session_state.chat
    assert answer.corrected_query == "can dupixent cause numbness"
    captions = [c.value for c in at.main.caption]
    assert "Showing results for: *can dupixent cause numbness*" in captions
    no_raw_html(at)


def test_chat_emergency_gets_the_banner_first(env: Settings) -> None:
    at = start()
    ask(at, "My legs went weak within hours and now I can't breathe properly")
    (_, answer), *_ = at.session_state.chat
    assert answer.status == "emergency"
    assert answer.citations == ()
    # The banner is drawn above the conversation and again as the answer itself.
    assert len(at.error) == 2
    assert at.error[0].value.startswith(f"**{presentation.escape_markdown('Get help now')}.**")
    assert "emergency number" in at.error[0].value
    assert at.error[0].icon == ":material/emergency:"
    assert len(at.expander) == 0


def test_chat_urgent_report_gets_the_note_above_the_answer(env: Settings) -> None:
    at = start()
    ask(at, "my toes have been tingling more each week since I started Dupixent, what should I do?")
    (_, answer), *_ = at.session_state.chat
    assert (answer.status, answer.tier) == ("answered", "urgent")
    assert len(at.error) == 0 and len(at.warning) == 1
    assert at.warning[0].value.startswith(
        f"**{presentation.escape_markdown('Contact your doctor today')}**"
    )
    assert len(at.expander) == len({c.n for c in answer.citations}) > 0


def test_chat_refuses_kindly_and_lists_the_topics(env: Settings, reference: Service) -> None:
    at = start()
    ask(at, "What is the capital of France?")
    (_, answer), *_ = at.session_state.chat
    assert answer.status == "no_answer"
    assert at.warning[0].value == presentation.answer_markdown(answer)
    for title in (r.title for r in reference.chatbot.retriever.index.articles.values()):
        assert f"- {presentation.escape_markdown(title)}" in at.warning[0].value
    assert len(at.expander) == 0


def test_chat_shows_hostile_text_as_text(env: Settings) -> None:
    at = start()
    ask(at, HOSTILE)
    user_texts = [m.value for m in at.chat_message[0].markdown]
    assert user_texts == [presentation.escape_markdown(HOSTILE)]
    no_raw_html(at)


def test_new_conversation_clears_the_history(env: Settings) -> None:
    at = start()
    ask(at, "Is IVIG used for neuropathy?")
    assert len(at.session_state.chat) == 1
    at.sidebar.button[0].click().run()
    assert at.session_state.chat == []
    assert len(at.chat_message) == 0


# ---------------------------------------------------------------------------- search


def test_search_ranks_passages_and_gives_a_copyable_answer(
    env: Settings, reference: Service
) -> None:
    at = start("search.py")
    query = "What are the side effects of IVIG?"
    at.text_input[0].input(query).run()
    assert not at.exception, at.exception

    hits = reference.search(query, k=env.search_k)
    headings = [m.value for m in at.markdown if m.value.startswith("**")]
    assert headings == [
        f"**{h.rank}. "
        + presentation.escape_markdown(h.title + (f" › {h.section}" if h.section else ""))
        + "**"
        for h in hits
    ]
    assert at.subheader[0].value == f"{len(hits)} passages"
    assert at.code[0].value == presentation.plain_text(reference.ask(query))
    assert "Sources:\n[1] IVIG for Neuropathy" in at.code[0].value
    no_raw_html(at)


def test_search_filters_by_article(env: Settings, reference: Service) -> None:
    at = start("search.py")
    at.multiselect[0].select("lupus-nerve-pain").run()
    at.text_input[0].input("nerve pain treatment").run()
    hits = reference.search("nerve pain treatment", k=env.search_k, articles=["lupus-nerve-pain"])
    assert {h.article_id for h in hits} == {"lupus-nerve-pain"}
    headings = [m.value for m in at.markdown if m.value.startswith("**")]
    assert len(headings) == len(hits) == env.search_k
    assert all(r"Does Lupus Cause Nerve Pain\?" in h for h in headings)
    # The answer to copy is built from the chosen article too.
    answer = reference.ask("nerve pain treatment", articles=["lupus-nerve-pain"])
    assert {c.article_id for c in answer.citations} == {"lupus-nerve-pain"}
    assert at.code[0].value == presentation.plain_text(answer)
    assert at.caption[-1].value.startswith(
        presentation.escape_markdown("Answer to “nerve pain treatment”, from the chosen articles;")
    )


# ---------------------------------------------------------------------------- library


def test_library_without_a_password_only_lists(env: Settings) -> None:
    at = start("library.py")
    assert "`CHATBOT_ADMIN_PASSWORD=... make run`" in at.info[0].value
    assert len(at.button) == 0 and len(at.text_input) == 0
    ids = list(at.dataframe[0].value["id"])
    assert sorted(ids) == sorted(p.stem for p in CORPUS.glob("*.md"))


def test_library_wrong_password_changes_nothing(
    env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_ADMIN_PASSWORD", PASSWORD)
    at = start("library.py")
    at.text_input[0].input("guess")
    at.button[0].click().run()
    assert at.error[0].value == "Wrong password. Nothing was changed."
    assert at.session_state.admin is False
    assert [b.label for b in at.button] == ["Unlock"]


def test_library_reindexes_a_new_article_and_deletes_it(
    env: Settings, monkeypatch: pytest.MonkeyPatch, reference: Service
) -> None:
    monkeypatch.setenv("CHATBOT_ADMIN_PASSWORD", PASSWORD)
    at = start("library.py")
    at.text_input[0].input(PASSWORD)
    at.button[0].click().run()
    assert at.session_state.admin is True
    version = reference.version

    (env.corpus_dir / "carpal-tunnel.md").write_text(
        "# Carpal tunnel syndrome\n\nCarpal tunnel syndrome compresses the median nerve at "
        "the wrist, causing numbness in the thumb and first fingers.\n",
        encoding="utf-8",
    )
    at.run()
    esc = presentation.escape_markdown
    assert at.warning[0].value == esc("1 change(s) wait for a re-index: carpal-tunnel (new)")

    next(b for b in at.button if b.label == "Re-index now").click().run()
    assert not at.exception, at.exception
    success = at.success[0].value
    assert esc("6 articles") in success and esc("added: carpal-tunnel") in success
    assert reference.version != version
    hits = reference.search("median nerve compressed at the wrist", k=1)
    assert hits[0].article_id == "carpal-tunnel"

    at.selectbox[0].select("carpal-tunnel")
    at.checkbox[0].check()
    next(b for b in at.button if b.label == "Delete").click().run()
    assert not (env.corpus_dir / "carpal-tunnel.md").exists()
    next(b for b in at.button if b.label == "Re-index now").click().run()
    assert esc("removed: carpal-tunnel") in at.success[-1].value
    assert all(h.article_id != "carpal-tunnel" for h in reference.search("median nerve", k=5))


def test_a_rating_and_comment_are_stored_and_the_library_lists_the_gap(
    env: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHATBOT_ADMIN_PASSWORD", PASSWORD)
    at = ask(start(), UNCOVERED)
    ((_, answer),) = at.session_state.chat
    assert answer.status == "no_answer"
    assert {"not_covered", "low_evidence"} & set(answer.flags)
    (thumbs,) = at.feedback
    assert thumbs.key == f"rating-{answer.answer_id}"
    thumbs.set_value(0).run()  # thumbs down
    assert not at.exception, at.exception
    log = QuestionLog(env.question_log_file)

    def rated() -> list[tuple[str, str, str]]:
        return [(r.question.answer_id, r.feedback.rating, r.feedback.comment) for r in log.rated()]

    assert rated() == [(answer.answer_id, "down", "")]
    at.text_input(key=f"text-{answer.answer_id}").input("Please list the pharmacy's hours")
    next(b for b in at.button if b.label == "Send comment").click().run()
    assert rated() == [(answer.answer_id, "down", "Please list the pharmacy's hours")]
    assert "Thank you for your feedback." in [c.value for c in at.main.caption]

    at.switch_page("library.py").run()
    assert not [m for m in at.markdown if "Gaps" in m.value]  # locked
    at.text_input[0].input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception, at.exception
    esc = presentation.escape_markdown
    texts = [m.value for m in at.markdown]
    assert f"**1×** {esc(f'“{UNCOVERED}”')}" in texts
    assert esc(f"“{UNCOVERED}”") in texts  # rated down, with its comment
    assert f"Comment: {esc('Please list the pharmacy' + chr(39) + 's hours')}" in texts
    (download,) = at.download_button
    assert download.label == "Download as CSV"
    no_raw_html(at)


def test_an_unusable_index_stops_every_page_with_the_repair(env: Settings) -> None:
    (env.index_dir / "CURRENT").write_text("../elsewhere\n", encoding="utf-8")
    for page in (None, "search.py", "library.py"):
        at = AppTest.from_file(APP, default_timeout=180)
        at.run()
        if page is not None:
            at.switch_page(page).run()
        assert not at.exception, at.exception
        assert len(at.error) == 1
        reason = presentation.escape_markdown("The index cannot be used:")
        assert at.error[0].value.startswith(reason)
        assert "Rebuild it with `chatbot index --rebuild`" in at.error[0].value
        assert len(at.chat_input) == 0 and len(at.text_input) == 0
