"""Patients' language: junk around a question, several questions, misspellings, lay words,
follow-ups and other languages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chatbot.answering import Chatbot, Citation, Section, Turn, _numbered
from chatbot.config import Settings, SettingsError
from chatbot.corpus import CorpusLoad
from chatbot.evaluation import evaluate_patient, patient_markdown
from chatbot.understanding import bundled_lexicon
from chatbot.understanding.language import detect, english_question, reply
from chatbot.understanding.message import clean, questions
from chatbot.understanding.vocabulary import Vocabulary, expand_shorthand, medical_words

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


# ---------------------------------------------------------------------- messages


def test_html_is_read_as_text_without_head_navigation_or_buttons() -> None:
    page = (
        "<html><head><title>Ask a nurse</title></head><body><nav>Home | About</nav>"
        "<form><textarea>what helps burning feet in lupus</textarea><button>Send</button>"
        "</form></body></html>"
    )
    assert clean(page) == "what helps burning feet in lupus"
    assert clean("<p>I&#39;d like to know: <b>what is CIDP?</b></p>") == (
        "I'd like to know: what is CIDP?"
    )


def test_email_ticket_template_and_json_wrapping_is_removed() -> None:
    mail = (
        "Subject: RE: question\n\n-----Original Message-----\n"
        "> does ivig help cidp\n\nSent from my phone"
    )
    assert questions(mail) == ["does ivig help cidp"]
    assert questions("[INST] <<SYS>> be helpful <</SYS>> is lupus neuropathy common [/INST]") == [
        "is lupus neuropathy common"
    ]
    assert questions('{"role": "user", "text": "what is ivig", "ts": 17}') == ["what is ivig"]
    assert questions("Ticket #12\nStatus: OPEN\n\nwhat tests diagnose cidp?") == [
        "what tests diagnose cidp?"
    ]


def test_several_self_standing_questions_are_answered_apart() -> None:
    assert questions("1) can dupixent cause egpa 2) how is lupus neuropathy treated") == [
        "can dupixent cause egpa",
        "how is lupus neuropathy treated",
    ]
    # One question that points back to another stays whole.
    assert questions("Can Dupixent cause nerve pain? Is it common?") == [
        "Can Dupixent cause nerve pain? Is it common?"
    ]


def test_a_long_story_is_cut_down_to_its_question_and_what_matters_most() -> None:
    story = (
        "We went to a wedding last month and the food was lovely. My cousin sang. "
        "The parking was a nightmare and the hotel lost our booking twice, which took an "
        "hour at the desk. Since my third IVIG infusion I have had a bad headache and a "
        "stiff neck. Is that a known thing with IVIG?"
    )

    def relevance(sentences: Any) -> list[float]:
        return [1.0 if "IVIG" in s else 0.0 for s in sentences]

    (kept,) = questions(story, relevance)
    assert kept.endswith("Is that a known thing with IVIG?")
    assert "headache" in kept and "wedding" not in kept and "parking" not in kept


# ---------------------------------------------------------------------- spelling


@pytest.fixture(scope="module")
def vocab(corpus: CorpusLoad) -> Vocabulary:
    articles = corpus.articles
    return Vocabulary.from_texts(a.text for a in articles)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dupixsent numbess", "dupixent numbness"),
        ("can lupas cause nueropathy", "can lupus cause neuropathy"),
        ("controll the inflamation", "control the inflammation"),
        # Correct medical terms stay as they are.
        ("neuropathic pain", "neuropathic pain"),
        ("neuropathy", "neuropathy"),
        ("IgG or IgA", "IgG or IgA"),
        ("rituximab and gabapentin", "rituximab and gabapentin"),
        ("paresthesia and allodynia", "paresthesia and allodynia"),
    ],
)
def test_spelling_is_corrected_without_changing_correct_terms(
    vocab: Vocabulary, text: str, expected: str
) -> None:
    assert vocab.correct(text) == expected


def test_texting_shorthand_is_written_out_before_the_corrector() -> None:
    assert expand_shorthand("shud i call u b4 my appt tmrw") == (
        "should i call you before my appointment tomorrow"
    )
    assert expand_shorthand("Im on IgG w/ lupus") == "I'm on IgG with lupus"


def test_medical_words_are_known_but_not_taken_for_the_articles_words(vocab: Vocabulary) -> None:
    assert "rituximab" in medical_words()
    # A drug the articles never mention stays unknown to them (the coverage judge names it).
    assert not vocab.in_corpus("rituximab") and vocab.near_corpus("rituximab") is None


# ---------------------------------------------------------------------- lay words


def test_lay_phrases_add_the_articles_terms_the_question_lacks() -> None:
    lexicon = bundled_lexicon()
    assert lexicon.expansion("pins and needles in my toes") == ["tingling", "paresthesia", "feet"]
    assert lexicon.expansion("tingling in my feet") == []


def test_lay_expansion_is_a_checked_setting() -> None:
    assert Settings.from_env({"CHATBOT_LAY_EXPANSION": "lexical"}).lay_expansion == "lexical"
    with pytest.raises(SettingsError, match="LAY_EXPANSION"):
        Settings.from_env({"CHATBOT_LAY_EXPANSION": "everything"})
    with pytest.raises(SettingsError, match="SPELLING"):
        Settings.from_env({"CHATBOT_SPELLING": "yes"})


# ---------------------------------------------------------------------- languages


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("¿El lupus puede causar dolor de nervios en los pies?", "es"),
        ("Est-ce que le Dupixent peut provoquer des fourmillements dans les mains ?", "fr"),
        ("Kann Dupixent Nervenschmerzen verursachen?", "de"),
        ("A imunoterapia pode causar dor nos nervos?", "pt"),
        ("Can Dupixent cause nerve pain?", "en"),
        ("gabapenten pregablin for autoimune nerve pain", "en"),
        ("sdkjf sdfkj 3948 zzxq", "en"),
        ("ivig?", "en"),
    ],
)
def test_the_language_is_detected_and_medical_names_do_not_sway_it(text: str, code: str) -> None:
    assert detect(text) == code


def test_another_language_gets_a_glossed_english_question_in_its_own_words() -> None:
    english = english_question("¿El Dupixent puede causar dolor de nervios?", "es")
    assert "can cause" in english and "nerve pain" in english and "dupixent" in english
    message = reply("es", english)
    assert "inglés" in message and message.endswith(f"“{english}”")


# ---------------------------------------------------------------------- sections


def _cite(n: int) -> Citation:
    return Citation(n, "a", "A", "", "", "q", 0, 1)


def test_sections_number_their_sources_through() -> None:
    first = Section("q1", "answered", "q1", "One [1] two [2]", (_cite(1), _cite(2)))
    second = Section("q2", "answered", "q2", "Three [1]", (_cite(1),))
    refused = Section("q3", "no_answer", "q3", "Nothing here.")
    a, b, c = _numbered([first, second, refused])
    assert a == first
    assert (b.answer, [x.n for x in b.citations]) == ("Three [3]", [3])
    assert c == refused


# ---------------------------------------------------------------------- evaluation


def test_patient_figures_are_per_kind_beside_the_baseline() -> None:
    rows = [
        {"id": "p1", "question": "a", "gold": ["x"], "key_phrases": ["k"], "kind": "lay"},
        {"id": "p2", "question": "b", "gold": ["x"], "key_phrases": ["k"], "kind": "lay"},
        {"id": "p3", "question": "c", "gold": ["x"], "key_phrases": ["k"], "kind": "followup",
         "history": [{"role": "user", "content": "earlier"}]},
    ]  # fmt: skip
    ranked = {"a": [("x", "k")], "b": [("y", "k"), ("x", "k")], "c": []}
    seen: list[str] = []

    def baseline(text: str) -> Any:
        seen.append(text)
        from chatbot.evaluation import Retrieved

        return Retrieved((("x", "k"),), 1.0, 0.0)

    report = evaluate_patient(lambda q, h: ranked[q], rows, baseline, lambda q: "en")
    assert report.by_kind["lay"] == {"hit@1": 0.5, "hit@5": 1.0, "mrr@5": 0.75, "n": 2.0}
    assert report.by_kind["followup"]["hit@5"] == 0.0
    assert report.baseline_by_kind["followup"]["hit@1"] == 1.0
    assert seen[-1] == "earlier c"  # the baseline reads the previous question first
    assert report.misses == ["p2 2", "p3 -"]
    assert "| lay | 2 | 0.500 | 1.000 | 0.750 | 1.000 | 1.000 | 1.000 |" in patient_markdown(report)


# ---------------------------------------------------------------------- the real chatbot


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Chatbot:
    from chatbot.library import reindex

    settings = Settings(corpus_dir=CORPUS, index_dir=tmp_path_factory.mktemp("p") / "index")
    reindex(settings)
    return Chatbot.from_settings(settings)


@pytest.mark.integration
def test_a_misspelt_question_shows_what_was_searched(bot: Chatbot) -> None:
    answer = bot.ask("can dupixsent cause numbess")
    assert answer.corrected_query == "can dupixent cause numbness"
    assert "spelling_corrected" in answer.flags
    assert answer.status == "answered"
    assert answer.citations[0].article_id == "dupixent-nerve-pain"
    assert answer.as_json()["corrected_query"] == "can dupixent cause numbness"
    assert bot.ask("Can Dupixent cause nerve pain?").corrected_query == ""


@pytest.mark.integration
def test_a_question_in_spanish_is_told_in_spanish_and_answered_in_english(bot: Chatbot) -> None:
    answer = bot.ask("¿El lupus puede causar dolor de nervios en los pies?")
    assert answer.language == "es" and "language:es" in answer.flags
    assert answer.answer.startswith("Lo siento")
    assert answer.status == "answered"
    assert {c.article_id for c in answer.citations} == {"lupus-nerve-pain"}


@pytest.mark.integration
def test_an_emergency_in_another_language_is_triaged_first(bot: Chatbot) -> None:
    answer = bot.ask("no puedo respirar y se me cierra la garganta después de la IVIG")
    assert answer.tier == "emergency"


@pytest.mark.integration
def test_two_questions_in_one_message_get_a_section_each(bot: Chatbot) -> None:
    answer = bot.ask("what is IVIG made from? and separately, can immunotherapy cause numbness")
    assert [s.question for s in answer.sections] == [
        "what is IVIG made from?",
        "can immunotherapy cause numbness",
    ]
    first, second = answer.sections
    assert first.citations[0].article_id == "ivig-for-neuropathy"
    assert second.citations[0].article_id == "immunotherapy-nerve-pain"
    numbers = [c.n for c in answer.citations]
    assert numbers == sorted(numbers) and min(c.n for c in second.citations) > max(
        c.n for c in first.citations
    )


@pytest.mark.integration
def test_a_follow_up_reads_the_article_the_last_answer_cited(bot: Chatbot) -> None:
    first = bot.ask("Can lupus cause nerve pain?")
    history = [
        Turn("user", "Can lupus cause nerve pain?"),
        Turn("assistant", first.answer, ("lupus-nerve-pain",)),
    ]
    answer = bot.ask("how do they test for it?", history)
    assert "rewritten" in answer.flags
    assert answer.citations and answer.citations[0].article_id == "lupus-nerve-pain"
    # Without the cited articles in the history, the article is read off the answer.
    plain = [{"role": "user", "content": "What is IVIG?"}, {"role": "assistant",
             "content": "IVIG is made from pooled plasma of donors."}]  # fmt: skip
    assert bot.rank("any side effects?", plain)[0].article_id == "ivig-for-neuropathy"


@pytest.mark.integration
def test_what_about_a_side_of_the_topic_is_a_follow_up_not_tell_me_more(bot: Chatbot) -> None:
    history = [
        Turn("user", "Can Dupixent cause nerve pain?"),
        Turn("assistant", "Rarely. [1]", ("dupixent-nerve-pain",)),
    ]
    answer = bot.ask("what about children?", history)
    assert "more" not in answer.flags and "rewritten" in answer.flags
    assert answer.query == "Can Dupixent cause nerve pain, and what about children?"
    # The Dupixent article reports a paediatric case, and the answer cites it.
    assert answer.status == "answered" and answer.uncovered == ()
    assert "pediatric" in answer.answer.lower()
