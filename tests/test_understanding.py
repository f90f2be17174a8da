"""Reading a message before answering: vocabulary, concepts, coverage and conversation.

Unit tests run on small hand-made inputs and fakes; the tests marked ``integration`` run the
real models on the real corpus and pin what a patient sees.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from chatbot.answering import Chatbot, Turn
from chatbot.config import Settings
from chatbot.corpus import CorpusLoad
from chatbot.evaluation import conversation_handled, evaluate_understanding
from chatbot.understanding import (
    UnderstandingError,
    find_concepts,
    load_understanding,
    topic_of,
)
from chatbot.understanding.concepts import bundled_lexicon, unknown_terms
from chatbot.understanding.conversation import (
    UNCLEAR,
    IntentReader,
    NullReader,
    is_unclear,
    reply,
)
from chatbot.understanding.coverage import CoverageJudge, NullJudge, features
from chatbot.understanding.vocabulary import Vocabulary, zipf
from tests.conftest import CORPUS, FakeEmbedder, real_corpus


@pytest.fixture(scope="module")
def vocab(corpus: CorpusLoad) -> Vocabulary:
    return Vocabulary.from_texts([a.text for a in corpus.articles])


# ---------------------------------------------------------------- vocabulary and spelling


def test_vocabulary_knows_the_articles_words_and_their_stems(vocab: Vocabulary) -> None:
    assert vocab.in_corpus("neuropathy") and vocab.in_corpus("Neuropathies")
    assert vocab.in_corpus("dupilumab") and not vocab.in_corpus("rituximab")


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("nueropathy", "neuropathy"),
        ("dupilumub", "dupilumab"),
        ("lupas", "lupus"),
        ("immunoglobin", "immunoglobulin"),
        ("pregant", "pregnant"),
    ],
)
def test_misspellings_are_corrected_to_the_nearest_word(
    vocab: Vocabulary, typed: str, meant: str
) -> None:
    assert vocab.correct(typed) == meant


@pytest.mark.parametrize("term", ["neuropathy", "neuropathic", "IgG", "IgA", "lupus", "CIDP"])
def test_correction_never_turns_a_medical_term_into_another(vocab: Vocabulary, term: str) -> None:
    assert vocab.correct(f"is {term} serious") == f"is {term} serious"


def test_correction_keeps_the_case_of_the_word(vocab: Vocabulary) -> None:
    assert vocab.correct("Nueropathy in LUPAS") == "Neuropathy in LUPUS"


def test_english_frequency_orders_everyday_words_above_drug_names() -> None:
    assert zipf("the") > zipf("floor") > zipf("neuropathy") > zipf("hydroxychloroquine") == 0


# ----------------------------------------------------------------------------- concepts


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("Is it safe to take Dupixent while pregnant?", ["pregnancy"]),
        ("how much does ivig cost with out insurence", ["cost", "insurance"]),
        ("Does Dupixent cause hair loss?", ["hair loss"]),
        ("Does rituximab help autoimmune neuropathy?", ["rituximab"]),
        ("Can my 6 year old son get IVIG?", ["children"]),
        ("Can Dupixent cause nerve pain?", []),
        ("pins and needles in my toes on keytruda", []),  # lay terms, not unknown ones
        ("dupixsent numbess in my arms, shud i call my docter", []),  # misspellings
    ],
)
def test_concepts_name_what_the_question_asks_about(
    vocab: Vocabulary, question: str, names: list[str]
) -> None:
    assert [c.name for c in find_concepts(question, vocab)] == names


def test_unknown_terms_skip_contractions_lay_words_and_misspellings(vocab: Vocabulary) -> None:
    terms = unknown_terms("I don't think my meds or the tramadol helpd my feet", vocab)
    assert "tramadol" in terms
    assert not {"do", "don", "don't", "meds", "helpd"} & set(terms)


def test_a_concept_is_covered_by_a_sentence_that_speaks_to_it(vocab: Vocabulary) -> None:
    (pregnancy,) = find_concepts("Is IVIG safe in pregnancy?", vocab)
    assert pregnancy.covered_by("IVIG is used in pregnant women with care.")
    assert not pregnancy.covered_by("IVIG is made from pooled plasma.")
    (hair,) = find_concepts("Can Dupixent cause hair loss?", vocab)
    assert hair.covered_by("Hair loss has been reported.") and not hair.covered_by("Rash.")


def test_topics_are_named_as_the_articles_name_them() -> None:
    assert topic_of("is dupilumab ok in pregnancy") == "Dupixent"
    assert topic_of("does ivig cost a lot") == "IVIG"
    assert topic_of("what is the weather") is None
    assert bundled_lexicon().lay["pins and needles"] == ("tingling", "paresthesia")


# ----------------------------------------------------------------------------- coverage


def test_a_question_is_cut_into_its_parts() -> None:
    from chatbot.answering import question_parts

    assert question_parts("Can Dupixent cause nerve pain and hair loss?") == [
        "Can Dupixent cause nerve pain",
        "hair loss?",
    ]
    assert question_parts("Is IVIG safe; does it hurt?") == ["Is IVIG safe", "does it hurt?"]
    assert question_parts("Is it safe to take Dupixent while pregnant?") == [
        "Is it safe to take Dupixent while pregnant?"
    ]


WEIGHTS = {
    "mean": [0.0, 0.0, 0.0, 0.0],
    "scale": [1.0, 1.0, 1.0, 1.0],
    "coef": [1.0, 0.0, -3.0, -3.0],
    "intercept": 0.0,
    "threshold": 0.5,
}


def test_the_judge_refuses_when_a_concept_is_covered_nowhere(vocab: Vocabulary) -> None:
    judge = CoverageJudge(WEIGHTS)
    concepts = find_concepts("Is Dupixent safe while pregnant?", vocab)
    verdict = judge.judge(concepts, ["Dupixent is a biologic drug."], rerank=2.0, evidence=0.9)
    assert not verdict.answerable and verdict.names == ("pregnancy",)
    covered = judge.judge(concepts, ["Dupixent in pregnancy is ..."], rerank=2.0, evidence=0.9)
    assert covered.answerable and covered.names == ()


def test_the_judge_weighs_the_passage_logit() -> None:
    judge = CoverageJudge(WEIGHTS)
    assert judge.judge([], ["x"], rerank=-2.0, evidence=0.9).answerable is False
    assert judge.judge([], ["x"], rerank=2.0, evidence=0.9).answerable is True
    assert judge.judge([], ["x"], rerank=None, evidence=0.9).probability < 0.001


def test_features_cap_counts_and_list_the_uncovered(vocab: Vocabulary) -> None:
    concepts = find_concepts("rituximab, tramadol or mepolizumab in pregnancy?", vocab)
    figures, uncovered = features(concepts, ["nothing relevant"], 1.0, 0.5)
    assert figures == [1.0, 0.5, 1.0, 2.0]
    assert {c.name for c in uncovered} == {"pregnancy", "rituximab", "tramadol", "mepolizumab"}


def test_the_null_judge_always_answers_but_still_reports(vocab: Vocabulary) -> None:
    concepts = find_concepts("Does Dupixent cause hair loss?", vocab)
    verdict = NullJudge().judge(concepts, ["Dupixent helps eczema."], None, 0.9)
    assert verdict.answerable and verdict.names == ("hair loss",)


# -------------------------------------------------------------------------- conversation


def test_symbols_and_keyboard_mashing_are_unclear() -> None:
    assert is_unclear("???") and is_unclear("!!! ...") and is_unclear("asdfgh jkjkjk")
    assert not is_unclear("help") and not is_unclear("CIDP?", known=lambda w: w == "cidp")
    assert not is_unclear("¿El lupus puede causar dolor?")  # another language is not mashing
    assert NullReader().intent("???") == UNCLEAR and NullReader().intent("hi") is None


def _reader(embedder: FakeEmbedder, floor: float = 0.5) -> IntentReader:
    """A reader whose classes are the fake vectors of one example each."""
    examples = {"greeting": "hello", "thanks": "thank you", "question": "nerve pain lupus"}
    coef = np.stack([embedder.embed_query(t) * 20 for t in examples.values()])
    weights = {
        "model": "fake",
        "classes": list(examples),
        "coef": coef.tolist(),
        "intercept": [0.0] * len(examples),
        "min_probability": floor,
    }
    return IntentReader(weights, embedder)


def test_the_intent_reader_picks_the_likeliest_intent() -> None:
    reader = _reader(FakeEmbedder())
    assert reader.intent("hello") == "greeting"
    assert reader.intent("thank you") == "thanks"
    assert reader.intent("nerve pain lupus") is None
    assert reader.intent(" ".join(["hello"] * 13)) is None  # too long for small talk
    probabilities = reader.probabilities("hello thank you")
    assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert _reader(FakeEmbedder(), floor=1.01).intent("hello") is None


def test_a_second_reading_has_no_length_limit_but_wants_conversation_likelier() -> None:
    reader = _reader(FakeEmbedder())
    long_hello = " ".join(["hello"] * 13)
    assert reader.intent(long_hello) is None
    assert reader.second_reading(long_hello) == "greeting"
    assert reader.second_reading("nerve pain lupus") is None
    assert NullReader().second_reading(long_hello) is None


def test_replies_name_the_topics_and_never_cite() -> None:
    assert "- IVIG for Neuropathy" in reply("capabilities", "- IVIG for Neuropathy")
    assert "not a doctor" in reply("identity", "")
    assert reply(UNCLEAR, "").startswith("Sorry, I didn't catch a question")


def test_bad_weights_name_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "w.json"
    path.write_text("{}")
    with pytest.raises(UnderstandingError, match="CHATBOT_UNDERSTANDING"):
        load_understanding(str(path))
    assert isinstance(load_understanding("none").judge, NullJudge)


def test_the_setting_is_read_from_the_environment() -> None:
    assert Settings.from_env({"CHATBOT_UNDERSTANDING": "none"}).understanding == "none"
    assert Settings().understanding == "bundled"


# --------------------------------------------------------------------------- evaluation


class _Reply:
    def __init__(self, status: str, citations: tuple[Any, ...] = (), flags: tuple[str, ...] = ()):
        self.status, self.citations, self.flags = status, citations, flags
        self.uncovered = ("x",) if status == "no_answer" else ()


def test_the_evaluation_scores_refusals_and_conversation(tmp_path: Path) -> None:
    def write(name: str, rows: list[dict[str, Any]]) -> Path:
        path = tmp_path / name
        path.write_text("\n".join(json.dumps(r) for r in rows))
        return path

    unanswerable = write(
        "u.jsonl",
        [
            {"id": "u1", "question": "refuse me", "category": "cost"},
            {"id": "u2", "question": "answer me", "category": "cost"},
            {"id": "u3", "question": "refuse me", "category": "brands"},
        ],
    )
    conversation = write(
        "c.jsonl",
        [
            {"id": "c1", "text": "hi", "kind": "greeting", "history": []},
            {"id": "c2", "text": "more", "kind": "more_with_history", "history": [{}]},
        ],
    )
    holdout = write(
        "h.jsonl",
        [
            {"id": "h1", "question": "refuse me", "expect": "refuse", "category": "cost"},
            {"id": "h2", "question": "refuse me", "expect": "answer"},
            {"id": "h3", "question": "hi", "expect": "conversation", "category": "greeting"},
        ],
    )

    def ask(text: str, history: Any = ()) -> _Reply:
        if text == "refuse me":
            return _Reply("no_answer")
        if text == "hi":
            return _Reply("conversation")
        if text == "more":
            return _Reply("answered", ("cite",), ("more",))
        return _Reply("answered", ("cite",))

    report = evaluate_understanding(ask, unanswerable, conversation, holdout)
    assert report.unanswerable_refused == pytest.approx(2 / 3, abs=1e-4)
    assert report.refused_by_category == {"brands": 1.0, "cost": 0.5}
    assert report.refusals_naming_what_is_missing == 1.0
    assert report.conversation_handled == 1.0
    assert report.holdout_unanswerable_refused == 1.0
    assert report.holdout_wrongly_refused == 1.0
    assert report.holdout_conversation_handled == 1.0
    assert report.misses == ["u2 answered"]
    assert not conversation_handled(_Reply("answered", ("c",)), "greeting")


# ----------------------------------------------------------------- the real chatbot


@pytest.fixture(scope="module")
def real_bot(tmp_path_factory: pytest.TempPathFactory) -> Chatbot:
    from chatbot.library import reindex

    settings = Settings(corpus_dir=CORPUS, index_dir=tmp_path_factory.mktemp("u") / "index")
    reindex(settings)
    return Chatbot.from_settings(settings)


def assert_verbatim(bot: Chatbot, answer: Any) -> None:
    texts = {a.id: a.text for a in real_corpus().articles}
    for c in answer.citations:
        assert texts[c.article_id][c.start : c.end] == c.quote


@pytest.mark.integration
@pytest.mark.parametrize(
    ("question", "missing", "opening"),
    [
        (
            "Is it safe to take Dupixent while pregnant?",
            ("pregnancy",),
            "The articles do not mention Dupixent and pregnancy.",
        ),
        ("How much does IVIG cost?", ("cost",), "The articles do not mention IVIG and cost."),
        (
            "Does Dupixent cause hair loss?",
            ("hair loss",),
            "The articles do not mention Dupixent and hair loss.",
        ),
    ],
)
def test_near_topic_questions_are_refused_naming_what_is_missing(
    real_bot: Chatbot, question: str, missing: tuple[str, ...], opening: str
) -> None:
    answer = real_bot.ask(question)
    assert answer.status == "no_answer"
    assert answer.uncovered == missing
    assert "not_covered" in answer.flags
    assert answer.answer.startswith(opening)
    subject = opening.removeprefix("The articles do not mention ")
    assert answer.answer.rstrip().endswith(f"pharmacist about {subject}")
    assert len(answer.citations) <= 1  # what they do say about the topic, cited
    assert_verbatim(real_bot, answer)


@pytest.mark.integration
def test_a_question_in_two_parts_is_answered_in_part(real_bot: Chatbot) -> None:
    answer = real_bot.ask("Can Dupixent cause nerve pain and hair loss?")
    assert answer.status == "answered"
    assert answer.uncovered == ("hair loss",) and "partly_covered" in answer.flags
    assert answer.answer.endswith("The articles do not mention hair loss.")
    assert {c.article_id for c in answer.citations} == {"dupixent-nerve-pain"}


@pytest.mark.integration
def test_an_answerable_question_is_answered_with_nothing_uncovered(real_bot: Chatbot) -> None:
    answer = real_bot.ask("Can Dupixent cause nerve pain?")
    assert (answer.status, answer.uncovered) == ("answered", ())
    assert answer.citations[0].article_id == "dupixent-nerve-pain"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("message", "intent"),
    [
        ("hi", "greeting"),
        ("hello there", "greeting"),
        ("thank you so much!", "thanks"),
        ("bye", "goodbye"),
        ("who are you?", "identity"),
        ("are you a doctor", "identity"),
        ("what can you do?", "capabilities"),
        ("help", "help"),
        ("ok", "acknowledgement"),
        ("???", "unclear"),
        ("asdfgh", "unclear"),
    ],
)
def test_conversation_gets_a_short_reply_without_citations(
    real_bot: Chatbot, message: str, intent: str
) -> None:
    answer = real_bot.ask(message)
    assert answer.status == "conversation"
    assert answer.citations == ()
    assert f"intent:{intent}" in answer.flags
    assert answer.disclaimer
    if intent == "capabilities":
        assert "- IVIG for Neuropathy" in answer.answer


@pytest.mark.integration
def test_a_long_message_that_asks_nothing_is_read_again_as_conversation(
    real_bot: Chatbot,
) -> None:
    answer = real_bot.ask(
        "thank you ever so much, that has cleared things up for me and my wife a great deal"
    )
    assert (answer.status, answer.citations) == ("conversation", ())
    assert "intent:thanks" in answer.flags
    # A request about something else is still refused, not chatted to.
    assert real_bot.ask("Give me a recipe for banana bread.").status == "no_answer"


@pytest.mark.integration
def test_tell_me_more_continues_the_topic_with_new_sentences(real_bot: Chatbot) -> None:
    first = real_bot.ask("How does IVIG work?")
    history = [Turn("user", "How does IVIG work?"), Turn("assistant", first.answer)]
    more = real_bot.ask("tell me more", history=history)
    assert more.status == "answered" and "more" in more.flags
    assert more.query == "How does IVIG work?"
    assert more.citations
    assert not {c.quote for c in more.citations} & {c.quote for c in first.citations}
    assert {c.article_id for c in more.citations} == {"ivig-for-neuropathy"}
    assert_verbatim(real_bot, more)


@pytest.mark.integration
def test_tell_me_more_without_history_asks_what_to_explain(real_bot: Chatbot) -> None:
    answer = real_bot.ask("tell me more")
    assert answer.status == "conversation" and answer.citations == ()
    assert answer.answer.startswith("What would you like to know more about?")


@pytest.mark.integration
def test_a_quote_keeps_its_heading_label_and_loses_reference_markers(real_bot: Chatbot) -> None:
    answer = real_bot.ask("What is symmetric polyneuropathy?")
    assert answer.answer.startswith("Symmetric polyneuropathy: A more general form where")
    assert answer.citations[0].label == "Symmetric polyneuropathy"
    assert answer.citations[0].quote.startswith("A more general form where")
    red_flags = real_bot.ask("Which red flags during immunotherapy need urgent evaluation?")
    assert red_flags.citations
    for c in (*answer.citations, *red_flags.citations):
        assert "[PM" not in c.quote and not c.quote.rstrip().endswith("]"), c.quote
    assert_verbatim(real_bot, answer)
    assert_verbatim(real_bot, red_flags)
