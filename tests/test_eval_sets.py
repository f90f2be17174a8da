"""The evaluation sets written for answer coverage, conversation and patient language
(eval/unanswerable.jsonl, eval/conversation.jsonl, eval/patient_questions.jsonl): format,
counts and key phrases that exist in the articles. Standard library only, like the gold set."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from tests.test_gold_set import CORPUS, article_body

EVAL = Path(__file__).resolve().parents[1] / "eval"


def rows(name: str) -> list[dict[str, Any]]:
    lines = (EVAL / name).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_unanswerable_questions_by_category() -> None:
    items = rows("unanswerable.jsonl")
    assert len(items) >= 150
    assert len({r["id"] for r in items}) == len(items)
    assert len({r["question"].lower() for r in items}) == len(items)
    per_category = Counter(r["category"] for r in items)
    assert set(per_category) >= {
        "other_drugs",
        "pregnancy_breastfeeding",
        "children_ages",
        "cost_insurance",
        "brands",
        "side_effects_not_listed",
        "other_neuropathies",
        "procedures",
        "numbers_not_given",
    }
    assert min(per_category.values()) >= 15
    assert all(r["concepts"] and all(isinstance(c, str) for c in r["concepts"]) for r in items)


def test_conversation_messages_by_kind() -> None:
    items = rows("conversation.jsonl")
    assert len(items) >= 60
    kinds = Counter(r["kind"] for r in items)
    assert min(kinds.values()) >= 6 and len(kinds) >= 10
    for r in items:
        with_history = r["kind"] == "more_with_history"
        assert bool(r["history"]) == with_history, r["id"]
        assert all(t["role"] in {"user", "assistant"} for t in r["history"])


def test_patient_questions_quote_their_articles() -> None:
    items = rows("patient_questions.jsonl")
    kinds = Counter(r["kind"] for r in items)
    for kind, least in {"lay": 40, "misspelled": 40, "followup": 30, "non_english": 15}.items():
        assert kinds[kind] >= least, kind
    articles = {p.stem for p in CORPUS.glob("*.md")}
    for r in items:
        assert r["in_scope"] is True and r["gold"] and set(r["gold"]) <= articles, r["id"]
        for phrase in r["key_phrases"]:
            assert any(phrase in article_body(a) for a in r["gold"]), (r["id"], phrase)
        if r["kind"] == "followup":
            assert r["history"], r["id"]
        if r["kind"] == "non_english":
            assert r["lang"] in {"es", "fr", "de", "pt"} and r["english"], r["id"]


def test_coverage_holdout_has_three_kinds_and_quotes_its_articles() -> None:
    items = rows("coverage_holdout.jsonl")
    assert len({r["id"] for r in items}) == len(items)
    kinds = Counter(r["expect"] for r in items)
    assert kinds["refuse"] >= 80 and kinds["answer"] >= 40 and kinds["conversation"] >= 30
    for r in items:
        if r["expect"] == "refuse":
            assert r["category"] and r["concepts"]
        elif r["expect"] == "answer":
            assert r["gold"] and r["key_phrases"]
            body = article_body(r["gold"][0])
            assert all(p in body for p in r["key_phrases"]), r["id"]
        else:
            assert r["expect"] == "conversation" and r["category"]
    assert len({r["category"] for r in items if r["expect"] == "refuse"}) >= 10
